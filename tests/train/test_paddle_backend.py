"""``trainer.backend=paddle``: real PaddlePaddle training on CPU through ``seetrain train`` with the
same configs as the Lightning backend: accuracy, tracking, checkpoints and resume, the model zoo,
and one clear message for every option or model the backend cannot do."""

from __future__ import annotations

import math
import os
import re

import pytest

pytest.importorskip("paddle")
pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402
from seetrain.train.config import load_config  # noqa: E402
from seetrain.train.errors import TrainConfigError  # noqa: E402
from seetrain.train.registry import MODELS  # noqa: E402

from .conftest import FAST  # noqa: E402
from .test_errors import CASES  # noqa: E402

PADDLE = ["trainer.backend=paddle"] + FAST
TINY = PADDLE + ["trainer.max_epochs=1", "trainer.log_every_n_steps=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
                 "data.batch_size=8", "trainer.checkpoint.enabled=false"]
ZOO = ["small_cnn", "small_vit", "resnet18", "resnet34", "resnet50", "efficientnet_b0"]


def _runs(logdir, project="train"):
    return sorted(seetrain.list_runs(logdir, project=project), key=lambda r: r.path)


def test_digits_small_cnn_reaches_095_in_one_command(logdir, capsys):
    assert train_main(PADDLE + ["model=small_cnn", "data=digits", "trainer.max_epochs=3"]) == 0
    out = capsys.readouterr().out
    (r,) = _runs(logdir)
    assert r.status == "success" and r.name == "small_cnn-digits"
    acc = r.scalars("val/acc")
    assert acc.steps == [21, 43, 65] and max(acc.values) >= 0.95, acc.values  # 1438 // 64 = 22 batches an epoch
    assert f"best val/acc: {max(acc.values):.4f}" in out and f"run dir: {r.path}" in out
    # the same keys as the Lightning backend, the full resolved config, the backend and its precision
    loss = r.scalars("val/loss").values
    assert len(loss) == 3 and loss[-1] < loss[0]
    assert len(r.scalars("train/loss").values) >= 6 and "train/step" not in r.keys()
    assert r.scalars("train/lr").values[-1] < r.config["optim"]["lr"]      # the cosine schedule ran
    expected = load_config(PADDLE + ["model=small_cnn", "data=digits", "trainer.max_epochs=3"])
    assert {k: r.config[k] for k in expected} == expected
    assert r.config["backend"] == "paddle" and r.config["precision"] == "float32"   # CPU: no paddle AMP here
    assert r.config["num_parameters"] == sum(p.numel() for p in MODELS.get("small_cnn", "torch").fn(
        num_classes=10, in_channels=1, image_size=8).parameters())
    assert r.config["_framework"] == "paddle" and "Conv2D" in r.config["model_info"]["summary"]
    ckpts = os.listdir(os.path.join(r.path, "checkpoints"))
    assert "last.pdparams" in ckpts and "last.pdopt" in ckpts and any(c.startswith("epoch") for c in ckpts)


def test_resume_continues_steps_epochs_and_schedule(logdir):
    args = PADDLE + ["data=synthetic", "data.num_samples=160", "data.batch_size=16", "model.width=8"]
    assert train_main(args + ["trainer.max_epochs=1"]) == 0
    (first,) = _runs(logdir)
    assert first.scalars("val/acc").steps == [9]
    assert train_main(args + ["trainer.max_epochs=2", f"trainer.resume={first.path}"]) == 0
    (run,) = _runs(logdir)                                  # the checkpoint's run goes on: one run, not two
    assert run.id == first.id and run.status == "success"
    assert run.scalars("val/acc").steps == [9, 19]          # only the second epoch ran again
    lr = run.scalars("train/lr")
    assert 10 in lr.steps and set(run.scalars("train/epoch").values) == {0, 1}
    # the cosine schedule over 2 x 10 steps continues where it stopped: half the peak at step 10
    assert lr.values[lr.steps.index(10)] == pytest.approx(0.003 * 0.5 * (1 + math.cos(math.pi * 10 / 20)), rel=1e-5)
    assert [e["event"] for e in run.events if e["event"] in ("start", "resume")] == ["start", "resume"]
    # a checkpoint copied out of its run resumes the weights into a new run; a finished training trains nothing more
    import shutil

    out = os.path.join(logdir, "..", "elsewhere")
    os.makedirs(out)
    for ext in (".pdparams", ".pdopt", ".json"):
        shutil.copy(os.path.join(run.path, "checkpoints", "last" + ext), out)
    assert train_main(args + ["trainer.max_epochs=2", f"trainer.resume={os.path.join(out, 'last.pdparams')}"]) == 0
    other = [r for r in _runs(logdir) if r.id != first.id][0]
    assert other.status == "success" and not other.scalars("train/loss").values


@pytest.mark.parametrize("model", ["resnet18", "efficientnet_b0", "small_vit"])
def test_zoo_trains_a_few_steps_on_32x32(model, logdir):
    small = ["model.width=16"] if model == "resnet18" else ["model.width_mult=0.5"] if model == "efficientnet_b0" else []
    assert train_main(TINY + ["data=synthetic", "data.num_samples=64", f"model={model}"] + small) == 0
    (r,) = _runs(logdir)
    assert r.status == "success" and r.config["model"]["name"] == model
    assert r.scalars("train/loss").steps == [0, 1] and len(r.scalars("val/acc").values) == 1


def test_zoo_has_the_same_models_and_parameters_as_torch():
    paddle = pytest.importorskip("paddle")
    for name in ZOO:
        tp, pp = MODELS.get(name, "torch"), MODELS.get(name, "paddle")
        assert tp.parameters() == pp.parameters(), name      # one YAML serves both backends
        kw = dict(num_classes=7, in_channels=3, image_size=32, **({"width": 16} if name.startswith("resnet") else {}))
        net = pp.fn(**kw)
        assert sum(int(p.size) for p in net.parameters() if not p.stop_gradient) == \
            sum(p.numel() for p in tp.fn(**kw).parameters()), name
        if name in ("small_cnn", "resnet50"):
            net.eval()
            assert tuple(net(paddle.zeros([2, 3, 32, 32])).shape) == (2, 7)


def test_default_thread_setting_auto_trains(logdir):
    args = [a for a in TINY if not a.startswith("trainer.num_threads")]
    assert load_config(args)["trainer"]["num_threads"] == "auto"
    assert train_main(args + ["data=synthetic", "data.num_samples=64", "model.width=8"]) == 0
    assert _runs(logdir)[0].status == "success"


def test_validation_hook_stops_and_early_stopping(logdir):
    from seetrain.train.runner import run

    seen = []

    def hook(epoch, step, metrics):
        seen.append((epoch, step, sorted(metrics)))
        return "pruned" if epoch == 1 else None

    cfg = load_config(PADDLE + ["data=synthetic", "data.num_samples=64", "data.batch_size=16", "model.width=8",
                                "trainer.max_epochs=5", "trainer.checkpoint.enabled=false"])
    res = run(cfg, hooks=[hook])
    assert res.stop_reason == "pruned" and res.epochs == 2 and res.steps == 8
    assert seen == [(0, 4, ["val/acc", "val/loss"]), (1, 8, ["val/acc", "val/loss"])]
    assert _runs(logdir)[0].status == "killed"
    # early stopping with a patience of 1 and an impossible min_delta: stops after the second validation
    res = run(load_config(PADDLE + ["data=synthetic", "data.num_samples=64", "data.batch_size=16", "model.width=8",
                                    "trainer.max_epochs=5", "trainer.checkpoint.enabled=false", "logger=none",
                                    "trainer.early_stopping.enabled=true", "trainer.early_stopping.patience=1",
                                    "trainer.early_stopping.min_delta=10.0"]))
    assert res.epochs == 2 and res.run_dir is None


def test_accumulation_max_steps_and_limits(logdir):
    assert train_main(PADDLE + ["data=synthetic", "data.num_samples=160", "data.batch_size=16", "model.width=8",
                                "trainer.accumulate_grad_batches=2", "trainer.max_steps=7", "trainer.log_every_n_steps=1", "trainer.max_epochs=5",
                                "trainer.limit_val_batches=2", "trainer.checkpoint.enabled=false",
                                "trainer.gradient_clip_val=1.0", "optim.name=sgd", "scheduler.name=onecycle"]) == 0
    (r,) = _runs(logdir)
    # 10 batches an epoch -> 5 optimizer steps; 7 steps = 14 batches, then it stops
    assert r.scalars("train/loss").steps == list(range(14)) and r.scalars("val/acc").steps == [9, 13]
    lr = r.scalars("train/lr").values
    assert lr[0] == lr[1] and lr[2] > lr[0]          # the schedule moves once per optimizer step (2 batches)


SKIP = {"trainer.backend=lightnin", "trainer.strategy=dpp", "trainer.val_check_interval=500",
        "trainer.resume=/nonexistent/x.ckpt", "model.pretrained=true", "experiment=apt_lm data.seq_len=4096"}
SHARED = [c for c in CASES if " ".join(c[0]) not in SKIP]
PADDLE_CASES = SHARED + [
    (["trainer.precision=bf16-mixed"], r"trainer.precision=bf16-mixed: PaddlePaddle has no bfloat16 mixed precision "
                                       r"on this CPU \(PaddlePaddle's auto_cast runs only on GPU, XPU and custom "
                                       r"devices\); on CPU use bf16-mixed with trainer.backend=lightning"),
    (["trainer.precision=16-mixed"], r"float16 mixed precision needs a GPU, and this run would train on the CPU"),
    (["trainer.precision=64-true"], r"use trainer.backend=lightning for float64"),
    (["trainer.devices=2"], r"trainer.devices=2: the paddle backend trains on one device per command; use "
                            r"trainer.backend=lightning for several devices"),
    (["trainer.strategy=ddp"], r"trainer.strategy=ddp: distributed strategies are not available with "
                               r"trainer.backend=paddle; use trainer.backend=lightning"),
    (["trainer.accelerator=mps"], r"trainer.accelerator=mps is not available with trainer.backend=paddle"),
    (["trainer.val_check_interval=0.5"], r"validates at the end of an epoch"),
    (["trainer.limit_train_batches=0"], r"trainer.limit_train_batches must be > 0"),
    (["experiment=apt_lm"], r"trainer.backend=paddle cannot train task=language_model; use trainer.backend=lightning"),
    (["trainer.resume=/nonexistent/x.ckpt"], r"is a Lightning checkpoint; trainer.backend=paddle resumes from its own"),
    (["trainer.resume=/nonexistent/last.pdparams"], r"trainer.resume=/nonexistent/last.pdparams: no such checkpoint"),
    (["model.pretrained=true"], r"model 'small_cnn' has no published PaddlePaddle weights.*use trainer.backend=lightning"),
    (["model.pretrained=/nonexistent/w.pdparams"], r"model.pretrained=/nonexistent/w.pdparams: no such file"),
]


@pytest.mark.parametrize("args,message", PADDLE_CASES, ids=[" ".join(a) for a, _ in PADDLE_CASES])
def test_boundary_case_message_and_no_run(args, message, logdir, capsys):
    assert train_main(PADDLE + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("seetrain train: ") and re.search(message, err), err
    assert len(err.strip().splitlines()) == 1, err
    assert not seetrain.list_runs(logdir)


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed", "bf16-true"])
def test_cpu_mixed_precision_is_refused_even_where_paddle_reports_support(precision, logdir, capsys, monkeypatch):
    """A CPU with AVX-512 makes paddle.amp.is_bfloat16_supported("cpu") True, yet paddle's auto_cast has no
    effect on a CPU: the clear error on every CPU, never a traceback and never a run claiming bfloat16."""
    import paddle

    monkeypatch.setattr(paddle.amp, "is_bfloat16_supported", lambda *a, **k: True)   # as on an AVX-512 CPU
    monkeypatch.setattr(paddle.amp, "is_float16_supported", lambda *a, **k: True)
    assert train_main(TINY + [f"trainer.precision={precision}"]) == 2
    err = capsys.readouterr().err
    said = "float16 mixed precision needs a GPU, and this run would train on the CPU" if precision.startswith("16") \
        else "PaddlePaddle has no bfloat16 mixed precision on this CPU"   # float16: the same words as on Lightning
    assert err.startswith(f"seetrain train: trainer.precision={precision}: {said}") and \
        len(err.strip().splitlines()) == 1, err
    assert not seetrain.list_runs(logdir)


@pytest.mark.parametrize("precision,dtype", [("bf16-mixed", "bfloat16"), ("bf16-true", "bfloat16"),
                                             ("16-mixed", "float16"), ("auto", "bfloat16")])
def test_mixed_precision_trains_where_paddle_supports_it(precision, dtype, logdir, monkeypatch):
    """The supported branch on any machine: the capability query answers yes (as on a bf16/fp16 GPU), and a
    real training runs through paddle.Model.prepare / fit with the plan for that dtype (on this CPU paddle
    computes float32 underneath: auto_cast has no effect there, which is why the real query says no)."""
    from seetrain.train.backends import paddle_precision

    monkeypatch.setattr(paddle_precision, "amp_supported", lambda dtype, device: True)
    assert train_main(TINY + ["model.width=8", f"trainer.precision={precision}"]) == 0
    (r,) = _runs(logdir)
    assert r.status == "success" and r.config["precision"] == dtype
    assert len(r.scalars("train/loss").values) == 2 and all(math.isfinite(v) for v in r.scalars("train/loss").values)


def test_bfloat16_forward_keeps_parameter_names_and_returns_float32():
    """bfloat16 wraps the forward (hapi's amp_configs take no dtype): checkpoints keep their keys, and the
    loss sees float32 outputs."""
    import numpy as np
    import paddle

    from seetrain.train.backends.paddle_precision import PaddlePrecision

    net = MODELS.get("small_cnn", "paddle").fn(num_classes=10, in_channels=1, image_size=8, width=8)
    keys = list(net.state_dict())
    opt = paddle.optimizer.Adam(parameters=net.parameters())
    plan = PaddlePrecision("bfloat16", "O1")
    assert plan.hapi_amp_configs is None and PaddlePrecision("float16", "O2").hapi_amp_configs == {"level": "O2"}
    plan.apply(net, opt)
    out = net(paddle.to_tensor(np.random.rand(4, 1, 8, 8).astype("float32")))
    assert out.dtype == paddle.float32 and list(out.shape) == [4, 10] and list(net.state_dict()) == keys


def test_pretrained_paddle_weights_load(tmp_path):
    import numpy as np
    import paddle

    from seetrain.train.runner import plan

    ref = MODELS.get("small_cnn", "paddle").fn(num_classes=10, in_channels=1, image_size=8, width=8)
    paddle.save(ref.state_dict(), str(tmp_path / "w.pdparams"))
    _, _, net = plan(load_config(TINY + ["model.width=8", f"model.pretrained={tmp_path / 'w.pdparams'}"]))
    for (k, a), b in zip(net.state_dict().items(), ref.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    with pytest.warns(UserWarning, match="pretrained weights loaded except fc, features.0, features.1"):
        plan(load_config(TINY + ["model.width=16", f"model.pretrained={tmp_path / 'w.pdparams'}"]))
    paddle.save({"encoder.weight": paddle.zeros([3, 3])}, str(tmp_path / "other.pdparams"))
    with pytest.raises(TrainConfigError, match="none of its tensors fit model 'small_cnn'"):
        plan(load_config(TINY + [f"model.pretrained={tmp_path / 'other.pdparams'}"]))


def test_sweep_trains_trials_on_paddle(logdir, tmp_path):
    pytest.importorskip("optuna")
    from seetrain.train.commands import sweep_main

    assert sweep_main(["hparams_search=digits_small_cnn", "trainer.backend=paddle", "trainer.enable_progress_bar=false",
                       "trainer.num_threads=1", "data.subset=400", "+hparams_search.overrides.trainer.max_epochs=1",
                       "+hparams_search.overrides.trainer.limit_train_batches=4",
                       f"+hparams_search.output_dir={tmp_path / 'sweep'}", "--n-trials", "2"]) == 0
    runs = seetrain.list_runs(logdir)
    assert len(runs) == 2 and all(r.config["backend"] == "paddle" and r.scalars("val/acc").values for r in runs)
    assert (tmp_path / "sweep" / "best_config.yaml").read_text().count("backend: paddle") == 1


def test_an_error_during_training_reaches_the_caller_and_the_run_is_crashed(logdir):
    from seetrain.train.runner import run

    def hook(epoch, step, metrics):
        raise RuntimeError("disk full while saving")

    cfg = load_config(PADDLE + ["data=synthetic", "data.num_samples=64", "data.batch_size=16", "model.width=8",
                                "trainer.max_epochs=2", "trainer.checkpoint.enabled=false"])
    with pytest.raises(RuntimeError, match="disk full while saving"):
        run(cfg, hooks=[hook])
    (r,) = _runs(logdir)
    assert r.status == "crashed" and r.scalars("train/loss").values
