"""Every rank into one run: ``torchrun --nproc-per-node 2`` with a Lightning DDP fit (CPU, gloo) and
``SeeTrainLogger(all_ranks=True)`` gives one shared run with both ranks' series and system metrics."""

from __future__ import annotations

import os
import shutil

import pytest

import seetrain
from tests._child import run_python

pytest.importorskip("lightning.pytorch")

HERE = os.path.dirname(os.path.abspath(__file__))


def _torchrun(logdir, cwd):
    env = dict(os.environ, SEETRAIN_LOGDIR=str(logdir), OMP_NUM_THREADS="1")
    for var in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR", "SEETRAIN_RUN_ID",
                "TORCHELASTIC_RUN_ID"):
        env.pop(var, None)
    return run_python(["-m", "torch.distributed.run", "--nproc-per-node", "2",
                       os.path.join(HERE, "lightning_torchrun_script.py"), str(cwd)],
                      env=env, capture_output=True, text=True, timeout=500, cwd=str(cwd))


@pytest.mark.timeout(900)
def test_torchrun_lightning_ddp_with_every_rank_logs_one_shared_run(tmp_path):
    logdir = tmp_path / "logs"
    proc = _torchrun(logdir, tmp_path)
    if proc.returncode != 0 and "address already in use" in proc.stderr.lower():  # a port race with another job
        shutil.rmtree(logdir, ignore_errors=True)
        proc = _torchrun(logdir, tmp_path)
    output = f"\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, output
    seen = [open(tmp_path / f"rank{n}.txt").read().split() for n in (0, 1)]
    assert seen[0][2] == seen[1][2], output  # both ranks wrote into one run directory
    assert [s[3] for s in seen] == ["writer=rank0", "writer=rank1"], output

    runs = seetrain.list_runs(str(logdir))
    assert len(runs) == 1, output
    r = runs[0]
    summary = f"{output}\n--- run ---\n{r.meta}\n{r.writers}\n{r.keys()}"
    assert r.shared and r.status == "success" and r.name == "every-rank", summary
    assert [(w.label, w.rank, w.status) for w in r.writers] == [(f"rank{n}", n, "success") for n in (0, 1)], summary
    for n in (0, 1):
        label = f"rank{n}"
        # 32 samples over 2 ranks, batch 8: 2 steps an epoch, 2 epochs, each rank its own losses
        assert r.scalars("train_loss", writer=label).steps == [0, 1, 2, 3], summary
        assert r.scalars("who/rank", writer=label).values == [n], summary
        assert len(r.system("sys/cpu_percent", writer=label).values) >= 1, summary  # its own system metrics
    both = r.scalars("train_loss")
    assert len(both.values) == 8 and sorted(set(both.writers)) == ["rank0", "rank1"], summary
    # the ranks saw different batches: their losses differ at a step (both values kept)
    assert r.scalars("train_loss", writer="rank0").values != r.scalars("train_loss", writer="rank1").values, summary
    assert r.config["_framework"] == "pytorch_lightning" and r.config["script"] == "torchrun", summary
