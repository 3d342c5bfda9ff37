"""Accelerate: log_with="seetrain" after `import seetrain` alone, beside another tracker, entry points."""

from __future__ import annotations

import os

import pytest

import seetrain
from tests._child import run_python

pytest.importorskip("accelerate")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_LOG_WITH = r"""
import sys
import seetrain
assert "accelerate" not in sys.modules and "torch" not in sys.modules, "import seetrain loaded a framework"
from accelerate import Accelerator
accelerator = Accelerator(log_with="seetrain", cpu=True)
accelerator.init_trackers("native-acc", config={"lr": 0.1},
                          init_kwargs={"seetrain": {"experiment_name": "by-name", "tags": ["t"]}})
for step in range(3):
    accelerator.log({"loss": 1.0 / (step + 1)}, step=step)
run = accelerator.get_tracker("seetrain", unwrap=True)
print("RUN", run.dir)
accelerator.end_training()
"""


def test_log_with_seetrain_works_after_import_seetrain_alone(tmp_path):
    env = dict(os.environ, SEETRAIN_LOGDIR=str(tmp_path / "logs"), OMP_NUM_THREADS="1")
    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        env.pop(var, None)
    proc = run_python(["-c", _LOG_WITH], env=env, cwd=ROOT, capture_output=True, text=True,
                      timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(tmp_path / "logs"))
    assert (r.project, r.name, r.status) == ("native-acc", "by-name", "success")
    assert r.scalars("loss").values == [1.0, 0.5, pytest.approx(1 / 3)] and r.config["lr"] == 0.1
    assert r.meta["tags"] == ["t"] and proc.stdout.strip() == f"RUN {r.path}"


def test_a_crash_after_init_trackers_marks_the_run_crashed_at_exit(tmp_path):
    code = _LOG_WITH.replace('print("RUN", run.dir)', 'raise RuntimeError("boom")')
    env = dict(os.environ, SEETRAIN_LOGDIR=str(tmp_path / "logs"), OMP_NUM_THREADS="1")
    proc = run_python(["-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1 and "RuntimeError: boom" in proc.stderr, proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(tmp_path / "logs"))
    assert r.status == "crashed" and r.scalars("loss").steps == [0, 1, 2]


def test_beside_another_tracker_both_get_the_values(logdir, tmp_path):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.tracking import GeneralTracker

    class ListTracker(GeneralTracker):
        name = "list"
        requires_logging_directory = False

        def __init__(self):
            super().__init__()
            self.rows = []

        @property
        def tracker(self):
            return self.rows

        def store_init_configuration(self, values):
            self.rows.append(("config", dict(values)))

        def log(self, values, step=None, **kwargs):
            self.rows.append((step, dict(values)))

    AcceleratorState._reset_state(True)
    other = ListTracker()
    accelerator = Accelerator(log_with=["seetrain", other], cpu=True)
    accelerator.init_trackers("acc-side", config={"lr": 0.1})
    for step in range(2):
        accelerator.log({"loss": float(step)}, step=step)
    run = accelerator.get_tracker("seetrain", unwrap=True)
    accelerator.end_training()
    AcceleratorState._reset_state(True)
    r = seetrain.read_run(run.dir)
    assert r.scalars("loss").values == [v["loss"] for s, v in other.rows if s != "config"]
    assert r.config["lr"] == other.rows[0][1]["lr"]
