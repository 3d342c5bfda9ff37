"""The Lightning backend's in-memory batches: every sample once per epoch, a new order each epoch,
validation in order, the cached tensors equal to what the data set's own batch() gives, weighted draws."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from seetrain.train.backends.torch_data import InMemoryBatches, batches, loader  # noqa: E402
from seetrain.train.data.arrays import Augment, ImageSet  # noqa: E402


def _set(n=50, augment=None, weights=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 1, 4, 4)).astype(np.uint8)
    return ImageSet(images, np.arange(n), mean=[0.5], std=[0.25], augment=augment, sample_weights=weights)


def test_training_epochs_cover_every_sample_once_in_a_new_order():
    data = _set()
    b = InMemoryBatches(data, 8, train=True, seed=1)
    assert len(b) == 6 and b.x is not None                       # 50 // 8, last partial batch dropped
    epochs = [torch.cat([y for _, y in b]).tolist() for _ in range(2)]
    assert all(len(e) == 48 == len(set(e)) for e in epochs) and epochs[0] != epochs[1]
    x, y = next(iter(InMemoryBatches(data, 8, train=True, seed=1)))
    ref_x, ref_y = data.batch(y.numpy())
    assert torch.equal(x, torch.from_numpy(ref_x)) and torch.equal(y, torch.from_numpy(ref_y))
    assert [y.tolist() for _, y in InMemoryBatches(data, 8, train=True, seed=1)][0] == y.tolist()  # seeded


def test_validation_keeps_order_and_the_last_partial_batch():
    b = InMemoryBatches(_set(), 8, train=False)
    ys = [y for _, y in b]
    assert len(b) == len(ys) == 7 and len(ys[-1]) == 2 and torch.cat(ys).tolist() == list(range(50))


def test_augmented_sets_are_built_batch_by_batch_and_weights_are_drawn():
    aug = InMemoryBatches(_set(augment=Augment(noise=0.1)), 8, train=True)
    assert aug.x is None and sum(len(y) for _, y in aug) == 48
    weights = np.r_[np.zeros(25), np.ones(25)] / 25
    drawn = torch.cat([y for _, y in InMemoryBatches(_set(weights=weights), 10, train=True)])
    assert len(drawn) == 50 and drawn.min() >= 25


def test_workers_or_several_processes_use_the_dataloader():
    data = _set()
    assert isinstance(batches(data, 8, True, num_workers=0, world_size=1), InMemoryBatches)
    assert type(batches(data, 8, True, num_workers=0, world_size=2)) is type(loader(data, 8, True))
