"""Run: init / log / finish, steps, modes and the current-run stack.

``Run.log`` is the hot path: it validates, flattens and stamps a record and appends it to an
in-memory deque. It does no I/O and never raises on bad data (unless ``strict=True``): problems
become one-time warnings that name the key, and the rest of the record is kept.
"""

from __future__ import annotations

import atexit
import os
import random
import string
import sys
import threading
import time
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

from .run_config import Config, to_plain

MODES = ("local", "disabled", "online")
DEFAULT_LOGDIR = "./seetrain_logs"
DEFAULT_QUEUE_SIZE = 100_000

_FAST = {float, int}


class SeeTrainWarning(UserWarning):
    """Something SeeTrain could not record; training goes on."""


class SeeTrainError(Exception):
    """Raised instead of a warning when a run was created with ``strict=True``."""


def _new_id() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # OS entropy: a training script's random.seed() must not make two runs' ids collide
    tail = "".join(random.SystemRandom().choices(string.ascii_lowercase + string.digits, k=6))
    return f"{stamp}-{tail}"


def _flatten(prefix: str, data: Dict[Any, Any], out: Dict[Any, Any]) -> None:
    for k, v in data.items():
        key = f"{prefix}/{k}" if isinstance(k, str) else k
        if type(v) is dict:
            _flatten(key if isinstance(key, str) else str(key), v, out)
        else:
            out[key] = v


class Run:
    """One tracked run. Create it with :func:`seetrain.init`."""

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Any = None,
                 tags: Optional[Sequence[str]] = None, mode: str = "local",
                 logdir: Optional[str] = None, id: Optional[str] = None,
                 resume: Union[bool, str, None] = None, strict: bool = False,
                 system_metrics: bool = True, flush_interval: float = 1.0,
                 system_interval: float = 10.0, max_queue: int = DEFAULT_QUEUE_SIZE) -> None:
        mode = (mode or os.environ.get("SEETRAIN_MODE") or "local").lower()
        if mode not in MODES:
            raise ValueError(f"seetrain.init(mode={mode!r}) is not a mode; use one of {MODES}")
        if mode == "online":
            warnings.warn("seetrain: mode='online' needs a SeeTrain server, which this version does not "
                          "ship yet; the run is written locally (mode='local').", SeeTrainWarning, stacklevel=3)
            mode = "local"
        self.mode = mode
        self.strict = bool(strict)
        self.project = str(project or os.environ.get("SEETRAIN_PROJECT") or "default")
        self.id = str(id or os.environ.get("SEETRAIN_RUN_ID") or _new_id())
        self.name = str(experiment_name or os.environ.get("SEETRAIN_EXPERIMENT_NAME") or f"run-{self.id[-6:]}")
        self.description = description
        self.tags = list(tags or [])
        self.logdir = os.path.abspath(logdir or os.environ.get("SEETRAIN_LOGDIR") or DEFAULT_LOGDIR)
        self.dir = os.path.join(self.logdir, self.project, self.id)
        self.finished = False
        self.status = "running"
        self._lock = threading.Lock()
        self._seq = 0
        self._seq0 = 0  # first seq of this process (a resumed run continues an earlier one)
        self._step = 0  # next automatic step
        self._warned: set = set()
        self._queue_max = max(int(max_queue), 16)
        self._queue_high = self._queue_max // 2
        self._writer = None
        self._sampler = None
        self.stats: Dict[str, Any] = {"records": 0, "errors": 0, "last_error": None}
        self.config = Config(on_change=self._config_changed)
        if mode == "disabled":
            self.config.update(to_plain(config) or {})
            _register(self)
            return
        self._start(config, resume, flush_interval)
        if system_metrics and system_interval > 0:
            from .system import SystemSampler

            self._sampler = SystemSampler(self._log_system, interval=system_interval)
            self._sampler.start()

    # --- start -------------------------------------------------------------------------------
    def _start(self, config: Any, resume: Union[bool, str, None], flush_interval: float) -> None:
        from . import writer as _writer
        from .system import basic_environment, full_environment

        exists = os.path.isfile(os.path.join(self.dir, "run.json"))
        if exists and resume in (None, False, "never"):
            raise ValueError(f"a run with id {self.id!r} already exists in {self.dir}; pass resume=True "
                             "to continue it or choose another id")
        if not exists and resume == "must":
            raise ValueError(f"resume='must' but no run with id {self.id!r} exists under {self.logdir}/{self.project}")
        now = time.time()
        meta: Dict[str, Any] = {}
        if exists:
            meta = self._resume_state()
        meta.update({
            "id": self.id, "name": self.name, "project": self.project,
            "description": self.description if self.description is not None else meta.get("description"),
            "tags": self.tags or meta.get("tags", []), "status": "running",
            "start_time": meta.get("start_time", now), "end_time": None,
            "resumed_time": now if exists else None, "seetrain_version": _version(),
        })
        meta.update(basic_environment())
        os.makedirs(os.path.join(self.dir, "media"), exist_ok=True)
        self._queue = _writer.new_queue()
        self._writer = _writer.RunWriter(self.dir, self._queue, meta, flush_interval=flush_interval,
                                         on_error=self._background_error, enrich_meta=full_environment)
        initial = dict(meta.get("config") or {})
        initial.update(to_plain(_pending_config.to_dict()))
        _pending_config.clear()
        if config is not None:
            plain = to_plain(config)
            if not isinstance(plain, dict):
                raise TypeError(f"seetrain.init(config=...) takes a dict-like, got {type(config).__name__}")
            initial.update(plain)
        meta["config"] = {}
        self._seq0 = self._seq
        self._writer.write_meta()
        self._writer.start()
        _register(self)
        if initial:
            self.config.update(initial)

    def _resume_state(self) -> Dict[str, Any]:
        from .reader import RunReader

        prev = RunReader(self.dir)
        self._seq = prev.last_seq + 1
        steps = [r.get("step") for r in prev.records() if r.get("step") is not None]
        self._step = (max(steps) + 1) if steps else 0
        meta = dict(prev.meta)
        meta["config"] = prev.config
        meta["summary"] = prev.summary()
        return meta

    # --- hot path ----------------------------------------------------------------------------
    def log(self, data: Dict[str, Any], step: Optional[int] = None) -> None:
        """Record ``data`` (metric name -> number or media) at ``step`` (default: the next step)."""
        if self.finished or self.mode == "disabled":
            if self.finished and "finished" not in self._warned:
                self._warn("finished", f"run {self.name!r} is finished; log() calls after finish() are ignored")
            return
        if type(data) is not dict:
            if not isinstance(data, dict):
                self._warn("data-type", f"log() takes a dict of metric name -> value, got {type(data).__name__}; "
                                        "nothing was logged. Call it as seetrain.log({'loss': loss})")
                return
            data = dict(data)
        clean: Dict[str, Any] = {}
        has_media = False
        for key, value in data.items():
            if type(value) in _FAST and type(key) is str:
                clean[key] = value
                continue
            if type(value) is dict:
                flat: Dict[Any, Any] = {}
                _flatten(key if isinstance(key, str) else str(key), value, flat)
                items = flat.items()
            else:
                items = ((key, value),)
            for k, v in items:
                v = self._coerce(k, v)
                if v is not _SKIP:
                    if type(v) not in _FAST:
                        has_media = True
                    clean[k] = v
        if not clean:
            return
        with self._lock:
            if step is None:
                step = self._step
                self._step += 1
            elif type(step) is not int or step < 0:
                step = self._bad_step(step)
            elif step >= self._step:
                self._step = step + 1
            seq = self._seq
            self._seq = seq + 1
            self._queue.append((seq, time.time(), step, clean, None, has_media))
        n = len(self._queue)
        if n > self._queue_high:
            self._writer.request_flush()
            if n >= self._queue_max:
                self._backpressure()

    def _coerce(self, key: Any, value: Any) -> Any:
        """Turn one value into a float/int/media, or warn once and return ``_SKIP``."""
        if not isinstance(key, str):
            self._warn(f"key-type:{key!r}", f"metric key {key!r} is a {type(key).__name__}, not a string; "
                                             "it was skipped. Use string keys such as 'train/loss'")
            return _SKIP
        t = type(value)
        if t is bool:
            return int(value)
        if t in _FAST:
            return value
        from .media import Media, Text

        if isinstance(value, Media):
            if value.error:
                self._warn(f"media:{key}", f"{key!r}: {value.error}; this value was skipped")
                return _SKIP
            return value
        if t is str:
            return Text(value)
        if t in (list, tuple) and value and all(isinstance(m, Media) for m in value):
            bad = [m.error for m in value if m.error]
            if bad:
                self._warn(f"media:{key}", f"{key!r}: {bad[0]}; the bad items were skipped")
            good = [m for m in value if not m.error]
            return good if good else _SKIP
        mod = t.__module__
        if mod == "numpy" or (mod.startswith("torch") and "torch" in sys.modules):
            try:
                if getattr(value, "size", 1) == 1 if mod == "numpy" else value.numel() == 1:
                    num = value.item()
                    if isinstance(num, bool):
                        return int(num)
                    if isinstance(num, (int, float)):
                        return num
            except Exception:
                pass
            shape = tuple(getattr(value, "shape", ()))
            self._warn(f"value:{key}", f"{key!r}: a {mod} value of shape {shape} is not a scalar; it was skipped. "
                                       "Log a scalar (.mean().item()) or wrap it: seetrain.Histogram(x)")
            return _SKIP
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # Fraction-like, Decimal is not
            return float(value)
        try:
            import decimal
            import fractions

            if isinstance(value, (decimal.Decimal, fractions.Fraction)):
                return float(value)
        except Exception:
            pass
        self._warn(f"value:{key}", f"{key!r}: cannot log a value of type {t.__name__}; it was skipped. "
                                   "Log numbers, or seetrain.Image / Audio / Text / Histogram")
        return _SKIP

    def _bad_step(self, step: Any) -> int:
        auto = self._step
        self._step += 1
        self._warn("step", f"step={step!r} is not a non-negative integer; logged at the next step ({auto}) "
                           "instead. Pass step as an int >= 0")
        return auto

    def _backpressure(self) -> None:
        if "queue-full" not in self._warned:
            self._warn("queue-full", f"the write queue holds {self._queue_max} records; log() now waits for "
                                     "the writer rather than dropping data (raise max_queue or log less often)",
                       strict_ok=True)
        w = self._writer
        while len(self._queue) >= self._queue_max and w.is_alive():
            w.space.clear()
            w.request_flush()
            w.space.wait(0.05)

    def _warn(self, tag: str, message: str, strict_ok: bool = False) -> None:
        if self.strict and not strict_ok:
            raise SeeTrainError(f"seetrain: {message}")
        if tag in self._warned:
            return
        self._warned.add(tag)
        self.stats["errors"] += 1
        self.stats["last_error"] = message
        warnings.warn(f"seetrain: {message}", SeeTrainWarning, stacklevel=_user_stacklevel())

    def _background_error(self, what: str, exc: BaseException) -> None:
        self.stats["errors"] += 1
        self.stats["last_error"] = f"could not {what}: {type(exc).__name__}: {exc}"
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(f"seetrain: could not {what} ({type(exc).__name__}: {exc}); training goes on",
                          SeeTrainWarning, stacklevel=2)

    # --- other records -----------------------------------------------------------------------
    def _config_changed(self, changes: Dict[str, Any]) -> None:
        if self.mode == "disabled" or self._writer is None or self.finished:
            return
        with self._lock:
            seq = self._seq
            self._seq = seq + 1
            self._queue.append((seq, time.time(), None, None, dict(changes), False))

    def _log_system(self, data: Dict[str, float]) -> None:
        if self.finished:
            return
        with self._lock:
            seq = self._seq
            self._seq = seq + 1
            self._queue.append((seq, time.time(), max(self._step - 1, 0), data, None, False))

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` will use."""
        return self._step

    @property
    def summary(self) -> Dict[str, Any]:
        """Last value of each key written so far."""
        return dict(self._writer.summary) if self._writer is not None else {}

    def get_stats(self) -> Dict[str, Any]:
        """Records logged, errors and the last error message."""
        out = dict(self.stats)
        out["records"] = self._seq
        return out

    def flush(self) -> None:
        """Write what is queued now (blocks until written to the OS)."""
        if self._writer is None or self.finished:
            return
        w = self._writer
        target = self._seq - self._seq0
        deadline = time.monotonic() + 30
        while w.is_alive() and w.processed < target and time.monotonic() < deadline:
            w.space.clear()
            w.request_flush()
            w.space.wait(0.05)

    # --- finish ------------------------------------------------------------------------------
    def finish(self, status: str = "success", exit_code: Optional[int] = None) -> None:
        """Write everything, fsync, and mark the run ``success``, ``failed`` or ``crashed``."""
        if self.finished:
            return
        self.finished = True
        _unregister(self)
        if self._sampler is not None:
            self._sampler.stop()
        if self._writer is None:
            self.status = status
            return
        try:
            self._writer.close()
        except Exception as exc:
            self._background_error("close the writer", exc)
        self.status = status
        meta = self._writer.meta
        meta.update(status=status, end_time=time.time(), summary=self._writer.summary,
                    records=self._seq)
        if meta.get("start_time"):
            meta["duration"] = meta["end_time"] - meta["start_time"]
        if exit_code is not None:
            meta["exit_code"] = exit_code
        meta["config"] = self.config.to_dict()
        self._writer.write_meta()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("crashed" if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt)
                    else ("killed" if exc_type is not None else "success"))

    def __repr__(self) -> str:
        return f"<seetrain.Run {self.project}/{self.name} id={self.id} mode={self.mode} status={self.status}>"


_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside SeeTrain."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PKG_DIR):
        frame = frame.f_back
        level += 1
    return level


class _Skip:
    __slots__ = ()


_SKIP = _Skip()


def _version() -> str:
    from . import __version__

    return __version__


# --- current runs and process exit ----------------------------------------------------------
_active: List[Run] = []
_active_lock = threading.Lock()
_pending_config = Config()  # seetrain.config before any init(): merged into the next run
_hooks_installed = False
_uncaught: List[BaseException] = []


def _register(run: Run) -> None:
    global _hooks_installed
    with _active_lock:
        _active.append(run)
        if not _hooks_installed:
            _hooks_installed = True
            atexit.register(_finish_all_at_exit)
            previous = sys.excepthook

            def _excepthook(exc_type, exc, tb):
                _uncaught.append(exc)
                previous(exc_type, exc, tb)

            sys.excepthook = _excepthook
            _install_sigterm_handler()


def _install_sigterm_handler() -> None:
    """On SIGTERM (schedulers, ``kill``), finish open runs as ``killed``, then die as before."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return  # the user's (or the framework's) handler stays in charge
    except (ValueError, OSError):
        return

    def _on_sigterm(signum, frame):
        for run in reversed(list(_active)):
            try:
                run.finish("killed")
            except Exception:
                pass
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass


def _unregister(run: Run) -> None:
    with _active_lock:
        if run in _active:
            _active.remove(run)


def current_run() -> Optional[Run]:
    """The most recently started run that is still open."""
    return _active[-1] if _active else None


def active_runs() -> List[Run]:
    return list(_active)


def _finish_all_at_exit() -> None:
    status = "crashed" if _uncaught else "success"
    for run in reversed(list(_active)):
        try:
            run.finish(status)
        except Exception:
            pass
