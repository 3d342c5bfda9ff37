"""The built-in PyTorch models of the registry (``trainer.backend=lightning``). Importing this module
loads no torch: each builder imports its network when called (the backend has loaded torch by then),
so the registry's names, parameters and input checks are known before any framework is imported and
a typo (``model=resnt18``) is answered at once.
"""

from __future__ import annotations

from typing import Optional

from ..registry import MODELS
from .common import resolve_stem

BACKEND = "torch"
_TV = "https://download.pytorch.org/models/"


def _vit_check(image_size: int, patch_size: int = 4, dim: int = 64, heads: int = 4, **_) -> Optional[str]:
    if image_size % patch_size:
        return (f"the image side {image_size} is not a multiple of model.patch_size={patch_size}; choose a patch "
                f"size that divides it (e.g. {max(d for d in range(1, image_size + 1) if image_size % d == 0 and d <= patch_size)}) "
                "or resize the data (data.image_size)")
    if dim % heads:
        return f"model.dim={dim} is not divisible by model.heads={heads}"
    return None


def _stem_check(what: str):
    def check(image_size: int, stem: str = "auto", **_) -> Optional[str]:
        if resolve_stem(stem, image_size) == "imagenet" and image_size < 32:
            return f"the ImageNet stem ({what}) needs at least 32x32 inputs; use model.stem=cifar"
        return None
    return check


@MODELS.register("small_cnn", backend=BACKEND)
def small_cnn(num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 32, dropout: float = 0.0):
    from .small import SmallCNN

    return SmallCNN(num_classes, in_channels, image_size, width, dropout)


@MODELS.register("small_vit", backend=BACKEND, check_input=_vit_check)
def small_vit(num_classes: int, in_channels: int = 3, image_size: int = 32, patch_size: int = 4, dim: int = 64,
              depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0):
    from .small import SmallViT

    return SmallViT(num_classes, in_channels, image_size, patch_size, dim, depth, heads, mlp_ratio, dropout)


def _resnet(name: str, block: str, layers: list, weights: str):
    def build(num_classes: int, in_channels: int = 3, image_size: int = 32, stem: str = "auto",
              width: int = 64, dropout: float = 0.0):
        from . import resnet

        return resnet.ResNet(getattr(resnet, block), layers, num_classes, in_channels, resolve_stem(stem, image_size),
                             width, dropout)
    build.__name__ = name
    return MODELS.register(name, backend=BACKEND, check_input=_stem_check("7x7 stride 2 and max-pool"),
                           weights_url=_TV + weights)(build)


resnet18 = _resnet("resnet18", "BasicBlock", [2, 2, 2, 2], "resnet18-f37072fd.pth")
resnet34 = _resnet("resnet34", "BasicBlock", [3, 4, 6, 3], "resnet34-b627a593.pth")
resnet50 = _resnet("resnet50", "Bottleneck", [3, 4, 6, 3], "resnet50-0676ba61.pth")


@MODELS.register("efficientnet_b0", backend=BACKEND, check_input=_stem_check("stride 2"))
def efficientnet_b0(num_classes: int, in_channels: int = 3, image_size: int = 32, stem: str = "auto",
                    width_mult: float = 1.0, dropout: float = 0.2, drop_path: float = 0.2):
    from .efficientnet import EfficientNet

    return EfficientNet(num_classes, in_channels, resolve_stem(stem, image_size), width_mult, dropout, drop_path)


def _unet_check(image_size: int, depth: int = 3, **_) -> Optional[str]:
    if image_size % 2 ** depth:
        return (f"the image side {image_size} is not divisible by 2**model.depth = {2 ** depth}; resize the data "
                f"(data.image_size) or use a smaller model.depth")
    return None


@MODELS.register("unet", backend=BACKEND, task="segmentation", check_input=_unet_check)
def unet(num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 16, depth: int = 3,
         dropout: float = 0.0):
    """A small U-Net: per-pixel logits at the input's size (``image_size`` is checked, not used)."""
    from .unet import UNet

    return UNet(num_classes, in_channels, width, depth, dropout)
