"""Tensor naming, Llama layout mapping and GGUF metadata for :mod:`.gguf_convert`."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Tuple

import numpy as np

ARCH_APT = "apt"
GGML_MAX_NAME = 63  # llama.cpp's GGML_MAX_NAME is 64 including the terminating NUL


def _to_numpy(t: Any) -> np.ndarray:
    return t.detach().to("cpu").float().numpy()


def _unwrap(model: Any) -> Any:
    """The APTLanguageModel inside an APTForCausalLM wrapper, else the model itself."""
    inner = getattr(model, "apt_model", None)
    return inner if inner is not None else model


def _is_apt(model: Any) -> bool:
    return type(getattr(_unwrap(model), "config", None)).__name__ == "APTConfig"

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
