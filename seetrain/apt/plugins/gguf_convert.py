"""Write APT and Llama-style models as GGUF files (the format llama.cpp and Ollama run) with ``gguf``.

Two families are understood:

* **APT** models (:class:`seetrain.apt.model.APTLanguageModel`, or its Transformers wrapper) are written
  under their own architecture name ``"apt"`` with ``apt.*`` hyper-parameters and the original tensor
  names kept in ``apt.tensor_names``, so :func:`load_apt_from_gguf` rebuilds the model. llama.cpp has no
  ``apt`` architecture: such a file is for storage, exchange and inspection, not for running in Ollama.
* **Llama-style** Transformers models (``model_type`` ``llama`` or ``mistral``) are written with the
  standard ``llama`` tensor names and metadata, including the Q/K row permutation llama.cpp's rotary
  embedding expects, so llama.cpp and Ollama can run them.

Quantisation is done by ``gguf.quants``; :func:`supported_quantizations` lists what the installed
package can quantise. K-quants such as Q4_K_M are only *de*quantised by gguf-py: :func:`write_gguf` makes
them with llama.cpp's own quantiser (``llama_model_quantize`` in node-llama-cpp's ``libllama``, see
:mod:`.llamacpp`) from an F16 file when that package is installed. Tokenizers: :mod:`.gguf_tokenizer`;
quantisation helpers: :mod:`._gguf_quant`; tensor mapping and metadata: :mod:`._gguf_tensors`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from ._gguf_quant import (_QUANT_TABLE, UnsupportedQuantizationError, _can_quantize, _gguf,  # noqa: F401
                          _gguf_version, encode_tensor, resolve_quantization, supported_quantizations,
                          tensor_type_for)
from ._gguf_tensors import (_LLAMA_MAP, ARCH_APT, GGML_MAX_NAME, _apt_metadata, _apt_tensors,  # noqa: F401
                            _gguf_name, _is_apt, _llama_metadata, _llama_tensors, _permute_rope, _rope_theta,
                            _to_numpy, _unwrap)
from .gguf_tokenizer import VocabSpec, byte_vocab, vocab_from_directory, vocab_from_tokenizer, write_vocab  # noqa: F401

_LLAMA_TYPES = ("llama", "mistral")


# --------------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------------
def load_model(model_or_path: Any) -> Any:
    """A model object from a model or a directory (APT ``save_pretrained`` or Transformers)."""
    if not isinstance(model_or_path, (str, os.PathLike)):
        return model_or_path
    path = Path(model_or_path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a model directory (no config.json); pass a model or a directory "
                                "written by save_pretrained")
    cfg = json.loads((path / "config.json").read_text())
    if cfg.get("model_type", "apt") in ("apt", "standard") and "d_model" in cfg:
        from seetrain.apt.model import APTLanguageModel

        return APTLanguageModel.from_pretrained(str(path))  # picks the class from model_type
    from seetrain.apt.plugins.hf_apt import register_apt_with_transformers
    from transformers import AutoModelForCausalLM

    register_apt_with_transformers()
    return AutoModelForCausalLM.from_pretrained(str(path))


@dataclass
class GGUFExportResult:
    """What :func:`write_gguf` wrote."""

    path: str
    architecture: str
    quantization: str
    n_tensors: int
    n_bytes: int
    seconds: float
    tensor_types: Dict[str, str]
    max_abs_error: float     # largest |dequantised - original| over all tensors
    mean_rel_error: float    # mean over tensors of ||dequantised - original|| / ||original||

    def as_dict(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "tensor_types"}


def write_gguf(model_or_path: Any, output_path: Union[str, os.PathLike], quantization: str = "F16",
               tokenizer: Any = None, name: Optional[str] = None, description: Optional[str] = None) -> GGUFExportResult:
    """Write ``model_or_path`` to ``output_path`` as GGUF with ``quantization`` (see :func:`supported_quantizations`).

    ``tokenizer``: a ``ByteTokenizer``, a Hugging Face fast tokenizer, a checkpoint directory, or None: a
    model directory's own ``tokenizer.model`` / ``tokenizer.json`` is then read (as llama.cpp's converter
    does); without one, the byte vocabulary (APT models, and Llama models with at least 259 ids).
    K-quants (Q4_K_M, Q6_K, ...) that gguf-py cannot write are made from an F16 file by llama.cpp's own
    quantiser when node-llama-cpp is installed (:mod:`.llamacpp`).
    """
    key = str(quantization).strip().upper()
    if key in _QUANT_TABLE and key.startswith(("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")) \
            and not _can_quantize(_gguf().GGMLQuantizationType[_QUANT_TABLE[key][0]]):
        from .llamacpp import llamacpp_can_quantize, quantize_with_llamacpp

        if llamacpp_can_quantize():
            import tempfile

            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="seetrain-gguf-") as tmp:
                f16 = write_gguf(model_or_path, Path(tmp) / "f16.gguf", "F16", tokenizer, name, description)
                quantize_with_llamacpp(f16.path, output_path, key)
            types = {t.name: t.tensor_type.name for t in _gguf().GGUFReader(str(output_path)).tensors}
            return GGUFExportResult(str(output_path), f16.architecture, key, f16.n_tensors,
                                    Path(output_path).stat().st_size, time.perf_counter() - t0, types,
                                    float("nan"), float("nan"))
    gguf = _gguf()
    qtype, ftype = resolve_quantization(quantization)
    t0 = time.perf_counter()
    model = load_model(model_or_path)
    if tokenizer is None and isinstance(model_or_path, (str, os.PathLike)):
        tokenizer = model_or_path if vocab_from_directory(model_or_path) is not None else None
    if _is_apt(model):
        apt = _unwrap(model)
        cfg = apt.config
        arch = ARCH_APT
        tensors, ties = _apt_tensors(apt)
        vocab_size = int(cfg.vocab_size)
        specials = (getattr(cfg, "pad_token_id", 256), getattr(cfg, "bos_token_id", 257), getattr(cfg, "eos_token_id", 258))
    else:
        cfg = getattr(model, "config", None)
        mtype = getattr(cfg, "model_type", None)
        if mtype not in _LLAMA_TYPES:
            raise ValueError(f"GGUF export handles APT models and Llama-style Transformers models "
                             f"(model_type {', '.join(_LLAMA_TYPES)}); got {type(model).__name__} "
                             f"(model_type={mtype!r}). Use llama.cpp's convert_hf_to_gguf.py for other architectures.")
        arch = "llama"
        tensors, ties = _llama_tensors(model), {}
        vocab_size = int(cfg.vocab_size)
        specials = (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id)
    if tokenizer is not None:
        vocab = vocab_from_tokenizer(tokenizer, vocab_size)
    elif vocab_size >= 256 + 3 or _is_apt(model):
        vocab = byte_vocab(vocab_size, *specials)
    else:
        raise ValueError(f"no tokenizer given, none in the model directory (tokenizer.model or tokenizer.json), and "
                         f"the model's {vocab_size}-token vocabulary is not the byte vocabulary: pass tokenizer=")
    if len(vocab.tokens) != vocab_size:
        raise ValueError(f"tokenizer has {len(vocab.tokens)} tokens but the model has vocab_size={vocab_size}")

    out_path = Path(output_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out_path), arch)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name or out_path.stem)
    if description:
        writer.add_description(description)
    writer.add_file_type(int(ftype))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    if arch == "llama":
        _llama_metadata(writer, cfg)
    else:
        _apt_metadata(writer, cfg, [orig for _, orig, _ in tensors], ties,
                      getattr(_unwrap(model), "model_type", "apt"))
    write_vocab(writer, vocab)

    types: Dict[str, str] = {}
    max_abs, rels = 0.0, []
    for gname, _, arr in tensors:
        arr = arr.reshape(1) if arr.ndim == 0 else arr
        ttype = tensor_type_for(gname, arr.shape, qtype)
        data = encode_tensor(arr, ttype)
        back = gguf.quants.dequantize(data, ttype).reshape(arr.shape)
        err = np.abs(back - arr)
        max_abs = max(max_abs, float(err.max()) if err.size else 0.0)
        norm = float(np.linalg.norm(arr))
        rels.append(float(np.linalg.norm(back - arr)) / norm if norm > 0 else 0.0)
        writer.add_tensor(gname, data, raw_dtype=ttype)
        types[gname] = ttype.name
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return GGUFExportResult(str(out_path), arch, str(quantization).upper(), len(tensors), out_path.stat().st_size,
                            time.perf_counter() - t0, types, max_abs, float(np.mean(rels)) if rels else 0.0)


# --------------------------------------------------------------------------------------------------
# reading back
# --------------------------------------------------------------------------------------------------
def read_metadata(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """All key/value metadata of a GGUF file as Python values (strings, numbers, lists)."""
    reader = _gguf().GGUFReader(str(path))
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def read_tensors(path: Union[str, os.PathLike]) -> Dict[str, Tuple[str, np.ndarray]]:
    """``{name: (type name, dequantised float32 array in PyTorch's shape)}`` of a GGUF file."""
    gguf = _gguf()
    reader = gguf.GGUFReader(str(path))
    out = {}
    for t in reader.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        arr = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(shape)
        out[t.name] = (t.tensor_type.name, arr.astype(np.float32))
    return out


def load_apt_from_gguf(path: Union[str, os.PathLike]) -> Any:
    """Rebuild an :class:`APTLanguageModel` from a GGUF file written by :func:`write_gguf` (dequantised)."""
    import torch

    from seetrain.apt.model import MODEL_TYPES, APTConfig

    meta = read_metadata(path)
    if meta.get("general.architecture") != ARCH_APT:
        raise ValueError(f"{path} holds a {meta.get('general.architecture')!r} model, not an APT model")
    cfg = APTConfig.from_dict(json.loads(meta[f"{ARCH_APT}.config_json"]))
    model = MODEL_TYPES[meta.get(f"{ARCH_APT}.model_class", "apt")](cfg)
    tensors = read_tensors(path)
    names = meta[f"{ARCH_APT}.tensor_names"]
    sd = model.state_dict()
    state = {}
    for (gname, (_, arr)), orig in zip(tensors.items(), names):
        state[orig] = torch.from_numpy(arr.reshape(tuple(sd[orig].shape))).to(sd[orig].dtype)
    ties = json.loads(meta.get(f"{ARCH_APT}.tied_tensors", "{}"))
    for dup, src in ties.items():
        state[dup] = state[src]
    model.load_state_dict(state, strict=False)
    missing = set(sd) - set(state)
    floats = {k for k in missing if sd[k].is_floating_point()}
    if floats:
        raise ValueError(f"GGUF file {path} lacks tensors {sorted(floats)[:5]}")
    return model
