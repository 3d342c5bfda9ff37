"""GGUF quantisation helpers for :mod:`.gguf_convert`: the quantisation table, probing what the installed
``gguf`` package can quantise, and per-tensor type choice and encoding."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

# quantisation name -> (GGMLQuantizationType name, LlamaFileType name)
_QUANT_TABLE: Dict[str, Tuple[str, str]] = {
    "F32": ("F32", "ALL_F32"),
    "F16": ("F16", "MOSTLY_F16"),
    "BF16": ("BF16", "MOSTLY_BF16"),
    "Q8_0": ("Q8_0", "MOSTLY_Q8_0"),
    "Q5_1": ("Q5_1", "MOSTLY_Q5_1"),
    "Q5_0": ("Q5_0", "MOSTLY_Q5_0"),
    "Q4_1": ("Q4_1", "MOSTLY_Q4_1"),
    "Q4_0": ("Q4_0", "MOSTLY_Q4_0"),
    "Q6_K": ("Q6_K", "MOSTLY_Q6_K"),
    "Q5_K": ("Q5_K", "MOSTLY_Q5_K_M"),
    "Q5_K_M": ("Q5_K", "MOSTLY_Q5_K_M"),
    "Q5_K_S": ("Q5_K", "MOSTLY_Q5_K_S"),
    "Q4_K": ("Q4_K", "MOSTLY_Q4_K_M"),
    "Q4_K_M": ("Q4_K", "MOSTLY_Q4_K_M"),
    "Q4_K_S": ("Q4_K", "MOSTLY_Q4_K_S"),
    "Q3_K": ("Q3_K", "MOSTLY_Q3_K_M"),
    "Q2_K": ("Q2_K", "MOSTLY_Q2_K"),
}

_LLAMA_TYPES = ("llama", "mistral")


class UnsupportedQuantizationError(ValueError):
    """The requested quantisation cannot be produced by the installed ``gguf`` package."""


def _gguf():
    from seetrain.lazy import require

    return require("gguf", "apt", purpose="GGUF export")


def _can_quantize(qtype: Any) -> bool:
    gguf = _gguf()
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    try:
        gguf.quants.quantize(np.zeros((1, max(block, 256)), dtype=np.float32), qtype)
        return True
    except NotImplementedError:
        return False


def supported_quantizations() -> List[str]:
    """Quantisation names this installation can write (probed in ``gguf.quants``), best quality first."""
    gguf = _gguf()
    out = []
    for name, (qname, _) in _QUANT_TABLE.items():
        if name != qname:  # aliases such as Q4_K_M
            continue
        if _can_quantize(gguf.GGMLQuantizationType[qname]):
            out.append(name)
    return out


def resolve_quantization(quantization: str) -> Tuple[Any, Any]:
    """``(GGMLQuantizationType, LlamaFileType)`` for a name like ``"q8_0"``; a clear error otherwise."""
    gguf = _gguf()
    key = str(quantization).strip().upper()
    if key not in _QUANT_TABLE:
        raise UnsupportedQuantizationError(
            f"unknown GGUF quantisation {quantization!r}; supported here: {', '.join(supported_quantizations())}")
    qname, ftype = _QUANT_TABLE[key]
    qtype = gguf.GGMLQuantizationType[qname]
    if not _can_quantize(qtype):
        raise UnsupportedQuantizationError(
            f"quantisation {key} is not supported: the installed gguf-py {_gguf_version()} can only dequantise "
            f"{qname}, not quantise it. Supported here: {', '.join(supported_quantizations())}. For {key}, "
            f"install node-llama-cpp (`bash scripts/install_llamacpp.sh`: write_gguf then uses llama.cpp's own "
            f"quantiser), run llama.cpp's `llama-quantize model-f16.gguf model-{key.lower()}.gguf {key}`, or pass "
            f"quantize={key.lower()!r} to Ollama's create (export_to_ollama does that for you).")
    return qtype, gguf.LlamaFileType[ftype]


def _gguf_version() -> str:
    try:
        from importlib.metadata import version

        return version("gguf")
    except Exception:
        return "?"


def tensor_type_for(name: str, shape: Sequence[int], qtype: Any) -> Any:
    """The GGML type a tensor is stored in for a requested type, following llama.cpp's convert rules:
    1-D tensors (norms, biases, scalars) stay F32; a row length that is not a multiple of the block
    size falls back to F16."""
    gguf = _gguf()
    T = gguf.GGMLQuantizationType
    if len(shape) <= 1 or qtype == T.F32:
        return T.F32
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    if shape[-1] % block:
        return T.F16
    return qtype


def encode_tensor(data: np.ndarray, qtype: Any) -> np.ndarray:
    """Quantise ``data`` (float32) to ``qtype``; the returned array is what GGUFWriter.add_tensor stores."""
    return _gguf().quants.quantize(np.ascontiguousarray(data, dtype=np.float32), qtype)
