"""The documented details of retry, circuit breaker and error statistics that mutation testing found
unchecked: the fields of an error entry, the warning's text and where it points, the retry
defaults and backoff bounds, breaker messages, defaults, reset and a failing listener."""

from __future__ import annotations

import inspect
import time
import warnings

import pytest

from seetrain.resilience import (CircuitBreaker, CircuitOpenError, get_error_stats, record_call, record_error,
                                 report_failure, reset_error_stats, with_circuit_breaker, with_retry)
from seetrain.run import SeeTrainWarning


class Down(ConnectionError):
    pass


def _fail():
    raise Down("service down")


@pytest.fixture(autouse=True)
def _fresh_stats():
    reset_error_stats()
    yield
    reset_error_stats()


# --- error statistics ----------------------------------------------------------------------------------
def test_an_error_entry_has_its_documented_fields():
    before = time.time()
    record_call("op")
    record_call("op")
    record_error("op", ValueError("bad value"))
    s = get_error_stats()["op"]
    assert set(s) == {"calls", "failures", "last_error", "last_failure_time"}
    assert (s["calls"], s["failures"], s["last_error"]) == (2, 1, "ValueError: bad value")
    assert before <= s["last_failure_time"] <= time.time()


def test_an_exception_whose_str_raises_is_named_by_its_type():
    class Ugly(Exception):
        def __str__(self):
            raise RuntimeError("no str")

    record_error("ugly", Ugly())
    assert get_error_stats()["ugly"]["last_error"] == "Ugly"


def _report(**kw):  # an adapter's helper, two frames below the user's call
    report_failure("adapter.log", ValueError("disk full"), "could not log", **kw)


def _adapter_method(**kw):
    _report(**kw)


def test_report_failure_warns_with_its_text_at_the_users_line_and_counts():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        _adapter_method()
        _adapter_method()
    assert len(caught) == 2  # once=False: every failure warns
    w = caught[0]
    assert w.category is SeeTrainWarning
    assert str(w.message) == "seetrain: could not log (ValueError: disk full); training goes on"
    assert w.filename == __file__
    if not hasattr(report_failure, "__wrapped__"):  # under mutation testing a trampoline adds frames
        assert w.lineno == line  # stacklevel=3: the caller of the adapter method
    s = get_error_stats()["adapter.log"]
    assert s["failures"] == 2 and s["last_error"] == "ValueError: disk full"


def test_report_failure_once_warns_once_per_operation_and_counts_all():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            report_failure("once.op", OSError("gone"), "lost", consequence="skipped", once=True)
        report_failure("other.op", OSError("gone"), "lost", once=True)
    assert [str(w.message) for w in caught] == ["seetrain: lost (OSError: gone); skipped",
                                                 "seetrain: lost (OSError: gone); training goes on"]
    assert get_error_stats()["once.op"]["failures"] == 3


# --- retry ---------------------------------------------------------------------------------------------
def _recording_sleeps(wrapped):
    sleeps = []
    wrapped.retry.sleep = sleeps.append  # tenacity's sleep, injected: no real waiting
    return sleeps


def test_retry_defaults_three_retries_with_bounded_random_backoff():
    attempts = []

    @with_retry()
    def down():
        attempts.append(1)
        raise Down("refused")

    sleeps = _recording_sleeps(down)
    with pytest.raises(Down):
        down()
    assert len(attempts) == 4 and len(sleeps) == 3
    assert all(0 < s <= min(0.5 * 2 ** i, 30.0) for i, s in enumerate(sleeps)), sleeps


def test_backoff_is_scaled_by_base_delay_and_capped_by_max_delay():
    @with_retry(max_retries=8, base_delay=1e-6, max_delay=30.0)
    def tiny():
        raise Down("x")

    @with_retry(max_retries=8, base_delay=1.0, max_delay=0.001)
    def capped():
        raise Down("x")

    for fn, bound in ((tiny, lambda i: 1e-6 * 2 ** i), (capped, lambda i: 0.001)):
        sleeps = _recording_sleeps(fn)
        with pytest.raises(Down):
            fn()
        assert len(sleeps) == 8 and all(0 < s <= bound(i) for i, s in enumerate(sleeps)), sleeps


def test_retry_exceptions_names_what_is_retried_and_each_failure_is_recorded():
    attempts = []

    @with_retry(max_retries=3, base_delay=1e-6, exceptions=(ValueError,), operation="parse")
    def parse():
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError(f"attempt {len(attempts)}")  # not transient, but named: retried
        return "ok"

    assert parse() == "ok" and len(attempts) == 3
    s = get_error_stats()["parse"]
    assert (s["calls"], s["failures"], s["last_error"]) == (1, 2, "ValueError: attempt 2")


# --- circuit breaker -----------------------------------------------------------------------------------
def test_breaker_defaults_five_failures_and_its_messages():
    br = CircuitBreaker()
    for _ in range(4):
        with pytest.raises(Down):
            br.call(_fail)
    assert br.state == "closed"
    with pytest.raises(Down):
        br.call(_fail)
    assert br.state == "open"
    with pytest.raises(CircuitOpenError, match=r"^circuit 'circuit' is open after 5 failures; "
                                               r"it lets a trial call through 30s after opening$"):
        br.call(_fail)
    with pytest.raises(CircuitOpenError):
        br.call(_fail)
    assert br.refused == 2
    s = get_error_stats()["circuit"]
    assert s["failures"] == 5 and s["last_error"] == "Down: service down"
    with pytest.raises(ValueError, match="^failure_threshold must be at least 1$"):
        CircuitBreaker(failure_threshold=0)


def test_reset_closes_an_open_breaker():
    br = CircuitBreaker(failure_threshold=1, recovery_timeout=3600)
    with pytest.raises(Down):
        br.call(_fail)
    assert br.state == "open"
    br.reset()
    assert br.state == "closed" and br.failures == 0
    assert br.call(lambda: 7) == 7
    with pytest.raises(Down):
        br.call(_fail)            # one failure opens it again: the count started from zero
    assert br.state == "open"


def test_a_half_open_trial_answered_with_an_uncounted_error_closes_it():
    br = CircuitBreaker(failure_threshold=1, recovery_timeout=0.0, exceptions=(Down,))
    with pytest.raises(Down):
        br.call(_fail)
    with pytest.raises(KeyError):
        br.call(lambda: {}["missing"])   # the trial: the service answered (an error of the caller's)
    assert br.state == "closed"
    assert br.call(lambda: 1) == 1 and br.call(lambda: 2) == 2   # the trial slot was freed


def test_breaker_passes_keyword_arguments_and_a_failing_listener_is_counted():
    def listener(old, new):
        raise RuntimeError("listener broke")

    br = CircuitBreaker(failure_threshold=1, recovery_timeout=3600, name="svc", on_state_change=listener)
    assert br.call(lambda a, b=0: a + b, 1, b=2) == 3
    with pytest.raises(Down):
        br.call(_fail)
    assert br.state == "open"
    s = get_error_stats()["svc.on_state_change"]
    assert s["failures"] == 1 and s["last_error"] == "RuntimeError: listener broke"


def test_decorator_defaults_and_listener():
    changes = []

    @with_circuit_breaker(on_state_change=lambda old, new: changes.append((old, new)))
    def flaky():
        raise Down("x")

    for _ in range(5):
        with pytest.raises(Down):
            flaky()
    assert flaky.breaker.state == "open" and changes == [("closed", "open")]
    with pytest.raises(CircuitOpenError, match="30s after opening"):
        flaky()


def test_after_reset_a_later_half_open_trial_still_goes_through():
    br = CircuitBreaker(failure_threshold=1, recovery_timeout=0.0)
    with pytest.raises(Down):
        br.call(_fail)
    br.reset()
    with pytest.raises(Down):
        br.call(_fail)                        # open again; with no recovery time the next call is the trial
    assert br.call(lambda: "trial") == "trial" and br.state == "closed"


def test_a_call_while_the_half_open_trial_runs_is_refused_with_the_reason():
    br = CircuitBreaker(failure_threshold=1, recovery_timeout=0.0, name="svc")
    with pytest.raises(Down):
        br.call(_fail)
    seen = []

    def trial():                              # the breaker's lock is not held while the call runs
        with pytest.raises(CircuitOpenError) as e:
            br.call(lambda: "second")
        seen.append(str(e.value))
        return "first"

    assert br.call(trial) == "first" and br.state == "closed"
    assert seen == ["circuit 'svc' is half-open and its trial call is running"]
