"""APT models and the byte tokenizer in Hugging Face Transformers form.

* :class:`APTHFConfig` (``model_type="apt_vft"``) and :class:`APTForCausalLM`, a ``PreTrainedModel`` that
  wraps :class:`seetrain.apt.model.APTLanguageModel` (or the standard baseline), so ``save_pretrained`` /
  ``from_pretrained``, ``generate`` and the ``Trainer`` work on APT models.
* :func:`register_apt_with_transformers` registers them with ``AutoConfig`` / ``AutoModelForCausalLM``.
* :func:`write_remote_code` writes ``configuration_apt.py`` / ``modeling_apt.py`` and ``auto_map`` into a
  saved directory so ``AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True)`` works in a
  process that never imported this module (it still needs ``seetrain[apt]`` installed).
* :func:`byte_tokenizer_hf` builds a ``PreTrainedTokenizerFast`` (a byte-level ``tokenizer.json``) that gives
  the same ids as :class:`seetrain.apt.data.ByteTokenizer`.

This module imports transformers at import time: import it only when needed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

MODEL_TYPE = "apt_vft"

_ATTRIBUTE_MAP = {
    "hidden_size": "d_model",
    "num_attention_heads": "n_heads",
    "num_hidden_layers": "n_layers",
    "max_position_embeddings": "max_seq_len",
}


def _apt_fields() -> Dict[str, Any]:
    from seetrain.apt.model import APTConfig

    return {f.name: f for f in dataclasses.fields(APTConfig)}


class APTHFConfig(PretrainedConfig):
    """The APT hyper-parameters (every :class:`APTConfig` field, flat) as a Transformers config.

    ``apt_model_class`` is ``"apt"`` (VFT/TVA blocks) or ``"standard"`` (the baseline).
    """

    model_type = MODEL_TYPE
    attribute_map = dict(_ATTRIBUTE_MAP)

    def __init__(self, apt_model_class: str = "apt", **kwargs: Any) -> None:
        from seetrain.apt.model import APTConfig

        fields = _apt_fields()
        values = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
        # token ids live on PretrainedConfig too: keep them in step
        for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
            if values.get(key) is None:
                values.pop(key, None)
        cfg = APTConfig(**values)  # validates, fills defaults
        self.apt_model_class = apt_model_class
        for name in fields:
            if name not in ("pad_token_id", "bos_token_id", "eos_token_id"):
                setattr(self, name, getattr(cfg, name))
        kwargs.setdefault("tie_word_embeddings", bool(cfg.tie_embeddings))
        super().__init__(pad_token_id=cfg.pad_token_id, bos_token_id=cfg.bos_token_id,
                         eos_token_id=cfg.eos_token_id, **kwargs)

    def to_apt_config(self) -> Any:
        """The :class:`APTConfig` these values describe."""
        from seetrain.apt.model import APTConfig

        return APTConfig(**{name: getattr(self, name) for name in _apt_fields()})

    @classmethod
    def from_apt_config(cls, apt_config: Any, apt_model_class: str = "apt", **kwargs: Any) -> "APTHFConfig":
        return cls(apt_model_class=apt_model_class, **apt_config.to_dict(), **kwargs)


class APTPreTrainedModel(PreTrainedModel):
    config_class = APTHFConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    _no_split_modules: list = []

    def _init_weights(self, module: torch.nn.Module) -> None:
        """Weights the checkpoint does not provide get the APT model's own initialisation."""
        std = getattr(self.config, "init_std", 0.02)
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight, 0.0, std)


def _make_contiguous(module: torch.nn.Module) -> None:
    """Give every parameter contiguous storage (safetensors and Transformers' tie detection need it)."""
    for p in module.parameters():
        if not p.data.is_contiguous():
            p.data = p.data.contiguous()


def shared_tensor_aliases(module: torch.nn.Module, prefix: str = "") -> Dict[str, str]:
    """``{alias: first name}`` for parameters/buffers that are the same object (tied or shared modules).

    Identity, not storage, decides: under ``from_pretrained`` the model is first built on the meta device,
    where every tensor reports the same data pointer.
    """
    first: Dict[int, str] = {}
    aliases: Dict[str, str] = {}
    named = list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False))
    for name, t in named:
        if id(t) in first:
            aliases[prefix + name] = prefix + first[id(t)]
        else:
            first[id(t)] = name
    return aliases


@dataclasses.dataclass
class APTCausalLMOutput(CausalLMOutputWithPast):
    """``CausalLMOutputWithPast`` plus ``aux_loss`` (the vein penalty, already added to ``loss`` in training)."""

    aux_loss: Optional[torch.FloatTensor] = None


class APTForCausalLM(APTPreTrainedModel, GenerationMixin):
    """A Transformers causal LM around an :class:`APTLanguageModel` (attribute ``model``).

    There is no KV cache: every generation step runs the (short) context again.
    """

    def __init__(self, config: APTHFConfig) -> None:
        super().__init__(config)
        from seetrain.apt.model import MODEL_TYPES

        cls = MODEL_TYPES.get(getattr(config, "apt_model_class", "apt"))
        if cls is None:
            raise ValueError(f"unknown apt_model_class {config.apt_model_class!r}; known: {sorted(MODEL_TYPES)}")
        self.model = cls(config.to_apt_config())
        _make_contiguous(self.model)
        # APT shares some tensors (tied embeddings, a vein module used by two sub-blocks): tell
        # save/load which names are aliases so the checkpoint holds each tensor once
        self._tied_weights_keys = shared_tensor_aliases(self.model, prefix="model.")
        self.post_init()

    @property
    def apt_model(self) -> torch.nn.Module:
        return self.model

    @classmethod
    def from_apt_model(cls, apt_model: torch.nn.Module) -> "APTForCausalLM":
        """Wrap a trained APT model: a new wrapper holding the same weights (copied)."""
        config = APTHFConfig.from_apt_config(apt_model.config, getattr(apt_model, "model_type", "apt"))
        wrapper = cls(config)
        missing, unexpected = wrapper.model.load_state_dict(apt_model.state_dict(), strict=False)
        if unexpected or [k for k in missing if not k.endswith("lm_head.weight")]:
            raise ValueError(f"APT weights do not fit the wrapper: missing={missing} unexpected={unexpected}")
        return wrapper.to(next(apt_model.parameters()).dtype)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.model.tok_emb

    def set_input_embeddings(self, value: torch.nn.Module) -> None:
        self.model.tok_emb = value

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.model.lm_head

    def set_output_embeddings(self, value: torch.nn.Module) -> None:
        self.model.lm_head = value

    def forward(self, input_ids: Optional[torch.LongTensor] = None, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.LongTensor] = None, output_hidden_states: Optional[bool] = None,
                output_attentions: Optional[bool] = None, return_dict: Optional[bool] = None,
                **kwargs: Any) -> CausalLMOutputWithPast:
        out = self.model(input_ids, attention_mask=attention_mask, labels=labels,
                         output_hidden_states=bool(output_hidden_states), output_attentions=bool(output_attentions))
        loss = out.loss
        if loss is not None and self.training and out.aux_loss is not None:
            loss = loss + out.aux_loss  # APT's vein regulariser trains under the Trainer too; eval loss stays CE
        return APTCausalLMOutput(loss=loss, logits=out.logits, hidden_states=out.hidden_states,
                                 attentions=out.attentions, aux_loss=out.aux_loss)

    def prepare_inputs_for_generation(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                                      **kwargs: Any) -> Dict[str, Any]:
        """No cache: pass the whole (cropped) context each step."""
        n = self.config.max_seq_len
        return {"input_ids": input_ids[:, -n:],
                "attention_mask": attention_mask[:, -n:] if attention_mask is not None else None}


_REGISTERED = False


def register_apt_with_transformers() -> None:
    """Register ``apt_vft`` with AutoConfig / AutoModelForCausalLM (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AutoConfig, AutoModelForCausalLM

    AutoConfig.register(MODEL_TYPE, APTHFConfig, exist_ok=True)
    AutoModelForCausalLM.register(APTHFConfig, APTForCausalLM, exist_ok=True)
    _REGISTERED = True


# --------------------------------------------------------------------------------------------------
# remote code
# --------------------------------------------------------------------------------------------------
_CONFIG_CODE = '''"""APT configuration for `trust_remote_code=True` loading. Needs: pip install "seetrain[apt]"."""
from seetrain.apt.plugins.hf_apt import APTHFConfig

__all__ = ["APTHFConfig"]
'''

_MODELING_CODE = '''"""APT model for `trust_remote_code=True` loading. Needs: pip install "seetrain[apt]"."""
from seetrain.apt.plugins.hf_apt import APTForCausalLM

from .configuration_apt import APTHFConfig

__all__ = ["APTForCausalLM", "APTHFConfig"]
'''


def write_remote_code(directory: Union[str, os.PathLike]) -> None:
    """Add ``configuration_apt.py``, ``modeling_apt.py`` and ``auto_map`` to a saved APT directory."""
    d = Path(directory)
    (d / "configuration_apt.py").write_text(_CONFIG_CODE, encoding="utf-8")
    (d / "modeling_apt.py").write_text(_MODELING_CODE, encoding="utf-8")
    cfg_path = d / "config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["auto_map"] = {"AutoConfig": "configuration_apt.APTHFConfig",
                       "AutoModelForCausalLM": "modeling_apt.APTForCausalLM"}
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# byte tokenizer
# --------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's reversible map from the 256 bytes to printable characters (used by byte-level BPE)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def byte_tokenizer_hf(byte_tokenizer: Any = None) -> Any:
    """A ``PreTrainedTokenizerFast`` with the ids of ``ByteTokenizer`` (bytes 0..255, then the specials)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if byte_tokenizer is None:
        from seetrain.apt.data import ByteTokenizer

        byte_tokenizer = ByteTokenizer()
    vocab = {ch: b for b, ch in bytes_to_unicode().items()}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    specials = sorted(byte_tokenizer.special_tokens.items(), key=lambda kv: kv[1])
    names = {v: k for k, v in specials}
    tok.add_special_tokens([AddedToken(name, special=True) for name, _ in specials])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=names.get(byte_tokenizer.pad_token_id), bos_token=names.get(byte_tokenizer.bos_token_id),
        eos_token=names.get(byte_tokenizer.eos_token_id), model_max_length=int(1e30),
        split_special_tokens=True)  # like ByteTokenizer, "<eos>" typed in text is just bytes
    ids = fast.convert_tokens_to_ids([k for k, _ in specials])
    if ids != [v for _, v in specials]:
        raise RuntimeError(f"special token ids came out as {ids}, expected {[v for _, v in specials]}")
    return fast
