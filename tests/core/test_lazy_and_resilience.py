"""Lazy imports and the resilience primitives."""

import subprocess
import sys
import threading
import time

import pytest

from seetrain import lazy
from seetrain.resilience import (CircuitBreaker, CircuitOpenError, get_integration_error_stats,
                                 reset_integration_error_stats, with_circuit_breaker, with_graceful_degradation,
                                 with_retry)


def test_import_seetrain_loads_nothing_heavy():
    code = ("import sys, seetrain; seetrain.init; seetrain.log; "
            "print(' '.join(m for m in ('torch','numpy','PIL','lightning','transformers','tenacity','psutil') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_missing_extra_is_named():
    with pytest.raises(ImportError, match=r'pip install "seetrain\[lightning\]"'):
        lazy.require("definitely_not_installed_pkg", "lightning")
    mod = lazy.LazyModule("json")
    assert mod.dumps({"a": 1}) == '{"a": 1}'
    with pytest.raises(ImportError, match="seetrain\\[gpu\\]"):
        lazy.LazyModule("nope_missing_mod", "gpu").anything


def test_retry_backs_off_then_succeeds_or_reraises():
    reset_integration_error_stats()
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

    @with_retry(max_retries=5, base_delay=0.001, exceptions=(ConnectionError,))
    def wrong():
        calls.append(0)
        raise KeyError("not retried")

    n = len(calls)
    with pytest.raises(KeyError):
        wrong()
    assert len(calls) == n + 1


def test_circuit_breaker_states():
    br = CircuitBreaker(failure_threshold=2, recovery_timeout=0.2, name="svc")

    def boom():
        raise IOError("x")

    for _ in range(2):
        with pytest.raises(IOError):
            br.call(boom)
    assert br.state == "open"
    with pytest.raises(CircuitOpenError):
        br.call(lambda: 1)
    time.sleep(0.25)
    assert br.state == "half_open"
    with pytest.raises(IOError):
        br.call(boom)  # failed trial: open again
    assert br.state == "open"
    time.sleep(0.25)
    assert br.call(lambda: 5) == 5 and br.state == "closed"


def test_circuit_breaker_decorator_is_thread_safe():
    @with_circuit_breaker(failure_threshold=50, recovery_timeout=60)
    def fails():
        raise ValueError

    def hammer():
        for _ in range(100):
            try:
                fails()
            except (ValueError, CircuitOpenError):
                pass

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert fails.breaker.state == "open"


def test_graceful_degradation():
    reset_integration_error_stats()

    @with_graceful_degradation(fallback_func=lambda x: -x, operation="divide")
    def divide(x):
        return 1 / x

    with pytest.warns(UserWarning, match="divide failed"):
        assert divide(0) == 0
    assert divide(2) == 0.5
    assert get_integration_error_stats()["divide"]["failures"] == 1
