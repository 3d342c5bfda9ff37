"""Which validation result counts as better, and early stopping: the rules both backends share
(framework-free)."""

from __future__ import annotations

from typing import Any, Dict, Optional


def improves(value: float, best: Optional[float], mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (``mode``: ``max`` or ``min``)."""
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


class EarlyStopping:
    """Stop after ``patience`` validations without an improvement of more than ``min_delta``
    (Lightning's rule); its state goes into checkpoints."""

    def __init__(self, mode: str, patience: int, min_delta: float) -> None:
        self.mode, self.patience, self.min_delta = mode, int(patience), abs(float(min_delta))
        self.best: Optional[float] = None
        self.wait = 0

    def update(self, value: Optional[float]) -> bool:
        """Record one validation's value; True when training should stop."""
        if value is None:
            return False
        if improves(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        return self.wait >= self.patience

    def state_dict(self) -> Dict[str, Any]:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.best, self.wait = state.get("best"), int(state.get("wait", 0))
