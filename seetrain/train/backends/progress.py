"""The progress bar of every backend: one tqdm bar per epoch (``Epoch N``, batches done of the epoch's
total, the logged training loss and the validation metric), on stderr, on global rank zero only."""

from __future__ import annotations

from typing import Any, Dict, Optional


class ProgressBar:
    """A tqdm bar per epoch (nothing when ``enabled`` is false)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar, self.postfix = enabled, None, {}  # type: bool, Any, Dict[str, str]

    def start(self, epoch: int, total: int, initial: int) -> Optional[Any]:
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        self.close()
        self.bar = tqdm(total=total, initial=initial, desc=f"Epoch {epoch}", dynamic_ncols=True, leave=True)
        if self.postfix:
            self.bar.set_postfix(self.postfix, refresh=False)
        return self.bar

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def show(self, **values: float) -> None:
        self.postfix.update({k: f"{v:.4g}" for k, v in values.items()})
        if self.bar is not None:
            self.bar.set_postfix(self.postfix)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
