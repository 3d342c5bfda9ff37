"""The shipped text corpus and language-modelling datasets built from it."""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Optional, Sequence, Tuple

CORPORA = {"default": "corpus.txt", "stdlib-docs": "corpus.txt"}


def corpus_path(name: str = "default") -> str:
    """Path of a shipped corpus file."""
    if name not in CORPORA:
        if os.path.isfile(name):
            return os.path.abspath(name)
        raise ValueError(f"unknown corpus {name!r}; use one of {sorted(CORPORA)} or a path to a UTF-8 text file")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), CORPORA[name])


def load_corpus(name: str = "default", max_chars: Optional[int] = None) -> str:
    """The text of a shipped corpus (English prose from Python's docstrings, ~220 KB) or of a file path.

    ``max_chars`` keeps only the first characters (for quick tests).
    """
    with open(corpus_path(name), encoding="utf-8") as f:
        text = f.read(max_chars) if max_chars else f.read()
    if not text.strip():
        raise ValueError(f"corpus {name!r} is empty")
    return text


def split_ids(ids: Sequence[int], val_fraction: float = 0.1) -> Tuple[list, list]:
    """Split a token stream into a leading train part and a trailing validation part."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = int(len(ids) * (1.0 - val_fraction))
    return list(ids[:cut]), list(ids[cut:])


def unigram_cross_entropy(train_ids: Sequence[int], val_ids: Sequence[int], vocab_size: int) -> float:
    """Cross-entropy (nats/token) on ``val_ids`` of an add-one-smoothed unigram model fit on ``train_ids``:
    the baseline a language model must beat."""
    counts = Counter(train_ids)
    total = len(train_ids) + vocab_size
    return -sum(math.log((counts.get(t, 0) + 1) / total) for t in val_ids) / max(len(val_ids), 1)


class TokenWindows:
    """A torch-style dataset of ``(input_ids, labels)`` windows of ``seq_len`` tokens from one stream.

    ``random=True`` draws ``num_samples`` windows at random offsets (a fresh draw per index, seeded by
    index and ``seed``); otherwise windows tile the stream without overlap (for validation).
    """

    def __init__(self, ids: Sequence[int], seq_len: int, random: bool = False, num_samples: Optional[int] = None,
                 seed: int = 0) -> None:
        import torch

        if len(ids) < seq_len + 1:
            raise ValueError(f"the token stream has {len(ids)} tokens, fewer than seq_len + 1 = {seq_len + 1}; "
                             "use a shorter seq_len or more text")
        self.data = torch.tensor(list(ids), dtype=torch.long)
        self.seq_len, self.random, self.seed = seq_len, random, seed
        self.n_tiles = (len(ids) - 1) // seq_len
        self.num_samples = int(num_samples or self.n_tiles)

    def __len__(self) -> int:
        return self.num_samples if self.random else self.n_tiles

    def __getitem__(self, i: int):
        import torch

        if self.random:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
            start = int(torch.randint(0, len(self.data) - self.seq_len, (1,), generator=g))
        else:
            start = i * self.seq_len
        x = self.data[start:start + self.seq_len]
        return {"input_ids": x, "labels": x.clone()}
