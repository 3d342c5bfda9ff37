"""A byte-level tokenizer: 256 byte ids plus ``<pad>``, ``<bos>`` and ``<eos>`` (vocabulary 259)."""

from __future__ import annotations

import json
import os
from typing import Iterable, List, Union

TOKENIZER_FILE = "tokenizer.json"


class ByteTokenizer:
    """UTF-8 bytes as token ids ``0..255``; specials ``pad=256``, ``bos=257``, ``eos=258``.

    Needs no vocabulary file and round-trips any text exactly.
    """

    pad_token_id = 256
    bos_token_id = 257
    eos_token_id = 258
    vocab_size = 259
    special_tokens = {"<pad>": 256, "<bos>": 257, "<eos>": 258}

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> List[int]:
        if not isinstance(text, str):
            raise TypeError(f"ByteTokenizer.encode takes a str, got {type(text).__name__}")
        ids = list(text.encode("utf-8"))
        if add_bos:
            ids.insert(0, self.bos_token_id)
        if add_eos:
            ids.append(self.eos_token_id)
        return ids

    def decode(self, ids: Union[Iterable[int], "object"], skip_special_tokens: bool = True) -> str:
        """Text from ids (a list or a 1-D tensor); special ids are dropped or shown as ``<bos>`` etc."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        names = {v: k for k, v in self.special_tokens.items()}
        out = bytearray()
        for i in ids:
            i = int(i)
            if 0 <= i < 256:
                out.append(i)
            elif i in names and not skip_special_tokens:
                out.extend(names[i].encode())
            elif i not in names:
                raise ValueError(f"token id {i} is outside the byte vocabulary (0..{self.vocab_size - 1})")
        return out.decode("utf-8", errors="replace")

    def __call__(self, text: str, **kwargs) -> List[int]:
        return self.encode(text, **kwargs)

    def __len__(self) -> int:
        return self.vocab_size

    def save(self, directory: Union[str, os.PathLike]) -> str:
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, TOKENIZER_FILE)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"type": "byte", "vocab_size": self.vocab_size, "special_tokens": self.special_tokens}, f, indent=2)
        return path

    @classmethod
    def load(cls, directory: Union[str, os.PathLike]) -> "ByteTokenizer":
        path = os.path.join(os.fspath(directory), TOKENIZER_FILE)
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("type") != "byte":
            raise ValueError(f"{path} describes a {data.get('type')!r} tokenizer, not a byte tokenizer")
        return cls()

    def __repr__(self) -> str:
        return "ByteTokenizer(vocab_size=259)"
