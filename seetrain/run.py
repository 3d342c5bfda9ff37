"""Run: init / log / finish, steps and modes.

``Run.log`` is the hot path: it validates, flattens and stamps a record and hands it to the
run's :class:`~seetrain.rundir.queue.RecordQueue`. It does no I/O and never raises (unless
``strict=True``): problems become one-time warnings that name the key, and the rest of the record
is kept. Starting and resuming a run directory is in :mod:`seetrain.run_start`, process hooks
(exit codes, signals, fork) in :mod:`seetrain.lifecycle`.
"""

from __future__ import annotations

import operator
import os
import sys
import time
import warnings
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from . import lifecycle, run_shared
from .errors import SeeTrainError, SeeTrainWarning  # noqa: F401 - re-exported
from .logdir import DEFAULT_LOGDIR, default_logdir  # noqa: F401 - re-exported
from .lifecycle import Ending, active_runs, current_run  # noqa: F401 - re-exported
from .rundir.format import FINAL_STATUSES, ending_by_exit_code
from .rundir.queue import CONFIG, EVENT, FULL, SUMMARY, SYSTEM
from .run_config import Config, to_plain
from .values import FAST, SKIP, STEP_MAX, as_step, coerce, flatten, media_nbytes, safe_repr, step_problem

MODES = ("local", "disabled", "online")
DEFAULT_QUEUE_SIZE = 100_000
DEFAULT_QUEUE_BYTES = 256 << 20

_FAST = FAST
_STEP_MAX = STEP_MAX
_active = lifecycle._active
_pending_config = Config()  # seetrain.config before any init(): merged into the next run


class Run:
    """One tracked run. Create it with :func:`seetrain.init`."""

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Any = None,
                 tags: Optional[Sequence[str]] = None, mode: str = "local",
                 logdir: Optional[str] = None, id: Optional[str] = None,
                 resume: Union[bool, str, None] = None, strict: bool = False,
                 system_metrics: bool = True, flush_interval: float = 1.0,
                 system_interval: float = 10.0, max_queue: int = DEFAULT_QUEUE_SIZE,
                 max_queue_bytes: int = DEFAULT_QUEUE_BYTES, heartbeat_interval: float = 5.0,
                 console: Union[str, bool] = "on", host: Optional[str] = None,
                 api_key: Optional[str] = None, upload_timeout: float = 30.0,
                 alert_webhook: Optional[str] = None, resume_from: Optional[int] = None,
                 fork_from: Any = None, shared: Optional[bool] = None, writer: Optional[str] = None) -> None:
        from . import run_start

        mode = (mode or os.environ.get("SEETRAIN_MODE") or "local").lower()
        if mode not in MODES:
            raise ValueError(f"seetrain.init(mode={mode!r}) is not a mode; use one of {MODES}")
        self.mode = mode
        self.strict = bool(strict)
        self.project = run_start.check_name("project", str(project or os.environ.get("SEETRAIN_PROJECT") or "default"))
        self.id = run_start.check_name("id", str(id or os.environ.get("SEETRAIN_RUN_ID") or run_start.new_id()))
        self.primary = True       # a shared run's primary writer (run.json is its to rewrite)
        run_shared.prepare(self, shared, writer, id_given=bool(id or os.environ.get("SEETRAIN_RUN_ID")))
        self.name = str(experiment_name or os.environ.get("SEETRAIN_EXPERIMENT_NAME") or f"run-{self.id[-6:]}")
        self.description = description
        self.tags = list(tags or [])
        self.logdir = default_logdir(logdir)
        self.dir = os.path.join(self.logdir, self.project, self.id)
        self.uuid: Optional[str] = None
        self.finished = False
        self.status = "running"
        self.upload_timeout = float(upload_timeout)
        self._pid = os.getpid()
        self._blocked = False    # hot-path guard: finished, disabled, forked away or a strict error pending
        self._forked = False
        self._fork_failed: Optional[BaseException] = None
        self._strict_error: Optional[SeeTrainError] = None
        self._warned: set = set()
        self._queue: Any = None
        self._writer: Any = None
        self._sampler: Any = None
        self._env: Any = None
        self._sender: Any = None
        self._lock_fd: Optional[int] = None
        self._label_lock_fd: Optional[int] = None  # a shared run's writer label lock
        self._console_on = console not in (False, "off", None)
        self._summary_set: Dict[str, Any] = {}
        self.stats: Dict[str, Any] = {"records": 0, "errors": 0, "last_error": None}
        self._alert_url = alert_webhook or os.environ.get("SEETRAIN_ALERT_WEBHOOK") or None
        self._alert_hook: Any = None  # seetrain.alert_webhook.AlertWebhook, made at the first alert
        self.config = Config(on_change=self._config_changed)
        if mode == "disabled":
            self._blocked = True
            self.config.update(to_plain(config) or {})
            lifecycle.register(self, self._end, self._forked_away)
            return
        run_start.start(self, config=config, resume=resume, flush_interval=flush_interval,
                        heartbeat_interval=heartbeat_interval, max_queue=max_queue,
                        max_queue_bytes=max_queue_bytes, pending=_pending_config,
                        resume_from=resume_from, fork_from=fork_from)
        lifecycle.register(self, self._end, self._forked_away)
        if self._console_on:
            from . import console as _console

            _console.install(self._console)
        if system_metrics and system_interval > 0:
            from .system import SystemSampler

            self._sampler = SystemSampler(self._log_system, interval=system_interval)
            self._sampler.start()
        if mode == "online":
            run_start.start_sender(self, host, api_key)
        self._writer.init_returned()

    # --- hot path ----------------------------------------------------------------------------
    def log(self, data: Dict[str, Any], step: Optional[int] = None) -> None:
        """Record ``data`` (metric name -> number or media) at ``step`` (default: the next step)."""
        if self._blocked and not self._fork_writer():
            return self._refused()
        try:
            if type(data) is not dict:
                if not isinstance(data, dict):
                    self._warn("data-type", f"log() takes a dict of metric name -> value, got {type(data).__name__}; "
                                            "nothing was logged. Call it as seetrain.log({'loss': loss})")
                    return
                data = dict(data)
            media = None
            clean: Dict[str, Any] = data.copy()  # a copy: the caller may reuse its dict
            for key, value in clean.items():  # the usual record: numbers under str keys, kept as is
                if type(value) not in _FAST or type(key) is not str:
                    clean, media = self._slow_record(data)
                    break
            if step is not None and (type(step) is not int or step < 0 or step > _STEP_MAX):
                step = self._fix_step(step)
            if media is None:
                if not clean:
                    return
                fill = self._queue.put_metrics(step, clean)
            else:
                fill = self._queue.put_split(step, clean, media, sum(media_nbytes(v) for v in media.values()))
            if fill:  # past the high-water mark: wake the writer; full: wait for it
                self._writer.request_flush()
                if fill == FULL:
                    self._backpressure()
        except SeeTrainError:
            raise
        except Exception as exc:  # a bug of ours must not stop the training loop
            self._warn("log-internal", f"log() could not record this call ({type(exc).__name__}: {safe_repr(exc)}); "
                                       "training goes on")

    def _slow_record(self, data: Dict[Any, Any]) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        """A record with media, nested dicts, tensors or odd keys: (scalars, media or None)."""
        clean: Dict[str, Any] = {}
        media = None
        for key, value in data.items():
            if type(value) in _FAST and type(key) is str:
                clean[key] = value
                continue
            media = self._slow_value(key, value, clean, media)
        return clean, media

    def _slow_value(self, key: Any, value: Any, clean: Dict[str, Any], media: Optional[Dict[str, Any]]):
        if type(value) is dict:
            flat: Dict[Any, Any] = {}
            cut = flatten(key if type(key) is str else safe_repr(key), value, flat)
            if cut is not None:
                self._warn(f"nesting:{cut}", f"{cut!r}: nested dicts deeper than 32 levels; the deeper part "
                                             "was skipped. Flatten the dict or log fewer levels")
            items = flat.items()
        else:
            items = ((key, value),)
        for k, v in items:
            if type(v) in _FAST and type(k) is str:
                clean[k] = v
                continue
            v, tag, msg = coerce(k, v)
            if msg is not None:
                self._warn(tag, msg)
            if v is SKIP:
                continue
            if type(v) in _FAST:
                clean[k] = v
            else:
                if media is None:
                    media = {}
                media[k] = v
        return media

    def _fix_step(self, step: Any) -> Optional[int]:
        n = as_step(step)
        if n is None:
            self._warn("step", step_problem(step))
        return n

    def _refused(self) -> None:
        if self._forked:
            self._warn("forked", f"this process (pid {os.getpid()}) was forked from pid {self._pid}, which owns run "
                                 f"{self.name!r}; log() here is not recorded (a run has one writing process). Log "
                                 "from the parent (e.g. return results from the worker), or start a run in the child "
                                 "with seetrain.init()", strict_ok=True)
        elif self._strict_error is not None:
            err, self._strict_error = self._strict_error, None
            self._blocked = self.finished or self.mode == "disabled"
            raise err
        elif self.finished:
            self._warn("finished", f"run {self.name!r} is finished; log() calls after finish() are ignored")

    def _backpressure(self) -> None:
        q, w = self._queue, self._writer
        self._warn("queue-full", f"the write queue holds {q.max_items} records or {q.max_bytes >> 20} MB of media; "
                                 "log() now waits for the writer rather than dropping data (raise max_queue / "
                                 "max_queue_bytes or log less often)", strict_ok=True)
        deadline = time.monotonic() + 60
        while q.full() and w.is_alive() and time.monotonic() < deadline:
            w.wait_space(0.05)

    # --- warnings ----------------------------------------------------------------------------
    def _warn(self, tag: str, message: str, strict_ok: bool = False) -> None:
        if self.strict and not strict_ok:
            raise SeeTrainError(f"seetrain: {message}")
        if tag in self._warned:
            return
        self._warned.add(tag)
        self._note(message, tag.split(":", 1)[1] if ":" in tag else None)
        warnings.warn(f"seetrain: {message}", SeeTrainWarning, stacklevel=_user_stacklevel())

    def _note(self, message: str, key: Optional[str]) -> None:
        self.stats["errors"] += 1
        self.stats["last_error"] = message
        if self._queue is not None and not self._blocked:
            fields = {"event": "warning", "message": message}
            if key is not None:
                fields["key"] = key
            self._queue.put(EVENT, fields)

    def _writer_warning(self, message: str, key: Optional[str]) -> None:
        """A problem found on the writer thread: an event, a warning that cannot kill that thread."""
        try:
            self._note(message, key)
            if self.strict and self._strict_error is None and not self.finished:
                self._strict_error = SeeTrainError(f"seetrain: {message}")
                self._blocked = True
        except Exception:
            pass
        try:
            warnings.warn(f"seetrain: {message}", SeeTrainWarning, stacklevel=2)
        except Exception:  # -W error turns the warning into an exception: print it instead
            try:
                sys.__stderr__.write(f"SeeTrainWarning: seetrain: {message}\n")
            except Exception:
                pass

    # --- other records -----------------------------------------------------------------------
    def _config_changed(self, changes: Dict[str, Any]) -> None:
        if self._blocked and not self._fork_writer():
            if self._forked:
                self._refused()
            return
        self._queue.put(CONFIG, dict(changes))

    def _log_system(self, data: Dict[str, float]) -> None:
        if not self._blocked:
            self._queue.put(SYSTEM, data)

    def _console(self, stream: str, line: str) -> None:
        if not self._blocked:
            self._queue.put_console(stream, line)

    def alert(self, title: str, text: str = "", level: str = "info") -> None:
        """Record an alert (an ``alert`` event: the dashboard, the API and ``seetrain mcp`` show it)
        and post it to the run's webhook if one is set (``init(alert_webhook=URL)``). ``level``:
        ``"info"``, ``"warn"`` or ``"error"``. Never raises (unless ``strict=True``) and never waits
        on the network: the webhook is posted from a background thread."""
        if self._blocked and not self._fork_writer():
            return self._refused()
        try:
            from .alerts import alert_fields

            fields, problem = alert_fields(title, text, level)
            if problem is not None:
                self._warn("alert", f"{problem}. Call it as seetrain.alert('title', 'text', level='warn')")
            self._queue.put(EVENT, fields)
            if self._alert_url is not None:
                self._post_alert(fields)
        except SeeTrainError:
            raise
        except Exception as exc:
            self._warn("alert-internal", f"alert() could not record this alert ({type(exc).__name__}: "
                                         f"{safe_repr(exc)}); training goes on")

    def _post_alert(self, fields: Dict[str, Any]) -> None:
        from . import alert_webhook

        if self._alert_hook is None:
            problem = alert_webhook.check_url(self._alert_url)
            if problem is not None:
                self._alert_url = None
                self._warn("alert-webhook", f"{problem}; alerts are recorded in the run but not posted")
                return
            self._alert_hook = alert_webhook.AlertWebhook(self._alert_url)
        self._alert_hook.notify(alert_webhook.Alert(fields["title"], fields["text"], fields["level"],
                                                    f"{self.project}/{self.name} ({self.id})", time.time()))

    def log_artifact(self, path_or_dir: Any, name: str, type: str = "artifact", aliases: Sequence[str] = (),
                     metadata: Optional[Dict[str, Any]] = None) -> Any:
        """Log a file, a folder, a URI (``s3://``, ``https://``: kept where it is) or a list of those
        as the next immutable version ``name:vN`` (content already logged under ``name`` is that
        version again). Files are stored once by content in ``<logdir>/.artifacts``; ``latest`` and
        ``aliases`` move to the version; an ``artifact`` event records it (online mode and
        ``seetrain sync`` ship it). Returns the version (see docs/artifacts.md); a bad name, alias
        or path raises :class:`~seetrain.artifacts.ArtifactError`."""
        if self._blocked:
            return self._refused()
        from .artifacts import api as artifacts

        version, _stats = artifacts.log_version(self.logdir, self.project, path_or_dir, name, type, aliases, metadata,
                                                producer=self._artifact_user())
        self._record_artifact(artifacts.event_fields(version, "output"))
        return version

    def use_artifact(self, ref: str, root: Optional[str] = None, host: Optional[str] = None,
                     api_key: Optional[str] = None) -> Any:
        """Use version ``ref`` (``"name:vN"``, ``"name:alias"`` or ``"name"``) of this run's project:
        its files are put under ``root`` (hard links to the local store; the version's ``path``) and an
        ``artifact`` input event records the edge. Works offline from the local store; otherwise asks
        the server (``host``, or this online run's)."""
        from .artifacts import api as artifacts

        sender = self._sender
        host = host or (getattr(getattr(sender, "client", None), "base", None) if sender is not None else None)
        key = api_key or (getattr(getattr(sender, "client", None), "api_key", None) if sender is not None else None)
        user = None if self._blocked else self._artifact_user()
        version = artifacts.use_version(self.logdir, self.project, ref, root=root, host=host, api_key=key, user=user)
        if user is not None:
            self._record_artifact(artifacts.event_fields(version, "input"))
        return version

    def _artifact_user(self) -> Dict[str, Any]:
        return {"uuid": self.uuid, "id": self.id, "name": self.name, "project": self.project}

    def _record_artifact(self, fields: Dict[str, Any]) -> None:
        """The artifact event, written before this returns (the version is then in the run's log)."""
        self._queue.put(EVENT, fields)
        self._writer.request_flush()
        self.flush()

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` will use."""
        return self._queue.counters().next_step if self._queue is not None else 0

    @property
    def summary(self) -> "RunSummary":
        """Last value of each key written so far; ``run.summary["best"] = x`` sets a value (a record)."""
        return RunSummary(self)

    def get_stats(self) -> Dict[str, Any]:
        """Records logged, errors and the last error message."""
        out = dict(self.stats)
        out["records"] = self._queue.counters().next_seq if self._queue is not None else 0
        if self._writer is not None:
            out["lost"] = self._writer.lost
        return out

    def flush(self) -> None:
        """Block until everything logged before this call is written to the OS (media included)."""
        if self._writer is None or self._blocked:
            return
        self._writer.wait_written(self._queue.counters().next_seq - 1)

    # --- finish ------------------------------------------------------------------------------
    def finish(self, status: str = "success", exit_code: Optional[int] = None) -> None:
        """Write everything, fsync, and mark the run ``success``, ``failed``, ``crashed`` or ``killed``.

        Another ``status`` (or an ``exit_code`` that is not a 32-bit integer) is reported by a
        warning and the run ends by its exit code: ``success`` for none or 0, else ``failed``
        (``strict=True``: :class:`SeeTrainError`, and the run stays open)."""
        if not self.finished:
            status, exit_code = self._checked_ending(status, exit_code)
        if exit_code is None and status == "success":
            exit_code = 0
        self._end(Ending(status, exit_code, None))

    def _checked_ending(self, status: Any, exit_code: Any) -> Tuple[str, Optional[int]]:
        """``finish()``'s arguments as a run can store them (a server refuses another status: the
        run would be left out of the dashboard and every sync)."""
        if exit_code is not None:
            code = None if type(exit_code) is bool or not hasattr(exit_code, "__index__") else operator.index(exit_code)
            if code is not None and not -2**31 <= code < 2**31:
                code = None
            if code is None:
                self._warn("finish-exit-code", f"finish(exit_code={safe_repr(exit_code)}): an exit code is an "
                                               "integer from -2**31 to 2**31-1 (or None); the run is recorded without one")
            exit_code = code
        if type(status) is not str or status not in FINAL_STATUSES:
            ending = ending_by_exit_code(exit_code)
            code = "no exit code" if exit_code is None else f"exit code {exit_code}"
            self._warn("finish-status", f"finish(status={safe_repr(status)}): a run ends as one of 'success', "
                                        f"'failed', 'crashed' or 'killed'; it is recorded as {ending!r} ({code} "
                                        "given); pass one of those four")
            status = ending
        return status, exit_code

    def _end(self, end: Ending) -> None:
        from . import run_finish

        if self.finished or self._forked or os.getpid() != self._pid:
            return
        self.finished = True
        self._blocked = True
        lifecycle.unregister(self)
        if self._console_on:
            from . import console as _console

            _console.uninstall(self._console)
        if self._sampler is not None:
            self._sampler.stop()
        self.status = end.status
        if self._writer is None:
            return
        run_finish.finish(self, end)
        if self._alert_hook is not None:  # the last alerts get a few seconds to go out
            self._alert_hook.close(timeout=5.0)

    def _forked_away(self) -> None:
        """In a forked child: this run belongs to the parent; never touch its files (a shared run:
        the child becomes a writer of its own when it first logs, see :meth:`_fork_writer`)."""
        self._forked = True
        self._blocked = True
        if self._writer is not None:
            self._writer.forget()
        run_shared.release(self)

    def _fork_writer(self) -> bool:
        """A forked child of a shared run's writer that logs: make it a writer of its own (its own log,
        seqs and writer thread); True when it now is one. Anything else: False (refused as before)."""
        if not (self._forked and self.shared and not self.finished and self._writer is not None):
            return False
        if self._fork_failed is not None:
            return False
        try:
            run_shared.start_fork_writer(self)
        except Exception as exc:
            self._fork_failed = exc
            self._warn("fork-writer", f"this forked process (pid {os.getpid()}) could not become a writer of shared run "
                                      f"{self.name!r} ({type(exc).__name__}: {exc}); its log() calls are not recorded",
                       strict_ok=True)
            return False
        self._pid = os.getpid()
        self._forked = self._blocked = False
        self._sampler = None
        lifecycle.unregister(self)  # the parent's registration, inherited
        lifecycle.register(self, self._end, self._forked_away)
        lifecycle.finish_at_process_exit()
        return True

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._end(lifecycle.ending_of_exception(exc) if exc is not None else Ending("success", 0, None))

    def __repr__(self) -> str:
        return f"<seetrain.Run {self.project}/{self.name} id={self.id} mode={self.mode} status={self.status}>"


class RunSummary(dict):
    """A snapshot of the run summary; setting a key records a ``summary`` record."""

    def __init__(self, run: Run) -> None:
        w = run._writer
        base = dict(w.summary) if w is not None else {}
        base.update(run._summary_set)
        super().__init__(base)
        self._run = run

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def update(self, other: Any = (), **kwargs: Any) -> None:  # type: ignore[override]
        changes = dict(other, **kwargs)
        super().update(changes)
        run = self._run
        run._summary_set.update(changes)
        if not run._blocked and run._queue is not None:
            run._queue.put(SUMMARY, changes)


_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside SeeTrain."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PKG_DIR):
        frame = frame.f_back
        level += 1
    return level
