"""Config-driven APT training on PyTorch Lightning with SeeTrain tracking.

    seetrain apt train                                   # configs/default.yaml
    seetrain apt train model=vft_small trainer.max_steps=600
    python -m seetrain.apt.train my.yaml trainer.precision=bf16-mixed plugins.advanced-debugging.enabled=true

The config is YAML (OmegaConf). A first positional ``*.yaml`` argument is merged over the default;
``group=name`` picks ``configs/<group>/<name>.yaml`` (groups: ``model``); ``a.b=value`` sets one key
(``+a.b=value`` adds a key that the config does not have yet).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence

from .train_config import CONFIG_DIR, GROUPS, _group_options, build_model, load_config, validate_config  # noqa: F401


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
def _plugins_with(manager, method: str) -> List[Any]:
    return [p for p in manager.plugins.values() if callable(getattr(p, method, None))]


def train(cfg) -> Dict[str, Any]:
    """Train with ``cfg`` (from :func:`load_config`); return the final metrics, run directory and model.

    The whole config is validated first (a config error leaves no run behind). Enabled plugins join in
    through their hooks and, where they define them, ``process_training_text(text, context)`` (the
    training split's text, before tokenising), ``setup_training(context)`` (before the fit: e.g. a
    distillation teacher), ``training_loss(model, batch, outputs, step)`` (the loss to optimise) and
    ``on_model_saved(context)`` (after the final model is written).
    """
    import torch
    from omegaconf import OmegaConf

    from .data import ByteTokenizer, TokenWindows, load_corpus, split_ids, unigram_cross_entropy

    manager = validate_config(cfg)
    L = _lightning()
    from seetrain.integration.callbacks.lightning import SeeTrainLogger

    from .lit import APTLightningModule, APTPluginCallback

    config: Dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    tcfg, dcfg = config["trainer"], config["data"]
    if tcfg.get("num_threads"):
        torch.set_num_threads(int(tcfg["num_threads"]))
    seed = int(config.get("seed") or 0)
    L.seed_everything(seed, workers=True, verbose=False)

    # data
    tok = ByteTokenizer()
    ids = tok.encode(load_corpus(dcfg.get("corpus", "default"), dcfg.get("max_chars")))
    train_ids, val_ids = split_ids(ids, float(dcfg.get("val_fraction", 0.1)))
    model = build_model(config["model"])
    config["model"] = {"type": model.model_type, **model.config.to_dict()}  # every field, defaults included
    seq_len = int(dcfg.get("seq_len", 128))
    bs, accum = int(dcfg.get("batch_size", 16)), int(tcfg.get("accumulate_grad_batches", 1))
    max_steps = int(tcfg["max_steps"])
    val_ds = TokenWindows(val_ids, seq_len)

    # tracking
    track = config.get("tracking") or {}
    logger = None
    if track.get("enabled", True):
        logger = SeeTrainLogger(project=track.get("project") or "apt", experiment_name=track.get("experiment_name"),
                                config=config, logdir=track.get("logdir"))
        for plugin in manager.plugins.values():  # the plugins report into this run
            if getattr(plugin, "_run", None) is None:
                plugin._run = logger.experiment
    status = "failed"
    try:
        out_dir = config.get("output_dir") or (os.path.join(logger.log_dir, "files") if logger is not None
                                              else os.path.abspath("apt_outputs"))
        for plugin in _plugins_with(manager, "process_training_text"):  # e.g. data-processors: training split only
            text = plugin.process_training_text(tok.decode(train_ids), {"config": config, "output_dir": out_dir})
            train_ids = tok.encode(text)
        baseline = unigram_cross_entropy(train_ids, val_ids, tok.vocab_size)
        if logger is not None:
            logger.experiment.config.update({"num_parameters": model.num_parameters(), "unigram_baseline": baseline,
                                             "train_tokens": len(train_ids), "val_tokens": len(val_ids)})
        callbacks: List[Any] = []
        plugin_cb = None
        if len(manager):
            plugin_cb = APTPluginCallback(manager, config, logger, extra={
                "output_dir": out_dir, "max_steps": max_steps, "will_save_model": bool(config.get("save_model", True))})
            callbacks.append(plugin_cb)
        ckpt = None
        if tcfg.get("enable_checkpointing", True):
            ckpt = L.callbacks.ModelCheckpoint(dirpath=os.path.join(out_dir, "checkpoints"), filename="step{step}",
                                               monitor="val/loss", mode="min", save_top_k=1, save_last=True,
                                               auto_insert_metric_name=False)
            callbacks.append(ckpt)
        trainer = L.Trainer(
            max_steps=max_steps, max_epochs=-1, accelerator=tcfg.get("accelerator", "auto"),
            devices=tcfg.get("devices", "auto"), strategy=tcfg.get("strategy", "auto"),
            precision=tcfg.get("precision", "32-true"), accumulate_grad_batches=accum,
            gradient_clip_val=tcfg.get("gradient_clip_val"),
            val_check_interval=int(tcfg.get("val_check_interval", 100)), check_val_every_n_epoch=None,
            limit_val_batches=tcfg.get("limit_val_batches", 1.0), log_every_n_steps=int(tcfg.get("log_every_n_steps", 10)),
            enable_progress_bar=bool(tcfg.get("enable_progress_bar", True)), enable_checkpointing=ckpt is not None,
            logger=logger if logger is not None else False, callbacks=callbacks, default_root_dir=out_dir,
            num_sanity_val_steps=0, enable_model_summary=True,
        )
        # an epoch is one pass's worth of random windows over the training tokens (all processes together);
        # training runs as many epochs as max_steps needs
        windows = max((len(train_ids) - 1) // seq_len, bs * trainer.world_size)
        train_ds = TokenWindows(train_ids, seq_len, random=True, num_samples=windows, seed=seed)
        loader_kw = {"batch_size": bs, "num_workers": int(dcfg.get("num_workers", 0))}
        train_dl = torch.utils.data.DataLoader(train_ds, shuffle=True, drop_last=True, **loader_kw)
        val_dl = torch.utils.data.DataLoader(val_ds, shuffle=False, **loader_kw)
        setup_ctx = {"model": model, "config": config, "output_dir": out_dir, "train_dataloader": train_dl,
                     "run": logger.experiment if logger is not None else None, "max_steps": max_steps,
                     "tokenizer": tok}
        for plugin in _plugins_with(manager, "setup_training"):  # e.g. load or train a distillation teacher
            plugin.setup_training(setup_ctx)
        module = APTLightningModule(model, config["optim"], max_steps, bool(track.get("log_block_stats", True)),
                                    tokens_per_batch=bs * seq_len,
                                    loss_hooks=[p.training_loss for p in _plugins_with(manager, "training_loss")])
        if plugin_cb is not None:
            plugin_cb.extra["train_dataloader"] = train_dl
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            trainer.fit(module, train_dataloaders=train_dl, val_dataloaders=val_dl)
        result = _finish_training(trainer, model, tok, val_ds, baseline, config, out_dir, logger)
        if result.get("is_global_zero", True):
            saved_ctx = {**setup_ctx, "step": trainer.global_step, "model_dir": result.get("model_dir"),
                         "trainer": trainer}
            for plugin in _plugins_with(manager, "on_model_saved"):  # e.g. cloud-storage: final backup, upload
                _call_plugin(plugin, "on_model_saved", saved_ctx)
        status = "success"
    finally:
        if logger is not None:
            logger.finish(status)
    return result


def _call_plugin(plugin, hook: str, context: Dict[str, Any]) -> None:
    """Call an optional plugin hook; a failure is counted and warned about, the command goes on."""
    try:
        getattr(plugin, hook)(context)
    except Exception as exc:
        from seetrain.resilience import record_failure

        record_failure(f"plugin:{plugin.name}.{hook}", exc)
        warnings.warn(f"seetrain: APT plugin {plugin.name!r} failed in {hook} ({type(exc).__name__}: {exc})",
                      stacklevel=2)


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
