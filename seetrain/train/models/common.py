"""Helpers shared by the model builders."""

from __future__ import annotations

CIFAR_STEM_MAX = 64  # stem="auto": images up to this size get the CIFAR-style stem


def resolve_stem(stem: str, image_size: int) -> str:
    """``"cifar"`` or ``"imagenet"`` (``"auto"``: CIFAR-style for images up to 64x64)."""
    if stem == "auto":
        return "cifar" if int(image_size) <= CIFAR_STEM_MAX else "imagenet"
    if stem not in ("cifar", "imagenet"):
        from ..errors import TrainConfigError

        raise TrainConfigError(f"model.stem must be auto, cifar or imagenet, got {stem!r}", key="model.stem")
    return stem
