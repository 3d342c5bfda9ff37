"""The config a resume trains with: the run's own, recorded config, and on top of it only what the
command line changes (listed, and warned about where it changes the LR schedule or the length of
training), so that ``seetrain train trainer.resume=RUN`` alone goes on with the same experiment.

Where the recorded config comes from, first found: the ``run.json`` of the run the checkpoint
belongs to, the checkpoint itself (the Lightning backend writes its config into every ``.ckpt``;
the paddle backend into the ``.json`` beside its ``.pdparams``). Without one (a checkpoint of
another tool), the command line's config is used as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .config import TOP_KEYS
from .resume import checkpoint_run

# keys whose change on resume makes the LR schedule or the number of steps differ from the run's own
SCHEDULE_KEYS = ("trainer.max_epochs", "trainer.max_steps", "trainer.accumulate_grad_batches",
                 "trainer.limit_train_batches", "data.batch_size", "data.subset", "data.val_split", "optim.lr")
SCHEDULE_PREFIXES = ("scheduler.",)
_NOT_A_CHANGE = ("trainer.resume",)


@dataclass
class ResumeChanges:
    """What the command line changed on top of the recorded config (``key``: (recorded, now))."""

    changed: Dict[str, Tuple[Any, Any]] = field(default_factory=dict)
    source: Optional[str] = None          # where the recorded config was read (None: none was found)
    checkpoint_exists: bool = True

    @property
    def schedule(self) -> List[str]:
        return [k for k in self.changed if k in SCHEDULE_KEYS or k.startswith(SCHEDULE_PREFIXES)]

    def lines(self) -> List[str]:
        """What ``seetrain train`` prints on resume (nothing when nothing changed)."""
        if self.source is None:
            if not self.checkpoint_exists:
                return []  # the backend's check says what is wrong with the path
            return ["note: no recorded config found for this checkpoint; training with the command line's config"]
        if not self.changed:
            return []
        out = ["resuming with its own config; changed on the command line: "
               + ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, (a, b) in self.changed.items())]
        if self.schedule:
            out.append(f"warning: {', '.join(self.schedule)} {'changes' if len(self.schedule) == 1 else 'change'} the LR "
                       "schedule or the length of training from the resume step on; the run's curves before and after "
                       "it follow different schedules")
        return out


def _show(v: Any) -> str:
    return "null" if v is None else str(v)


def _plain(cfg: Dict[str, Any]) -> Dict[str, Any]:
    out = {k: v for k, v in cfg.items() if k in TOP_KEYS}
    out["experiment"] = None       # its effect is already in the recorded values
    out["hparams_search"] = None
    return out


def _from_checkpoint(path: str) -> Optional[Dict[str, Any]]:
    """The config stored with a checkpoint file (a paddle ``.json`` sidecar or a Lightning ``.ckpt``)."""
    base = path[:-len(".pdparams")] if path.endswith(".pdparams") else path
    if os.path.isfile(base + ".json"):
        try:
            with open(base + ".json", encoding="utf-8") as f:
                cfg = json.load(f).get("config")
            return cfg if isinstance(cfg, dict) else None
        except (OSError, ValueError, AttributeError):
            return None
    if path.endswith(".ckpt") and os.path.isfile(path):
        try:
            import torch

            cfg = torch.load(path, map_location="cpu", mmap=True, weights_only=True).get("config")
        except Exception:  # noqa: BLE001 - not readable here: the backend's own check says why
            return None
        return cfg if isinstance(cfg, dict) else None
    return None


def recorded_config(resume: Any) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(the trainer config the checkpoint ``resume`` was trained with, where it was read), or (None, None)."""
    path = os.path.abspath(os.path.expanduser(str(resume)))
    run = checkpoint_run(path)
    if run is not None:
        import seetrain

        cfg = seetrain.read_run(run.path).config
        if isinstance(cfg.get("model"), dict) and isinstance(cfg.get("trainer"), dict):
            return _plain(cfg), os.path.join(run.path, "run.json")
    if os.path.isdir(path):
        for cand in ("checkpoints/last.ckpt", "last.ckpt", "checkpoints/last.pdparams", "last.pdparams"):
            if os.path.isfile(os.path.join(path, cand)):
                path = os.path.join(path, cand)
                break
    cfg = _from_checkpoint(path)
    return (_plain(cfg), path) if cfg is not None else (None, None)


def _flat(tree: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix[:-1]: tree}
    out: Dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
    return out


def config_for_resume(argv: Sequence[str], config: Dict[str, Any],
                      load: Callable[..., Dict[str, Any]]) -> Tuple[Dict[str, Any], ResumeChanges]:
    """The config to resume with: ``argv`` applied on top of the recorded config of the checkpoint
    ``config["trainer"]["resume"]`` names (``load(argv, base)`` is :func:`~.config.load_config`)."""
    resume = config["trainer"]["resume"]
    recorded, source = recorded_config(resume)
    if recorded is None:
        path = os.path.abspath(os.path.expanduser(str(resume)))
        return config, ResumeChanges(checkpoint_exists=os.path.exists(path) or os.path.exists(path + ".pdparams"))
    before = load([f"trainer.resume={resume}"], recorded)
    after = load(list(argv), recorded)
    a, b = _flat(before), _flat(after)
    changed = {k: (a.get(k), b.get(k)) for k in list(a) + [k for k in b if k not in a]
               if a.get(k) != b.get(k) and k not in _NOT_A_CHANGE}
    return after, ResumeChanges(changed=changed, source=source)
