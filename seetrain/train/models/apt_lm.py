"""The APT language model (and its standard-attention baseline) as a registered model, built with
APT's public :mod:`seetrain.apt.model` API."""

from __future__ import annotations

from ..registry import MODELS


@MODELS.register("apt_lm", backend="torch", task="language_model")
def apt_lm(type: str = "apt", **fields):  # noqa: A002  (``type`` is APT's own config key)
    """``type``: ``apt`` (VFT/TVA blocks) or ``standard``; every other key is an ``APTConfig`` field."""
    from seetrain.apt.model import MODEL_TYPES, APTConfig

    from ..errors import TrainConfigError, unknown

    if type not in MODEL_TYPES:
        raise unknown("APT model type", type, MODEL_TYPES)
    try:
        return MODEL_TYPES[type](APTConfig.from_dict(fields))
    except (TypeError, ValueError) as exc:
        raise TrainConfigError(f"model: {exc}", key="model") from None


def apt_fields():
    """The ``APTConfig`` field names (the keys an ``apt_lm`` model config may hold)."""
    import dataclasses

    from seetrain.apt.model import APTConfig

    return ["type"] + [f.name for f in dataclasses.fields(APTConfig)]
