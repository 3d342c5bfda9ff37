"""The circuit breaker counts *consecutive* failures: a success while closed starts the count again,
so alternating failures never open it, while ``failure_threshold`` failures in a row do."""

from __future__ import annotations

import pytest

from seetrain.resilience import CircuitBreaker, CircuitOpenError


class Down(ConnectionError):
    pass


def _fail():
    raise Down("service down")


def _ok():
    return "ok"


def test_alternating_failures_never_open_the_circuit():
    changes = []
    br = CircuitBreaker(failure_threshold=2, recovery_timeout=3600, name="alt",
                        on_state_change=lambda old, new: changes.append((old, new)))
    for _ in range(10):
        with pytest.raises(Down):
            br.call(_fail)
        assert br.failures == 1
        assert br.call(_ok) == "ok"
        assert br.failures == 0 and br.state == "closed"
    assert changes == [] and br.refused == 0 and br.calls == 20


@pytest.mark.parametrize("threshold", [2, 3, 5])
def test_threshold_failures_in_a_row_open_it(threshold):
    changes = []
    br = CircuitBreaker(failure_threshold=threshold, recovery_timeout=3600, name="row",
                        on_state_change=lambda old, new: changes.append((old, new)))
    for _ in range(threshold - 1):        # one short of the threshold ...
        with pytest.raises(Down):
            br.call(_fail)
    assert br.call(_ok) == "ok"           # ... and a success starts the count again
    assert br.failures == 0
    for i in range(threshold - 1):
        with pytest.raises(Down):
            br.call(_fail)
        assert br.state == "closed" and br.failures == i + 1
    with pytest.raises(Down):
        br.call(_fail)                    # the threshold-th failure in a row
    assert br.state == "open" and changes == [("closed", "open")]
    with pytest.raises(CircuitOpenError):
        br.call(_ok)                      # refused without calling
    assert br.refused == 1


def test_threshold_one_opens_on_the_first_failure():
    br = CircuitBreaker(failure_threshold=1, recovery_timeout=3600)
    assert br.call(_ok) == "ok" and br.state == "closed"
    with pytest.raises(Down):
        br.call(_fail)
    assert br.state == "open"


def test_an_error_outside_the_counted_exceptions_is_a_success():
    """With ``exceptions=(Down,)``, a ValueError means the service answered: it resets the count too."""
    br = CircuitBreaker(failure_threshold=2, recovery_timeout=3600, exceptions=(Down,))
    for _ in range(5):
        with pytest.raises(Down):
            br.call(_fail)
        with pytest.raises(ValueError):
            br.call(lambda: (_ for _ in ()).throw(ValueError("bad input")))
        assert br.failures == 0 and br.state == "closed"
