"""What every framework adapter shares: the run it logs to and how its own failures are handled.

An adapter file stays a thin translation of its framework's hooks: it subclasses :class:`RunHolder`
(next to the framework's callback/logger base class), names itself (``FRAMEWORK``, ``SUBJECT``) and
says how its run is created (``_create_run``). A failure in the adapter's own code goes through
:func:`shield`: counted and warned about, training goes on; under ``SEETRAIN_TESTING=1`` (set by the
test suite, like MLflow's autologging test mode) it is raised instead, so CI sees the bugs users are
shielded from.
"""

from __future__ import annotations

from typing import Any, Optional

from seetrain.errors import testing
from seetrain.resilience import report_failure

__all__ = ["RunHolder", "shield"]


def shield(operation: str, exc: BaseException, what: str, consequence: str = "training goes on",
           stacklevel: int = 3, once: bool = False) -> None:
    """An adapter's own failure (``exc`` while doing ``operation``): warn ``seetrain: <what> (<error>);
    <consequence>`` and go on, or re-raise ``exc`` under ``SEETRAIN_TESTING=1``. Call it from the
    ``except`` block; ``stacklevel`` counts from the caller, as :func:`report_failure` does."""
    if testing():
        raise exc
    report_failure(operation, exc, what, consequence, stacklevel=stacklevel + 1, once=once)


class RunHolder:
    """The SeeTrain run of one adapter: created on first use by :meth:`_create_run`, finished by
    :meth:`finish`. ``FRAMEWORK`` names the adapter in error counts (``keras.finish``), ``SUBJECT``
    in warnings (``the Keras callback could not finish``)."""

    FRAMEWORK = "adapter"
    SUBJECT = "the SeeTrain adapter"
    _run: Optional[Any] = None

    @property
    def experiment(self) -> Any:
        """The :class:`seetrain.Run` this adapter logs to, created on first use."""
        if self._run is None:
            self._run = self._create_run()
        return self._run

    def _create_run(self) -> Any:
        """Start the run (``seetrain.init(...)``) and return it."""
        raise NotImplementedError

    def finish(self, status: str = "success") -> None:
        """Finish the run now (otherwise it is finished when the process exits)."""
        if self._run is not None:
            try:
                self._run.finish(status)
            except Exception as exc:
                self._warn("finish", exc)

    def _warn(self, what: str, exc: BaseException) -> None:
        """A failure of this adapter's own code while doing ``what`` (see :func:`shield`)."""
        shield(f"{self.FRAMEWORK}.{what}", exc, f"{self.SUBJECT} could not {what}", stacklevel=3)
