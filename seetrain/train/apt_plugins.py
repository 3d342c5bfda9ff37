"""The APT plugins (``seetrain.apt.plugins``: advanced debugging, pruning, ...) as hooks of the
trainer's loop: ``seetrain train experiment=apt_lm plugins.advanced-debugging.enabled=true``.

The ``plugins`` section is the one of ``seetrain apt train`` (``plugins.<name>.enabled`` plus that
plugin's options), checked the same way (an unknown plugin or option gets a "did you mean"). Each
loop event calls the APT hook of the same name with APT's context dict (``model``, ``step``,
``epoch``, ``loss``, ``optimizer``, ``run``, ``config``, ``output_dir``, ``max_steps``, ``tokenizer``, ...).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from .errors import TrainConfigError
from .loop_hooks import LoopHook, LoopState

# APT trainer steps outside the loop's events (the text before tokenising, a teacher before the fit,
# the loss itself): these plugins train with `seetrain apt train` for now
APT_ONLY = ("process_training_text", "setup_training", "training_loss")
# plugins that bring their own data (images and text), which the language-model task does not read
OWN_DATA = ("multimodal-training",)


def enabled(plugins: Any) -> List[str]:
    """The names of the enabled plugins in a ``plugins`` section."""
    return [n for n, o in dict(plugins or {}).items() if isinstance(o, dict) and o.get("enabled") is True]


def plugin_hooks(config: Dict[str, Any]) -> List[LoopHook]:
    """The loop hooks of ``config["plugins"]`` (checked; none when no plugin is enabled)."""
    section = config.get("plugins") or {}
    if not isinstance(section, dict):
        raise TrainConfigError(f"plugins must be a mapping of plugin names to options, got {section!r}", key="plugins")
    if not section:
        return []
    from seetrain.apt.plugins.base import PluginManager

    try:
        manager = PluginManager.from_config(section)
    except ValueError as exc:
        raise TrainConfigError(str(exc), key="plugins") from None
    for plugin in manager.plugins.values():
        if plugin.name in OWN_DATA:
            raise TrainConfigError(f"plugins.{plugin.name}: this plugin trains on its own data, which `seetrain train` "
                                   f"does not read yet; train it with `seetrain apt train plugins.{plugin.name}.enabled=true`",
                                   key=f"plugins.{plugin.name}")
        apt_only = [h for h in APT_ONLY if callable(getattr(plugin, h, None))]
        if apt_only:
            raise TrainConfigError(f"plugins.{plugin.name}: this plugin joins in at {', '.join(apt_only)}, which "
                                   "`seetrain train` does not have yet; train it with `seetrain apt train "
                                   f"plugins.{plugin.name}.enabled=true`", key=f"plugins.{plugin.name}")
    if not len(manager):
        return []
    from seetrain.apt.data import ByteTokenizer

    tracked = bool((config.get("logger") or {}).get("enabled", True))  # the task saves the model into the run
    return [APTPluginHooks(manager, ByteTokenizer(), will_save_model=tracked)]  # the task's tokenizer


class APTPluginHooks(LoopHook):
    """Calls a :class:`~seetrain.apt.plugins.base.PluginManager`'s hooks at the loop's events."""

    def __init__(self, manager: Any, tokenizer: Any = None, will_save_model: bool = False) -> None:
        self.manager, self.tokenizer, self.will_save_model = manager, tokenizer, bool(will_save_model)

    def _context(self, state: LoopState, **extra: Any) -> Dict[str, Any]:
        run = state.run
        out_dir = os.path.join(run.dir, "files") if run is not None and getattr(run, "dir", None) \
            else os.path.abspath("seetrain_outputs")
        ctx = {"model": state.model, "step": state.step, "epoch": state.epoch, "optimizer": state.optimizer,
               "trainer": None, "run": run, "config": state.config, "loss": None, "output_dir": out_dir,
               "max_steps": state.max_steps, "will_save_model": self.will_save_model, "tokenizer": self.tokenizer}
        ctx.update(extra)
        return ctx

    def on_train_start(self, state: LoopState) -> None:
        for plugin in self.manager.plugins.values():  # the plugins report into this run
            if getattr(plugin, "_run", None) is None:
                plugin._run = state.run
        self.manager.call("on_training_start", self._context(state))

    def on_epoch_start(self, state: LoopState) -> None:
        self.manager.call("on_epoch_start", self._context(state))

    def on_batch_start(self, state: LoopState, batch: Any, batch_idx: int) -> None:
        self.manager.call("on_batch_start", self._context(state, batch=batch, batch_idx=batch_idx))

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
