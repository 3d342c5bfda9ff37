"""Transformer blocks: the VFT block (TVA + vein FFN + normal compensation) and the standard block."""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .attention import StandardAttention, TVAAttention
from .config import APTConfig
from .vein import NormalCompensator, VeinProjector


class VFTFeedForward(nn.Module):
    """Feed-forward in the vein subspace plus a small direct stabiliser path.

    ``ffn(h) = U W2 gelu(W1 V h) + W_s LayerNorm(h)``: the main path costs ``O(d r + r r_hidden)``
    per token; the stabiliser (LayerNorm + Linear ``d -> d``) lets the block also write outside the
    subspace. Pass ``projector`` to share a :class:`VeinProjector` with the block.
    """

    def __init__(self, d_model: int, rank: int, r_hidden: Optional[int] = None, dropout: float = 0.0,
                 projector: Optional[VeinProjector] = None) -> None:
        super().__init__()
        self.vein = projector if projector is not None else VeinProjector(d_model, rank)
        if self.vein.d_model != d_model or self.vein.rank != rank:
            raise ValueError("the shared projector's d_model/rank do not match VFTFeedForward's")
        self.r_hidden = int(r_hidden or 2 * rank)
        self.up = nn.Linear(rank, self.r_hidden)
        self.down = nn.Linear(self.r_hidden, rank)
        self.stab_norm = nn.LayerNorm(d_model)
        self.stab = nn.Linear(d_model, d_model)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = self.down(self.drop(self.act(self.up(self.vein.project(h)))))
        return self.vein.reconstruct(z) + self.stab(self.stab_norm(h))


class VFTBlock(nn.Module):
    """Pre-norm block: ``x + TVA(LN x)``, then ``x + FFN(LN x) + [eps > tau] * compensation(LN x)``.

    ``eps`` is the vein distance of the normalised state (``x`` normalised to zero mean and unit
    variance, before LN2's learned gain; the FFN itself reads ``LN2 x``). ``forward`` returns
    ``(x, probs, stats)`` with ``stats = {"eps_mean", "over_tau"}`` (detached scalar tensors over the
    non-padding tokens).
    """

    def __init__(self, cfg: APTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.ln1 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.attn = TVAAttention(d, cfg.n_heads, cfg.attn_rank or cfg.rank, dropout=cfg.attn_dropout)
        self.ln2 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.vein = VeinProjector(d, cfg.rank)
        self.ffn = VFTFeedForward(d, cfg.rank, cfg.ffn_rank_hidden, dropout=cfg.dropout, projector=self.vein)
        self.tau = cfg.tau * math.sqrt(d)  # absolute threshold on eps (a LayerNorm output has norm ~ sqrt(d))
        self.compensator = NormalCompensator(d, cfg.s_normals, self.tau, cfg.alpha_scale)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                output_attentions: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor], Dict[str, torch.Tensor]]:
        a, probs = self.attn(self.ln1(x), attention_mask, output_attentions)
        x = x + self.drop(a)
        h = self.ln2(x)
        # eps on the normalised state without LN2's learned gain: ||unit|| = sqrt(d), so tau is relative
        eps = self.vein.distance(F.layer_norm(x, (x.shape[-1],), eps=self.ln2.eps))
        delta, over = self.compensator(h, eps)
        x = x + self.drop(self.ffn(h)) + delta
        with torch.no_grad():
            if attention_mask is None:
                stats = {"eps_mean": eps.detach().float().mean(), "over_tau": over.float().mean()}
            else:
                w = attention_mask.to(eps.dtype)
                n = w.sum().clamp_min(1.0)
                stats = {"eps_mean": (eps.detach() * w).sum().float() / n, "over_tau": (over.to(w.dtype) * w).sum().float() / n}
        return x, probs, stats


class StandardBlock(nn.Module):
    """Pre-norm standard block: multi-head attention and a GELU MLP of width ``ffn_mult * d``."""

    def __init__(self, cfg: APTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.ln1 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.attn = StandardAttention(d, cfg.n_heads, dropout=cfg.attn_dropout)
        self.ln2 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.ffn_mult * d), nn.GELU(), nn.Linear(cfg.ffn_mult * d, d))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                output_attentions: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor], Dict[str, torch.Tensor]]:
        a, probs = self.attn(self.ln1(x), attention_mask, output_attentions)
        x = x + self.drop(a)
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, probs, {}
