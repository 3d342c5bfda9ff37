"""Retry (tenacity), circuit breaker, graceful degradation and one registry of error statistics.

These guard every call that can fail outside the user's control (network, disk, third-party
callbacks), so that a broken backend costs a warning, never the training run. All of it is
thread-safe and meant for background threads too (the writer, the online sender).

Error statistics: one registry for runs, adapters and background work. Anything that catches an
error on SeeTrain's side calls ``record_error(source, exc)`` (``source`` names the operation,
e.g. ``"writer.write"``, ``"lightning.log_metrics"``, ``"sender.post"``);
``get_error_stats()`` (alias ``get_integration_error_stats()``) returns the counts per source.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from typing import Any, Callable, Dict, Optional, Tuple, Type, TypeVar

from .errors import SeeTrainWarning
from .transient import is_transient

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["record_error", "record_failure", "record_call", "report_failure", "get_error_stats",
           "get_integration_error_stats", "reset_error_stats", "reset_integration_error_stats", "is_transient",
           "with_retry", "CircuitBreaker", "CircuitOpenError", "with_circuit_breaker", "with_graceful_degradation"]

_stats_lock = threading.Lock()
_warned: set = set()  # operations already warned about (once=True, graceful degradation)
_stats: Dict[str, Dict[str, Any]] = {}


def _entry(source: str) -> Dict[str, Any]:
    s = _stats.get(source)
    if s is None:
        s = _stats[source] = {"calls": 0, "failures": 0, "last_error": None, "last_failure_time": None}
    return s


def record_error(source: str, exc: BaseException) -> None:
    """Count one error of ``source`` (an operation name) in SeeTrain's error statistics.

    For runs, adapters and background threads alike; never raises, takes microseconds, safe from
    any thread. Warning the user is the caller's business (see :func:`report_failure`).
    """
    try:
        message = f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose __str__ raises
        message = type(exc).__name__
    with _stats_lock:
        s = _entry(str(source))
        s["failures"] += 1
        s["last_error"] = message
        s["last_failure_time"] = time.time()


record_failure = record_error  # the older name, used by adapters and plugins


def record_call(source: str) -> None:
    """Count one call of ``source`` (so failures can be read as a share of calls)."""
    with _stats_lock:
        _entry(str(source))["calls"] += 1


def report_failure(operation: str, exc: BaseException, what: str, consequence: str = "training goes on",
                   stacklevel: int = 3, once: bool = False) -> None:
    """Count a failure of ``operation`` and warn: ``seetrain: <what> (<error>); <consequence>``.

    With ``once=True`` only the first failure of ``operation`` is warned about; all are counted.
    """
    record_error(operation, exc)
    if once:
        with _stats_lock:
            if operation in _warned:
                return
            _warned.add(operation)
    warnings.warn(f"seetrain: {what} ({type(exc).__name__}: {exc}); {consequence}", SeeTrainWarning,
                  stacklevel=stacklevel + 1)


def get_error_stats() -> Dict[str, Dict[str, Any]]:
    """Errors (and calls) per source: ``{"source": {"calls", "failures", "last_error", "last_failure_time"}}``."""
    with _stats_lock:
        return {k: dict(v) for k, v in _stats.items()}


get_integration_error_stats = get_error_stats


def reset_error_stats() -> None:
    with _stats_lock:
        _stats.clear()


reset_integration_error_stats = reset_error_stats


# --- retry ---------------------------------------------------------------------------------------------
def with_retry(max_retries: int = 3, base_delay: float = 0.5, max_delay: float = 30.0,
               exceptions: Optional[Tuple[Type[BaseException], ...]] = None,
               operation: Optional[str] = None,
               retry_if: Optional[Callable[[BaseException], bool]] = None) -> Callable[[F], F]:
    """Retry a function with exponential backoff and jitter (tenacity).

    By default only transient errors are retried (:func:`seetrain.transient.is_transient`:
    connection errors, timeouts, HTTP 408/425/429/5xx, network ``OSError`` s); ``exceptions=``
    retries those types instead, ``retry_if=`` decides per exception. Anything else, and the last
    failure after ``max_retries`` retries, is raised unchanged. Each failure is counted under
    ``operation`` (default: the function's name). Thread-safe: each call retries on its own.
    """
    import tenacity

    if retry_if is None:
        retry_if = (lambda exc: isinstance(exc, exceptions)) if exceptions is not None else is_transient
    decide = retry_if

    def retry_if(exc: BaseException) -> bool:  # KeyboardInterrupt, SystemExit: never retried
        return isinstance(exc, Exception) and bool(decide(exc))

    def deco(func: F) -> F:
        op = operation or func.__qualname__

        def _log_retry(state: "tenacity.RetryCallState") -> None:
            if state.outcome is not None and state.outcome.failed:
                record_error(op, state.outcome.exception())

        retrying = tenacity.retry(
            stop=tenacity.stop_after_attempt(max_retries + 1),
            wait=tenacity.wait_random_exponential(multiplier=base_delay, max=max_delay),
            retry=tenacity.retry_if_exception(retry_if),
            before_sleep=_log_retry,
            reraise=True,
        )(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            record_call(op)
            try:
                return retrying(*args, **kwargs)
            except Exception as exc:
                record_error(op, exc)
                raise

        wrapper.retry = retrying.retry  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


# --- circuit breaker -----------------------------------------------------------------------------------
class CircuitOpenError(RuntimeError):
    """Raised when a call is refused because its circuit breaker is open."""


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` consecutive failures; after ``recovery_timeout``
    seconds it is half-open: one trial call goes through (others are refused meanwhile); its
    success closes the circuit, its failure opens it again.

    A failure is an exception of ``exceptions`` (default: any ``Exception``). Another
    ``Exception`` means the service answered (a success for the breaker). A ``BaseException``
    that is not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``, a cancelled task) proves
    nothing: the state stays as it was and an interrupted half-open trial frees the slot for the next.

    ``on_state_change(old, new)`` is called on every transition, in order, under the breaker's lock
    (so a sender can say "server unreachable" / "server back" exactly once each); its errors are
    counted and ignored. Thread-safe; the lock is never held while the guarded call runs. Use as an object
    (``breaker.call(f, ...)``) or a decorator (``@breaker``). Hand-written rather than pybreaker,
    which holds its lock for the whole guarded call (serialising every caller, so one slow request
    blocks all threads) and counts ``KeyboardInterrupt`` as a service failure.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, failure_threshold: int = 5, recovery_timeout: float = 30.0,
                 exceptions: Tuple[Type[BaseException], ...] = (Exception,), name: str = "circuit",
                 on_state_change: Optional[Callable[[str, str], None]] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.exceptions = exceptions
        self.name = name
        self.on_state_change = on_state_change
        self._clock = clock  # seconds; tests pass a clock they move by hand
        self._lock = threading.RLock()  # re-entrant: a state-change listener may read the breaker
        self._state = self.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self.calls = self.refused = 0  # calls let through / refused while open

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == self.OPEN and self._clock() - self._opened_at >= self.recovery_timeout:
                return self.HALF_OPEN
            return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted now."""
        with self._lock:
            return self._failures

    def _before(self) -> bool:
        """Let a call through (True if it is the half-open trial) or raise :class:`CircuitOpenError`."""
        with self._lock:
            if self._state == self.OPEN:
                if self._clock() - self._opened_at < self.recovery_timeout:
                    self.refused += 1
                    raise CircuitOpenError(f"circuit {self.name!r} is open after {self._failures} failures; "
                                           f"it lets a trial call through {self.recovery_timeout:g}s after opening")
                self._set_state(self.HALF_OPEN)
            trial = self._state == self.HALF_OPEN
            if trial:
                if self._trial_running:
                    self.refused += 1
                    raise CircuitOpenError(f"circuit {self.name!r} is half-open and its trial call is running")
                self._trial_running = True
            self.calls += 1
            return trial

    def _after(self, trial: bool, outcome: str) -> None:
        """``outcome``: ``ok``, ``failed`` or ``interrupted`` (a BaseException: nothing learnt)."""
        with self._lock:
            if trial:
                self._trial_running = False
            if outcome == "interrupted":
                return
            if outcome == "ok":
                if trial or self._state == self.CLOSED:
                    self._failures = 0
                    self._set_state(self.CLOSED)
                return
            self._failures += 1
            if trial or (self._state == self.CLOSED and self._failures >= self.failure_threshold):
                self._opened_at = self._clock()
                self._set_state(self.OPEN)

    def _set_state(self, new: str) -> None:
        """Change state (the lock is held) and tell the listener."""
        old, self._state = self._state, new
        if old != new and self.on_state_change is not None:
            try:
                self.on_state_change(old, new)
            except Exception as exc:
                record_error(f"{self.name}.on_state_change", exc)

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        trial = self._before()
        try:
            result = func(*args, **kwargs)
        except self.exceptions as exc:
            self._after(trial, "failed")
            record_error(self.name, exc)
            raise
        except Exception:
            self._after(trial, "ok")  # the service answered; the error is the caller's
            raise
        except BaseException:
            self._after(trial, "interrupted")
            raise
        self._after(trial, "ok")
        return result

    def reset(self) -> None:
        with self._lock:
            self._failures, self._trial_running = 0, False
            self._set_state(self.CLOSED)

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(func, *args, **kwargs)

        wrapper.breaker = self  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]


def with_circuit_breaker(failure_threshold: int = 5, recovery_timeout: float = 30.0,
                         exceptions: Tuple[Type[BaseException], ...] = (Exception,),
                         name: Optional[str] = None,
                         on_state_change: Optional[Callable[[str, str], None]] = None) -> Callable[[F], F]:
    """Decorator form of :class:`CircuitBreaker` (the breaker is ``wrapper.breaker``)."""

    def deco(func: F) -> F:
        return CircuitBreaker(failure_threshold, recovery_timeout, exceptions, name or func.__qualname__,
                              on_state_change)(func)

    return deco


def with_graceful_degradation(fallback_func: Optional[Callable[..., Any]] = None, default: Any = None,
                              operation: Optional[str] = None, warn: bool = True) -> Callable[[F], F]:
    """On any exception, count it, warn once per operation, and return ``fallback_func(*args)`` or ``default``."""

    def deco(func: F) -> F:
        op = operation or func.__qualname__

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                record_error(op, exc)
                if warn:
                    with _stats_lock:
                        first = op not in _warned
                        _warned.add(op)
                    if first:
                        warnings.warn(f"seetrain: {op} failed ({type(exc).__name__}: {exc}); continuing without it",
                                      stacklevel=2)
                if fallback_func is not None:
                    return fallback_func(*args, **kwargs)
                return default

        return wrapper  # type: ignore[return-value]

    return deco
