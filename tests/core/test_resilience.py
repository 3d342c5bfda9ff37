"""Retry, circuit breaker, graceful degradation and the one registry of error statistics."""

import errno
import threading
import time
import urllib.error
import warnings

import pytest

from seetrain import resilience
from seetrain.resilience import (CircuitBreaker, CircuitOpenError, get_error_stats, get_integration_error_stats,
                                 record_error, report_failure, reset_integration_error_stats,
                                 with_circuit_breaker, with_graceful_degradation, with_retry)
from seetrain.transient import is_transient


@pytest.fixture(autouse=True)
def _fresh_stats():
    reset_integration_error_stats()
    yield
    reset_integration_error_stats()


# --- retry ---------------------------------------------------------------------------------------------
def test_retry_backs_off_then_succeeds_or_reraises():
    calls = []

    @with_retry(max_retries=3, base_delay=0.001, operation="flaky")
    def flaky():
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    assert flaky() == "ok" and len(calls) == 3
    assert get_integration_error_stats()["flaky"]["failures"] == 2

    @with_retry(max_retries=2, base_delay=0.001, exceptions=(ConnectionError,), operation="dead")
    def dead():
        raise ConnectionError("still down")

    with pytest.raises(ConnectionError, match="still down"):
        dead()
    assert get_error_stats()["dead"]["failures"] == 3 and get_error_stats()["dead"]["calls"] == 1

    @with_retry(max_retries=5, base_delay=0.001, exceptions=(ConnectionError,))
    def wrong():
        calls.append(0)
        raise KeyError("not retried")

    n = len(calls)
    with pytest.raises(KeyError):
        wrong()
    assert len(calls) == n + 1


class _HTTPError(Exception):
    """Shaped like requests'/httpx's HTTP errors: the status is on ``.response``."""

    def __init__(self, status):
        super().__init__(f"HTTP {status}")
        self.response = type("Response", (), {"status_code": status})()


@pytest.mark.parametrize("exc, retried", [
    (ValueError("bad value"), False), (KeyError("k"), False), (TypeError("t"), False),
    (FileNotFoundError(errno.ENOENT, "gone"), False), (PermissionError(errno.EACCES, "no"), False),
    (_HTTPError(404), False), (_HTTPError(400), False),
    (ConnectionResetError(errno.ECONNRESET, "reset"), True), (ConnectionRefusedError(), True),
    (TimeoutError("slow"), True), (OSError(errno.ENETUNREACH, "no route"), True),
    (_HTTPError(429), True), (_HTTPError(503), True), (_HTTPError(500), True),
    (urllib.error.URLError(ConnectionRefusedError(errno.ECONNREFUSED, "refused")), True),
    (urllib.error.HTTPError("http://x", 502, "bad gateway", {}, None), True),
])
def test_retry_by_default_retries_transient_errors_only(exc, retried):
    attempts = []

    @with_retry(max_retries=2, base_delay=0.001, operation="op")
    def call():
        attempts.append(1)
        raise exc

    with pytest.raises(type(exc)):
        call()
    assert len(attempts) == (3 if retried else 1)
    assert is_transient(exc) is retried


def test_retry_never_retries_keyboard_interrupt():
    attempts = []

    @with_retry(max_retries=3, base_delay=0.001, exceptions=(BaseException,))
    def interrupted():
        attempts.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert len(attempts) == 1 and not is_transient(KeyboardInterrupt())


# --- circuit breaker -----------------------------------------------------------------------------------
def _boom():
    raise IOError("x")


class Clock:
    """A clock the test moves by hand (injected into the breaker): no sleeps, no timing windows."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_circuit_breaker_states():
    clock = Clock()
    br = CircuitBreaker(failure_threshold=2, recovery_timeout=30, name="svc", clock=clock)
    for _ in range(2):
        with pytest.raises(IOError):
            br.call(_boom)
    assert br.state == "open"
    clock.now += 29.9  # not yet past recovery_timeout
    assert br.state == "open"
    with pytest.raises(CircuitOpenError):
        br.call(lambda: 1)
    clock.now += 0.1
    assert br.state == "half_open"
    with pytest.raises(IOError):
        br.call(_boom)  # failed trial: open again, from now
    assert br.state == "open"
    clock.now += 29.9
    with pytest.raises(CircuitOpenError):
        br.call(lambda: 1)
    clock.now += 0.1
    assert br.call(lambda: 5) == 5 and br.state == "closed"
    assert get_error_stats()["svc"]["failures"] == 3


def test_keyboard_interrupt_in_a_half_open_trial_proves_nothing():
    """Before: an interrupted trial counted as a success and closed the circuit."""
    clock = Clock()
    br = CircuitBreaker(failure_threshold=1, recovery_timeout=30, name="svc", clock=clock)
    with pytest.raises(IOError):
        br.call(_boom)
    clock.now += 30

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        br.call(interrupted)
    assert br.state == "half_open"  # not closed: the service did not answer
    with pytest.raises(IOError):
        br.call(_boom)  # the slot is free again for the next trial, whose failure opens it
    assert br.state == "open"
    with pytest.raises(CircuitOpenError):
        br.call(lambda: 1)


def test_keyboard_interrupt_while_closed_keeps_the_failure_count():
    """Before: an interrupt reset the count of consecutive failures."""
    br = CircuitBreaker(failure_threshold=3, recovery_timeout=60)
    for _ in range(2):
        with pytest.raises(IOError):
            br.call(_boom)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        br.call(interrupted)
    assert br.failures == 2
    with pytest.raises(IOError):
        br.call(_boom)
    assert br.state == "open"


def test_breaker_thread_safety_transitions_form_one_chain():
    """Eight threads hammer one breaker whose state-change listener takes time (a switch point
    inside every transition). Every transition must follow from the one before and each call is
    either let through or refused. Without the breaker's lock the transitions interleave (two
    threads both move open -> half_open, or a trial's end races another thread's failure)."""
    transitions = []
    allowed = {("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open")}

    def listener(old, new):
        time.sleep(0.0005)  # e.g. logging "server unreachable" to a slow terminal
        transitions.append((old, new))

    br = CircuitBreaker(failure_threshold=2, recovery_timeout=0.0, name="hammered", on_state_change=listener)
    counter = iter(range(10**9))
    count_lock = threading.Lock()
    executed = [0]

    def service():
        with count_lock:
            n = next(counter)
            executed[0] += 1
        if n % 3:  # two of three calls fail
            raise ConnectionError("down")
        return n

    attempts, threads = 60, 8
    go = threading.Barrier(threads)

    def worker():
        go.wait()
        for _ in range(attempts):
            try:
                br.call(service)
            except (ConnectionError, CircuitOpenError):
                pass

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    [t.start() for t in pool]
    [t.join() for t in pool]
    assert len(transitions) > 10
    assert all(t in allowed for t in transitions), transitions
    assert all(a[1] == b[0] for a, b in zip(transitions, transitions[1:])), transitions
    assert br.calls + br.refused == attempts * threads and br.calls == executed[0]


def test_decorator_and_background_thread_use():
    """The sender calls through a breaker and retry from its own thread."""
    seen = []

    @with_circuit_breaker(failure_threshold=2, recovery_timeout=60, name="sender.post")
    @with_retry(max_retries=1, base_delay=0.001, operation="sender.post.retry")
    def post(batch):
        seen.append(batch)
        raise ConnectionError("server down")

    def background():
        for i in range(4):
            try:
                post(i)
            except (ConnectionError, CircuitOpenError) as exc:
                seen.append(type(exc).__name__)

    t = threading.Thread(target=background)
    t.start()
    t.join(10)
    assert seen == [0, 0, "ConnectionError", 1, 1, "ConnectionError", "CircuitOpenError", "CircuitOpenError"]
    assert post.breaker.state == "open"
    stats = get_error_stats()
    assert stats["sender.post"]["failures"] == 2 and stats["sender.post.retry"]["failures"] == 4


# --- one registry --------------------------------------------------------------------------------------
def test_runs_adapters_and_background_work_share_one_error_registry():
    record_error("writer.write", OSError(errno.ENOSPC, "No space left on device"))

    @with_graceful_degradation(operation="adapter.hook")
    def hook():
        raise RuntimeError("framework changed")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hook()
        report_failure("lightning.log_metrics", ValueError("bad"), "could not log")
    done = threading.Event()
    threading.Thread(target=lambda: (record_error("sender.post", TimeoutError("slow")), done.set())).start()
    assert done.wait(5)
    stats = get_error_stats()
    assert stats is not get_error_stats() and get_integration_error_stats() == stats
    assert set(stats) >= {"writer.write", "adapter.hook", "lightning.log_metrics", "sender.post"}
    assert stats["writer.write"]["last_error"].startswith("OSError: [Errno 28]")
    assert stats["sender.post"]["failures"] == 1
    assert resilience.record_failure is record_error


def test_graceful_degradation():
    @with_graceful_degradation(fallback_func=lambda x: -x, operation="divide")
    def divide(x):
        return 1 / x

    with pytest.warns(UserWarning, match="divide failed"):
        assert divide(0) == 0
    assert divide(2) == 0.5
    assert get_integration_error_stats()["divide"]["failures"] == 1
