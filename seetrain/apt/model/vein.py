"""The vein subspace: :class:`VeinProjector` and the off-plane :class:`NormalCompensator`."""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn


def _orthogonal_pair(d: int, r: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``V`` (r x d) with orthonormal rows and ``U = V^T`` (d x r): ``U V`` is an orthogonal projector."""
    v = torch.empty(r, d)
    nn.init.orthogonal_(v)
    return v, v.t().contiguous()


class VeinProjector(nn.Module):
    """A low-rank subspace of ``R^d``: ``project(h) = V h`` (d -> r), ``reconstruct(z) = U z`` (r -> d).

    ``V`` and ``U`` start orthonormal with ``U = V^T`` (so ``U V`` starts as the orthogonal projector onto
    the subspace) and are then learned independently. ``distance(h) = ||h - U V h||_2`` per token.
    """

    def __init__(self, d_model: int, rank: int) -> None:
        super().__init__()
        if not 1 <= rank <= d_model:
            raise ValueError(f"VeinProjector rank must be in [1, d_model={d_model}], got {rank}")
        self.d_model, self.rank = d_model, rank
        v, u = _orthogonal_pair(d_model, rank)
        self.V = nn.Parameter(v)  # (r, d)
        self.U = nn.Parameter(u)  # (d, r)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.V.t()

    def reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.U.t()

    def distance(self, h: torch.Tensor) -> torch.Tensor:
        """Off-plane distance ``eps(h) = ||h - U(V h)||_2`` over the last dim (shape ``h.shape[:-1]``)."""
        return torch.linalg.vector_norm(h - self.reconstruct(self.project(h)), dim=-1)

    def orthogonality_penalty(self) -> torch.Tensor:
        """``||V V^T - I||_F^2 + ||U - V^T||_F^2``: zero exactly when ``U V`` is the orthogonal projector
        onto the subspace, so that ``distance`` stays a true distance (``0 <= eps <= ||h||``)."""
        eye = torch.eye(self.rank, device=self.V.device, dtype=self.V.dtype)
        return (self.V @ self.V.t() - eye).square().sum() + (self.U - self.V.t()).square().sum()

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, rank={self.rank}"


class NormalCompensator(nn.Module):
    """Adds ``sum_j alpha_ij u_j (v_j . h_i)`` to tokens whose off-plane distance exceeds ``tau``.

    ``(u_j, v_j)``, ``j < s``, are learnable direction pairs; ``alpha = sigmoid(gate(h)) * alpha_scale``
    is a token-wise gate. Tokens with ``eps <= tau`` get exactly zero.
    """

    def __init__(self, d_model: int, s: int, tau: float, alpha_scale: float) -> None:
        super().__init__()
        self.d_model, self.s, self.tau, self.alpha_scale = d_model, s, float(tau), float(alpha_scale)
        self.u = nn.Parameter(torch.randn(s, d_model) / d_model ** 0.5)
        self.v = nn.Parameter(torch.randn(s, d_model) / d_model ** 0.5)
        self.gate = nn.Linear(d_model, s)

    def correction(self, h: torch.Tensor) -> torch.Tensor:
        """The un-gated-by-tau correction for every token (shape of ``h``)."""
        alpha = torch.sigmoid(self.gate(h)) * self.alpha_scale  # (..., s)
        return ((h @ self.v.t()) * alpha) @ self.u

    def forward(self, h: torch.Tensor, eps: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(delta, over)``: the correction (zero where ``eps <= tau``) and the boolean over-tau mask."""
        over = eps > self.tau
        if self.s == 0:
            return torch.zeros_like(h), over
        return self.correction(h) * over.unsqueeze(-1).to(h.dtype), over

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, s={self.s}, tau={self.tau:.4g}, alpha_scale={self.alpha_scale}"
