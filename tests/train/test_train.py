"""Real CPU training through `seetrain train`: accuracy, tracking, checkpoints and resume, the
model zoo on 32x32 data, mixing, the APT language-model task and --from-run."""

from __future__ import annotations

import importlib.util
import os

import pytest

pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402
from seetrain.train.config import load_config  # noqa: E402
from tests._child import child_env  # noqa: E402

from .conftest import FAST, mirror_args  # noqa: E402

TINY = FAST + ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
               "data.batch_size=8", "trainer.checkpoint.enabled=false"]


def _only_run(logdir, project="train"):
    runs = seetrain.list_runs(logdir, project=project)
    assert len(runs) == 1, [r.path for r in runs]
    return runs[0]


def test_digits_small_cnn_reaches_095_in_one_command(logdir, capsys):
    assert train_main(FAST + ["model=small_cnn", "data=digits", "trainer.max_epochs=3"]) == 0
    out = capsys.readouterr().out
    r = _only_run(logdir)
    assert r.status == "success" and r.name == "small_cnn-digits"
    acc = r.scalars("val/acc").values
    assert len(acc) == 3 and max(acc) >= 0.95, acc
    assert f"best val/acc: {max(acc):.4f}" in out and f"run dir: {r.path}" in out
    # the full resolved config is recorded, and the checkpoints sit in the run directory
    expected = load_config(["model=small_cnn", "data=digits", "trainer.max_epochs=3"] + FAST)
    assert {k: r.config[k] for k in expected} == expected
    assert r.config["data_info"]["train_samples"] == 1438 and r.config["num_parameters"] > 10_000
    ckpts = os.listdir(os.path.join(r.path, "checkpoints"))
    assert "last.ckpt" in ckpts and any(c.startswith("epoch") for c in ckpts)
    assert len(r.scalars("train/loss").values) >= 6 and r.scalars("train/lr").values[-1] < r.config["optim"]["lr"]


def test_from_run_trains_again_with_the_recorded_config(logdir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MY_PROJECT", "repro")
    user = tmp_path / "mine.yaml"
    user.write_text("logger:\n  project: ${oc.env:MY_PROJECT}\noptim:\n  lr: 0.01\ndata:\n  subset: 300\n")
    assert train_main([str(user)] + TINY + ["model.width=8"]) == 0
    first = _only_run(logdir, "repro")
    assert first.config["logger"]["project"] == "repro" and first.config["optim"]["lr"] == 0.01
    monkeypatch.delenv("MY_PROJECT")   # the recorded (resolved) config no longer needs it
    assert train_main(["--from-run", first.id, "--logdir", logdir, "trainer.limit_train_batches=3"]) == 0
    runs = seetrain.list_runs(logdir, project="repro")
    assert len(runs) == 2
    second = [r for r in runs if r.id != first.id][0]
    keys = ("task", "seed", "model", "data", "optim", "scheduler", "logger")
    assert {k: second.config[k] for k in keys} == {k: first.config[k] for k in keys}
    t1, t2 = dict(first.config["trainer"]), dict(second.config["trainer"])
    assert t1.pop("limit_train_batches") == 2 and t2.pop("limit_train_batches") == 3 and t1 == t2
    assert second.status == "success"


def test_resume_from_a_checkpoint_continues_the_seetrain_run(logdir):
    """A checkpoint of an earlier `seetrain train` run resumes that run: one run, its curves continue."""
    args = FAST + ["data=synthetic", "data.num_samples=160", "data.batch_size=16", "model.width=8"]
    assert train_main(args + ["trainer.max_epochs=1"]) == 0
    first = _only_run(logdir)
    assert first.scalars("val/acc").steps == [9]          # Lightning logs at global_step - 1
    assert train_main(args + ["trainer.max_epochs=2", f"trainer.resume={first.path}"]) == 0
    run = _only_run(logdir)                                 # the same run, not a new one
    assert run.id == first.id and run.status == "success"
    assert run.scalars("val/acc").steps == [9, 19]          # the curve goes on; only the second epoch ran again
    loss_steps = run.scalars("train/loss").steps
    assert loss_steps == sorted(set(loss_steps)) and max(loss_steps) >= 10, loss_steps
    assert [e["event"] for e in run.events if e["event"] in ("start", "resume")] == ["start", "resume"]
    assert run.config["trainer"]["resume"] == first.path and run.config["trainer"]["max_epochs"] == 2
    assert os.path.isfile(os.path.join(run.path, "checkpoints", "last.ckpt"))


@pytest.mark.parametrize("backend,last", [
    ("lightning", "last.ckpt"),
    pytest.param("paddle", "last.pdparams", marks=pytest.mark.skipif(importlib.util.find_spec("paddle") is None,
                                                                     reason="PaddlePaddle is not installed"))])
def test_resume_refuses_a_run_still_being_written(backend, last, logdir, capsys):
    live = seetrain.init(project="train", logdir=logdir, system_metrics=False, console="off")
    try:
        os.makedirs(os.path.join(live.dir, "checkpoints"))
        open(os.path.join(live.dir, "checkpoints", last), "wb").close()
        assert train_main(TINY + [f"trainer.backend={backend}", f"trainer.resume={live.dir}"]) == 2
        err = capsys.readouterr().err
        assert f"its run {live.id}" in err and "still running" in err
        assert len(seetrain.list_runs(logdir, project="train")) == 1    # nothing new was started
    finally:
        live.finish()


def test_resume_from_a_checkpoint_outside_any_run_starts_a_new_run(logdir, tmp_path):
    import shutil

    args = FAST + ["data=synthetic", "data.num_samples=160", "data.batch_size=16", "model.width=8"]
    assert train_main(args + ["trainer.max_epochs=1"]) == 0
    first = _only_run(logdir)
    ckpt = shutil.copy(os.path.join(first.path, "checkpoints", "last.ckpt"), tmp_path / "mine.ckpt")
    assert train_main(args + ["trainer.max_epochs=2", f"trainer.resume={ckpt}"]) == 0
    second = [r for r in seetrain.list_runs(logdir) if r.id != first.id][0]
    assert second.scalars("val/acc").steps == [19] and min(second.scalars("train/loss").steps) >= 10
    assert first.refresh().scalars("val/acc").steps == [9]


@pytest.mark.parametrize("model", ["resnet18", "efficientnet_b0"])
@pytest.mark.parametrize("data", ["synthetic", "cifar10"])
def test_zoo_trains_a_few_steps_on_32x32(model, data, logdir, data_server, tmp_path):
    extra = mirror_args(data_server, data, str(tmp_path)) if data == "cifar10" else ["data=synthetic", "data.num_samples=64"]
    assert train_main(TINY + extra + [f"model={model}", "trainer.log_every_n_steps=1"]) == 0
    r = _only_run(logdir)
    assert r.status == "success" and r.config["model"]["name"] == model
    assert r.scalars("train/loss").steps == [0, 1]  # both optimizer steps trained and logged
    assert len(r.scalars("val/acc").values) == 1


def test_mixed_datasets_train_with_accumulation_and_bf16(logdir):
    assert train_main(TINY + ["data=mix", "data.labels=offset", "data.image_size=16", "data.channels=3",
                              "data.sources=[{name: digits, weight: 2}, {name: synthetic, num_samples: 64, num_classes: 4}]",
                              "trainer.accumulate_grad_batches=2", "trainer.precision=bf16-mixed"]) == 0
    r = _only_run(logdir)
    assert r.status == "success" and r.config["data_info"]["num_classes"] == 14
    assert r.config["precision_used"] == "bf16-mixed"
    assert r.scalars("val/acc").steps == [0]               # 2 batches, accumulated into 1 optimizer step


def test_pretrained_weights_only_when_reachable(logdir, tmp_path, capsys, monkeypatch):
    import http.server
    import threading

    import torch

    monkeypatch.setenv("SEETRAIN_DATA_DIR", str(tmp_path / "cache"))  # not a copy cached by an earlier session

    from seetrain.train.models.small import small_cnn

    ref = small_cnn(num_classes=10, in_channels=1, image_size=8, width=8)
    torch.save(ref.state_dict(), tmp_path / "w.pth")
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **kw)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/w.pth"
        from seetrain.train.runner import plan

        _, _, model = plan(load_config(TINY + ["model.width=8", f"model.pretrained={url}"]))
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref.state_dict().values()))
        assert train_main(TINY + ["model.width=8", f"model.pretrained={url}x"]) == 2
        assert "could not download" in capsys.readouterr().err and not seetrain.list_runs(logdir)
    finally:
        srv.shutdown()


def test_apt_language_model_is_a_task(logdir):
    assert train_main(FAST + ["experiment=apt_lm", "model.d_model=32", "model.n_heads=2", "model.n_layers=1",
                              "model.rank=8", "model.attn_rank=4", "model.max_seq_len=32", "data.seq_len=32",
                              "data.max_chars=20000", "data.train_windows=160", "data.batch_size=8",
                              "trainer.max_epochs=1", "trainer.limit_val_batches=4", "trainer.checkpoint.enabled=false"]) == 0
    r = _only_run(logdir, "apt")
    assert r.status == "success" and r.config["task"] == "language_model" and r.config["model"]["type"] == "apt"
    loss = r.scalars("train/loss").values
    assert r.scalars("val/loss").values and loss[-1] < loss[0]


@pytest.mark.timeout(900)  # two fresh processes: the command (rank 0) and the rank 1 Lightning starts
def test_ddp_over_two_cpu_processes_from_config_alone(logdir, tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "seetrain.cli", "train"] + TINY + [
        "data.subset=200", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    res = subprocess.run(cmd, cwd=tmp_path, env=child_env(SEETRAIN_LOGDIR=logdir), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    r = _only_run(logdir)                                  # rank zero records; rank one does not
    assert r.status == "success" and r.config["world_size"] == 2
    assert res.stdout.count("best val/acc") == 1 and r.scalars("val/acc").values
