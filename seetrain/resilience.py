"""Retry (tenacity), circuit breaker, graceful degradation and per-operation error statistics.

These guard every call that can fail outside the user's control (network, disk, third-party
callbacks), so that a broken backend costs a warning, never the training run.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from collections import defaultdict
from typing import Any, Callable, Dict, Optional, Tuple, Type, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_stats_lock = threading.Lock()
_warned: set = set()  # operations already warned about (once=True, graceful degradation)
_stats: Dict[str, Dict[str, Any]] = defaultdict(lambda: {"calls": 0, "failures": 0, "last_error": None,
                                                        "last_failure_time": None})


def record_failure(operation: str, exc: BaseException) -> None:
    """Count a failure of ``operation`` in the integration error statistics."""
    with _stats_lock:
        s = _stats[operation]
        s["failures"] += 1
        s["last_error"] = f"{type(exc).__name__}: {exc}"
        s["last_failure_time"] = time.time()


def record_call(operation: str) -> None:
    with _stats_lock:
        _stats[operation]["calls"] += 1


def report_failure(operation: str, exc: BaseException, what: str, consequence: str = "training goes on",
                   stacklevel: int = 3, once: bool = False) -> None:
    """Count a failure of ``operation`` and warn: ``seetrain: <what> (<error>); <consequence>``.

    With ``once=True`` only the first failure of ``operation`` is warned about; all are counted.
    """
    from .run import SeeTrainWarning

    record_failure(operation, exc)
    if once:
        if operation in _warned:
            return
        _warned.add(operation)
    warnings.warn(f"seetrain: {what} ({type(exc).__name__}: {exc}); {consequence}", SeeTrainWarning,
                  stacklevel=stacklevel + 1)


def get_integration_error_stats() -> Dict[str, Dict[str, Any]]:
    """Failures (and calls) per operation: ``{"op": {"calls", "failures", "last_error", ...}}``."""
    with _stats_lock:
        return {k: dict(v) for k, v in _stats.items()}


def reset_integration_error_stats() -> None:
    with _stats_lock:
        _stats.clear()


def with_retry(max_retries: int = 3, base_delay: float = 0.5, max_delay: float = 30.0,
               exceptions: Tuple[Type[BaseException], ...] = (Exception,),
               operation: Optional[str] = None) -> Callable[[F], F]:
    """Retry a function on ``exceptions`` with exponential backoff and jitter (tenacity).

    After ``max_retries`` retries the last exception is raised unchanged.
    """
    import tenacity

    def deco(func: F) -> F:
        op = operation or func.__qualname__

        def _log_retry(state: "tenacity.RetryCallState") -> None:
            if state.outcome is not None and state.outcome.failed:
                record_failure(op, state.outcome.exception())

        retrying = tenacity.retry(
            stop=tenacity.stop_after_attempt(max_retries + 1),
            wait=tenacity.wait_random_exponential(multiplier=base_delay, max=max_delay),
            retry=tenacity.retry_if_exception_type(exceptions),
            before_sleep=_log_retry,
            reraise=True,
        )(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            record_call(op)
            try:
                return retrying(*args, **kwargs)
            except BaseException as exc:
                record_failure(op, exc)
                raise

        wrapper.retry = retrying.retry  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


class CircuitOpenError(RuntimeError):
    """Raised when a call is refused because its circuit breaker is open."""


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` consecutive failures; half-open after
    ``recovery_timeout`` seconds lets one trial call through; success closes it again.

    Thread-safe. Use as an object (``breaker.call(f, ...)``) or a decorator (``@breaker``).
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, failure_threshold: int = 5, recovery_timeout: float = 30.0,
                 exceptions: Tuple[Type[BaseException], ...] = (Exception,), name: str = "circuit") -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.exceptions = exceptions
        self.name = name
        self._lock = threading.Lock()
        self._state = self.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == self.OPEN and time.monotonic() - self._opened_at >= self.recovery_timeout:
                return self.HALF_OPEN
            return self._state

    def _before(self) -> None:
        with self._lock:
            if self._state == self.OPEN:
                if time.monotonic() - self._opened_at < self.recovery_timeout:
                    raise CircuitOpenError(f"circuit {self.name!r} is open after {self._failures} failures; "
                                           f"retrying in {self.recovery_timeout:.0f}s at most")
                self._state = self.HALF_OPEN
            if self._state == self.HALF_OPEN:
                if self._trial_running:
                    raise CircuitOpenError(f"circuit {self.name!r} is half-open and a trial call is running")
                self._trial_running = True

    def _after(self, ok: bool) -> None:
        with self._lock:
            self._trial_running = False
            if ok:
                self._state, self._failures = self.CLOSED, 0
                return
            self._failures += 1
            if self._state == self.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = self.OPEN
                self._opened_at = time.monotonic()

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._before()
        try:
            result = func(*args, **kwargs)
        except self.exceptions as exc:
            self._after(False)
            record_failure(self.name, exc)
            raise
        except BaseException:
            self._after(True)  # not a failure this breaker counts
            raise
        self._after(True)
        return result

    def reset(self) -> None:
        with self._lock:
            self._state, self._failures, self._trial_running = self.CLOSED, 0, False

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(func, *args, **kwargs)

        wrapper.breaker = self  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]


def with_circuit_breaker(failure_threshold: int = 5, recovery_timeout: float = 30.0,
                         exceptions: Tuple[Type[BaseException], ...] = (Exception,),
                         name: Optional[str] = None) -> Callable[[F], F]:
    """Decorator form of :class:`CircuitBreaker` (the breaker is ``wrapper.breaker``)."""

    def deco(func: F) -> F:
        return CircuitBreaker(failure_threshold, recovery_timeout, exceptions, name or func.__qualname__)(func)

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
                record_failure(op, exc)
                if warn and op not in _warned:
                    _warned.add(op)
                    warnings.warn(f"seetrain: {op} failed ({type(exc).__name__}: {exc}); continuing without it",
                                  stacklevel=2)
                if fallback_func is not None:
                    return fallback_func(*args, **kwargs)
                return default

        return wrapper  # type: ignore[return-value]

    return deco
