"""A small synthetic multimodal task whose label needs all three modalities.

Each sample has an image (a red or blue square or circle on a noisy background), a tone (low,
250-450 Hz, or high, 1100-1500 Hz, with noise) and a sentence that calls the scene "calm" or
"urgent" (among filler words). The label (8 classes) is::

    label = 4 * is_red + 2 * is_high + says_urgent

Each modality decides one bit, so one modality alone reaches at most 25 % accuracy, two at most
50 % (chance is 12.5 %); only a model that fuses all three can do better. (An XOR of two modalities
would be harder still: no single modality correlates with it, so encoders trained from scratch get
no signal until the fusion has already found the interaction.)
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

COLOURS = {"red": (0.85, 0.15, 0.1), "blue": (0.1, 0.2, 0.85)}
SHAPES = ("square", "circle")
OPENERS = ("the sample", "this clip", "item", "a recording", "the next one")


def _image(rng: np.random.Generator, colour: str, shape: str, size: int) -> np.ndarray:
    img = 0.45 + 0.1 * rng.standard_normal((size, size, 3))
    r = rng.integers(size // 6, size // 3)
    cy, cx = rng.integers(r, size - r, size=2)
    yy, xx = np.mgrid[:size, :size]
    inside = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r) if shape == "square" else \
        (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    rgb = np.array(COLOURS[colour]) + 0.08 * rng.standard_normal(3)
    img[inside] = rgb
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _tone(rng: np.random.Generator, high: bool, sample_rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f = rng.uniform(1100, 1500) if high else rng.uniform(250, 450)
    wave = 0.5 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return (wave + 0.1 * rng.standard_normal(len(t))).astype(np.float32)


def make_synthetic_multimodal(n: int = 300, seed: int = 0, image_size: int = 32, sample_rate: int = 8000,
                              seconds: float = 0.25, out_dir: Optional[str] = None) -> Dict[str, List[Any]]:
    """``{"text", "image", "audio", "label"}`` lists of ``n`` samples (images uint8 HWC arrays, audio
    float32 arrays). With ``out_dir`` the images are written as PNG, the audio as WAV, and a
    ``manifest.jsonl`` lists them (``"manifest"`` in the result is its path)."""
    rng = np.random.default_rng(seed)
    out: Dict[str, List[Any]] = {"text": [], "image": [], "audio": [], "label": []}
    for i in range(n):
        colour = ("red", "blue")[int(rng.integers(2))]
        shape = SHAPES[int(rng.integers(2))]
        high = bool(rng.integers(2))
        urgent = bool(rng.integers(2))
        word = "urgent" if urgent else "calm"
        out["text"].append(f"{OPENERS[int(rng.integers(len(OPENERS)))]} sounds {word} to me.")
        out["image"].append(_image(rng, colour, shape, image_size))
        out["audio"].append(_tone(rng, high, sample_rate, seconds))
        out["label"].append(4 * int(colour == "red") + 2 * int(high) + int(urgent))
    if out_dir:
        from PIL import Image

        from .data import save_wav

        os.makedirs(out_dir, exist_ok=True)
        rows = []
        for i in range(n):
            Image.fromarray(out["image"][i]).save(os.path.join(out_dir, f"img_{i:04d}.png"))
            save_wav(os.path.join(out_dir, f"tone_{i:04d}.wav"), out["audio"][i], sample_rate)
            rows.append({"text": out["text"][i], "image": f"img_{i:04d}.png", "audio": f"tone_{i:04d}.wav",
                         "label": out["label"][i]})
        manifest = os.path.join(out_dir, "manifest.jsonl")
        with open(manifest, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        out["manifest"] = [manifest]
    return out
