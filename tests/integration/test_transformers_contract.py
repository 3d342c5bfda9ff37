"""Transformers: report_to="seetrain" after `import seetrain` alone, log_model, side by side, entry points."""

from __future__ import annotations

import json
import os

import pytest
import torch

import seetrain

transformers = pytest.importorskip("transformers")

from seetrain.integration.callbacks.transformers import SeeTrainCallback  # noqa: E402

from .test_transformers import _args, _gpt2, _Tokens  # noqa: E402
from tests._child import run_python  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _python(code, logdir, **env):
    full = dict(os.environ, SEETRAIN_LOGDIR=str(logdir), OMP_NUM_THREADS="1", **env)
    return run_python(["-c", code], env=full, cwd=ROOT, capture_output=True, text=True,
                      timeout=180)


_REPORT_TO = r"""
import sys
import seetrain
assert "transformers" not in sys.modules and "torch" not in sys.modules, "import seetrain loaded a framework"
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
from tests.integration.test_transformers import _Tokens
args = TrainingArguments("OUT", report_to="seetrain", max_steps=2, logging_steps=1, per_device_train_batch_size=4,
                         use_cpu=True, save_strategy="no", disable_tqdm=True)
model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2))
Trainer(model=model, args=args, train_dataset=_Tokens(8)).train()
"""


def test_report_to_seetrain_works_after_import_seetrain_alone(tmp_path):
    code = _REPORT_TO.replace("OUT", str(tmp_path / "out"))
    proc = _python(code, tmp_path / "logs", SEETRAIN_PROJECT="native-hf")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(tmp_path / "logs"))
    assert r.project == "native-hf" and r.scalars("train/loss").steps == [1, 2]
    assert r.config["_framework"] == "transformers" and r.status == "success"


_CRASH = _REPORT_TO.replace("Trainer(model=model, args=args, train_dataset=_Tokens(8)).train()", """
from transformers import TrainerCallback
class Boom(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise RuntimeError("boom")
Trainer(model=model, args=args, train_dataset=_Tokens(8), callbacks=[Boom()]).train()
""")


def test_a_crash_in_training_marks_the_run_crashed_at_exit(tmp_path):
    proc = _python(_CRASH.replace("OUT", str(tmp_path / "out")), tmp_path / "logs", SEETRAIN_PROJECT="hf-crash")
    assert proc.returncode == 1 and "RuntimeError: boom" in proc.stderr, proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(tmp_path / "logs"))
    assert r.status == "crashed" and r.scalars("train/loss").steps == [1]


def test_registered_whichever_is_imported_first(tmp_path):
    code = ("from transformers.integrations import integration_utils as iu\n"
            "assert 'seetrain' not in iu.INTEGRATION_TO_CALLBACK\n"
            "import seetrain\n"
            "print(iu.INTEGRATION_TO_CALLBACK['seetrain'].__module__)\n")
    proc = _python(code, tmp_path / "logs")
    assert proc.returncode == 0 and proc.stdout.strip() == "seetrain.integration.callbacks.transformers", proc.stderr
    off = _python("import sys, seetrain\nfrom seetrain.integration import native\nprint(native._FINDER in sys.meta_path)",
                  tmp_path / "logs", SEETRAIN_NATIVE="0")
    assert off.stdout.strip() == "False", off.stderr  # SEETRAIN_NATIVE=0: no hook


def test_log_model_keeps_the_best_and_last_checkpoint_in_the_run(logdir, tmp_path):
    cb = SeeTrainCallback(project="hf-model", log_model=True)
    args = _args(tmp_path / "out", max_steps=6, eval_steps=2, save_strategy="steps", save_steps=2,
                 metric_for_best_model="eval_loss", load_best_model_at_end=True, save_total_limit=1)
    trainer = transformers.Trainer(model=_gpt2(), args=args, train_dataset=_Tokens(24),
                                   eval_dataset=_Tokens(8, seed=1), callbacks=[cb])
    trainer.train()
    cb.finish()
    r = seetrain.read_run(cb.experiment.dir)
    listing = r.config["model_artifacts"]
    with open(os.path.join(r.path, listing["manifest"])) as f:
        assert json.load(f)["files"] == listing["files"]
    best = next(e for e in listing["files"] if e["path"] == listing["best"])
    last = next(e for e in listing["files"] if e["path"] == listing["last"])
    assert last["step"] == 6 and best["source"] == trainer.state.best_model_checkpoint
    assert best["best_metric"] == pytest.approx(trainer.state.best_metric) and best["metric"] == "eval_loss"
    assert len(listing["files"]) <= 2
    restored = transformers.GPT2LMHeadModel.from_pretrained(os.path.join(r.path, best["path"]))
    assert restored.config.n_layer == 2


def test_report_to_seetrain_in_process_takes_log_model_from_the_environment(logdir, tmp_path, monkeypatch):
    monkeypatch.setenv("SEETRAIN_LOG_MODEL", "all")
    monkeypatch.setenv("SEETRAIN_PROJECT", "hf-env-model")
    args = _args(tmp_path / "out", report_to="seetrain", max_steps=2, eval_strategy="no", save_strategy="steps",
                 save_steps=1)
    trainer = transformers.Trainer(model=_gpt2(), args=args, train_dataset=_Tokens(8))
    (cb,) = [c for c in trainer.callback_handler.callbacks if isinstance(c, SeeTrainCallback)]
    trainer.train()
    cb.finish()
    files = seetrain.read_run(cb.experiment.dir).config["model_artifacts"]["files"]
    assert [(e["step"], e["path"].split("/")[-1]) for e in files] == [(1, "checkpoint-1"), (2, "checkpoint-2")]


def test_two_callbacks_side_by_side_record_the_same_values(logdir, tmp_path):
    a, b = SeeTrainCallback(project="hf-a"), SeeTrainCallback(project="hf-b")
    args = _args(tmp_path / "out", max_steps=4, eval_strategy="no", logging_steps=1)
    transformers.Trainer(model=_gpt2(), args=args, train_dataset=_Tokens(16), callbacks=[a, b]).train()
    a.finish()
    b.finish()
    ra, rb = seetrain.read_run(a.experiment.dir), seetrain.read_run(b.experiment.dir)
    assert ra.path != rb.path and ra.scalars("train/loss").values == rb.scalars("train/loss").values
    assert ra.scalars("train/loss").steps == [1, 2, 3, 4]


def test_unified_api_entry_point(logdir, tmp_path, finish_integrations):
    from seetrain import integration

    it = integration.init("transformers", project="hf-api", log_model="all")
    args = _args(tmp_path / "out", max_steps=2, eval_strategy="no", save_strategy="steps", save_steps=1)
    transformers.Trainer(model=_gpt2(), args=args, train_dataset=_Tokens(8), callbacks=[it.get_callback()]).train()
    it.finish()
    r = seetrain.read_run(it.get_callback().experiment.dir)
    assert r.status == "success" and [e["step"] for e in r.config["model_artifacts"]["files"]] == [1, 2]
