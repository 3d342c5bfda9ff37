"""Every process into one run: a Hugging Face Trainer under ``torch.distributed.run --nproc_per_node 2``
(CPU, gloo) with ``SeeTrainCallback(all_ranks=True)`` gives one shared run with both processes' logs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import seetrain
from tests._child import child_env

pytest.importorskip("transformers")

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.timeout(900)
def test_every_process_of_a_trainer_writes_into_one_shared_run(tmp_path):
    logs = tmp_path / "logs"
    env = dict(os.environ, SEETRAIN_LOGDIR=str(logs), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env.pop("SEETRAIN_RUN_ID", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(HERE, "transformers_every_rank_script.py")]
    proc = subprocess.run(cmd, env=child_env(env), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rank 0 writer rank0" in proc.stdout and "rank 1 writer rank1" in proc.stdout

    runs = seetrain.list_runs(str(logs))
    assert len(runs) == 1
    r = runs[0]
    assert (r.project, r.name, r.status, r.shared) == ("hf", "every-rank", "success", True)
    assert [w.label for w in r.writers] == ["rank0", "rank1"]
    for label in ("rank0", "rank1"):
        assert r.scalars("train/loss", writer=label).steps == [2, 4]
    assert r.config["_framework"] == "transformers"
