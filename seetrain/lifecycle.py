"""Process hooks: the open runs, how the process ends (exit codes, exceptions, signals) and fork.

SeeTrain only observes how a program ends; it never changes it:

* **Exit status.** At exit, an uncaught exception is read from ``sys.last_value`` (set by Python
  before any ``sys.excepthook`` runs, so a user's own hook does not hide it); ``sys.exit(code)``
  is seen through a thin wrapper of ``sys.exit`` that records the code and calls the original.
  The site builtins ``exit()`` and ``quit()`` are observed the same way. A bare
  ``raise SystemExit(n)`` leaves no trace Python exposes at exit and reads as ``success``.
  ``success`` (exit 0), ``failed`` (non-zero ``sys.exit``; a message exits 1), ``crashed`` (an
  exception: type, message, traceback), ``killed`` (SIGTERM, Ctrl-C).
* **SIGTERM.** A handler is installed only where the disposition is the default one. Called as
  the installed handler, it finishes the open runs as ``killed`` and dies of SIGTERM exactly as
  the default would (exit status 143). Called by a framework that installed its own handler and
  chains to the previous one (Lightning does), it only notes the signal and returns, which is what
  the default disposition would have meant to that framework: its own handling (checkpoint,
  requeue, exit code) is unchanged, and the run ends as ``killed`` when the process exits.
* **Fork.** A forked child inherits the parent's runs but never writes to, finishes or re-marks
  them: they go inert in the child (``os.register_at_fork``), their inherited descriptors are
  closed (the parent's ``.lock`` stays held by the parent alone) and the locks a child may touch
  are made anew. A ``log()`` on an inherited run is refused with one warning that says what to do
  (recording it into the parent's run would need a second writer of one file). A child may start
  its own run with ``seetrain.init()``. In a *shared* run (``init(shared=True)``) a child that logs
  becomes a writer of its own instead (``Run._fork_writer``), finished at its exit like any run. A child is born
  with SIGTERM's default disposition (ours is set aside across ``fork()``), so a child terminated at
  once dies as it would without SeeTrain; a run the child starts installs the handler again.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from typing import Any, Callable, Dict, List, NamedTuple, Optional

_active: List[Any] = []  # the open runs, oldest first (``seetrain.log`` writes to the last one)
_active_lock = threading.Lock()
_installed = False
_state: Dict[str, Any] = {"exit": None, "signal": None, "last_value": None, "sigterm_pid": None}
_real_exit = sys.exit


class Ending(NamedTuple):
    """How a run ends: ``status``, ``exit_code`` and, for a crash, ``error`` {type, message, traceback}."""

    status: str
    exit_code: Optional[int]
    error: Optional[Dict[str, str]]


class _Hooks(NamedTuple):
    """What the process hooks may do with one open run: it was opened by ``pid``; ``end(Ending)``
    finishes it; ``forked_away()`` makes it inert in a forked child."""

    pid: int
    end: Callable[[Ending], None]
    forked_away: Callable[[], None]


_hooks: Dict[int, _Hooks] = {}  # id(run) -> its hooks, for the runs in _active


# --- the open runs -----------------------------------------------------------------------------
def register(run: Any, end: Callable[[Ending], None], forked_away: Callable[[], None]) -> None:
    """Track ``run`` as open in this process: at exit or SIGTERM ``end(Ending)`` is called, in a
    forked child ``forked_away()``."""
    with _active_lock:
        _active.append(run)
        _hooks[id(run)] = _Hooks(os.getpid(), end, forked_away)
    install()
    _install_sigterm()  # again in a forked child, which starts with the default (see _before_fork)


def unregister(run: Any) -> None:
    with _active_lock:
        if run in _active:
            _active.remove(run)
        _hooks.pop(id(run), None)


def current_run() -> Any:
    """The most recently started run that is still open (a :class:`seetrain.Run`), or ``None``."""
    return _active[-1] if _active else None


def active_runs() -> List[Any]:
    return list(_active)


def _own_runs() -> List[_Hooks]:
    """The hooks of the runs this process opened, newest first."""
    pid = os.getpid()
    hooks = [_hooks.get(id(r)) for r in reversed(list(_active))]
    return [h for h in hooks if h is not None and h.pid == pid]


# --- endings -----------------------------------------------------------------------------------
def exit_code_of(code: Any) -> int:
    """The process exit status Python gives ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code & 0xFF  # what the parent process sees
    return 1  # a message is printed and the process exits 1


def ending_of_exception(exc: BaseException) -> Ending:
    """The ending an exception that leaves the program (or a ``with run:`` block) means."""
    if isinstance(exc, KeyboardInterrupt):
        return Ending("killed", 130, None)
    if isinstance(exc, SystemExit):
        code = exit_code_of(exc.code)
        if _state["signal"] is not None:
            return Ending("killed", code, None)
        return Ending("success" if code == 0 else "failed", code, None)
    import traceback

    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        message = str(exc)
    except Exception:
        message = f"<{type(exc).__name__} with a failing __str__>"
    return Ending("crashed", 1, {"type": type(exc).__name__, "message": message, "traceback": tb})


def ending_at_exit() -> Ending:
    """How the process is ending, as far as Python lets anyone observe it."""
    last = getattr(sys, "last_value", None)
    if last is not None and last is not _state["last_value"]:
        return ending_of_exception(last)
    called = _state["exit"]
    if called is not None:
        code, in_flight = called
        if isinstance(in_flight, KeyboardInterrupt):  # a framework turned Ctrl-C into sys.exit(n)
            return Ending("killed", exit_code_of(code), None)
        return ending_of_exception(SystemExit(code))
    if _state["signal"] is not None:
        return Ending("killed", 0, None)
    return Ending("success", 0, None)


def _exit(status: Any = None) -> None:
    """``sys.exit`` as before; the main thread's last call is remembered for the run's ending."""
    if threading.current_thread() is threading.main_thread():
        _state["exit"] = (status, sys.exc_info()[1])
    _real_exit(status)


_exit.__doc__ = _real_exit.__doc__
_exit.__wrapped__ = _real_exit  # type: ignore[attr-defined]


class _ObservedQuitter:
    """The site module's ``exit``/``quit`` (which raise ``SystemExit`` themselves, not through
    ``sys.exit``), remembered like :func:`_exit`; it prints and behaves as the original."""

    def __init__(self, real: Any) -> None:
        self.__wrapped__ = real

    def __repr__(self) -> str:
        return repr(self.__wrapped__)

    def __call__(self, code: Any = None) -> None:
        if threading.current_thread() is threading.main_thread():
            _state["exit"] = (code, sys.exc_info()[1])
        self.__wrapped__(code)


def _observe_quitters() -> None:
    import builtins

    for name in ("exit", "quit"):
        real = getattr(builtins, name, None)
        if type(real).__name__ == "Quitter":  # _sitebuiltins.Quitter; absent under python -S
            setattr(builtins, name, _ObservedQuitter(real))


def _finish_all_at_exit() -> None:
    runs = _own_runs()
    if not runs:
        return
    pid = os.getpid()
    _state["exiting"] = pid  # a SIGTERM now waits for these runs to be finished (see _on_sigterm)
    end = ending_at_exit()
    for run in runs:
        try:
            run.end(end)
        except Exception:
            pass
    _state["exiting"] = None
    if _state.get("deferred_sigterm") == pid:  # die of it now, as the default disposition would have
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(pid, signal.SIGTERM)


# --- SIGTERM -----------------------------------------------------------------------------------
def _on_sigterm(signum: int, frame: Any) -> None:
    _state["signal"] = signum
    try:
        installed = signal.getsignal(signal.SIGTERM) is _on_sigterm
    except Exception:
        installed = False
    if not installed:
        return  # chained by a framework's handler: the default disposition would have done nothing here
    pid = os.getpid()
    if _state.get("exiting") == pid:
        # the process is already leaving and finishing its runs (at exit, or after multiprocessing's
        # exit hooks, as a terminated Pool's workers are): let that complete, then die of the signal
        _state["deferred_sigterm"] = pid
        return
    if pid != _state["sigterm_pid"]:
        # a forked child that got SIGTERM before its after-fork hook gave it the default back: die of it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(pid, signal.SIGTERM)
        return
    runs = _own_runs()
    if runs:
        end = Ending("killed", 128 + signum, None)
        # finish from a helper thread: this handler may have interrupted the main thread inside a lock
        t = threading.Thread(target=lambda: [_quiet(r.end, end) for r in runs], name="seetrain-sigterm", daemon=True)
        t.start()
        t.join(10.0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(pid, signal.SIGTERM)


def _quiet(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        pass


def _install_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
            _state["sigterm_pid"] = os.getpid()
    except (ValueError, OSError, TypeError):
        pass


def _set_sigterm(handler: Any) -> bool:
    """Swap the SIGTERM disposition between ours and the default; False where that cannot be done."""
    try:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, handler)
            return True
    except (ValueError, OSError, TypeError):
        pass
    return False


# A forked child must get SIGTERM's default disposition, as it would without SeeTrain: Python drops
# the signals that arrive in a child before its interpreter is re-initialised, so a child that
# inherited our handler and was terminated at once (multiprocessing's Pool.terminate) could lose
# the signal and hang. The default is therefore in place across fork(), and ours restored in the
# parent right after; a parent terminated during those microseconds dies of SIGTERM unrecorded.
def _before_fork() -> None:
    _state["sigterm_paused"] = signal.getsignal(signal.SIGTERM) is _on_sigterm and _set_sigterm(signal.SIG_DFL)


def _after_fork_in_parent() -> None:
    if _state.pop("sigterm_paused", False) and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        _set_sigterm(_on_sigterm)


# --- fork --------------------------------------------------------------------------------------
def _after_fork_in_child() -> None:
    global _active_lock
    _active_lock = threading.Lock()
    _state.update(exit=None, signal=None, sigterm_paused=False, exiting=None, deferred_sigterm=None)
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # forked from another thread: not paused before
        _set_sigterm(signal.SIG_DFL)
    pid = os.getpid()
    for run in list(_active):
        hooks = _hooks.get(id(run))
        if hooks is not None and hooks.pid != pid:
            hooks.forked_away()


def finish_at_process_exit() -> None:
    """In a forked child that now owns a run (a shared run's fork writer): finish it as well where the
    child leaves through ``os._exit`` after multiprocessing's exit hooks (``Pool`` and ``Process``
    workers, DataLoader workers), which run no ``atexit`` handler."""
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, _finish_all_at_exit, exitpriority=100)


def install() -> None:
    """Install the process hooks once (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    _state["last_value"] = getattr(sys, "last_value", None)
    atexit.register(_finish_all_at_exit)
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
    if sys.exit is _real_exit:
        sys.exit = _exit
    _observe_quitters()
    _install_sigterm()
