"""The APT language model (VFT blocks), the standard-attention baseline, generation and save/load."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Type, TypeVar, Union

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import StandardBlock, VFTBlock
from .config import APTConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
M = TypeVar("M", bound="_CausalLM")


@dataclass
class LMOutput:
    """What a forward pass returns (attribute access; ``loss``/``hidden_states``/``attentions`` may be None)."""

    logits: torch.Tensor
    loss: Optional[torch.Tensor] = None
    block_stats: Optional[List[Dict[str, torch.Tensor]]] = None
    aux_loss: Optional[torch.Tensor] = None   # regulariser to add to ``loss`` when training (VFT: vein_reg)
    hidden_states: Optional[Tuple[torch.Tensor, ...]] = None
    attentions: Optional[Tuple[torch.Tensor, ...]] = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def filter_logits(logits: torch.Tensor, top_k: Optional[int] = None, top_p: Optional[float] = None) -> torch.Tensor:
    """Set logits outside the top-k and/or the top-p nucleus to ``-inf`` (last dim)."""
    if top_k is not None and top_k > 0:
        k = min(int(top_k), logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0.0 < top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) >= top_p  # keep the smallest prefix whose mass reaches top_p
        drop[..., 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


class _CausalLM(nn.Module):
    """Embeddings, a stack of blocks, final LayerNorm and a (tied) LM head."""

    model_type = "base"
    block_class: Type[nn.Module] = nn.Module

    def __init__(self, config: APTConfig) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = APTConfig.from_dict(config)
        if not isinstance(config, APTConfig):
            raise TypeError(f"{type(self).__name__} takes an APTConfig, got {type(config).__name__}")
        self.config = config
        c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.max_seq_len, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(self.block_class(c) for _ in range(c.n_layers))
        self.ln_f = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.apply(self._init_weights)
        if c.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.init_std
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, std)

    # --- forward -------------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.Tensor] = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> LMOutput:
        """Logits ``(B, T, V)``; ``loss`` is next-token cross-entropy when ``labels`` are given
        (shifted inside; ``-100`` is ignored)."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
        B, T = input_ids.shape
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence length {T} exceeds max_seq_len={self.config.max_seq_len}; "
                             "truncate the input or build the model with a larger max_seq_len")
        pos = torch.arange(T, device=input_ids.device)
        x = self.drop(self.tok_emb(input_ids) + self.pos_emb(pos))
        hidden: List[torch.Tensor] = [x] if output_hidden_states else []
        attns: List[torch.Tensor] = []
        stats: List[Dict[str, torch.Tensor]] = []
        for block in self.blocks:
            x, probs, st = block(x, attention_mask, output_attentions)
            stats.append(st)
            if output_hidden_states:
                hidden.append(x)
            if output_attentions:
                attns.append(probs)
        logits = self.lm_head(self.ln_f(x))
        loss = aux = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                   labels[:, 1:].reshape(-1), ignore_index=-100)
            aux = self.aux_loss()
        return LMOutput(logits=logits, loss=loss, block_stats=stats, aux_loss=aux,
                        hidden_states=tuple(hidden) if output_hidden_states else None,
                        attentions=tuple(attns) if output_attentions else None)

    def aux_loss(self) -> Optional[torch.Tensor]:
        """A regulariser to add to the language-model loss in training, or None (the baseline has none)."""
        return None

    # --- generation ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, max_new_tokens: int = 32, temperature: float = 1.0,
                 top_k: Optional[int] = None, top_p: Optional[float] = None, do_sample: bool = False,
                 eos_token_id: Optional[int] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Extend ``input_ids`` (B, T) by up to ``max_new_tokens`` tokens.

        Greedy unless ``do_sample`` (then ``temperature``, ``top_k``, ``top_p`` shape the distribution).
        The context is cropped to the last ``max_seq_len`` tokens. Stops early once every row has
        produced ``eos_token_id`` (rows that finished are padded with it).
        """
        if input_ids.dim() == 1:
            input_ids = input_ids.unsqueeze(0)
        if do_sample and temperature <= 0:
            raise ValueError("temperature must be > 0 when do_sample=True (use do_sample=False for greedy)")
        was_training = self.training
        self.eval()
        try:
            ids = input_ids
            done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
            for _ in range(int(max_new_tokens)):
                logits = self(ids[:, -self.config.max_seq_len:]).logits[:, -1, :].float()
                if do_sample:
                    logits = filter_logits(logits / temperature, top_k, top_p)
                    nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)
                else:
                    nxt = logits.argmax(-1, keepdim=True)
                if eos_token_id is not None:
                    nxt = nxt.masked_fill(done.unsqueeze(-1), eos_token_id)
                    done |= nxt.squeeze(-1) == eos_token_id
                ids = torch.cat([ids, nxt], dim=1)
                if eos_token_id is not None and bool(done.all()):
                    break
            return ids
        finally:
            self.train(was_training)

    # --- persistence ---------------------------------------------------------------------------
    def save_pretrained(self, directory: Union[str, os.PathLike]) -> str:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``; return its path."""
        from safetensors.torch import save_model

        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump({"model_type": self.model_type, **self.config.to_dict()}, f, indent=2)
        save_model(self, os.path.join(directory, WEIGHTS_FILE))
        return directory

    @classmethod
    def from_pretrained(cls: Type[M], directory: Union[str, os.PathLike], map_location: str = "cpu") -> M:
        """Load a model saved with :meth:`save_pretrained`."""
        from safetensors.torch import load_model

        directory = os.fspath(directory)
        cfg_path = os.path.join(directory, CONFIG_FILE)
        if not os.path.isfile(cfg_path):
            raise FileNotFoundError(f"no {CONFIG_FILE} in {directory!r}; save the model with save_pretrained() first")
        with open(cfg_path, encoding="utf-8") as f:
            data = json.load(f)
        saved_type = data.pop("model_type", cls.model_type)
        target: Type[_CausalLM] = cls
        if cls is _CausalLM or saved_type != cls.model_type:
            target = MODEL_TYPES.get(saved_type, cls)
        model = target(APTConfig.from_dict(data))
        load_model(model, os.path.join(directory, WEIGHTS_FILE), device=map_location)
        return model  # type: ignore[return-value]

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of distinct parameters (tied weights counted once)."""
        seen = {id(p): p for p in self.parameters()}
        if exclude_embeddings:
            seen.pop(id(self.tok_emb.weight), None)
            seen.pop(id(self.pos_emb.weight), None)
        return sum(p.numel() for p in seen.values())


class APTLanguageModel(_CausalLM):
    """The APT language model: ``n_layers`` :class:`VFTBlock` s with Tri-Vein Attention."""

    model_type = "apt"
    block_class = VFTBlock

    def aux_loss(self) -> Optional[torch.Tensor]:
        """``vein_reg`` times the blocks' vein orthogonality penalties (keeps ``eps`` a true distance)."""
        if not self.config.vein_reg:
            return None
        return self.config.vein_reg * sum(b.vein.orthogonality_penalty() for b in self.blocks)


class StandardLanguageModel(_CausalLM):
    """The standard-attention baseline with the same interface (``block_stats`` are empty dicts)."""

    model_type = "standard"
    block_class = StandardBlock


MODEL_TYPES: Dict[str, Type[_CausalLM]] = {"apt": APTLanguageModel, "standard": StandardLanguageModel}
