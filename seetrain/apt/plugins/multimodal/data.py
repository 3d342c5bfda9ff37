"""Reading and batching multimodal samples: text, images (files through Pillow, arrays, tensors) and
audio (WAV files, arrays), from lists or a JSON-lines manifest. A missing modality is ``None``."""

from __future__ import annotations

import json
import os
import wave
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

MODALITIES = ("text", "image", "audio")


def load_wav(path: str) -> Tuple[np.ndarray, int]:
    """A mono float32 waveform in [-1, 1] and its sample rate from a PCM WAV file (8/16/24/32-bit);
    other encodings (float WAV) go through scipy when it is installed."""
    try:
        with wave.open(path, "rb") as w:
            sr, width, channels, n = w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()
            raw = w.readframes(n)
    except wave.Error:
        try:
            from scipy.io import wavfile
        except ImportError:
            raise ValueError(f"{path}: not a PCM WAV file; convert it to 16-bit PCM or install scipy") from None
        sr, data = wavfile.read(path)
        data = np.asarray(data, dtype=np.float32)
        return (data.mean(axis=1) if data.ndim == 2 else data), int(sr)
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        data = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 8388608.0
    elif width == 4:
        data = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise ValueError(f"{path}: unsupported WAV sample width {width} bytes")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, sr


def save_wav(path: str, waveform: np.ndarray, sample_rate: int) -> str:
    """Write a mono 16-bit PCM WAV file."""
    pcm = (np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return path


def _resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target or len(x) == 0:
        return x
    n = max(1, int(round(len(x) * target / sr)))
    return np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)


@dataclass
class MultimodalProcessor:
    """Turns raw samples into tensors of fixed shapes: images to ``(3, image_size, image_size)`` in
    [-1, 1], audio to ``audio_length`` samples at ``sample_rate`` (zero-mean, unit variance), text to
    byte-token ids with ``<bos>`` (at most ``max_text_len``)."""

    image_size: int = 32
    sample_rate: int = 8000
    audio_seconds: float = 0.25
    max_text_len: int = 64
    tokenizer: Any = None

    def __post_init__(self) -> None:
        if self.tokenizer is None:
            from seetrain.apt.data import ByteTokenizer

            self.tokenizer = ByteTokenizer()

    @property
    def audio_length(self) -> int:
        return int(round(self.audio_seconds * self.sample_rate))

    def image(self, value: Any, base_dir: str = "") -> torch.Tensor:
        from PIL import Image

        if isinstance(value, (str, os.PathLike)):
            path = os.path.join(base_dir, os.fspath(value)) if base_dir else os.fspath(value)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"image file {path!r} does not exist")
            with Image.open(path) as img:
                value = img.convert("RGB").resize((self.image_size, self.image_size), Image.BILINEAR)
                arr = np.asarray(value, dtype=np.float32) / 255.0
        elif isinstance(value, Image.Image):
            arr = np.asarray(value.convert("RGB").resize((self.image_size, self.image_size), Image.BILINEAR),
                             dtype=np.float32) / 255.0
        else:
            t = torch.as_tensor(np.asarray(value.detach().cpu() if torch.is_tensor(value) else value))
            if t.dim() == 2:
                t = t.unsqueeze(-1).expand(-1, -1, 3)
            if t.dim() != 3:
                raise ValueError(f"an image array must be (H, W), (H, W, C) or (C, H, W), got shape {tuple(t.shape)}")
            if t.shape[0] in (1, 3) and t.shape[-1] not in (1, 3):
                t = t.permute(1, 2, 0)
            if t.shape[-1] == 1:
                t = t.expand(-1, -1, 3)
            t = t.float() / (255.0 if not torch.is_floating_point(t) or t.max() > 1.0 else 1.0)
            chw = t.permute(2, 0, 1)[:3].unsqueeze(0)
            if chw.shape[-1] != self.image_size or chw.shape[-2] != self.image_size:
                chw = torch.nn.functional.interpolate(chw, size=(self.image_size, self.image_size),
                                                      mode="bilinear", align_corners=False)
            return (chw[0].clamp(0, 1) - 0.5) / 0.5
        return (torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1) - 0.5) / 0.5

    def audio(self, value: Any, base_dir: str = "") -> torch.Tensor:
        if isinstance(value, (str, os.PathLike)):
            path = os.path.join(base_dir, os.fspath(value)) if base_dir else os.fspath(value)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"audio file {path!r} does not exist")
            data, sr = load_wav(path)
        elif isinstance(value, tuple) and len(value) == 2:
            data, sr = np.asarray(value[0], dtype=np.float32), int(value[1])
        else:
            data = np.asarray(value.detach().cpu() if torch.is_tensor(value) else value, dtype=np.float32)
            sr = self.sample_rate
        data = np.asarray(data, dtype=np.float32).reshape(-1)
        data = _resample(data, sr, self.sample_rate)[: self.audio_length]
        out = np.zeros(self.audio_length, dtype=np.float32)
        out[: len(data)] = data
        out = (out - out.mean()) / (out.std() + 1e-6)
        return torch.from_numpy(out)

    def text(self, value: str) -> List[int]:
        ids = [self.tokenizer.bos_token_id] + list(self.tokenizer.encode(str(value)))
        return ids[: self.max_text_len]

    def sample(self, text: Any = None, image: Any = None, audio: Any = None, label: Any = None,
               base_dir: str = "") -> Dict[str, Any]:
        """One processed sample: tensors for present modalities, ``None`` for missing ones."""
        return {"text": None if text is None else self.text(text),
                "image": None if image is None else self.image(image, base_dir),
                "audio": None if audio is None else self.audio(audio, base_dir),
                "label": None if label is None else int(label)}

    def collate(self, samples: Sequence[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        """A batch: ``input_ids``/``attention_mask`` (B, T), ``pixel_values`` (B, 3, S, S),
        ``audio_values`` (B, L), ``modality_mask`` (B, 3) bool in (text, image, audio) order, ``labels``."""
        B = len(samples)
        pad = self.tokenizer.pad_token_id
        T = max([len(s["text"]) for s in samples if s["text"] is not None] or [1])
        ids = torch.full((B, T), pad, dtype=torch.long)
        att = torch.zeros((B, T), dtype=torch.long)
        pix = torch.zeros((B, 3, self.image_size, self.image_size))
        aud = torch.zeros((B, self.audio_length))
        mask = torch.zeros((B, 3), dtype=torch.bool)
        for i, s in enumerate(samples):
            if s["text"] is not None and len(s["text"]):
                ids[i, : len(s["text"])] = torch.tensor(s["text"])
                att[i, : len(s["text"])] = 1
                mask[i, 0] = True
            else:
                att[i, 0] = 1  # keep one (pad) position so the text encoder sees a valid sequence
            if s["image"] is not None:
                pix[i] = s["image"]
                mask[i, 1] = True
            if s["audio"] is not None:
                aud[i] = s["audio"]
                mask[i, 2] = True
        batch = {"input_ids": ids, "attention_mask": att, "pixel_values": pix, "audio_values": aud,
                 "modality_mask": mask}
        labels = [s["label"] for s in samples]
        if all(lab is not None for lab in labels):
            batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return batch


def read_manifest(path: str) -> List[Dict[str, Any]]:
    """Rows of a JSON-lines manifest ``{"text", "image", "audio", "label"}`` (any key may be missing
    or null); relative file paths are resolved against the manifest's folder."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: not a JSON object ({exc})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object like "
                                 '{"text": ..., "image": ..., "audio": ..., "label": ...}')
            rows.append(row)
    return rows


class MultimodalDataset(torch.utils.data.Dataset):
    """Samples processed on access (files are read lazily). Lists must have equal lengths; ``None``
    for a whole modality (or one entry) means missing."""

    def __init__(self, text_data: Optional[Sequence[Any]] = None, image_data: Optional[Sequence[Any]] = None,
                 audio_data: Optional[Sequence[Any]] = None, labels: Optional[Sequence[Any]] = None,
                 processor: Optional[MultimodalProcessor] = None, base_dir: str = "") -> None:
        columns = {"text": text_data, "image": image_data, "audio": audio_data, "label": labels}
        lengths = {k: len(v) for k, v in columns.items() if v is not None}
        if not lengths:
            raise ValueError("create_multimodal_dataloader needs at least one of text_data, image_data, audio_data")
        if len(set(lengths.values())) > 1:
            raise ValueError(f"the data lists have different lengths: {lengths}; give one entry per sample "
                             "(None for a missing modality)")
        self.n = next(iter(lengths.values()))
        self.columns = columns
        self.processor = processor or MultimodalProcessor()
        self.base_dir = base_dir

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Dict[str, Any]:
        get = lambda k: None if self.columns[k] is None else self.columns[k][i]  # noqa: E731
        return self.processor.sample(get("text"), get("image"), get("audio"), get("label"), self.base_dir)
