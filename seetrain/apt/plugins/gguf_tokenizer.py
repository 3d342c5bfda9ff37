"""Tokenizers as GGUF metadata (``tokenizer.ggml.*``), read the way llama.cpp's own converter reads them.

Sources, in the order :func:`vocab_from_directory` tries them for a checkpoint directory:

* ``tokenizer.model`` (SentencePiece, the form llama.cpp's ``convert_hf_to_gguf.py`` reads first):
  written as a ``"llama"`` (SPM) vocabulary with the pieces, their scores and types (normal, unknown,
  control, user-defined, unused, byte) and ``add_space_prefix`` from the model's normaliser.
* ``tokenizer.json`` with a BPE model that has ``byte_fallback`` and a ``Metaspace`` pre-tokenizer (what
  Transformers 5 writes for a SentencePiece Llama tokenizer): the same ``"llama"`` vocabulary, with each
  piece scored by the rank of the merge that makes it (SentencePiece merges by score, Transformers by
  merge rank: the same order).
* ``tokenizer.json`` with a byte-level BPE (GPT-2 style, ``ByteLevel`` pre-tokenizer): a ``"gpt2"``
  vocabulary with the merges and the ``gpt-2`` pre-tokenizer.
* SeeTrain's ``ByteTokenizer`` (and a byte-level BPE without merges): the byte vocabulary in SPM form.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union


def _gguf():
    from seetrain.lazy import require

    return require("gguf", "apt", purpose="GGUF export")


@dataclass
class VocabSpec:
    """What GGUF needs of a tokenizer: ``model`` is ``"llama"`` (SPM token list) or ``"gpt2"`` (BPE)."""

    model: str
    tokens: List[str]
    token_types: List[int]
    scores: Optional[List[float]] = None
    merges: List[str] = field(default_factory=list)
    bos_id: Optional[int] = None
    eos_id: Optional[int] = None
    pad_id: Optional[int] = None
    unk_id: Optional[int] = None
    add_bos: bool = False
    add_eos: bool = False
    add_space_prefix: bool = False
    pre: str = "default"
    chat_template: Optional[str] = None

    def padded(self, vocab_size: int) -> "VocabSpec":
        """The vocabulary grown to ``vocab_size`` with unused pad tokens (models often round their size up)."""
        n = len(self.tokens)
        if n >= vocab_size:
            return self
        unused = int(_gguf().TokenType.UNUSED)
        self.tokens += [f"[PAD{i}]" for i in range(n, vocab_size)]
        self.token_types += [unused] * (vocab_size - n)
        if self.scores is not None:
            self.scores += [-1e4] * (vocab_size - n)
        return self


def byte_vocab(vocab_size: int, pad_id: Optional[int] = 256, bos_id: Optional[int] = 257,
               eos_id: Optional[int] = 258, add_bos: bool = False, add_eos: bool = False,
               special_names: Optional[Dict[int, str]] = None) -> VocabSpec:
    """The GGUF vocabulary of a byte tokenizer (ids 0..255 are the bytes, then the special tokens).

    It is written as an SPM-style (``"llama"``) list: byte ``b`` is the byte token ``<0xBB>`` (type BYTE),
    except the space, which is the word-boundary piece ``"▁"`` (SPM escapes spaces to it before lookup),
    so llama.cpp's tokenizer maps text to exactly the same ids as :class:`ByteTokenizer`.
    """
    TT = _gguf().TokenType
    if vocab_size < 256:
        raise ValueError(f"a byte vocabulary needs at least 256 ids, the model has {vocab_size}")
    names = {pad_id: "<pad>", bos_id: "<bos>", eos_id: "<eos>"}
    names.update(special_names or {})
    tokens, types = [], []
    for i in range(vocab_size):
        if i < 256:
            tokens.append("\u2581" if i == 0x20 else f"<0x{i:02X}>")
            types.append(int(TT.NORMAL if i == 0x20 else TT.BYTE))
        elif i in names and names[i] is not None:
            tokens.append(names[i])
            types.append(int(TT.CONTROL))
        else:
            tokens.append(f"<unused{i}>")
            types.append(int(TT.UNUSED))
    return VocabSpec("llama", tokens, types, scores=[0.0] * vocab_size, bos_id=bos_id, eos_id=eos_id,
                     pad_id=pad_id, add_bos=add_bos, add_eos=add_eos)


# --------------------------------------------------------------------------------------------------
# SentencePiece tokenizer.model
# --------------------------------------------------------------------------------------------------
def vocab_from_sentencepiece(model_file: Union[str, os.PathLike], config: Optional[Dict[str, Any]] = None) -> VocabSpec:
    """A ``"llama"`` vocabulary from a SentencePiece ``tokenizer.model`` (needs the ``sentencepiece`` package).

    ``config``: the directory's ``tokenizer_config.json`` (``add_bos_token``/``add_eos_token``), if any.
    """
    try:
        from sentencepiece import SentencePieceProcessor, sentencepiece_model_pb2
    except ImportError as exc:
        raise ImportError("reading a SentencePiece tokenizer.model needs the 'sentencepiece' package: "
                          "pip install 'seetrain[apt]'") from exc
    TT = _gguf().TokenType
    sp = SentencePieceProcessor(model_file=str(model_file))
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(model_file).read_bytes())
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        kind = (TT.UNKNOWN if sp.is_unknown(i) else TT.CONTROL if sp.is_control(i) else
                TT.UNUSED if sp.is_unused(i) else TT.BYTE if sp.is_byte(i) else TT.NORMAL)
        if proto.pieces[i].type == proto.pieces[i].USER_DEFINED:
            kind = TT.USER_DEFINED
        types.append(int(kind))
    config = config or {}

    def opt(i: int) -> Optional[int]:
        return i if i >= 0 else None

    return VocabSpec("llama", tokens, types, scores=scores, bos_id=opt(sp.bos_id()), eos_id=opt(sp.eos_id()),
                     pad_id=opt(sp.pad_id()), unk_id=opt(sp.unk_id()),
                     add_bos=bool(config.get("add_bos_token", True)), add_eos=bool(config.get("add_eos_token", False)),
                     add_space_prefix=bool(proto.normalizer_spec.add_dummy_prefix),
                     chat_template=config.get("chat_template"))


# --------------------------------------------------------------------------------------------------
# tokenizer.json (Hugging Face tokenizers)
# --------------------------------------------------------------------------------------------------
def _byte_level_decoder() -> Dict[str, int]:
    """GPT-2's byte-to-unicode table, inverted: printable stand-in character -> byte."""
    from seetrain.apt.plugins.hf_apt import bytes_to_unicode

    return {c: b for b, c in bytes_to_unicode().items()}


def _kinds(spec: Dict[str, Any]) -> Tuple[set, set]:
    added = spec.get("added_tokens") or []
    return ({int(t["id"]) for t in added if t.get("special")}, {int(t["id"]) for t in added if not t.get("special")})


def _has(component: Any, kind: str) -> bool:
    """Whether a tokenizer.json normalizer/pre-tokenizer (or a Sequence of them) has a part of type ``kind``."""
    if not isinstance(component, dict):
        return False
    if component.get("type") == kind:
        return True
    parts = component.get("pretokenizers") or component.get("normalizers") or []
    return any(_has(p, kind) for p in parts)


def _special_ids(spec: Dict[str, Any], vocab: Dict[str, int], config: Dict[str, Any]) -> Dict[str, Optional[int]]:
    def tid(key: str) -> Optional[int]:
        tok = config.get(key)
        if isinstance(tok, dict):
            tok = tok.get("content")
        return vocab.get(tok) if isinstance(tok, str) else None

    return {k: tid(f"{k}_token") for k in ("bos", "eos", "pad", "unk")}


def vocab_from_tokenizer_json(spec: Dict[str, Any], config: Optional[Dict[str, Any]] = None) -> VocabSpec:
    """A vocabulary from the contents of a ``tokenizer.json`` (and ``tokenizer_config.json`` as ``config``)."""
    TT = _gguf().TokenType
    config = config or {}
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"GGUF export reads BPE tokenizer.json files (byte-level or SentencePiece-style) and "
                         f"SentencePiece tokenizer.model files; this tokenizer.json is {model.get('type')!r}. Put "
                         "the tokenizer.model next to it, or use llama.cpp's convert_hf_to_gguf.py.")
    vocab: Dict[str, int] = dict(model.get("vocab") or {})
    for t in spec.get("added_tokens") or []:
        vocab.setdefault(t["content"], int(t["id"]))
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    special, user = _kinds(spec)
    ids = _special_ids(spec, vocab, config)
    n = max(vocab.values()) + 1 if vocab else 0
    by_id: Dict[int, str] = {i: t for t, i in vocab.items()}
    spm_style = bool(model.get("byte_fallback")) or _has(spec.get("pre_tokenizer"), "Metaspace") or \
        _has(spec.get("normalizer"), "Prepend")
    tokens, types = [], []
    for i in range(n):
        t = by_id.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(int(TT.UNUSED))
            continue
        tokens.append(t)
        if i in special:
            types.append(int(TT.CONTROL))
        elif i in user:
            types.append(int(TT.USER_DEFINED))
        elif spm_style and len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types.append(int(TT.BYTE))
        elif t == model.get("unk_token"):
            types.append(int(TT.UNKNOWN))
        else:
            types.append(int(TT.NORMAL))
    add_bos = bool(config.get("add_bos_token", _post_adds(spec, ids["bos"], first=True)))
    add_eos = bool(config.get("add_eos_token", _post_adds(spec, ids["eos"], first=False)))
    common = dict(bos_id=ids["bos"], eos_id=ids["eos"], pad_id=ids["pad"],
                  unk_id=ids["unk"] if ids["unk"] is not None else vocab.get(model.get("unk_token") or ""),
                  add_bos=add_bos, add_eos=add_eos, chat_template=config.get("chat_template"))
    if spm_style:
        # SentencePiece merges the adjacent pair whose merged piece scores highest; Transformers' BPE the pair
        # of lowest merge rank: score a piece by minus the rank of the first merge that makes it.
        rank: Dict[str, int] = {}
        for r, m in enumerate(merges):
            a, _, b = m.partition(" ")
            rank.setdefault(a + b, r)
        scores = [-float(rank[t]) if t in rank else -1e6 for t in tokens]
        prepend = _has(spec.get("pre_tokenizer"), "Metaspace") or _has(spec.get("normalizer"), "Prepend")
        return VocabSpec("llama", tokens, types, scores=scores, add_space_prefix=prepend, **common)
    if not merges:
        byte_of = _byte_level_decoder()
        if n >= 256 and all(byte_of.get(by_id.get(i)) == i for i in range(256)):
            return byte_vocab(n, ids["pad"], ids["bos"], ids["eos"], add_bos=add_bos)
        raise ValueError("this BPE tokenizer.json has no merges and is neither a byte vocabulary nor "
                         "SentencePiece-style (byte_fallback / Metaspace); GGUF 'gpt2' needs merges")
    if not _has(spec.get("pre_tokenizer"), "ByteLevel"):
        raise ValueError("a BPE tokenizer.json without byte_fallback needs a ByteLevel pre-tokenizer (GPT-2 "
                         "style) for GGUF; this one has " + json.dumps(spec.get("pre_tokenizer"))[:200])
    return VocabSpec("gpt2", tokens, types, merges=merges, pre="gpt-2", **common)


def _post_adds(spec: Dict[str, Any], token_id: Optional[int], first: bool) -> bool:
    """Whether the tokenizer.json post-processor puts ``token_id`` first (or last) in a single sequence."""
    post = spec.get("post_processor") or {}
    if token_id is None or post.get("type") != "TemplateProcessing":
        return False
    single = post.get("single") or []
    item = single[0] if first else single[-1] if single else None
    special = (item or {}).get("SpecialToken")
    if not special:
        return False
    ids = ((post.get("special_tokens") or {}).get(special["id"]) or {}).get("ids") or []
    return token_id in ids


def vocab_from_directory(path: Union[str, os.PathLike]) -> Optional[VocabSpec]:
    """The tokenizer of a checkpoint directory (``tokenizer.model`` first, then ``tokenizer.json``), or None."""
    path = Path(path)
    config: Dict[str, Any] = {}
    if (path / "tokenizer_config.json").is_file():
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    if (path / "tokenizer.model").is_file():
        return vocab_from_sentencepiece(path / "tokenizer.model", config)
    if (path / "tokenizer.json").is_file():
        return vocab_from_tokenizer_json(json.loads((path / "tokenizer.json").read_text(encoding="utf-8")), config)
    return None


# --------------------------------------------------------------------------------------------------
# tokenizer objects
# --------------------------------------------------------------------------------------------------
def _is_byte_tokenizer(tok: Any) -> bool:
    return type(tok).__name__ == "ByteTokenizer" or bool(getattr(tok, "is_byte_tokenizer", False))


def _byte_tokenizer_adds(tok: Any) -> Tuple[bool, bool]:
    """Whether ``tok.encode`` adds BOS / EOS (found by encoding one character)."""
    try:
        ids = list(tok.encode("a"))
    except Exception:
        return False, False
    bos, eos = getattr(tok, "bos_token_id", None), getattr(tok, "eos_token_id", None)
    return bool(ids) and ids[0] == bos and bos is not None, bool(ids) and ids[-1] == eos and eos is not None


def vocab_from_tokenizer(tokenizer: Any, vocab_size: int) -> VocabSpec:
    """A :class:`VocabSpec` from a SeeTrain ``ByteTokenizer``, a Hugging Face fast tokenizer, or a directory."""
    if isinstance(tokenizer, (str, os.PathLike)):
        spec = vocab_from_directory(tokenizer)
        if spec is None:
            raise ValueError(f"{tokenizer} holds no tokenizer.model or tokenizer.json")
        return spec.padded(vocab_size)
    if _is_byte_tokenizer(tokenizer):
        add_bos, add_eos = _byte_tokenizer_adds(tokenizer)
        return byte_vocab(vocab_size, getattr(tokenizer, "pad_token_id", None),
                          getattr(tokenizer, "bos_token_id", None), getattr(tokenizer, "eos_token_id", None),
                          add_bos=add_bos, add_eos=add_eos)
    if hasattr(tokenizer, "backend_tokenizer"):
        config = {"add_bos_token": getattr(tokenizer, "add_bos_token", None),
                  "add_eos_token": getattr(tokenizer, "add_eos_token", None),
                  "chat_template": getattr(tokenizer, "chat_template", None)}
        for key in ("bos", "eos", "pad", "unk"):
            config[f"{key}_token"] = getattr(tokenizer, f"{key}_token", None)
        config = {k: v for k, v in config.items() if v is not None}
        vocab_file = getattr(tokenizer, "vocab_file", None)
        if vocab_file and str(vocab_file).endswith(".model") and Path(vocab_file).is_file():
            return vocab_from_sentencepiece(vocab_file, config).padded(vocab_size)
        return vocab_from_tokenizer_json(json.loads(tokenizer.backend_tokenizer.to_str()), config).padded(vocab_size)
    raise ValueError(f"cannot write tokenizer {type(tokenizer).__name__} to GGUF: pass a seetrain ByteTokenizer, "
                     "a Hugging Face fast tokenizer, a checkpoint directory, or tokenizer=None")


def write_vocab(writer: Any, vocab: VocabSpec) -> None:
    """Add ``tokenizer.ggml.*`` keys for ``vocab`` to a ``gguf.GGUFWriter``."""
    writer.add_tokenizer_model(vocab.model)
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    for key, value in (("bos", vocab.bos_id), ("eos", vocab.eos_id), ("pad", vocab.pad_id), ("unk", vocab.unk_id)):
        if value is not None:
            getattr(writer, f"add_{key}_token_id")(int(value))
    writer.add_add_bos_token(bool(vocab.add_bos))
    writer.add_add_eos_token(bool(vocab.add_eos))
    if vocab.model == "llama":
        writer.add_add_space_prefix(bool(vocab.add_space_prefix))
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)


__all__ = ["VocabSpec", "byte_vocab", "vocab_from_sentencepiece", "vocab_from_tokenizer_json",
           "vocab_from_directory", "vocab_from_tokenizer", "write_vocab"]
