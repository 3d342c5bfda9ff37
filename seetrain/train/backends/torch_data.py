"""PyTorch loaders over the trainer's NumPy data sets (whole batches fetched at once)."""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler


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
