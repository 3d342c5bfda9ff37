"""The APT plugin framework: :class:`APTPlugin` hooks and the :class:`PluginManager`.

A plugin reacts to training events and reports what it measures to the active SeeTrain run
through the public API. Every hook receives a context dict; the trainer fills in what it has::

    {"model": nn.Module, "step": int, "epoch": int, "loss": float, "optimizer": Optimizer,
     "batch": Any, "trainer": Any, "run": seetrain.Run | None, "config": dict}

A failing plugin never stops training: the manager catches the exception, counts it in
``seetrain.resilience`` error statistics and warns once per plugin and hook.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Type

from seetrain.errors import did_you_mean

HOOKS = ("on_training_start", "on_epoch_start", "on_epoch_end", "on_batch_start", "on_batch_end",
         "on_training_end")

# plugin name -> "module:Class", imported only when the plugin is used
PLUGIN_CLASSES: Dict[str, str] = {
    "huggingface-integration": "seetrain.apt.plugins.huggingface_integration:HuggingFaceIntegrationPlugin",
    "cloud-storage": "seetrain.apt.plugins.cloud_storage:CloudStoragePlugin",
    "ollama-export": "seetrain.apt.plugins.ollama_export:OllamaExportPlugin",
    "model-distillation": "seetrain.apt.plugins.model_distillation:ModelDistillationPlugin",
    "model-pruning": "seetrain.apt.plugins.model_pruning:ModelPruningPlugin",
    "multimodal-training": "seetrain.apt.plugins.multimodal_training:MultimodalTrainingPlugin",
    "data-processors": "seetrain.apt.plugins.data_processors:DataProcessorsPlugin",
    "advanced-debugging": "seetrain.apt.plugins.advanced_debugging:AdvancedDebuggingPlugin",
}


class APTPlugin:
    """Base class of APT plugins. Override the hooks you need; ``default_config`` lists options.

    An option that is neither in ``default_config`` nor in ``extra_options`` (accepted without a
    default, e.g. names promised by the APT documents) raises a ``ValueError`` with a "did you mean".
    """

    name: str = "plugin"
    default_config: Dict[str, Any] = {}
    extra_options: Tuple[str, ...] = ()

    def __init__(self, config: Optional[Mapping[str, Any]] = None, run: Any = None, **options: Any) -> None:
        given = dict(config or {})
        given.update(options)
        given.pop("enabled", None)
        self.check_options(given)
        merged = dict(self.default_config)
        merged.update(given)
        self.config: Dict[str, Any] = merged
        self._run = run

    @classmethod
    def option_names(cls) -> List[str]:
        """Every option this plugin accepts (``enabled`` included)."""
        return sorted(set(cls.default_config) | set(cls.extra_options) | {"enabled"})

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first unknown option (with a "did you mean")."""
        known = cls.option_names()
        for key in options:
            if key not in known:
                raise ValueError(f"unknown option {key!r} for the APT plugin {cls.name!r}{did_you_mean(key, known)} "
                                 f"(options: {', '.join(known)})")

    # --- reporting ---------------------------------------------------------------------------
    @property
    def run(self) -> Any:
        """The run this plugin reports to: the one it was given, else SeeTrain's current run."""
        if self._run is not None and not getattr(self._run, "finished", False):
            return self._run
        import seetrain

        return seetrain.get_run()

    def log(self, data: Dict[str, Any], step: Optional[int] = None) -> None:
        """Log to the active run; with none yet, kept (at most ``MAX_WAITING``
        calls, then sent by :meth:`report_to`); never raises."""
        run = self.run
        if run is None:
            self._wait(("log", data, step))
            return
        try:
            run.log(data, step=step)
        except Exception as exc:  # a strict run raising must not stop the plugin's work
            warnings.warn(f"seetrain: plugin {self.name!r} could not log: {exc}", stacklevel=2)

    def update_config(self, values: Dict[str, Any]) -> None:
        """Add to the run's config; with no run yet, kept for :meth:`report_to`."""
        run = self.run
        if run is not None:
            run.config.update(values)
        else:
            self._wait(("config", values, None))

    MAX_WAITING = 10_000

    def _wait(self, call: Any) -> None:
        waiting = self.__dict__.setdefault("_waiting", [])
        if len(waiting) < self.MAX_WAITING:
            waiting.append(call)

    def report_to(self, run: Any) -> None:
        """Report into ``run`` from now on (unless given one already), and send it what was logged
        before it existed (a trainer's data step runs before its run is created)."""
        if getattr(self, "_run", None) is None:
            self._run = run
        waiting, self.__dict__["_waiting"] = self.__dict__.get("_waiting", []), []
        for kind, data, step in waiting:
            if kind == "log":
                self.log(data, step=step)
            else:
                self.update_config(data)

    # --- hooks (no-ops by default) -----------------------------------------------------------
    def on_training_start(self, context: Dict[str, Any]) -> None: ...

    def on_epoch_start(self, context: Dict[str, Any]) -> None: ...

    def on_epoch_end(self, context: Dict[str, Any]) -> None: ...

    def on_batch_start(self, context: Dict[str, Any]) -> None: ...

    def on_batch_end(self, context: Dict[str, Any]) -> None: ...

    def on_training_end(self, context: Dict[str, Any]) -> None: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def plugin_class(name: str) -> Type[APTPlugin]:
    """The plugin class registered under ``name`` (imported on demand)."""
    try:
        target = PLUGIN_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown APT plugin {name!r}{did_you_mean(name, PLUGIN_CLASSES)} "
                         f"(known plugins: {', '.join(sorted(PLUGIN_CLASSES))})") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


class PluginManager:
    """Holds the enabled plugins and calls their hooks in registration order."""

    def __init__(self, plugins: Iterable[APTPlugin] = ()) -> None:
        self.plugins: Dict[str, APTPlugin] = {}
        self._warned: set = set()
        for p in plugins:
            self.register(p)

    @staticmethod
    def register_plugin_class(name: str, target: str) -> None:
        """Make a third-party plugin known by name: ``target`` is ``"module:Class"``."""
        PLUGIN_CLASSES[name] = target

    def register(self, plugin: APTPlugin) -> APTPlugin:
        if not isinstance(plugin, APTPlugin):
            raise TypeError(f"{plugin!r} is not an APTPlugin")
        self.plugins[plugin.name] = plugin
        return plugin

    def enable(self, name: str, config: Optional[Mapping[str, Any]] = None, **options: Any) -> APTPlugin:
        """Create the plugin registered under ``name`` with ``config`` and register it."""
        return self.register(plugin_class(name)(config, **options))

    @classmethod
    def from_config(cls, plugins_cfg: Optional[Mapping[str, Any]]) -> "PluginManager":
        """Build from ``{"<name>": {"enabled": bool, ...options}}`` (the ``plugins`` section of a config).

        Every entry is checked, enabled or not: an unknown plugin name or option, or a value the plugin
        rejects, raises a ``ValueError`` that names ``plugins.<name>[.<option>]``."""
        mgr = cls()
        for name, opts in dict(plugins_cfg or {}).items():
            if opts is not None and not isinstance(opts, Mapping):
                raise ValueError(f"plugins.{name} must be a mapping of options (e.g. plugins.{name}.enabled=true), "
                                 f"got {opts!r}")
            opts = dict(opts or {})
            klass = plugin_class(name)
            enabled = opts.get("enabled", False)
            if not isinstance(enabled, bool):
                raise ValueError(f"plugins.{name}.enabled must be true or false, got {enabled!r}")
            try:
                klass.check_options(opts)
                if enabled:
                    mgr.register(klass(opts))
            except (ValueError, TypeError, FileNotFoundError) as exc:
                raise ValueError(f"plugins.{name}: {exc}") from exc
        return mgr

    def get(self, name: str) -> Optional[APTPlugin]:
        return self.plugins.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.plugins

    def __len__(self) -> int:
        return len(self.plugins)

    def names(self) -> List[str]:
        return list(self.plugins)

    def call(self, hook: str, context: Dict[str, Any]) -> None:
        """Call ``hook`` on every plugin; a plugin's exception is counted and warned about once."""
        if hook not in HOOKS:
            raise ValueError(f"unknown hook {hook!r}; hooks are {HOOKS}")
        for plugin in list(self.plugins.values()):
            try:
                getattr(plugin, hook)(context)
            except Exception as exc:
                from seetrain.resilience import record_failure

                record_failure(f"plugin:{plugin.name}.{hook}", exc)
                tag = (plugin.name, hook)
                if tag not in self._warned:
                    self._warned.add(tag)
                    warnings.warn(f"seetrain: APT plugin {plugin.name!r} failed in {hook} "
                                  f"({type(exc).__name__}: {exc}); training goes on", stacklevel=2)
