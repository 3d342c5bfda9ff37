"""The multimodal model: per-modality encoders, projection to a shared width, fusion (concatenate,
add or cross-modal attention) with learned "missing" embeddings, and an optional classification head."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import torch
from torch import nn

from .data import MODALITIES, MultimodalProcessor

FUSION_METHODS = ("concatenate", "add", "attention")


@dataclass
class MultimodalOutput:
    logits: Optional[torch.Tensor]
    loss: Optional[torch.Tensor]
    fused: torch.Tensor                     # (B, fusion_dim)
    modality_embeddings: Dict[str, torch.Tensor] = field(default_factory=dict)  # pooled, after "missing" fill

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def _masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


class MultimodalModel(nn.Module):
    """Encoders for the modalities given (``encoders`` maps "text"/"image"/"audio" to a module that
    returns ``(tokens, mask)``), fused into a ``fusion_dim`` vector.

    A sample's missing modality (``modality_mask`` False, or the input not given) is replaced by a
    learned embedding. ``fusion_method="attention"`` runs Transformer layers over a fusion token, one
    summary token per modality (the pooled embedding, or the "missing" one) and the token sequences
    of all modalities (a missing modality's tokens are masked out), so every token attends across
    modalities; the fusion token's output is the fused vector. ``modality_dropout`` drops present modalities at random
    while training so the model learns to cope.
    """

    def __init__(self, encoders: Dict[str, nn.Module], fusion_method: str = "concatenate", fusion_dim: int = 64,
                 num_classes: Optional[int] = None, processor: Optional[MultimodalProcessor] = None,
                 fusion_heads: int = 4, fusion_layers: int = 1, dropout: float = 0.0,
                 modality_dropout: float = 0.0) -> None:
        super().__init__()
        if fusion_method not in FUSION_METHODS:
            raise ValueError(f"fusion_method must be one of {FUSION_METHODS}, got {fusion_method!r}")
        unknown = set(encoders) - set(MODALITIES)
        if unknown or not encoders:
            raise ValueError(f"encoders must map some of {MODALITIES} to modules, got {sorted(encoders)}")
        self.modalities = [m for m in MODALITIES if m in encoders]
        self.fusion_method = fusion_method
        self.fusion_dim = d = int(fusion_dim)
        self.num_classes = num_classes
        self.processor = processor or MultimodalProcessor()
        self.modality_dropout = float(modality_dropout)
        self.encoders = nn.ModuleDict(encoders)
        self.proj = nn.ModuleDict({m: nn.Sequential(nn.Linear(int(encoders[m].dim), d), nn.LayerNorm(d))
                                   for m in self.modalities})
        self.missing = nn.ParameterDict({m: nn.Parameter(torch.randn(d) * 0.02) for m in self.modalities})
        self.type_emb = nn.ParameterDict({m: nn.Parameter(torch.randn(d) * 0.02) for m in self.modalities})
        k = len(self.modalities)
        if fusion_method == "concatenate":
            self.fuse = nn.Sequential(nn.Linear(k * d, d), nn.GELU(), nn.LayerNorm(d))
        elif fusion_method == "add":
            self.fuse = nn.LayerNorm(d)
        else:
            self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            self.fuse = nn.ModuleList(nn.TransformerEncoderLayer(d, fusion_heads, 2 * d, dropout, activation="gelu",
                                                                 batch_first=True, norm_first=True)
                                      for _ in range(fusion_layers))
            self.fuse_norm = nn.LayerNorm(d)
        self.head = (nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, num_classes))
                     if num_classes else None)

    def _batch_size(self, inputs: Dict[str, Optional[torch.Tensor]]) -> int:
        for v in inputs.values():
            if v is not None:
                return v.shape[0]
        raise ValueError("the multimodal model got no input: pass input_ids, pixel_values and/or audio_values")

    def forward(self, input_ids: Optional[torch.Tensor] = None, attention_mask: Optional[torch.Tensor] = None,
                pixel_values: Optional[torch.Tensor] = None, audio_values: Optional[torch.Tensor] = None,
                modality_mask: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None) -> MultimodalOutput:
        inputs = {"text": input_ids, "image": pixel_values, "audio": audio_values}
        B = self._batch_size(inputs)
        device = next(self.parameters()).device
        if modality_mask is None:
            modality_mask = torch.tensor([[inputs[m] is not None for m in MODALITIES]] * B, device=device)
        present = {m: modality_mask[:, i].to(device).bool() & (inputs[m] is not None)
                   for i, m in enumerate(MODALITIES)}
        if self.training and self.modality_dropout > 0:
            present = self._drop_modalities(present, B, device)

        pooled: Dict[str, torch.Tensor] = {}
        tokens = []
        for m in self.modalities:
            p = present[m]
            miss = self.missing[m].expand(B, -1)
            if inputs[m] is None or not bool(p.any()):
                pooled[m] = miss
                continue
            if m == "text":
                am = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
                h, tmask = self.encoders[m](input_ids, am)
            else:
                h, tmask = self.encoders[m](inputs[m])
            h = self.proj[m](h) + self.type_emb[m]
            pooled[m] = torch.where(p.unsqueeze(-1), _masked_mean(h, tmask), miss)
            if self.fusion_method == "attention":
                tokens.append((h, tmask & p.unsqueeze(1)))

        if self.fusion_method == "concatenate":
            fused = self.fuse(torch.cat([pooled[m] for m in self.modalities], dim=-1))
        elif self.fusion_method == "add":
            fused = self.fuse(torch.stack([pooled[m] for m in self.modalities]).sum(0))
        else:
            # one summary token per modality (its pooled embedding, or the learned "missing" one),
            # then the token sequences of the present modalities
            summary = torch.stack([pooled[m] + self.type_emb[m] for m in self.modalities], dim=1)
            x = torch.cat([self.cls.expand(B, -1, -1), summary] + [t for t, _ in tokens], dim=1)
            valid = torch.cat([torch.ones(B, 1 + len(self.modalities), dtype=torch.bool, device=device)]
                              + [v for _, v in tokens], dim=1)
            for layer in self.fuse:
                x = layer(x, src_key_padding_mask=~valid)
            fused = self.fuse_norm(x[:, 0])

        logits = self.head(fused) if self.head is not None else None
        loss = None
        if labels is not None and logits is not None:
            loss = nn.functional.cross_entropy(logits, labels.to(logits.device))
        return MultimodalOutput(logits=logits, loss=loss, fused=fused, modality_embeddings=pooled)

    def _drop_modalities(self, present: Dict[str, torch.Tensor], B: int, device: Any) -> Dict[str, torch.Tensor]:
        keep = {m: present[m] & (torch.rand(B, device=device) >= self.modality_dropout) for m in self.modalities}
        any_left = torch.stack([keep[m] for m in self.modalities]).any(0)
        # a sample must keep at least one modality: where all were dropped, keep the originals
        return {m: (torch.where(any_left, keep[m], present[m]) if m in keep else present[m]) for m in present}
