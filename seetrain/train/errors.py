"""The trainer's user-facing errors: one clear message that says what was wrong and what to do."""

from __future__ import annotations

import difflib
from typing import Iterable, Optional


class TrainConfigError(ValueError):
    """A config, data or model problem found before training starts (no run is created for it).

    ``key`` names the config key at fault when there is one (``trainer.max_epochs``).
    """

    def __init__(self, message: str, key: Optional[str] = None) -> None:
        super().__init__(message)
        self.key = key


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during training. The run was marked ``killed``; ``resume_from`` is what
    ``trainer.resume=`` takes to go on from the last checkpoint (None when none was saved)."""

    def __init__(self, step: int, resume_from: Optional[str]) -> None:
        super().__init__(f"training interrupted at step {step}")
        self.step, self.resume_from = step, resume_from


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option, or ``""``."""
    hint = difflib.get_close_matches(str(word), sorted(set(map(str, options))), n=1, cutoff=0.6)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def unknown(kind: str, name: str, options: Iterable[str], extra: str = "") -> TrainConfigError:
    """``unknown model 'resnt18'; did you mean 'resnet18'? (known: ...)``."""
    options = sorted(set(options))
    return TrainConfigError(f"unknown {kind} {name!r}{did_you_mean(name, options)} (known: {', '.join(options)}){extra}")
