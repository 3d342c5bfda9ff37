"""Tri-Vein Attention (:class:`TVAAttention`) and the standard multi-head baseline.

TVA's per-head subspace: each head ``h`` owns a projector ``V_h`` (``r_h x d_head``) and a lift
``U_h`` (``d_head x r_h``) with ``r_h = min(rank, d_head)``. Queries, keys and values of the head are
all projected with the same ``V_h`` (the "tri-vein"), attention runs in ``r_h`` dimensions with scale
``1/sqrt(r_h)``, and the result is lifted back with ``U_h`` before the output projection. The score
and mixing cost is ``O(B * H * T^2 * r_h)`` instead of ``O(B * H * T^2 * d_head)``. When ``rank >=
d_head`` the head subspace is the whole head (``r_h = d_head``): a learned orthogonal change of basis,
so TVA degrades gracefully to standard attention instead of inflating the head.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


def attention_bias(attention_mask: Optional[torch.Tensor], T: int, device: torch.device) -> Optional[torch.Tensor]:
    """Boolean ``(B, 1, T, T)`` mask, True = may attend: causal AND key not padding.

    ``attention_mask`` is ``(B, T)`` with 1 for real tokens and 0 for padding; ``None`` means "pure
    causal" (the caller then uses SDPA's ``is_causal`` fast path). Every query may always attend to
    itself, so a padding query never gets an all-masked row (which would produce NaN).
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2 or attention_mask.shape[1] != T:
        raise ValueError(f"attention_mask must have shape (batch, {T}), got {tuple(attention_mask.shape)}")
    causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    keys = attention_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
    eye = torch.eye(T, dtype=torch.bool, device=device)
    return (causal & keys) | eye


def _explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor],
                        scale: float, dropout_p: float, training: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * scale
    if mask is None:
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1)
    mixed = F.dropout(probs, p=dropout_p, training=training) @ v
    return mixed, probs


class _HeadAttention(nn.Module):
    """Shared Q/K/V/output projections; subclasses map heads into and out of the attention space."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.dropout = float(dropout)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    attn_dim: int  # width of the space attention is computed in

    def to_space(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, T, d_head) -> (B, H, T, attn_dim)
        return x

    def from_space(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, T, attn_dim) -> (B, H, T, d_head)
        return x

    def forward(self, x: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                output_attentions: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(out, probs)``: ``out`` is ``(B, T, d_model)``; ``probs`` ``(B, H, T, T)`` or None."""
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        q, k, v = self.to_space(q), self.to_space(k), self.to_space(v)
        mask = attention_bias(attention_mask, T, x.device)
        scale = 1.0 / math.sqrt(self.attn_dim)
        p = self.dropout if self.training else 0.0
        probs = None
        if output_attentions:
            mixed, probs = _explicit_attention(q, k, v, mask, scale, p, self.training)
        elif mask is None:
            mixed = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True, scale=scale)
        else:
            mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, scale=scale)
        mixed = self.from_space(mixed)  # (B, H, T, d_head)
        return self.out(mixed.transpose(1, 2).reshape(B, T, self.d_model)), probs


class StandardAttention(_HeadAttention):
    """Plain causal multi-head attention (scale ``1/sqrt(d_head)``), the baseline."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__(d_model, n_heads, dropout)
        self.attn_dim = self.d_head


class TVAAttention(_HeadAttention):
    """Tri-Vein Attention: attention inside a per-head ``min(rank, d_head)``-dim vein subspace."""

    def __init__(self, d_model: int, n_heads: int, rank: int, dropout: float = 0.0) -> None:
        super().__init__(d_model, n_heads, dropout)
        if rank < 1:
            raise ValueError(f"TVAAttention rank must be >= 1, got {rank}")
        self.rank = rank
        self.head_rank = self.attn_dim = min(rank, self.d_head)
        v = torch.empty(n_heads, self.head_rank, self.d_head)
        for h in range(n_heads):
            nn.init.orthogonal_(v[h])
        self.V = nn.Parameter(v)                                   # (H, r_h, d_head)
        self.U = nn.Parameter(v.transpose(1, 2).contiguous())        # (H, d_head, r_h)

    def to_space(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bhtd,hrd->bhtr", x, self.V)

    def from_space(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bhtr,hdr->bhtd", x, self.U)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, rank={self.rank}, head_rank={self.head_rank}"
