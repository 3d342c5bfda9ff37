"""The step a resumed run rewinds to (``seetrain.train.resume``: ``checkpoint_step``, ``rewind_step``
and the ``resume_from`` of ``run_init_kwargs``) at its edges: Lightning and paddle checkpoints, a
step count of 0 or 1, a missing or odd count, ``--resume-from`` (``SEETRAIN_RESUME_FROM``) below 0,
at 0 or not a number, and a checkpoint that carries code (never run to read its step)."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

import seetrain  # noqa: E402
from seetrain.train.errors import TrainConfigError  # noqa: E402
from seetrain.train.resume import REWIND_ENV, checkpoint_step, rewind_step, run_init_kwargs  # noqa: E402


@pytest.fixture(autouse=True)
def _no_resume_from(monkeypatch):
    monkeypatch.delenv(REWIND_ENV, raising=False)


def _lightning(path, loop) -> str:
    torch.save({"state_dict": {"w": torch.zeros(2)}, "loop": loop}, str(path))
    return str(path)


def _paddle(folder, name, state) -> str:
    (folder / f"{name}.json").write_text(json.dumps(state), encoding="utf-8")
    return str(folder / f"{name}.pdparams")


@pytest.mark.parametrize("global_step, step", [(1, 0), (2, 1), (138, 137), (0, None), (-4, None),
                                               (5.0, None), (True, None), ("7", None), (None, None)])
def test_a_lightning_checkpoint_rewinds_to_its_global_step_less_one(tmp_path, global_step, step):
    assert checkpoint_step(_lightning(tmp_path / "last.ckpt", {"global_step": global_step})) == step


def test_a_lightning_checkpoint_without_a_loop_state_has_no_step(tmp_path):
    assert checkpoint_step(_lightning(tmp_path / "a.ckpt", None)) is None
    assert checkpoint_step(_lightning(tmp_path / "b.ckpt", {})) is None
    assert checkpoint_step(str(tmp_path / "missing.ckpt")) is None


@pytest.mark.parametrize("state, step", [({"steps": 1}, 0), ({"steps": 40}, 39), ({"steps": 0}, None),
                                         ({"steps": "40"}, None), ({"epochs": 3}, None)])
def test_a_paddle_checkpoint_rewinds_to_the_steps_of_the_json_beside_it(tmp_path, state, step):
    weights = _paddle(tmp_path, "last", state)
    assert checkpoint_step(weights) == step
    assert checkpoint_step(weights[:-len(".pdparams")] + ".pdopt") == step  # its optimizer file names it too


def test_a_paddle_checkpoint_without_its_json_has_no_step(tmp_path):
    assert checkpoint_step(str(tmp_path / "alone.pdparams")) is None
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert checkpoint_step(str(tmp_path / "broken.pdparams")) is None


class _RunsCode:
    """Unpickling this makes a folder: what a checkpoint from elsewhere could do instead."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def test_reading_the_step_never_runs_code_a_checkpoint_carries(tmp_path):
    marker = str(tmp_path / "code-ran")
    torch.save({"loop": {"global_step": 9}, "hyper_parameters": _RunsCode(marker)}, str(tmp_path / "x.ckpt"))
    assert checkpoint_step(str(tmp_path / "x.ckpt")) is None  # not loadable as weights only: no rewind
    assert not os.path.exists(marker)


@pytest.mark.parametrize("given, step", [("120", 120), ("0", 0), ("-3", 0), ("", 137)])
def test_resume_from_overrides_the_checkpoints_step(tmp_path, monkeypatch, given, step):
    monkeypatch.setenv(REWIND_ENV, given)
    assert rewind_step(_lightning(tmp_path / "last.ckpt", {"global_step": 138})) == step


def test_resume_from_that_is_not_a_number_is_refused_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv(REWIND_ENV, "latest")
    with pytest.raises(TrainConfigError) as e:
        rewind_step(_lightning(tmp_path / "last.ckpt", {"global_step": 138}))
    assert e.value.key == "trainer.resume"
    assert str(e.value) == "--resume-from 'latest': give the step (an integer) to go on from"


def _finished_run(logdir: str) -> str:
    run = seetrain.init(project="mine", experiment_name="first", logdir=logdir, system_metrics=False, console="off")
    run.log({"train/loss": 1.0}, step=0)
    run.finish()
    os.makedirs(os.path.join(run.dir, "checkpoints"))
    return run.dir


def test_resuming_from_a_checkpoint_file_of_a_run_rewinds_it_to_the_checkpoints_step(tmp_path):
    run_dir = _finished_run(str(tmp_path / "logs"))
    ckpt = _lightning(os.path.join(run_dir, "checkpoints", "last.ckpt"), {"global_step": 6})
    kw = run_init_kwargs({"logger": {}}, None, ckpt)
    assert (kw["resume"], kw["id"], kw["resume_from"]) == (True, os.path.basename(run_dir), 5)
    no_step = _lightning(os.path.join(run_dir, "checkpoints", "early.ckpt"), {})
    assert "resume_from" not in run_init_kwargs({"logger": {}}, None, no_step)  # resumed, nothing superseded
    assert "resume_from" not in run_init_kwargs({"logger": {}}, None, run_dir)  # the run directory itself
