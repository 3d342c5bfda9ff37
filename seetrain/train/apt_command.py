"""`seetrain apt train`: APT's config format (``configs/default.yaml``, ``model=<name>``, ``a.b=value``)
over the one trainer, ``seetrain train``'s language-model task (``experiment=apt_lm``).

    seetrain apt train                                   # configs/default.yaml
    seetrain apt train model=vft_small trainer.max_steps=600
    python -m seetrain.train.apt_command my.yaml trainer.precision=bf16-mixed plugins.advanced-debugging.enabled=true

The config is YAML (OmegaConf). A first positional ``*.yaml`` argument is merged over the default;
``group=name`` picks ``configs/<group>/<name>.yaml`` (groups: ``model``); ``a.b=value`` sets one key
(``+a.b=value`` adds a key that the config does not have yet). It is checked here with APT's own
messages, then translated key by key (:func:`train_config`) and trained by :mod:`seetrain.train`: the
same loop, checkpoints (``<run dir>/checkpoints``, so ``seetrain train trainer.resume=<run dir>`` goes on
from a stop), plugins as loop hooks, and the run records the translated config.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any, Dict, Optional, Sequence

from seetrain.apt.train_config import _group_options, load_config, validate_config


# --- the config, translated ----------------------------------------------------------------------
def train_config(cfg) -> Dict[str, Any]:
    """The ``seetrain train`` config (the ``base`` layer of :func:`seetrain.train.config.load_config`) that
    trains what the APT config ``cfg`` describes: ``trainer.max_steps`` optimizer steps whatever the
    epochs, validation every ``val_check_interval`` training batches across epochs, warm-up in steps,
    an epoch one pass over the training text, as APT's former trainer did."""
    from omegaconf import OmegaConf

    a: Dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    t, d, o, track = a["trainer"], a["data"], a["optim"], a.get("tracking") or {}
    steps, out_dir = int(t["max_steps"]), a.get("output_dir")
    checkpoint: Dict[str, Any] = {"enabled": bool(t.get("enable_checkpointing", True)), "save_top_k": 1, "save_last": True}
    if out_dir:
        checkpoint["dirpath"] = os.path.join(str(out_dir), "checkpoints")
    trainer = {"backend": "lightning", "max_steps": steps, "max_epochs": steps * int(t.get("accumulate_grad_batches", 1)),
               "check_val_every_n_epoch": None, "checkpoint": checkpoint}
    for key in ("accelerator", "devices", "strategy", "precision", "accumulate_grad_batches", "gradient_clip_val",
                "val_check_interval", "limit_val_batches", "log_every_n_steps", "enable_progress_bar", "num_threads"):
        if key in t:
            trainer[key] = t[key]
    sample = dict(a.get("sample") or {})
    return {
        "task": "language_model", "seed": int(a.get("seed") or 0), "plugins": a.get("plugins") or {},
        "model": {"name": "apt_lm", **a["model"]},
        "data": {"name": "apt_corpus", "corpus": d.get("corpus", "default"), "max_chars": d.get("max_chars"),
                 "seq_len": d.get("seq_len", 128), "val_split": d.get("val_fraction", 0.1), "train_windows": None,
                 "batch_size": d.get("batch_size", 16), "num_workers": d.get("num_workers", 0)},
        "trainer": trainer,
        "optim": {"name": "adamw", "lr": o["lr"], "weight_decay": o.get("weight_decay", 0.0),
                  "betas": list(o.get("betas", (0.9, 0.95)))},
        "scheduler": {"name": "cosine" if o.get("scheduler", "cosine") == "cosine" else "none",
                      "warmup_steps": int(o.get("warmup_steps", 0)), "warmup_epochs": 0.0,
                      "min_lr_ratio": o.get("min_lr_ratio", 0.0)},
        "logger": {"enabled": bool(track.get("enabled", True)), "project": track.get("project") or "apt",
                   "experiment_name": track.get("experiment_name"), "logdir": track.get("logdir")},
        "output_dir": str(out_dir) if out_dir else None,
        "language_model": {"save_model": bool(a.get("save_model", True)),
                           "block_stats": bool(track.get("log_block_stats", True)),
                           "sample": {k: sample[k] for k in ("prompt", "max_new_tokens", "temperature", "top_k")
                                      if k in sample}},
    }


# --- the command ---------------------------------------------------------------------------------
def train(cfg) -> Dict[str, Any]:
    """Train with ``cfg`` (from :func:`load_config`) on ``seetrain train``; return the final figures, the
    run directory and the trained model: ``val_loss``, ``val_ppl``, ``unigram_baseline``, ``steps``,
    ``model``, ``run_dir``, ``output_dir``, ``model_dir``, ``sample``, ``is_global_zero``, and ``fit``
    (the trainer's own result, :class:`seetrain.train.job.FitResult`).

    The whole config is checked first (a config error leaves no run behind; raises ``ValueError``).
    """
    from seetrain.train.config import load_config as load_train_config
    from seetrain.train.lm_report import LanguageModelReport
    from seetrain.train.runner import plan

    validate_config(cfg)
    config = load_train_config([], base=train_config(cfg))
    backend, job, model = plan(config)
    result = backend.fit(job, model)
    report = next(h for h in job.loop_hooks if isinstance(h, LanguageModelReport))
    final = report.final
    out_dir = config.get("output_dir") or (os.path.join(result.run_dir, "files") if result.run_dir else None)
    return {"val_loss": final.val_loss if final else math.nan, "val_ppl": final.val_ppl if final else math.nan,
            "unigram_baseline": report.baseline, "steps": result.steps, "model": model, "run_dir": result.run_dir,
            "output_dir": out_dir, "model_dir": final.model_dir if final else None,
            "sample": final.sample if final else "", "is_global_zero": result.is_global_zero, "fit": result}


USAGE = __doc__


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``seetrain apt train`` and ``python -m seetrain.train.apt_command``."""
    from seetrain.train.commands import resume_command
    from seetrain.train.errors import TrainingInterrupted

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        from omegaconf import OmegaConf

        print(USAGE)
        print("model configs:", ", ".join(_group_options("model")))
        print("\ndefault config:\n" + OmegaConf.to_yaml(load_config([])))
        return 0
    try:
        cfg = load_config(argv)
        result = train(cfg)
    except (ValueError, FileNotFoundError) as exc:  # TrainConfigError is a ValueError
        print(f"seetrain apt train: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C: as seetrain train says it; the run goes on with seetrain train
        note = "interrupted"
        if isinstance(exc, TrainingInterrupted):
            note += f" at step {exc.step}; the run is marked killed" + (
                f"; go on with: {resume_command('seetrain train', exc.resume_from)}" if exc.resume_from
                else "; no checkpoint was saved yet")
        print(f"\nseetrain apt train: {note}", file=sys.stderr)
        return 130
    if result["is_global_zero"]:
        print("\n" + result["fit"].summary())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
