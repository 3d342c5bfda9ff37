"""The APT plugins (``seetrain.apt.plugins``: advanced debugging, pruning, ...) as hooks of the
trainer's loop: ``seetrain train experiment=apt_lm plugins.advanced-debugging.enabled=true``.

The ``plugins`` section is the one of ``seetrain apt train`` (``plugins.<name>.enabled`` plus that
plugin's options), checked the same way (an unknown plugin or option gets a "did you mean"). Each
loop event calls the APT hook of the same name with APT's context dict (``model``, ``step``,
``epoch``, ``loss``, ``optimizer``, ``run``, ``config``, ``output_dir``, ``max_steps``, ``tokenizer``, ...).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional

from .errors import TrainConfigError
from .loop_hooks import LoopHook, LoopState


def enabled(plugins: Any) -> List[str]:
    """The names of the enabled plugins in a ``plugins`` section."""
    return [n for n, o in dict(plugins or {}).items() if isinstance(o, dict) and o.get("enabled") is True]


def plugin_manager(config: Dict[str, Any]) -> Optional[Any]:
    """The checked :class:`~seetrain.apt.plugins.base.PluginManager` of ``config["plugins"]``, or None
    when no plugin is enabled (an unknown plugin or option raises :class:`TrainConfigError`)."""
    section = config.get("plugins") or {}
    if not isinstance(section, dict):
        raise TrainConfigError(f"plugins must be a mapping of plugin names to options, got {section!r}", key="plugins")
    if not section:
        return None
    from seetrain.apt.plugins.base import PluginManager

    try:
        manager = PluginManager.from_config(section)
    except ValueError as exc:
        raise TrainConfigError(str(exc), key="plugins") from None
    for plugin in manager.plugins.values():  # what a plugin needs before training (a teacher): now, no run yet
        check = getattr(plugin, "check_training_setup", None)
        if check is not None:
            try:
                check()
            except ValueError as exc:
                raise TrainConfigError(f"plugins.{plugin.name}: {exc}", key=f"plugins.{plugin.name}") from None
    return manager if len(manager) else None


def process_training_text(manager: Any, text: str, config: Dict[str, Any]) -> str:
    """The training split's text through each plugin's ``process_training_text`` (e.g. data-processors),
    before it is tokenised and cut into windows; the run does not exist yet, so what the plugins log waits
    for it (:meth:`~seetrain.apt.plugins.base.APTPlugin.report_to`)."""
    for plugin in manager.plugins.values():
        step = getattr(plugin, "process_training_text", None)
        if step is not None:
            try:
                text = step(text, {"config": config, "output_dir": config.get("output_dir")})
            except ValueError as exc:
                raise TrainConfigError(f"plugins.{plugin.name}: {exc}", key=f"plugins.{plugin.name}") from None
    return text


def plugin_hooks(config: Dict[str, Any], manager: Optional[Any], train: Any = None,
                 batch_size: int = 16) -> List["APTPluginHooks"]:
    """The loop hooks of the enabled plugins (none when ``manager`` is None); ``train``: the training
    windows (``.batch(indices)``), from which a plugin's ``setup_training`` reads batches (a teacher)."""
    if manager is None:
        return []
    from seetrain.apt.data import ByteTokenizer

    lm = config.get("language_model") or {}
    tracked = bool((config.get("logger") or {}).get("enabled", True))
    saves = bool(lm.get("save_model", True)) and (tracked or bool(config.get("output_dir")))
    return [APTPluginHooks(manager, ByteTokenizer(), will_save_model=saves, train=train, batch_size=batch_size,
                           log_every=int((config.get("trainer") or {}).get("log_every_n_steps") or 10))]


class TrainBatches:
    """The training windows as APT's batches ``{"input_ids", "labels"}`` on ``device``, for a plugin's
    own passes (``train_dataloader`` in its context: a teacher, a fine-tune): each iteration is one
    shuffled epoch, a different order each time (seeded)."""

    def __init__(self, windows: Any, batch_size: int, device: Any = None) -> None:
        import numpy as np

        self.windows, self.batch_size, self.device = windows, max(int(batch_size), 1), device
        self._rng = np.random.default_rng(int(getattr(windows, "seed", 0)) + 1)

    def __len__(self) -> int:
        return len(self.windows) // self.batch_size

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        import torch

        order = self._rng.permutation(len(self.windows))
        for i in range(len(self)):
            x, _ = self.windows.batch(order[i * self.batch_size:(i + 1) * self.batch_size])
            ids = torch.as_tensor(x, dtype=torch.long, device=self.device)
            yield {"input_ids": ids, "labels": ids}


class APTPluginHooks(LoopHook):
    """Calls a :class:`~seetrain.apt.plugins.base.PluginManager`'s hooks at the loop's events: before the
    first batch each plugin's ``setup_training`` (e.g. a distillation teacher, from ``train_dataloader``)
    then ``on_training_start``; the loop events; ``training_loss`` as the loss (:meth:`training_loss`)."""

    def __init__(self, manager: Any, tokenizer: Any = None, will_save_model: bool = False, train: Any = None,
                 batch_size: int = 16, log_every: int = 10) -> None:
        self.manager, self.tokenizer, self.will_save_model = manager, tokenizer, bool(will_save_model)
        self.train, self.batch_size, self.log_every = train, int(batch_size), max(int(log_every), 1)
        self._loss_plugins = [p for p in manager.plugins.values() if callable(getattr(p, "training_loss", None))]
        self._step = 0
        self._terms: Dict[str, List[float]] = {}  # the loss hooks' figures since the last log
        self._loader: Optional[TrainBatches] = None  # the context's train_dataloader (a teacher, a fine-tune)

    def _context(self, state: LoopState, **extra: Any) -> Dict[str, Any]:
        run = state.run
        out_dir = state.config.get("output_dir") or (
            os.path.join(run.dir, "files") if run is not None and getattr(run, "dir", None)
            else os.path.abspath("seetrain_outputs"))
        ctx = {"model": state.model, "step": state.step, "epoch": state.epoch, "optimizer": state.optimizer,
               "trainer": None, "run": run, "config": state.config, "loss": None, "output_dir": out_dir,
               "checkpoint_dir": state.checkpoint_dir, "max_steps": state.max_steps,
               "will_save_model": self.will_save_model, "tokenizer": self.tokenizer,
               "train_dataloader": self._loader}
        ctx.update(extra)
        return ctx

    def on_train_start(self, state: LoopState) -> None:
        for plugin in self.manager.plugins.values():  # the plugins report into this run (what waited, too)
            plugin.report_to(state.run)
        if self.train is not None:
            self._loader = TrainBatches(self.train, self.batch_size, next(state.model.parameters()).device)
        ctx = self._context(state)
        for plugin in self.manager.plugins.values():
            setup = getattr(plugin, "setup_training", None)
            if setup is not None:  # a failure here ends the training: the plugin cannot do its job
                setup(ctx)
        self.manager.call("on_training_start", self._context(state))

    # --- the loss -------------------------------------------------------------------------------
    def replaces_loss(self) -> bool:
        """Some plugin computes the loss to optimise (``training_loss``)."""
        return bool(self._loss_plugins)

    def on_batch_start(self, state: LoopState, batch: Any, batch_idx: int) -> None:
        self._step = state.step
        self.manager.call("on_batch_start", self._context(state, batch=batch, batch_idx=batch_idx))

    def training_loss(self, model: Any, batch: Any, outputs: Any, loss: Any) -> Any:
        """A :class:`~seetrain.train.job.Job` loss hook: each plugin's ``training_loss`` (APT's batch dict);
        its other figures (``distill/...``) are logged as means every ``log_every_n_steps``."""
        x = batch[0]
        for plugin in self._loss_plugins:
            terms = dict(plugin.training_loss(model, {"input_ids": x, "labels": x}, outputs, self._step))
            loss = terms.pop("loss")
            for name, value in terms.items():
                self._terms.setdefault(name, []).append(float(value.detach() if hasattr(value, "detach") else value))
        return loss

    def on_epoch_start(self, state: LoopState) -> None:
        self.manager.call("on_epoch_start", self._context(state))

    def on_before_optimizer_step(self, state: LoopState) -> None:
        ctx: Optional[Dict[str, Any]] = None
        for plugin in list(self.manager.plugins.values()):
            hook = getattr(plugin, "on_before_optimizer_step", None)
            if hook is not None:
                ctx = ctx or self._context(state)
                _call(plugin, hook, "on_before_optimizer_step", ctx)

    def on_batch_end(self, state: LoopState, batch: Any, batch_idx: int, loss: float, stepped: bool) -> None:
        self.manager.call("on_batch_end", self._context(state, batch=batch, batch_idx=batch_idx, loss=loss,
                                                        stepped=stepped))
        if stepped and self._terms and (state.step + 1) % self.log_every == 0:  # with the loop's train/loss
            if state.run is not None:
                state.run.log({k: sum(v) / len(v) for k, v in self._terms.items()}, step=state.step)
            self._terms = {}

    def on_epoch_end(self, state: LoopState) -> None:
        self.manager.call("on_epoch_end", self._context(state))

    def on_train_end(self, state: LoopState, exception: Optional[BaseException] = None) -> None:
        self.manager.call("on_training_end", self._context(state, exception=exception))

    def on_model_saved(self, state: LoopState, model_dir: str) -> None:
        ctx: Optional[Dict[str, Any]] = None
        for plugin in list(self.manager.plugins.values()):  # e.g. cloud-storage: the final backup, the upload
            hook = getattr(plugin, "on_model_saved", None)
            if hook is not None:
                ctx = ctx or self._context(state, model_dir=model_dir)
                _call(plugin, hook, "on_model_saved", ctx)


def _call(plugin: Any, hook: Any, name: str, ctx: Dict[str, Any]) -> None:
    """An optional plugin hook: a failure is counted and warned about, training goes on."""
    import warnings

    try:
        hook(ctx)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not end the training
        from seetrain.resilience import record_failure

        record_failure(f"plugin:{plugin.name}.{name}", exc)
        warnings.warn(f"seetrain: APT plugin {plugin.name!r} failed in {name} ({type(exc).__name__}: {exc}); "
                      "training goes on", stacklevel=2)
