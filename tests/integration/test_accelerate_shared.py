"""Every process into one run: Accelerate under ``torch.distributed.run --nproc_per_node 2`` with
``SeeTrainTracker(all_ranks=True)`` gives one shared run holding both processes' series."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import seetrain
from tests._child import child_env

pytest.importorskip("accelerate")

HERE = os.path.dirname(os.path.abspath(__file__))


def test_every_process_logs_into_one_shared_run(tmp_path):
    logs = tmp_path / "logs"
    env = dict(os.environ, SEETRAIN_LOGDIR=str(logs), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env.pop("SEETRAIN_RUN_ID", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(HERE, "accelerate_every_rank_script.py")]
    proc = subprocess.run(cmd, env=child_env(env), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rank 0 writer rank0" in proc.stdout and "rank 1 writer rank1" in proc.stdout

    runs = seetrain.list_runs(str(logs))
    assert len(runs) == 1
    r = runs[0]
    assert (r.project, r.name, r.status, r.shared) == ("ddp-project", "every-rank", "success", True)
    assert [w.label for w in r.writers] == ["rank0", "rank1"]
    assert r.config["world_size"] == 2  # the main process's config is the run's
    for rank in (0, 1):
        assert r.scalars("rank", writer=f"rank{rank}").values == [rank, rank, rank]
        assert r.scalars("train/loss", writer=f"rank{rank}").steps == [0, 1, 2]
    assert len(r.scalars("train/loss").values) == 6


def test_every_rank_tracker_needs_a_project():
    from seetrain.integration.trackers.accelerate import SeeTrainTracker

    with pytest.raises(ValueError, match="needs project="):
        SeeTrainTracker(all_ranks=True)
