"""PyTorch batches over the trainer's NumPy data sets.

:class:`InMemoryBatches` serves one process without loader workers: a seeded permutation (or
weighted draws) per epoch cut into batches, with no DataLoader machinery between the data and the
step; a set without augmentation is converted to tensors once. :func:`loader` is the DataLoader
(worker processes, or a distributed sampler under DDP); :func:`batches` picks between them.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

CACHE_BYTES = 256 << 20  # a set up to this size as float32 is converted once, not batch by batch


class BatchedSet(Dataset):
    """A map-style dataset whose ``__getitems__`` builds a whole batch in one vectorised call."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        x, y = self.data.batch([int(i)])
        return torch.from_numpy(x[0]), torch.from_numpy(y)[0]

    def __getitems__(self, indices: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        x, y = self.data.batch(list(indices))
        return torch.from_numpy(x), torch.from_numpy(y)


def keep_batch(batch: Any) -> Any:
    """collate_fn: ``__getitems__`` already returned a collated batch (a list if it fell back to items)."""
    if isinstance(batch, list):
        return torch.utils.data.default_collate(batch)
    return batch


def loader(data: Any, batch_size: int, train: bool, num_workers: int = 0, seed: int = 0) -> DataLoader:
    gen = torch.Generator().manual_seed(int(seed))
    kw: dict = dict(batch_size=batch_size, num_workers=num_workers, collate_fn=keep_batch,
                    persistent_workers=num_workers > 0, drop_last=train)
    weights: List[float] = getattr(data, "sample_weights", None)  # type: ignore[assignment]
    if train and weights is not None:
        kw["sampler"] = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), len(data),
                                              replacement=True, generator=gen)
    else:
        kw["shuffle"] = train
        kw["generator"] = gen
    return DataLoader(BatchedSet(data), **kw)


class InMemoryBatches:
    """Batches of an in-memory set for one process: training shuffles each epoch (a seeded
    permutation, or draws with replacement by ``sample_weights``) and drops the last partial batch;
    validation goes in order and keeps it. Iterable again every epoch, with ``len()``."""

    def __init__(self, data: Any, batch_size: int, train: bool, seed: int = 0) -> None:
        self.data, self.batch_size, self.train = data, int(batch_size), bool(train)
        self.gen = torch.Generator().manual_seed(int(seed))
        weights = getattr(data, "sample_weights", None)
        self.weights = torch.as_tensor(weights, dtype=torch.double) if train and weights is not None else None
        self.x: Optional[torch.Tensor] = None
        self.y: Optional[torch.Tensor] = None
        images = getattr(data, "images", None)
        if getattr(data, "augment", True) is None and images is not None and images.size * 4 <= CACHE_BYTES:
            x, y = data.batch(np.arange(len(data)))  # the same numbers batch() gives, computed once
            self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def __len__(self) -> int:
        n, bs = len(self.data), self.batch_size
        return n // bs if self.train else -(-n // bs)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        n, bs = len(self.data), self.batch_size
        order: Optional[torch.Tensor] = None
        if self.train:
            order = (torch.multinomial(self.weights, n, replacement=True, generator=self.gen) if self.weights is not None
                     else torch.randperm(n, generator=self.gen))
        for i in range(len(self)):
            part = slice(i * bs, min((i + 1) * bs, n))
            if self.x is not None:
                if order is None:
                    yield self.x[part], self.y[part]  # type: ignore[index]
                else:
                    idx = order[part]
                    yield self.x[idx], self.y[idx]  # type: ignore[index]
            else:
                x, y = self.data.batch(np.arange(part.start, part.stop) if order is None else order[part].numpy())
                yield torch.from_numpy(x), torch.from_numpy(y)


def batches(data: Any, batch_size: int, train: bool, num_workers: int = 0, seed: int = 0,
            world_size: int = 1) -> Union[InMemoryBatches, DataLoader]:
    """:class:`InMemoryBatches` in one process without workers, else the DataLoader."""
    if num_workers == 0 and world_size == 1:
        return InMemoryBatches(data, batch_size, train, seed)
    return loader(data, batch_size, train, num_workers, seed)
