"""SeeTrainCallback with a real Hugging Face Trainer on randomly initialised tiny models (CPU, no download)."""

from __future__ import annotations

import os

import pytest
import torch

import seetrain

transformers = pytest.importorskip("transformers")

from seetrain.integration.callbacks.transformers import SeeTrainCallback, register, rewrite_logs  # noqa: E402

VOCAB = 32


class _Tokens(torch.utils.data.Dataset):
    """Sequences that count upwards modulo VOCAB, so a model can learn them."""

    def __init__(self, n: int, length: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, VOCAB, (n, 1), generator=g)
        self.ids = (starts + torch.arange(length)) % VOCAB

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def _gpt2():
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    return transformers.GPT2LMHeadModel(cfg)


def _llama():
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16)
    return transformers.LlamaForCausalLM(cfg)


def _args(out, **kwargs):
    opts = dict(output_dir=str(out), max_steps=6, per_device_train_batch_size=4, per_device_eval_batch_size=8,
                learning_rate=5e-3, logging_steps=2, eval_strategy="steps", eval_steps=3, save_strategy="no",
                report_to="none", use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, seed=0)
    opts.update(kwargs)
    return transformers.TrainingArguments(**opts)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def test_train_and_evaluate_log_prefixed_metrics_at_global_steps(logdir, tmp_path):
    model = _gpt2()
    cb = SeeTrainCallback(project="hf", experiment_name="gpt2-tiny", config={"dataset": "counting"})
    args = _args(tmp_path / "out", save_strategy="steps", save_steps=6)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=_Tokens(24),
                                   eval_dataset=_Tokens(8, seed=1), callbacks=[cb])
    trainer.train()
    final_eval = trainer.evaluate()
    cb.finish()

    (r,) = seetrain.list_runs(logdir)
    assert r.path == cb.experiment.dir and r.status == "success"
    assert r.project == "hf" and r.name == "gpt2-tiny"
    keys = set(r.keys())
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/epoch"} <= keys
    assert {"eval/loss", "eval/runtime", "eval/samples_per_second"} <= keys
    assert {"train/train_loss", "train/train_runtime"} <= keys
    assert not any(k.startswith("eval_") or k == "loss" for k in keys)
    assert r.scalars("train/loss").steps == [2, 4, 6]
    # evaluation at steps 3 and 6 during train(), then evaluate() at 6; on_evaluate adds no duplicates
    assert r.scalars("eval/loss").steps == [3, 6, 6]
    assert r.scalars("eval/loss").values[-1] == pytest.approx(final_eval["eval_loss"])
    assert r.scalars("train/loss").values[-1] < r.scalars("train/loss").values[0]

    cfg = r.config
    assert cfg["_framework"] == "transformers" and cfg["dataset"] == "counting"
    assert cfg["learning_rate"] == 5e-3 and cfg["max_steps"] == 6 and cfg["per_device_train_batch_size"] == 4
    assert cfg["model_config"]["n_layer"] == 2 and cfg["model_config"]["model_type"] == "gpt2"
    assert cfg["model"]["class"] == "GPT2LMHeadModel"
    assert cfg["model"]["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert cfg["checkpoint"]["step"] == 6
    assert cfg["checkpoint"]["last"] == os.path.join(str(tmp_path / "out"), "checkpoint-6")
    assert os.path.isdir(cfg["checkpoint"]["last"])


def test_environment_variables_and_report_to_seetrain(tmp_path, monkeypatch):
    logdir = tmp_path / "env_logs"
    monkeypatch.setenv("SEETRAIN_LOGDIR", str(logdir))
    monkeypatch.setenv("SEETRAIN_PROJECT", "from-env")
    monkeypatch.setenv("SEETRAIN_EXPERIMENT_NAME", "llama-env")
    from transformers.integrations import integration_utils

    monkeypatch.setitem(integration_utils.INTEGRATION_TO_CALLBACK, "seetrain", None)  # removed after the test
    register()
    args = _args(tmp_path / "out", report_to="seetrain", max_steps=2, eval_steps=2, logging_steps=1)
    trainer = transformers.Trainer(model=_llama(), args=args, train_dataset=_Tokens(8), eval_dataset=_Tokens(4))
    (cb,) = [c for c in trainer.callback_handler.callbacks if isinstance(c, SeeTrainCallback)]
    trainer.train()
    cb.finish()
    (r,) = seetrain.list_runs(str(logdir))
    assert r.project == "from-env" and r.name == "llama-env"
    assert r.scalars("train/loss").steps == [1, 2] and r.scalars("eval/loss").steps == [2]
    assert r.config["model_config"]["model_type"] == "llama"


def test_seetrain_mode_disabled_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SEETRAIN_LOGDIR", str(tmp_path / "logs"))
    monkeypatch.setenv("SEETRAIN_MODE", "disabled")
    cb = SeeTrainCallback(project="off")
    trainer = transformers.Trainer(model=_gpt2(), args=_args(tmp_path / "out", max_steps=1, eval_strategy="no"),
                                   train_dataset=_Tokens(4), callbacks=[cb])
    trainer.train()
    assert cb.experiment.mode == "disabled"
    cb.finish()
    assert seetrain.list_runs(str(tmp_path / "logs")) == []


def test_rewrite_logs_names():
    assert rewrite_logs({"loss": 1.0, "eval_loss": 2.0, "test_acc": 0.5, "epoch": 1.0, "custom/x": 3,
                         "note": "text", "flag": True}) == {
        "train/loss": 1.0, "eval/loss": 2.0, "test/acc": 0.5, "train/epoch": 1.0, "custom/x": 3, "train/flag": 1}


def test_hyperparameter_search_gives_each_trial_its_own_run(logdir, tmp_path):
    pytest.importorskip("optuna")
    cb = SeeTrainCallback(project="hf-search")
    trainer = transformers.Trainer(model_init=_gpt2, args=_args(tmp_path / "out", max_steps=2, eval_strategy="no"),
                                   train_dataset=_Tokens(8), eval_dataset=_Tokens(4), callbacks=[cb])
    trainer.hyperparameter_search(
        hp_space=lambda trial: {"learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)},
        backend="optuna", n_trials=2, direction="minimize")
    cb.finish()
    runs = seetrain.list_runs(logdir)
    assert len(runs) == 2 and all(r.status == "success" for r in runs)
    assert all(r.scalars("train/loss").steps == [2] for r in runs)
    assert runs[0].config["learning_rate"] != runs[1].config["learning_rate"]
