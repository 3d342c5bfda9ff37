"""The configuration of an APT language model (a plain dataclass, JSON-friendly)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Mapping


@dataclass
class APTConfig:
    """Hyper-parameters of :class:`APTLanguageModel` and :class:`StandardLanguageModel`.

    ``rank`` is the width of the vein subspace (``1 <= rank <= d_model``). Attention works in a
    per-head subspace of width ``min(attn_rank or rank, d_model // n_heads)``. ``tau`` is the
    off-plane threshold in units of ``sqrt(d_model)`` (the norm of a LayerNorm output without its
    learned gain): a token is "off the manifold" when ``eps(h) > tau * sqrt(d_model)``; while ``U V``
    is an orthogonal projector (kept close by the ``vein_reg`` penalty) ``tau`` is the sine of the
    angle between the token and the subspace. ``s_normals`` learnable normal directions compensate
    such tokens, each scaled by a gate in ``(0, alpha_scale)``.
    """

    vocab_size: int = 259
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    rank: int = 16
    max_seq_len: int = 128
    dropout: float = 0.0
    attn_dropout: float = 0.0
    r_hidden: int = 0          # FFN hidden width inside the vein subspace; 0 -> 2 * rank
    attn_rank: int = 0         # per-head attention subspace width; 0 -> rank (capped at d_head)
    tau: float = 0.8
    s_normals: int = 4
    alpha_scale: float = 0.1
    vein_reg: float = 0.01     # weight of the vein orthogonality penalty in ``aux_loss`` (0: none)
    ffn_mult: int = 4          # hidden width multiple of the standard baseline's FFN
    tie_embeddings: bool = True
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    pad_token_id: int = 256
    bos_token_id: int = 257
    eos_token_id: int = 258

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field and a fix."""
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "rank", "max_seq_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"APTConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"APTConfig.d_model={self.d_model} is not divisible by n_heads={self.n_heads}; "
                             "choose n_heads that divides d_model")
        if self.rank > self.d_model:
            raise ValueError(f"APTConfig.rank={self.rank} exceeds d_model={self.d_model}; the vein subspace "
                             "must be at most d_model wide")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.attn_dropout < 1.0:
            raise ValueError("APTConfig.dropout and attn_dropout must be in [0, 1)")
        if self.r_hidden < 0 or self.s_normals < 0 or self.attn_rank < 0:
            raise ValueError("APTConfig.r_hidden, attn_rank and s_normals must be >= 0")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def head_rank(self) -> int:
        """The per-head attention subspace width: ``min(attn_rank or rank, d_head)``."""
        return min(self.attn_rank or self.rank, self.d_head)

    @property
    def ffn_rank_hidden(self) -> int:
        return self.r_hidden or 2 * self.rank

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "APTConfig":
        """Build from a dict; unknown keys raise a ``ValueError`` that lists the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(d) - known - {"model_type"})
        if extra:
            raise ValueError(f"unknown APTConfig field(s) {extra}; known fields: {sorted(known)}")
        return cls(**{k: v for k, v in d.items() if k in known})
