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
:mod:`.llamacpp`) from an F16 file when that package is installed. Tokenizers: :mod:`.gguf_tokenizer`.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .gguf_tokenizer import VocabSpec, byte_vocab, vocab_from_directory, vocab_from_tokenizer, write_vocab

ARCH_APT = "apt"
GGML_MAX_NAME = 63  # llama.cpp's GGML_MAX_NAME is 64 including the terminating NUL

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


# --------------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------------
def _to_numpy(t: Any) -> np.ndarray:
    return t.detach().to("cpu").float().numpy()


def _unwrap(model: Any) -> Any:
    """The APTLanguageModel inside an APTForCausalLM wrapper, else the model itself."""
    inner = getattr(model, "apt_model", None)
    return inner if inner is not None else model


def _is_apt(model: Any) -> bool:
    return type(getattr(_unwrap(model), "config", None)).__name__ == "APTConfig"


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


def _gguf_name(name: str, used: set) -> str:
    """A GGUF tensor name for an APT state-dict name: ``blocks.N.`` -> ``blk.N.``, at most 63 chars."""
    out = re.sub(r"^(?:model\.)?(?:blocks|layers|h)\.(\d+)\.", r"blk.\1.", name)
    if len(out) > GGML_MAX_NAME:
        import hashlib

        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        out = out[: GGML_MAX_NAME - 9] + "." + digest
    if out in used:
        raise ValueError(f"tensor name clash in GGUF export: {name!r} -> {out!r}")
    used.add(out)
    return out


def _apt_tensors(model: Any) -> Tuple[List[Tuple[str, str, np.ndarray]], Dict[str, str]]:
    """``[(gguf_name, original_name, array)]`` without duplicates of tied tensors, and the tie map."""
    seen: Dict[Tuple[int, Tuple[int, ...]], str] = {}
    ties: Dict[str, str] = {}
    used: set = set()
    out = []
    for name, t in model.state_dict(keep_vars=False).items():
        if not t.is_floating_point():
            continue
        key = (t.data_ptr(), tuple(t.shape))
        if t.numel() and key in seen:
            ties[name] = seen[key]
            continue
        seen[key] = name
        out.append((_gguf_name(name, used), name, _to_numpy(t)))
    return out, ties


def _permute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows of a Q or K projection (or bias) from Hugging Face's rotary layout to llama.cpp's.

    Hugging Face's ``rotate_half`` rotates dimension ``i`` of a head with dimension ``i + d/2``; llama.cpp's
    ``LLAMA_ROPE_TYPE_NORM`` rotates adjacent pairs ``(2i, 2i+1)``. Row ``2i + j`` of a head in the GGUF file
    must therefore be row ``j * d/2 + i`` of the Hugging Face weight.
    """
    rows = w.shape[0]
    head_dim = rows // n_head
    return (w.reshape(n_head, 2, head_dim // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


_LLAMA_MAP = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def _llama_tensors(model: Any) -> List[Tuple[str, str, np.ndarray]]:
    cfg = model.config
    n_head = cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_head
    sd = model.state_dict()
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    out = []
    for name, t in sd.items():
        if name.endswith("rotary_emb.inv_freq") or not t.is_floating_point():
            continue
        arr = _to_numpy(t)
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        elif name == "lm_head.weight":
            if tied:
                continue  # llama.cpp reuses token_embd.weight when output.weight is absent
            gname = "output.weight"
        else:
            m = re.match(r"model\.layers\.(\d+)\.(.+)\.(weight|bias)$", name)
            if not m or m.group(2) not in _LLAMA_MAP:
                raise ValueError(f"don't know where Llama tensor {name!r} goes in GGUF")
            layer, part, kind = m.groups()
            gname = f"blk.{layer}.{_LLAMA_MAP[part]}.{kind}"
            if part == "self_attn.q_proj":
                arr = _permute_rope(arr, n_head)
            elif part == "self_attn.k_proj":
                arr = _permute_rope(arr, n_kv)
        out.append((gname, name, arr))
    return out


def _rope_theta(cfg: Any) -> float:
    params = getattr(cfg, "rope_parameters", None) or {}
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    return float(getattr(cfg, "rope_theta", 10000.0))


def _llama_metadata(writer: Any, cfg: Any) -> None:
    n_head = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    writer.add_context_length(int(cfg.max_position_embeddings))
    writer.add_embedding_length(int(cfg.hidden_size))
    writer.add_block_count(int(cfg.num_hidden_layers))
    writer.add_feed_forward_length(int(cfg.intermediate_size))
    writer.add_head_count(int(n_head))
    writer.add_head_count_kv(int(getattr(cfg, "num_key_value_heads", None) or n_head))
    writer.add_rope_freq_base(_rope_theta(cfg))
    writer.add_rope_dimension_count(int(head_dim))
    writer.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    writer.add_vocab_size(int(cfg.vocab_size))
    if head_dim != cfg.hidden_size // n_head:
        writer.add_key_length(int(head_dim))
        writer.add_value_length(int(head_dim))


def _apt_metadata(writer: Any, cfg: Any, names: List[str], ties: Dict[str, str], model_class: str = "apt") -> None:
    d = cfg.to_dict()
    writer.add_context_length(int(cfg.max_seq_len))
    writer.add_embedding_length(int(cfg.d_model))
    writer.add_block_count(int(cfg.n_layers))
    writer.add_head_count(int(cfg.n_heads))
    writer.add_head_count_kv(int(cfg.n_heads))
    writer.add_vocab_size(int(cfg.vocab_size))
    writer.add_layer_norm_eps(float(d.get("layer_norm_eps", 1e-5)))
    if "ffn_mult" in d:
        writer.add_feed_forward_length(int(d["ffn_mult"]) * int(cfg.d_model))
    for key in ("rank", "tau", "s_normals", "alpha_scale", "r_hidden"):
        if key in d:
            v = d[key]
            (writer.add_uint32 if isinstance(v, int) and not isinstance(v, bool) else writer.add_float32)(
                f"{ARCH_APT}.vein.{key}", v)
    writer.add_string(f"{ARCH_APT}.config_json", json.dumps(d, sort_keys=True))
    writer.add_string(f"{ARCH_APT}.model_class", str(model_class))
    writer.add_array(f"{ARCH_APT}.tensor_names", names)
    if ties:
        writer.add_string(f"{ARCH_APT}.tied_tensors", json.dumps(ties, sort_keys=True))


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
