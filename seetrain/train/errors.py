"""The trainer's user-facing errors: one clear message that says what was wrong and what to do."""

from __future__ import annotations

from typing import Iterable, Optional

from seetrain.errors import did_you_mean  # noqa: F401 - re-exported


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


def unknown(kind: str, name: str, options: Iterable[str], extra: str = "") -> TrainConfigError:
    """``unknown model 'resnt18'; did you mean 'resnet18'? (known: ...)``."""
    options = sorted(set(options))
    return TrainConfigError(f"unknown {kind} {name!r}{did_you_mean(name, options)} (known: {', '.join(options)}){extra}")
