"""The ``scheduler`` section gives the same learning rate at every optimizer step on both backends
(one schedule, seetrain/train/backends/lr_schedule.py, wrapped by torch's LambdaLR and paddle's LambdaDecay)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
paddle = pytest.importorskip("paddle")

from seetrain.train.backends.paddle_optim import build_schedule  # noqa: E402
from seetrain.train.backends.torch_optim import build_scheduler  # noqa: E402

LR, TOTAL, PER_EPOCH = 0.1, 20, 4


def torch_rates(cfg):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    sched = build_scheduler(opt, cfg, TOTAL, PER_EPOCH)
    rates = []
    for _ in range(TOTAL):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return rates


def paddle_rates(cfg):
    schedule = build_schedule(LR, cfg, TOTAL, PER_EPOCH)
    if isinstance(schedule, float):
        return [schedule] * TOTAL
    rates = []
    for _ in range(TOTAL):
        rates.append(schedule())
        schedule.step()
    return rates


@pytest.mark.parametrize("cfg", [
    {"name": "none"},
    {"name": "none", "warmup_epochs": 1},
    {"name": "cosine", "warmup_epochs": 1, "min_lr_ratio": 0.1},
    {"name": "step", "step_size": 2, "gamma": 0.5},
], ids=["none", "warmup", "cosine", "step"])
def test_both_backends_train_on_the_same_rates(cfg):
    assert torch_rates(cfg) == pytest.approx(paddle_rates(cfg), rel=1e-6)


def test_cosine_with_warmup_gives_the_configured_rates():
    rates = torch_rates({"name": "cosine", "warmup_epochs": 1, "min_lr_ratio": 0.1})
    assert rates[:PER_EPOCH] == pytest.approx([LR * (i + 1) / PER_EPOCH for i in range(PER_EPOCH)])  # one epoch up
    assert rates[PER_EPOCH] == pytest.approx(LR)  # the peak, then down
    assert all(a >= b for a, b in zip(rates[PER_EPOCH:], rates[PER_EPOCH + 1:]))
    last = (TOTAL - 1 - PER_EPOCH) / (TOTAL - PER_EPOCH)
    assert rates[-1] == pytest.approx(LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * last))))


def test_step_decay_halves_every_two_epochs():
    rates = torch_rates({"name": "step", "step_size": 2, "gamma": 0.5})
    assert rates == pytest.approx([LR * 0.5 ** (s // (2 * PER_EPOCH)) for s in range(TOTAL)])
