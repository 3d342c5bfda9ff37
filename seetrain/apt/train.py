"""Config-driven APT training on PyTorch Lightning with SeeTrain tracking.

    seetrain apt train                                   # configs/default.yaml
    seetrain apt train model=vft_small trainer.max_steps=600
    python -m seetrain.apt.train my.yaml trainer.precision=bf16-mixed plugins.advanced-debugging.enabled=true

The config is YAML (OmegaConf). A first positional ``*.yaml`` argument is merged over the default;
``group=name`` picks ``configs/<group>/<name>.yaml`` (groups: ``model``); ``a.b=value`` sets one key
(``+a.b=value`` adds a key that the config does not have yet).
"""

from __future__ import annotations

import difflib
import math
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
GROUPS = ("model",)
OPEN_SECTIONS = ("plugins.", "model.")  # keys under these are checked by the plugin / APTConfig instead


# --- configuration -----------------------------------------------------------------------------
def _load_yaml(path: str):
    from omegaconf import OmegaConf

    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    cfg = OmegaConf.load(path)
    if not isinstance(cfg, dict) and not OmegaConf.is_dict(cfg):
        raise ValueError(f"{path} must hold a YAML mapping at the top level")
    return cfg


def _group_options(group: str) -> List[str]:
    folder = os.path.join(CONFIG_DIR, group)
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []


def _resolve_group(group: str, value: Any):
    """A mapping for ``group``: a name in ``configs/<group>/``, a YAML path, or already a mapping."""
    from omegaconf import OmegaConf

    if value is None or OmegaConf.is_dict(value) or isinstance(value, dict):
        return OmegaConf.create(value or {})
    value = str(value)
    if value.endswith((".yaml", ".yml")) or os.sep in value:
        return _load_yaml(value)
    path = os.path.join(CONFIG_DIR, group, value + ".yaml")
    if not os.path.isfile(path):
        raise ValueError(f"unknown {group} config {value!r}; choose one of {_group_options(group)} "
                         f"or give a path to a YAML file")
    return _load_yaml(path)


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def _all_keys(cfg, prefix: str = "") -> List[str]:
    from omegaconf import OmegaConf

    out = []
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        out.append(key)
        if OmegaConf.is_dict(v):
            out.extend(_all_keys(v, key + "."))
    return out


def load_config(argv: Optional[Sequence[str]] = None):
    """The training config (an OmegaConf ``DictConfig``) from the default, a YAML file and overrides."""
    from omegaconf import OmegaConf

    argv = list(argv or [])
    cfg = _load_yaml(os.path.join(CONFIG_DIR, "default.yaml"))
    if argv and "=" not in argv[0]:
        user = argv.pop(0)
        if not user.endswith((".yaml", ".yml")):
            raise ValueError(f"unexpected argument {user!r}: give a config file (*.yaml) first, then key=value overrides")
        cfg = OmegaConf.merge(cfg, _load_yaml(user))
    overrides = []
    for item in argv:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value (e.g. trainer.max_steps=300)")
        key, value = item.split("=", 1)
        key = key.strip()
        if key in GROUPS:
            cfg[key] = _parse_value(value) if value.strip().startswith("{") else value
        else:
            overrides.append((key, value))
    for group in GROUPS:
        cfg[group] = _resolve_group(group, cfg.get(group))
    known = set(_all_keys(cfg))
    for key, value in overrides:
        add = key.startswith("+")
        key = key.lstrip("+")
        if not add and key not in known and not key.startswith(OPEN_SECTIONS):
            hint = difflib.get_close_matches(key, sorted(known), n=1)
            raise ValueError(f"unknown config key {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                             + " (prefix it with + to add a new key)")
        OmegaConf.update(cfg, key, _parse_value(value), merge=True, force_add=True)
    return cfg


def build_model(model_cfg: Dict[str, Any]):
    """An :class:`APTLanguageModel` or :class:`StandardLanguageModel` from the ``model`` section."""
    from .model import APTConfig, MODEL_TYPES

    spec = dict(model_cfg)
    kind = spec.pop("type", "apt")
    if kind not in MODEL_TYPES:
        raise ValueError(f"model.type={kind!r} is not known; use one of {sorted(MODEL_TYPES)}")
    return MODEL_TYPES[kind](APTConfig.from_dict(spec))


def validate_config(cfg) -> None:
    """Check the model section and sizes before anything heavy starts (``ValueError`` says what is wrong)."""
    from omegaconf import OmegaConf

    from .model import APTConfig, MODEL_TYPES

    spec = OmegaConf.to_container(cfg.model, resolve=True)
    kind = spec.pop("type", "apt")
    if kind not in MODEL_TYPES:
        raise ValueError(f"model.type={kind!r} is not known; use one of {sorted(MODEL_TYPES)}")
    mcfg = APTConfig.from_dict(spec)
    if int(cfg.data.seq_len) > mcfg.max_seq_len:
        raise ValueError(f"data.seq_len={cfg.data.seq_len} exceeds model.max_seq_len={mcfg.max_seq_len}")
    if int(cfg.trainer.max_steps) < 1:
        raise ValueError(f"trainer.max_steps must be >= 1, got {cfg.trainer.max_steps}")


def _lightning():
    from seetrain.lazy import require

    return require("lightning.pytorch", "apt", "APT training")


# --- evaluation ---------------------------------------------------------------------------------
def evaluate(model, dataset, batch_size: int = 32) -> float:
    """Mean next-token loss (nats) of ``model`` over every window of ``dataset``."""
    import torch

    was = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
                x = torch.stack([it["input_ids"] for it in items]).to(next(model.parameters()).device)
                n = x.numel() - x.shape[0]
                total += float(model(x, labels=x).loss) * n
                count += n
    finally:
        model.train(was)
    return total / max(count, 1)


# --- the command ---------------------------------------------------------------------------------
def train(cfg) -> Dict[str, Any]:
    """Train with ``cfg`` (from :func:`load_config`); return the final metrics, run directory and model."""
    import torch
    from omegaconf import OmegaConf

    from .data import ByteTokenizer, TokenWindows, load_corpus, split_ids, unigram_cross_entropy
    from .plugins.base import PluginManager

    L = _lightning()
    from seetrain.integration.callbacks.lightning import SeeTrainLogger

    from .lit import APTLightningModule, APTPluginCallback

    config: Dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    tcfg, dcfg = config["trainer"], config["data"]
    if tcfg.get("num_threads"):
        torch.set_num_threads(int(tcfg["num_threads"]))
    L.seed_everything(int(config.get("seed", 0)), workers=True, verbose=False)

    # data
    tok = ByteTokenizer()
    ids = tok.encode(load_corpus(dcfg.get("corpus", "default"), dcfg.get("max_chars")))
    train_ids, val_ids = split_ids(ids, float(dcfg.get("val_fraction", 0.1)))
    model = build_model(config["model"])
    config["model"] = {"type": model.model_type, **model.config.to_dict()}  # every field, defaults included
    seq_len = int(dcfg.get("seq_len", 128))
    if seq_len > model.config.max_seq_len:
        raise ValueError(f"data.seq_len={seq_len} exceeds model.max_seq_len={model.config.max_seq_len}")
    bs, accum = int(dcfg.get("batch_size", 16)), int(tcfg.get("accumulate_grad_batches", 1))
    max_steps = int(tcfg["max_steps"])
    if max_steps < 1:
        raise ValueError(f"trainer.max_steps must be >= 1, got {max_steps}")
    val_ds = TokenWindows(val_ids, seq_len)
    baseline = unigram_cross_entropy(train_ids, val_ids, tok.vocab_size)

    # tracking
    track = config.get("tracking") or {}
    logger = None
    if track.get("enabled", True):
        logger = SeeTrainLogger(project=track.get("project") or "apt", experiment_name=track.get("experiment_name"),
                                config=config, logdir=track.get("logdir"))
        logger.experiment.config.update({"num_parameters": model.num_parameters(), "unigram_baseline": baseline,
                                         "train_tokens": len(train_ids), "val_tokens": len(val_ids)})
    status = "failed"
    try:
        out_dir = config.get("output_dir") or (os.path.join(logger.log_dir, "files") if logger is not None
                                              else os.path.abspath("apt_outputs"))
        # plugins and callbacks
        manager = PluginManager.from_config(config.get("plugins"))
        callbacks: List[Any] = []
        if len(manager):
            callbacks.append(APTPluginCallback(manager, config, logger))
        ckpt = None
        if tcfg.get("enable_checkpointing", True):
            ckpt = L.callbacks.ModelCheckpoint(dirpath=os.path.join(out_dir, "checkpoints"), filename="step{step}",
                                               monitor="val/loss", mode="min", save_top_k=1, save_last=True,
                                               auto_insert_metric_name=False)
            callbacks.append(ckpt)
        batches = max_steps * accum  # training batches per process: one epoch is the whole run
        trainer = L.Trainer(
            max_steps=max_steps, max_epochs=1, accelerator=tcfg.get("accelerator", "auto"),
            devices=tcfg.get("devices", "auto"), strategy=tcfg.get("strategy", "auto"),
            precision=tcfg.get("precision", "32-true"), accumulate_grad_batches=accum,
            gradient_clip_val=tcfg.get("gradient_clip_val"),
            val_check_interval=min(int(tcfg.get("val_check_interval", 100)), batches),
            limit_val_batches=tcfg.get("limit_val_batches", 1.0), log_every_n_steps=int(tcfg.get("log_every_n_steps", 10)),
            enable_progress_bar=bool(tcfg.get("enable_progress_bar", True)), enable_checkpointing=ckpt is not None,
            logger=logger if logger is not None else False, callbacks=callbacks, default_root_dir=out_dir,
            num_sanity_val_steps=0, enable_model_summary=True,
        )
        # random windows: enough for max_steps on every process (DistributedSampler splits them)
        train_ds = TokenWindows(train_ids, seq_len, random=True, num_samples=batches * bs * trainer.world_size,
                                seed=int(config.get("seed", 0)))
        loader_kw = {"batch_size": bs, "num_workers": int(dcfg.get("num_workers", 0))}
        train_dl = torch.utils.data.DataLoader(train_ds, shuffle=True, drop_last=True, **loader_kw)
        val_dl = torch.utils.data.DataLoader(val_ds, shuffle=False, **loader_kw)
        module = APTLightningModule(model, config["optim"], max_steps, bool(track.get("log_block_stats", True)),
                                    tokens_per_batch=bs * seq_len)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            trainer.fit(module, train_dataloaders=train_dl, val_dataloaders=val_dl)
        result = _finish_training(trainer, model, tok, val_ds, baseline, config, out_dir, logger)
        status = "success"
    finally:
        if logger is not None:
            logger.finish(status)
    return result


def _finish_training(trainer, model, tok, val_ds, baseline, config, out_dir, logger) -> Dict[str, Any]:
    import torch

    val_loss = evaluate(model, val_ds)
    result = {"val_loss": val_loss, "val_ppl": math.exp(min(val_loss, 50.0)), "unigram_baseline": baseline,
              "steps": trainer.global_step, "model": model, "run_dir": None, "output_dir": out_dir, "sample": "",
              "is_global_zero": trainer.global_rank == 0}
    if trainer.global_rank != 0:
        return result
    scfg = config.get("sample") or {}
    if scfg.get("max_new_tokens"):
        prompt = torch.tensor([tok.encode(scfg.get("prompt") or "The ")], device=next(model.parameters()).device)
        gen = torch.Generator(device=prompt.device).manual_seed(int(config.get("seed", 0)))
        out = model.generate(prompt, max_new_tokens=int(scfg["max_new_tokens"]), do_sample=True,
                             temperature=float(scfg.get("temperature", 0.8)), top_k=scfg.get("top_k"),
                             top_p=scfg.get("top_p"), generator=gen)
        result["sample"] = tok.decode(out[0])
    if config.get("save_model", True):
        model_dir = os.path.join(out_dir, "model")
        model.save_pretrained(model_dir)
        tok.save(model_dir)
        result["model_dir"] = model_dir
    if logger is not None:
        from seetrain.media import Text

        run = logger.experiment
        run.log({"final/val_loss": val_loss, "final/val_ppl": result["val_ppl"], "final/unigram_baseline": baseline,
                 **({"samples/text": Text(result["sample"], caption=scfg.get("prompt"))} if result["sample"] else {})},
                step=trainer.global_step)
        result["run_dir"] = run.dir
    return result


USAGE = __doc__


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``seetrain apt train`` and ``python -m seetrain.apt.train``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        from omegaconf import OmegaConf

        print(USAGE)
        print("model configs:", ", ".join(_group_options("model")))
        print("\ndefault config:\n" + OmegaConf.to_yaml(load_config([])))
        return 0
    try:
        cfg = load_config(argv)
        validate_config(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f"seetrain apt train: {exc}", file=sys.stderr)
        return 2
    result = train(cfg)
    if result.get("is_global_zero", True):
        beat = "below" if result["val_loss"] < result["unigram_baseline"] else "NOT below"
        print(f"\nval loss {result['val_loss']:.4f} nats/byte (ppl {result['val_ppl']:.2f}) after {result['steps']} steps; "
              f"unigram baseline {result['unigram_baseline']:.4f} ({beat} the baseline)")
        if result.get("sample"):
            print(f"sample: {result['sample']!r}")
        if result.get("model_dir"):
            print(f"model:   {result['model_dir']}")
        print(f"run dir: {result.get('run_dir') or '(tracking disabled)'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
