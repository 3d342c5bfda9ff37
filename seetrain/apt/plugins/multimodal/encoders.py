"""Modality encoders. Each returns a token sequence ``(B, N, dim)`` and a mask ``(B, N)``.

Vision: ``clip`` (CLIPVisionModel), ``vit`` (ViTModel) or ``custom`` (a small CNN, or your module);
audio: ``wav2vec2`` (Wav2Vec2Model) or ``custom`` (a log-spectrogram encoder, or your module). The
Transformers models are built from tiny configs, or loaded from a local pretrained directory; nothing
is downloaded.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn


def _load_local(cls: Any, path: str) -> nn.Module:
    import os

    if not os.path.isdir(path):
        raise FileNotFoundError(f"pretrained encoder directory {path!r} does not exist (only local "
                                "directories are loaded; nothing is downloaded)")
    return cls.from_pretrained(path, local_files_only=True)


class TextEncoder(nn.Module):
    """The APT language model (or any model that returns ``hidden_states``) as the text backbone:
    the last hidden states are the text tokens."""

    def __init__(self, base_model: nn.Module) -> None:
        super().__init__()
        self.base = base_model
        cfg = getattr(base_model, "config", None)
        self.dim = int(getattr(cfg, "d_model", None) or getattr(cfg, "hidden_size", 0))
        if not self.dim:
            raise ValueError("the text base model needs config.d_model (APT) or config.hidden_size (Transformers)")
        self.max_len = int(getattr(cfg, "max_seq_len", None) or getattr(cfg, "max_position_embeddings", 0) or 0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.max_len and input_ids.shape[1] > self.max_len:
            input_ids, attention_mask = input_ids[:, : self.max_len], attention_mask[:, : self.max_len]
        out = self.base(input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return out.hidden_states[-1], attention_mask.bool()


class HFVisionEncoder(nn.Module):
    """CLIPVisionModel or ViTModel: patch tokens (with the class token) as image tokens."""

    def __init__(self, kind: str, image_size: int = 32, hidden_size: int = 32, pretrained: Optional[str] = None,
                 **config: Any) -> None:
        super().__init__()
        if kind == "clip":
            from transformers import CLIPVisionConfig, CLIPVisionModel

            self.model = _load_local(CLIPVisionModel, pretrained) if pretrained else CLIPVisionModel(CLIPVisionConfig(
                **{"image_size": image_size, "patch_size": 8, "hidden_size": hidden_size,
                   "intermediate_size": 2 * hidden_size, "num_hidden_layers": 1, "num_attention_heads": 2, **config}))
        elif kind == "vit":
            from transformers import ViTConfig, ViTModel

            self.model = _load_local(ViTModel, pretrained) if pretrained else ViTModel(ViTConfig(
                **{"image_size": image_size, "patch_size": 8, "hidden_size": hidden_size,
                   "intermediate_size": 2 * hidden_size, "num_hidden_layers": 1, "num_attention_heads": 2, **config}),
                add_pooling_layer=False)
        else:
            raise ValueError(f"unknown vision encoder {kind!r}")
        self.dim = int(self.model.config.hidden_size)
        self.image_size = int(self.model.config.image_size)

    def forward(self, pixel_values: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.model(pixel_values=pixel_values).last_hidden_state
        return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)


class SmallCNN(nn.Module):
    """A three-layer CNN; its 4x4 (for 32x32 input) feature map cells are the image tokens."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, channels // 2, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(channels // 2, channels, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1), nn.GELU(), nn.AdaptiveAvgPool2d(4))
        self.dim = channels

    def forward(self, pixel_values: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.net(pixel_values).flatten(2).transpose(1, 2)
        return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)


class HFAudioEncoder(nn.Module):
    """Wav2Vec2Model on the raw waveform: its frames are the audio tokens."""

    def __init__(self, hidden_size: int = 32, pretrained: Optional[str] = None, **config: Any) -> None:
        super().__init__()
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        self.model = _load_local(Wav2Vec2Model, pretrained) if pretrained else Wav2Vec2Model(Wav2Vec2Config(**{
            "hidden_size": hidden_size, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 2 * hidden_size, "conv_dim": (32, 32, 32), "conv_stride": (5, 4, 4),
            "conv_kernel": (10, 8, 8), "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
            "apply_spec_augment": False, **config}))
        self.dim = int(self.model.config.hidden_size)

    def forward(self, audio_values: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.model(audio_values).last_hidden_state
        return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)


class SpectrogramEncoder(nn.Module):
    """Log-magnitude STFT frames through a small MLP: the frames are the audio tokens."""

    def __init__(self, n_fft: int = 256, hop_length: int = 128, dim: int = 32) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.proj = nn.Sequential(nn.LayerNorm(n_fft // 2 + 1), nn.Linear(n_fft // 2 + 1, dim), nn.GELU(),
                                  nn.Linear(dim, dim))
        self.dim = dim

    def forward(self, audio_values: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        spec = torch.stft(audio_values, self.n_fft, self.hop, window=self.window, return_complex=True).abs()
        h = self.proj(torch.log1p(spec).transpose(1, 2))
        return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)


class ModuleEncoder(nn.Module):
    """Wraps a user module returning ``(B, dim)`` or ``(B, N, dim)`` (or an object with
    ``last_hidden_state``) as an encoder; ``dim`` is found with one dummy forward pass."""

    def __init__(self, module: nn.Module, example: torch.Tensor) -> None:
        super().__init__()
        self.module = module
        was_training = module.training
        module.eval()
        with torch.no_grad():
            self.dim = int(self._tokens(module(example)).shape[-1])
        module.train(was_training)

    @staticmethod
    def _tokens(out: Any) -> torch.Tensor:
        out = getattr(out, "last_hidden_state", out)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.unsqueeze(1) if out.dim() == 2 else out

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self._tokens(self.module(x))
        return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)


def build_vision_encoder(kind: Any = "clip", image_size: int = 32, hidden_size: int = 32,
                         pretrained: Optional[str] = None, config: Optional[Dict[str, Any]] = None) -> nn.Module:
    """``kind``: "clip", "vit", "custom" (SmallCNN) or an ``nn.Module``."""
    if isinstance(kind, nn.Module):
        return ModuleEncoder(kind, torch.zeros(1, 3, image_size, image_size))
    if kind in ("clip", "vit"):
        return HFVisionEncoder(kind, image_size, hidden_size, pretrained, **(config or {}))
    if kind == "custom":
        return SmallCNN(hidden_size)
    raise ValueError(f"vision_encoder must be 'clip', 'vit', 'custom' or an nn.Module, got {kind!r}")


def build_audio_encoder(kind: Any = "wav2vec2", audio_length: int = 2000, hidden_size: int = 32,
                        pretrained: Optional[str] = None, config: Optional[Dict[str, Any]] = None) -> nn.Module:
    """``kind``: "wav2vec2", "custom" (SpectrogramEncoder) or an ``nn.Module``."""
    if isinstance(kind, nn.Module):
        return ModuleEncoder(kind, torch.zeros(1, audio_length))
    if kind == "wav2vec2":
        return HFAudioEncoder(hidden_size, pretrained, **(config or {}))
    if kind == "custom":
        return SpectrogramEncoder(dim=hidden_size)
    raise ValueError(f"audio_encoder must be 'wav2vec2', 'custom' or an nn.Module, got {kind!r}")
