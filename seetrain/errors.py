"""SeeTrain's warning and error types: the ground floor, importable from anywhere in the package.

``seetrain.SeeTrainWarning`` and ``seetrain.SeeTrainError`` (and the same names in
:mod:`seetrain.run`) are these classes.
"""

from __future__ import annotations

import os
from typing import Iterable

__all__ = ["SeeTrainWarning", "SeeTrainError", "testing", "did_you_mean"]


class SeeTrainWarning(UserWarning):
    """Something SeeTrain could not record; training goes on."""


class SeeTrainError(Exception):
    """Raised instead of a warning when a run was created with ``strict=True``."""


def testing() -> bool:
    """True under ``SEETRAIN_TESTING=1`` (the test suite): adapters and autolog then re-raise their
    own internal errors instead of warning, so a bug users are shielded from fails the tests."""
    return os.environ.get("SEETRAIN_TESTING", "") not in ("", "0", "false", "False")


def did_you_mean(word: object, options: Iterable[object]) -> str:
    """``"; did you mean 'x'?"`` for the option closest to ``word``, or ``""`` when none is close."""
    import difflib

    hint = difflib.get_close_matches(str(word), sorted(set(map(str, options))), n=1, cutoff=0.6)
    return f"; did you mean {hint[0]!r}?" if hint else ""
