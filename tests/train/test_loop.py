"""The Lightning backend's own training loop: exact mid-epoch resume, checkpoint keeping, early
stopping, max_steps, the progress bar, and checkpoints it cannot resume from."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402

from .conftest import FAST  # noqa: E402
from tests._child import popen_python  # noqa: E402

SMALL = FAST + ["data=synthetic", "data.num_samples=160", "data.batch_size=16", "model.width=8"]  # 10 steps an epoch


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_resume_mid_epoch_trains_exactly_as_without_the_stop(logdir):
    """Stopped half-way through epoch 1 and resumed, training ends with the same weights, and its run
    has the same curves, as a run that never stopped: data order, dropout, optimizer and the logged
    loss mean that spans the stop all go on."""
    args = SMALL + ["model.dropout=0.3", "scheduler.name=none", "trainer.max_epochs=2", "trainer.val_check_interval=0.5"]
    assert train_main(args + ["logger.project=whole"]) == 0
    assert train_main(args + ["logger.project=cut", "trainer.max_steps=15"]) == 0
    (whole,), (cut,) = seetrain.list_runs(logdir, project="whole"), seetrain.list_runs(logdir, project="cut")
    ckpt = torch.load(os.path.join(cut.path, "checkpoints", "last.ckpt"), map_location="cpu", weights_only=True)
    assert (ckpt["loop"]["epoch"], ckpt["loop"]["batches"], ckpt["loop"]["global_step"]) == (1, 5, 15)
    assert train_main([f"trainer.resume={cut.path}", "trainer.max_steps=-1"]) == 0  # its own config, no step limit
    cut = cut.refresh()
    a, b = (_weights(os.path.join(r.path, "checkpoints", "last.ckpt")) for r in (whole, cut))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run's"
    for key in ("train/loss", "val/acc", "val/loss", "train/lr"):
        assert cut.scalars(key).steps == whole.scalars(key).steps, key
        assert cut.scalars(key).values == whole.scalars(key).values, key
    assert whole.scalars("train/loss").steps == [9, 19]      # step 19's mean spans the stop at step 15


def test_one_config_trains_to_the_same_figures_twice(logdir):
    """A fixed seed means a run can be reproduced: the same first weights, data order and curves."""
    args = SMALL + ["trainer.max_epochs=2", "model.dropout=0.2", "trainer.log_every_n_steps=2",
                    "trainer.checkpoint.enabled=false"]
    assert train_main(args) == 0 and train_main(args) == 0
    a, b = seetrain.list_runs(logdir)
    assert a.id != b.id
    assert a.scalars("train/loss").values == b.scalars("train/loss").values
    assert a.scalars("val/acc").values == b.scalars("val/acc").values


def test_top_k_checkpoints_and_last_are_kept(logdir):
    assert train_main(SMALL + ["trainer.max_epochs=4", "trainer.checkpoint.save_top_k=2", "optim.lr=0.01"]) == 0
    run = seetrain.list_runs(logdir)[0]
    acc = run.scalars("val/acc").values
    files = sorted(f for f in os.listdir(os.path.join(run.path, "checkpoints")))
    assert "last.ckpt" in files and not [f for f in files if f.endswith(".part")]
    best = sorted(acc, reverse=True)[:2]
    kept = sorted(float(f.split("val_acc")[1][:-5]) for f in files if f.startswith("epoch"))
    assert kept == sorted(round(v, 4) for v in best), (files, acc)
    assert len(files) == 3
    # a checkpoint's weights start another training: model.pretrained=<checkpoint>
    from seetrain.train.config import load_config
    from seetrain.train.runner import plan

    last = os.path.join(run.path, "checkpoints", "last.ckpt")
    _, _, model = plan(load_config(SMALL + [f"model.pretrained={last}", "logger=none"]))
    saved = _weights(last)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def test_early_stopping_stops_when_the_metric_stalls(logdir):
    # lr=0: the weights never change, so val/acc never improves after the first validation
    assert train_main(SMALL + ["trainer.max_epochs=20", "optim.lr=0.0", "scheduler.name=none",
                               "trainer.early_stopping.enabled=true", "trainer.early_stopping.patience=2"]) == 0
    run = seetrain.list_runs(logdir)[0]
    assert run.status == "success" and len(run.scalars("val/acc").values) == 3   # the first, then 2 without gain


def test_max_steps_ends_mid_epoch_with_a_final_validation(logdir, capsys):
    assert train_main(SMALL + ["trainer.max_epochs=5", "trainer.max_steps=13", "trainer.log_every_n_steps=4"]) == 0
    run = seetrain.list_runs(logdir)[0]
    assert run.scalars("val/acc").steps == [9, 12]          # the end of epoch 0, then where training stopped
    assert run.scalars("train/loss").steps == [3, 7, 11]
    assert "after 13 steps, 2 epochs" in capsys.readouterr().out


def test_progress_bar_shows_epochs_loss_and_the_metric(logdir, capfd):
    args = [a for a in SMALL if a != "trainer.enable_progress_bar=false"]
    assert train_main(args + ["trainer.max_epochs=2", "trainer.log_every_n_steps=5", "trainer.checkpoint.enabled=false"]) == 0
    err = capfd.readouterr().err
    assert "Epoch 0" in err and "Epoch 1" in err and "10/10" in err
    assert "loss=" in err and "acc=" in err


def test_a_lightning_trainer_checkpoint_is_refused_before_any_run(logdir, tmp_path, capsys):
    path = tmp_path / "old.ckpt"
    torch.save({"pytorch-lightning_version": "2.6.0", "state_dict": {}, "epoch": 1, "global_step": 10}, path)
    assert train_main(SMALL + [f"trainer.resume={path}"]) == 2
    err = capsys.readouterr().err
    assert "a PyTorch Lightning Trainer checkpoint" in err and "model.pretrained=PATH" in err
    assert not seetrain.list_runs(logdir)


@pytest.mark.timeout(600)
def test_ctrl_c_marks_the_run_killed_and_says_how_to_go_on(logdir, tmp_path):
    """SIGINT mid-training: exit 130 with a one-line note (no traceback), the run ``killed``, and the
    ``trainer.resume=`` it names continues that run."""
    import signal
    import subprocess
    import time

    args = SMALL + ["trainer.max_epochs=100000", "trainer.log_every_n_steps=1"]
    proc = popen_python(["-m", "seetrain.cli", "train"] + args, cwd=tmp_path, text=True,
                        env={**os.environ, "SEETRAIN_LOGDIR": logdir}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            runs = seetrain.list_runs(logdir)
            if runs and os.path.isfile(os.path.join(runs[0].path, "checkpoints", "last.ckpt")):
                break
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    run = seetrain.list_runs(logdir)[0]
    assert "Traceback" not in err and "interrupted at step" in err, err[-2000:]
    assert f"go on with: seetrain train trainer.resume={run.path}" in err, err[-2000:]
    assert run.status == "killed"
    done = max(run.scalars("train/loss").steps)
    epochs = done // 10 + 2
    assert train_main(SMALL + [f"trainer.max_epochs={epochs}", f"trainer.resume={run.path}"]) == 0
    (again,) = seetrain.list_runs(logdir)
    assert again.id == run.id and again.status == "success" and max(again.scalars("train/loss").steps) == epochs * 10 - 1
