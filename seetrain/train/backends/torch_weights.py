"""Pretrained weights for a PyTorch model: only when asked, from a URL or a file, MD5-checked when a
checksum is given; layers whose shapes differ (a new head, a CIFAR stem) keep their fresh weights."""

from __future__ import annotations

import hashlib
import os
from typing import Any, Optional

import torch

from ..download import cache_dir, fetch
from ..errors import TrainConfigError


def _state_dict(path: str) -> dict:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TrainConfigError(f"model.pretrained: {path} is not a PyTorch state dict ({exc})", key="model.pretrained") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):  # a Lightning checkpoint
        sd = {k[len("model."):] if k.startswith("model.") else k: v for k, v in sd["state_dict"].items()}
    elif isinstance(sd, dict) and isinstance(sd.get("model"), dict) and "loop" in sd:  # a `seetrain train` checkpoint
        sd = sd["model"]
    return sd


def load_pretrained(model: torch.nn.Module, source: Any, md5: Optional[str], entry: Any) -> None:
    """Load ``source`` (True: the registry's published weights; a URL; a file path) into ``model``."""
    if source is True:
        source = entry.info.get("weights_url")
        if not source:
            raise TrainConfigError(f"model {entry.name!r} has no published pretrained weights; give model.pretrained "
                                   "a URL or a file of a state dict, or set it to false", key="model.pretrained")
    source = str(source)
    if source.startswith(("http://", "https://", "file://")):
        # keyed by the whole URL: two sources with the same file name never share a cached copy
        name = hashlib.sha1(source.encode()).hexdigest()[:12] + "-" + source.rsplit("/", 1)[-1]
        path = fetch(source, os.path.join(cache_dir(None, "weights"), name), md5,
                     what=f"pretrained weights for {entry.name}", key="model.pretrained")
    else:
        path = os.path.abspath(os.path.expanduser(source))
        if not os.path.isfile(path):
            raise TrainConfigError(f"model.pretrained={source}: no such file", key="model.pretrained")
        if md5:
            from ..download import md5sum

            if md5sum(path) != md5:
                raise TrainConfigError(f"model.pretrained={source}: MD5 differs from model.pretrained_md5", key="model.pretrained")
    sd = _state_dict(path)
    own = model.state_dict()
    usable = {k: v for k, v in sd.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not usable:
        raise TrainConfigError(f"model.pretrained={source}: none of its tensors fit model {entry.name!r} "
                               "(different architecture?)", key="model.pretrained")
    model.load_state_dict(usable, strict=False)
    skipped = sorted({k.rsplit(".", 1)[0] for k in own if k not in usable})
    if skipped:
        import warnings

        warnings.warn(f"seetrain train: pretrained weights loaded except {', '.join(skipped[:6])}"
                      f"{' ...' if len(skipped) > 6 else ''} (shapes differ: trained from scratch)", stacklevel=2)
