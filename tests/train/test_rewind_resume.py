"""Issue 26 "history edits" end to end: a real ``seetrain train`` stopped by SIGINT at step 160 of
200 and resumed from its checkpoint at step 137 (``trainer.resume``, which rewinds the run to the
checkpoint's step) -> read_run, seetrain.Api, ``seetrain ui`` and a server after ``seetrain sync``
all show exactly one point per step 0..199; the points of steps 138..159 logged before the stop are
superseded: never deleted, listed on request. (Online mode through a rewind: tests/server/test_rewind_fork.py.)"""

from __future__ import annotations

import os
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("lightning")
pytest.importorskip("fastapi")

import seetrain  # noqa: E402
from tests._child import run_python  # noqa: E402
from tests.server.conftest import ServerProc, api  # noqa: E402
from tests.ui.conftest import UI, wait_for  # noqa: E402

# the user's model: its 161st training forward (optimizer step 160) sends this process a real SIGINT
STOPNET = textwrap.dedent("""
    import os
    import signal

    import torch

    class StopNet(torch.nn.Module):
        def __init__(self, num_classes, in_channels, image_size, hidden=8):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Flatten(),
                                            torch.nn.Linear(in_channels * image_size * image_size, hidden),
                                            torch.nn.ReLU(), torch.nn.Linear(hidden, num_classes))
            self.calls = 0

        def forward(self, x):
            if self.training:
                self.calls += 1
                if self.calls == int(os.environ.get("STOP_AT_CALL") or 0):
                    os.kill(os.getpid(), signal.SIGINT)
            return self.body(x)
""")
STEPS, CHECKPOINT_STEP, STOPPED_AT = 200, 137, 160
KEY = "train/loss"


def _train(args, cwd, env):
    p = run_python(["-m", "seetrain.cli", "train", "--import", "stopnet", *args], cwd=cwd, capture_output=True,
                   text=True, timeout=600, env=env)
    return p


def _server_steps(url: str, uuid: str, superseded: bool = False):
    status, body = api(url, f"/api/v1/series?run={uuid}&key={KEY}&full=1" + ("&superseded=1" if superseded else ""))
    assert status == 200, body
    return [int(x) for x in body["series"][0]["x"]]


@pytest.mark.timeout(900)
def test_sigint_then_resume_from_the_checkpoint_shows_one_point_per_step_everywhere(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "stopnet.py").write_text(STOPNET)
    logdir = tmp_path / "logs"
    (project / "exp.yaml").write_text(textwrap.dedent(f"""
        model:
          _target_: stopnet.StopNet
        data:
          name: synthetic
          num_samples: {STEPS * 16}
          batch_size: 16
          image_size: 8
        trainer:
          max_epochs: 1
          val_check_interval: {CHECKPOINT_STEP + 1}
          log_every_n_steps: 1
          enable_progress_bar: false
          num_threads: 1
          early_stopping:
            enabled: false
        logger:
          project: rw
          logdir: {logdir}
    """))
    synced = ServerProc(str(tmp_path / "synced.sqlite"), str(tmp_path / "blobs2")).start()
    ui = None
    try:
        env = {"STOP_AT_CALL": str(STOPPED_AT + 1)}
        first = _train(["exp.yaml"], str(project), env)
        assert first.returncode == 130, first.stderr[-3000:]
        (run,) = seetrain.list_runs(str(logdir))
        assert max(run.scalars(KEY).steps) == STOPPED_AT - 1 and run.status == "killed"
        assert f"interrupted at step {STOPPED_AT}" in first.stderr, first.stderr[-2000:]
        second = _train([f"trainer.resume={run.path}"], str(project), {**env, "STOP_AT_CALL": ""})
        assert second.returncode == 0, second.stderr[-3000:]

        every = list(range(STEPS))
        tail = list(range(CHECKPOINT_STEP + 1, STOPPED_AT))  # logged before the stop, then again
        run = seetrain.read_run(run.path)
        assert [r["step"] for r in run.rewinds] == [CHECKPOINT_STEP]
        assert list(run.scalars(KEY).steps) == every
        assert list(run.scalars(KEY, superseded=True).steps) == tail
        assert list(run.scalars("val/loss").steps) == [CHECKPOINT_STEP, STEPS - 1]
        with open(os.path.join(run.path, "records.jsonl"), "rb") as f:  # never deleted from the log
            assert sum(b'"train/loss"' in line for line in f) == STEPS + len(tail)

        h = seetrain.Api(logdir=str(logdir)).run(run.uuid)
        assert list(h.history(KEY)[KEY].x) == every
        assert list(h.history(KEY, superseded=True)[KEY].x) == tail

        # after `seetrain sync` to a server (twice: exactly once still holds)
        for _ in range(2):
            p = run_python(["-m", "seetrain.cli", "sync", run.path, "--host", synced.url], capture_output=True,
                           text=True, timeout=300)
            assert p.returncode == 0, p.stderr[-2000:]
        assert _server_steps(synced.url, run.uuid) == every
        assert _server_steps(synced.url, run.uuid, superseded=True) == tail
        status, hist = api(synced.url, f"/api/v1/runs/{run.uuid}/history?key={KEY}&format=json")
        assert status == 200 and [int(s) for s in hist["step"]] == every
        status, csv = api(synced.url, f"/api/v1/runs/{run.uuid}/export?format=csv&key={KEY}")
        assert status == 200 and len(csv.decode().strip().splitlines()) == 1 + STEPS

        # `seetrain ui` over the log folder
        index = tmp_path / "index"
        index.mkdir()
        ui = UI(str(logdir), str(index))
        wait_for(lambda: any(r["uuid"] == run.uuid and r["status"] == "success" for r in ui.runs("rw")), 120,
                 "the resumed run in the ui's index")
        wait_for(lambda: _server_steps(ui.url, run.uuid) == every, 120, "the ui's series to hold each step once")
        assert _server_steps(ui.url, run.uuid, superseded=True) == tail
    finally:
        if ui is not None:
            ui.stop()
        synced.stop()


def test_the_rewind_step_is_the_checkpoints_unless_resume_from_says_another(tmp_path, monkeypatch):
    import torch

    from seetrain.train.resume import REWIND_ENV, checkpoint_step, rewind_step

    ckpt = str(tmp_path / "last.ckpt")
    torch.save({"model": {"w": torch.zeros(3)}, "loop": {"global_step": 138, "epoch": 0}}, ckpt)
    monkeypatch.delenv(REWIND_ENV, raising=False)
    assert checkpoint_step(ckpt) == rewind_step(ckpt) == 137  # the trainer logs step global_step - 1
    (tmp_path / "last.json").write_text('{"steps": 40}')  # a paddle checkpoint's state beside its weights
    assert checkpoint_step(str(tmp_path / "last.pdparams")) == 39
    assert checkpoint_step(str(tmp_path / "nothing.ckpt")) is None
    monkeypatch.setenv(REWIND_ENV, "120")
    assert rewind_step(ckpt) == 120


def test_resume_from_without_a_checkpoint_is_refused_with_what_to_add(tmp_path):
    p = run_python(["-m", "seetrain.cli", "train", "--resume-from", "5"], cwd=str(tmp_path), capture_output=True,
                   text=True, timeout=120)
    assert p.returncode == 2 and "trainer.resume=CHECKPOINT" in p.stderr, p.stderr[-2000:]
