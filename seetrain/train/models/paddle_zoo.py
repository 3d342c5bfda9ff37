"""The model zoo for ``trainer.backend=paddle``: the same names and parameters as the PyTorch builders
(so one YAML file serves both backends), built with ``paddle.nn``. Importing this module loads no
paddle: each builder imports its network when called (the backend has loaded paddle by then).

Input checks (image size vs. stem or patch size) are the PyTorch entries' own, so both backends give
the same message for the same config.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..registry import MODELS
from .common import resolve_stem

BACKEND = "paddle"


def _same_check(name: str) -> Callable[..., Optional[str]]:
    """The ``check_input`` of the PyTorch entry ``name`` (looked up when called)."""
    def check(**kwargs: Any) -> Optional[str]:
        fn = MODELS.get(name, "torch").info.get("check_input")
        return fn(**kwargs) if fn else None
    return check


@MODELS.register("small_cnn", backend=BACKEND)
def small_cnn(num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 32, dropout: float = 0.0):
    from .paddle_small import SmallCNN

    return SmallCNN(num_classes, in_channels, image_size, width, dropout)


@MODELS.register("small_vit", backend=BACKEND, check_input=_same_check("small_vit"))
def small_vit(num_classes: int, in_channels: int = 3, image_size: int = 32, patch_size: int = 4, dim: int = 64,
              depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0):
    from .paddle_small import SmallViT

    return SmallViT(num_classes, in_channels, image_size, patch_size, dim, depth, heads, mlp_ratio, dropout)


def _resnet(name: str):
    def build(num_classes: int, in_channels: int = 3, image_size: int = 32, stem: str = "auto",
              width: int = 64, dropout: float = 0.0):
        from .paddle_resnet import DEPTHS, ResNet

        block, layers = DEPTHS[name]
        return ResNet(block, layers, num_classes, in_channels, resolve_stem(stem, image_size), width, dropout)
    build.__name__ = name
    return MODELS.register(name, backend=BACKEND, check_input=_same_check(name))(build)


resnet18 = _resnet("resnet18")
resnet34 = _resnet("resnet34")
resnet50 = _resnet("resnet50")


@MODELS.register("efficientnet_b0", backend=BACKEND, check_input=_same_check("efficientnet_b0"))
def efficientnet_b0(num_classes: int, in_channels: int = 3, image_size: int = 32, stem: str = "auto",
                    width_mult: float = 1.0, dropout: float = 0.2, drop_path: float = 0.2):
    from .paddle_efficientnet import EfficientNet

    return EfficientNet(num_classes, in_channels, resolve_stem(stem, image_size), width_mult, dropout, drop_path)


@MODELS.register("unet", backend=BACKEND, task="segmentation", check_input=_same_check("unet"))
def unet(num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 16, depth: int = 3,
         dropout: float = 0.0):
    from .paddle_unet import UNet

    return UNet(num_classes, in_channels, width, depth, dropout)
