"""Batches for ``paddle.Model.fit`` from the trainer's NumPy data sets: whole batches built in one
vectorised ``data.batch(indices)`` call, shuffled (or weight-sampled) with a seeded NumPy generator
per epoch, optionally cut to the first N batches (``trainer.limit_*_batches``)."""

from __future__ import annotations

from typing import Any, Iterator, List, Optional

import numpy as np

from . import limit_batches


class Batches:
    """An iterable of ``[x, y]`` NumPy batches with ``len()``, what ``paddle.Model.fit`` takes as a loader."""

    def __init__(self, data: Any, batch_size: int, train: bool, seed: int = 0, limit: Any = 1.0,
                 key: str = "trainer.limit_train_batches") -> None:
        self.data, self.batch_size, self.train, self.seed = data, int(batch_size), bool(train), int(seed)
        n = len(data)
        full = n // self.batch_size if train else -(-n // self.batch_size)  # drop_last only for training
        self.n_batches = limit_batches(limit, full, key)
        self.epoch = 0
        self.remaining: Optional[int] = None  # batches left in the whole training (max_steps), None: no limit
        weights = getattr(data, "sample_weights", None)
        self.p: Optional[np.ndarray] = None
        if train and weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            self.p = w / w.sum()

    def __len__(self) -> int:
        return self.n_batches

    def _order(self) -> np.ndarray:
        n = len(self.data)
        if not self.train:
            return np.arange(n)
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        if self.p is not None:
            return rng.choice(n, size=n, replace=True, p=self.p)
        return rng.permutation(n)

    def __iter__(self) -> Iterator[List[np.ndarray]]:
        order, bs = self._order(), self.batch_size
        for b in range(self.n_batches):
            if self.remaining is not None:
                if self.remaining <= 0:
                    return
                self.remaining -= 1
            x, y = self.data.batch(order[b * bs:(b + 1) * bs].tolist())
            yield [x, y.astype(np.int64, copy=False)]
