"""SeeTrainPaddleCallback with a real ``paddle.Model.fit`` on scikit-learn's digits (CPU)."""

from __future__ import annotations

import os
import textwrap

import pytest

import seetrain

paddle = pytest.importorskip("paddle")

from seetrain.integration.callbacks.paddle import SeeTrainPaddleCallback  # noqa: E402
from tests._child import run_python  # noqa: E402


class _Recorder(paddle.callbacks.Callback):
    """What paddle.Model itself reports to callbacks, to compare with the run."""

    def __init__(self):
        super().__init__()
        self.train, self.epochs, self.evals, self.lrs = [], [], [], []

    def on_train_batch_end(self, step, logs=None):
        self.train.append(dict(logs))
        self.lrs.append(float(self.model._optimizer.get_lr()))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs))

    def on_eval_end(self, logs=None):
        self.evals.append(dict(logs))


class _Digits(paddle.io.Dataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __len__(self):
        return len(self.x)


def _datasets():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    y = y.astype("int64").reshape(-1, 1)
    return _Digits(x[:1400], y[:1400]), _Digits(x[1400:], y[1400:])


def _model(lr=0.05):
    paddle.seed(0)
    net = paddle.nn.Sequential(paddle.nn.Linear(64, 32), paddle.nn.ReLU(), paddle.nn.Linear(32, 10))
    model = paddle.Model(net)
    sched = paddle.optimizer.lr.StepDecay(learning_rate=lr, step_size=20, gamma=0.5)
    model.prepare(paddle.optimizer.Adam(learning_rate=sched, parameters=net.parameters()),
                  paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy())
    return model


def _num(v):
    return float(v[0] if isinstance(v, (list, tuple)) else v)


def test_fit_records_what_paddle_reports(logdir):
    train, val = _datasets()
    model = _model()
    rec = _Recorder()
    cb = SeeTrainPaddleCallback(project="paddle", experiment_name="digits-mlp", config={"batch_size": 100})
    model.fit(train, val, epochs=3, batch_size=100, verbose=0, callbacks=[cb, rec])
    cb.finish()

    (r,) = seetrain.list_runs(logdir)
    assert r.status == "success" and r.name == "digits-mlp"
    steps_per_epoch = 14  # 1400 samples / batch 100
    loss = r.scalars("train/loss")
    assert loss.steps == list(range(3 * steps_per_epoch))
    assert loss.values == pytest.approx([_num(t["loss"]) for t in rec.train], rel=1e-6)
    assert r.scalars("train/acc").values == pytest.approx([_num(t["acc"]) for t in rec.train], rel=1e-6)
    assert r.scalars("train/lr").values == pytest.approx(rec.lrs, rel=1e-6)
    assert r.scalars("train/lr").values[-1] < r.scalars("train/lr").values[0]  # the schedule decays
    assert r.scalars("train/epoch").values == [e for e in range(3) for _ in range(steps_per_epoch)]
    assert r.scalars("epoch/acc").values == pytest.approx([_num(e["acc"]) for e in rec.epochs], rel=1e-6)
    ev = r.scalars("eval/acc")
    assert ev.steps == [steps_per_epoch * (e + 1) - 1 for e in range(3)]
    assert ev.values == pytest.approx([_num(e["acc"]) for e in rec.evals], rel=1e-6)
    assert r.scalars("eval/loss").values == pytest.approx([_num(e["loss"]) for e in rec.evals], rel=1e-6)
    assert ev.values[-1] > 0.8  # it really trained (chance is 0.1)
    cfg = r.config
    assert cfg["batch_size"] == 100 and cfg["_framework"] == "paddle"
    flat = {k: v for k, v in cfg.items()}
    fit = flat.get("fit") or {k.split("/", 1)[1]: v for k, v in flat.items() if k.startswith("fit/")}
    assert fit["epochs"] == 3 and fit["steps"] == steps_per_epoch
    model_info = flat.get("model") or {k.split("/", 1)[1]: v for k, v in flat.items() if k.startswith("model/")}
    assert model_info["num_parameters"] == 64 * 32 + 32 + 32 * 10 + 10
    assert "Linear" in model_info["summary"]
    opt = flat.get("optimizer") or {k.split("/", 1)[1]: v for k, v in flat.items() if k.startswith("optimizer/")}
    assert opt["class"] == "Adam" and opt["lr_scheduler"] == "StepDecay"


def test_evaluate_outside_fit_and_log_every_n_steps(logdir):
    train, val = _datasets()
    model = _model()
    cb = SeeTrainPaddleCallback(project="paddle", log_every_n_steps=5)
    model.fit(train, epochs=1, batch_size=100, verbose=0, callbacks=[cb])
    result = model.evaluate(val, batch_size=200, verbose=0, callbacks=[cb])
    cb.finish()
    (r,) = seetrain.list_runs(logdir)
    assert r.scalars("train/loss").steps == [0, 5, 10]
    ev = r.scalars("eval/acc")
    assert ev.steps == [13] and ev.values[0] == pytest.approx(_num(result["acc"]), rel=1e-6)


def test_registry_and_unified_init(logdir):
    from seetrain import integration

    it = integration.init("paddle", project="paddle-unified")
    cb = it.get_callback()
    assert isinstance(cb, SeeTrainPaddleCallback)
    train, _ = _datasets()
    _model().fit(train, epochs=1, batch_size=200, verbose=0, callbacks=[cb])
    cb.finish()
    (r,) = seetrain.list_runs(logdir)
    assert r.project == "paddle-unified" and len(r.scalars("train/loss").steps) == 7


def test_import_seetrain_loads_no_paddle():
    code = "import sys, seetrain, seetrain.integration; print('paddle' in sys.modules)"
    out = run_python(["-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_exception_during_fit_ends_run_crashed(tmp_path):
    """A fit that raises (an uncaught error in the user's loss) ends the run as crashed, and the
    program still ends as it would without SeeTrain (the traceback and exit status 1)."""
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import paddle
        from test_paddle import _datasets, _model
        from seetrain.integration.callbacks.paddle import SeeTrainPaddleCallback

        class Boom(paddle.callbacks.Callback):
            def on_train_batch_end(self, step, logs=None):
                if step == 3:
                    raise RuntimeError("loss went NaN at step 3")

        train, _ = _datasets()
        _model().fit(train, epochs=1, batch_size=100, verbose=0,
                     callbacks=[SeeTrainPaddleCallback(project="crash"), Boom()])
    """))
    env = dict(os.environ, SEETRAIN_LOGDIR=str(tmp_path / "logs"))
    out = run_python([str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 1 and "loss went NaN at step 3" in out.stderr
    (r,) = seetrain.list_runs(str(tmp_path / "logs"))
    assert r.status == "crashed"
    assert r.scalars("train/loss").steps == [0, 1, 2, 3]


def test_bad_argument_is_clear():
    with pytest.raises(ValueError, match="log_every_n_steps must be a positive int"):
        SeeTrainPaddleCallback(log_every_n_steps=0)


def test_user_config_keys_kept_and_no_bookkeeping_keys(logdir):
    """A user config with ``model``/``fit`` keeps them (the summaries go to ``*_info``); paddle's
    ``step`` (the batch index in its logs) is not recorded as a metric."""
    train, val = _datasets()
    model = _model()
    user = {"model": {"name": "mlp", "width": 32}, "fit": "mine"}
    cb = SeeTrainPaddleCallback(project="paddle", config=user)
    model.fit(train, val, epochs=1, batch_size=200, verbose=0, callbacks=[cb])
    cb.finish()
    (r,) = seetrain.list_runs(logdir)
    assert r.config["model"] == user["model"] and r.config["fit"] == "mine"
    assert r.config["model_info"]["class"] == "Sequential" and r.config["fit_info"]["epochs"] == 1
    assert r.config["optimizer"]["class"] == "Adam"
    assert not [k for k in r.keys() if k.endswith("/step")], r.keys()


def test_resumed_counts_and_eval_prefix(logdir):
    """``initial_step``/``initial_epoch`` continue a resumed training's axes; ``eval_prefix`` renames eval/*."""
    train, val = _datasets()
    cb = SeeTrainPaddleCallback(project="paddle", eval_prefix="val", initial_step=28, initial_epoch=2)
    _model().fit(train, val, epochs=1, batch_size=100, verbose=0, callbacks=[cb])
    cb.finish()
    (r,) = seetrain.list_runs(logdir)
    assert r.scalars("train/loss").steps == list(range(28, 42))
    assert r.scalars("train/epoch").values == [2] * 14 and r.scalars("epoch/epoch").values == [2]
    assert r.scalars("val/acc").steps == [41] and r.scalars("val/epoch").values == [2] and "eval/acc" not in r.keys()
