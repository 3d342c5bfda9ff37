"""Plugins enabled in `seetrain apt train` do their job inside the run, and config errors are clear
and leave no run behind. Real short Lightning runs of a tiny APT model on the shipped corpus."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.apt.data import ByteTokenizer, TokenWindows, load_corpus, split_ids  # noqa: E402
from seetrain.apt.model import APTLanguageModel  # noqa: E402
from seetrain.train.apt_command import load_config, main, train  # noqa: E402

TINY = ["model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.rank=8", "model.attn_rank=4",
        "model.max_seq_len=32", "data.seq_len=32", "data.batch_size=8", "data.max_chars=40000",
        "trainer.enable_progress_bar=false", "trainer.num_threads=1", "trainer.limit_val_batches=4",
        "sample.max_new_tokens=0", "optim.warmup_steps=5", "optim.lr=0.01", "trainer.val_check_interval=1000"]
QUIET = ["tracking.enabled=false", "trainer.enable_checkpointing=false"]


def run_dirs(logdir):
    return [os.path.join(dp, d) for dp, ds, _ in os.walk(logdir) for d in ds if os.path.isfile(
        os.path.join(dp, d, "run.json"))] if os.path.isdir(logdir) else []


# --- configuration errors -------------------------------------------------------------------------
@pytest.mark.parametrize("override,message", [
    ("plugins.model-prunning.enabled=true", "unknown APT plugin 'model-prunning'; did you mean 'model-pruning'?"),
    ("plugins.model-pruning.pruning_ration=0.3", "plugins.model-pruning: unknown option 'pruning_ration' for the "
                                                 "APT plugin 'model-pruning'; did you mean 'pruning_ratio'?"),
    ("plugins.cloud-storage.backup_every_n_step=5", "did you mean 'backup_every_n_steps'?"),
    ("trainer.max_steps=abc", "trainer.max_steps must be an integer, got 'abc'"),
    ("optim.lr=fast", "optim.lr must be a number, got 'fast'"),
    ("trainer.enable_progress_bar=maybe", "trainer.enable_progress_bar must be true or false"),
])
def test_config_errors_are_clear_and_leave_no_run(override, message, logdir, capsys):
    assert main(TINY + ["trainer.max_steps=5", "plugins.model-pruning.enabled=true", override]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert run_dirs(logdir) == []
    with pytest.raises(ValueError, match=message.split(";")[0].replace("(", r"\(").replace("'", "'")):
        train(load_config(TINY + ["trainer.max_steps=5", override]))  # programmatic use checks first too
    assert run_dirs(logdir) == []


def test_a_bad_plugin_value_names_the_plugin(logdir, capsys):
    assert main(TINY + ["plugins.model-distillation.enabled=true",
                        "plugins.model-distillation.teacher_checkpoint=/nowhere/teacher"]) == 2
    assert "plugins.model-distillation: teacher_checkpoint '/nowhere/teacher'" in capsys.readouterr().err
    assert run_dirs(logdir) == []


def test_apt_help(capsys):
    from seetrain.cli import main as seetrain_main

    for argv, rc, text in ((["apt", "--help"], 0, "seetrain apt <command>"), (["apt", "-h"], 0, "commands:"),
                           (["apt", "train", "--help"], 0, "default config:"), (["apt", "fit"], 2, "unknown command"),
                           (["apt"], 2, "seetrain apt <command>")):
        assert seetrain_main(argv) == rc
        out = capsys.readouterr()
        assert text in out.out + out.err


# --- distillation ---------------------------------------------------------------------------------
def _kl_to_teacher(student, teacher, windows) -> float:
    """Mean KL(student || teacher) per position on held-out windows."""
    x = torch.stack([windows[i]["input_ids"] for i in range(len(windows))])
    with torch.no_grad():
        ls, lt = student(x).logits.log_softmax(-1), teacher(x).logits.log_softmax(-1)
    return float((ls.exp() * (ls - lt)).sum(-1).mean())


def test_distillation_from_a_teacher_config_moves_the_student_toward_the_teacher(tmp_path, logdir):
    teacher_cfg = "{type: apt, d_model: 64, n_heads: 4, n_layers: 2, rank: 16, max_seq_len: 32}"
    kd = train(load_config(TINY + ["trainer.max_steps=40", "trainer.enable_checkpointing=false",
                                   "tracking.project=kd", f"output_dir={tmp_path / 'kd'}",
                                   "plugins.model-distillation.enabled=true",
                                   f"plugins.model-distillation.teacher_config={teacher_cfg}",
                                   "plugins.model-distillation.teacher_steps=100",
                                   "plugins.model-distillation.distill_method=kl_divergence",
                                   "plugins.model-distillation.alpha=1.0", "plugins.model-distillation.beta=0.0",
                                   "plugins.model-distillation.temperature=1.0"]))
    plain = train(load_config(TINY + QUIET + ["trainer.max_steps=40", f"output_dir={tmp_path / 'plain'}"]))
    teacher = APTLanguageModel.from_pretrained(tmp_path / "kd" / "teacher")  # trained first, then saved
    assert teacher.config.d_model == 64
    _, val = split_ids(ByteTokenizer().encode(load_corpus("default", 40000)), 0.1)
    windows = TokenWindows(val, 32)
    kl_kd, kl_plain = _kl_to_teacher(kd["model"], teacher, windows), _kl_to_teacher(plain["model"], teacher, windows)
    assert kl_kd < 0.75 * kl_plain, (kl_kd, kl_plain)  # same steps, same data: the KD term pulled it over
    r = seetrain.read_run(kd["run_dir"])
    assert {"distill/soft_loss", "distill/loss", "distill/teacher_loss"} <= set(r.keys())
    assert r.config["distillation"]["distill_method"] == "response"
    assert r.config["distillation"]["teacher_params"] > 2 * r.config["distillation"]["student_params"]
    # the saved teacher is reused by name on the next run
    again = train(load_config(TINY + QUIET + ["trainer.max_steps=2", f"output_dir={tmp_path / 'again'}",
                                              "plugins.model-distillation.enabled=true",
                                              f"plugins.model-distillation.teacher_checkpoint={tmp_path / 'kd' / 'teacher'}"]))
    assert again["steps"] == 2


# --- pruning -------------------------------------------------------------------------------------
def test_pruning_at_the_end_saves_a_model_that_loads(tmp_path, logdir):
    res = train(load_config(TINY + QUIET + ["trainer.max_steps=20", f"output_dir={tmp_path / 'm'}",
                                            "plugins.model-pruning.enabled=true",
                                            "plugins.model-pruning.pruning_ratio=0.5"]))
    model = APTLanguageModel.from_pretrained(res["model_dir"])  # failed before: weight_orig / weight_mask
    linear = [m.weight for n, m in model.named_modules()
              if isinstance(m, torch.nn.Linear) and not n.endswith("lm_head")]
    zeros = sum(int((w == 0).sum()) for w in linear) / sum(w.numel() for w in linear)
    assert zeros == pytest.approx(0.5, abs=0.01)
    x = torch.randint(0, 256, (1, 8))
    assert torch.allclose(model(x).logits, res["model"](x).logits, atol=1e-6)


def test_structured_pruning_with_fine_tuning_in_the_trainer(tmp_path, logdir):
    res = train(load_config(TINY + ["trainer.max_steps=30", "trainer.enable_checkpointing=false",
                                    "tracking.project=prune", "model.d_model=64", "model.n_heads=4",
                                    "model.rank=16", "model.attn_rank=8", f"output_dir={tmp_path / 's'}",
                                    "plugins.model-pruning.enabled=true", "plugins.model-pruning.pruning_method=structured",
                                    "plugins.model-pruning.pruning_ratio=0.5", "plugins.model-pruning.fine_tune_steps=10"]))
    model = APTLanguageModel.from_pretrained(res["model_dir"])
    r = seetrain.read_run(res["run_dir"])
    assert model.config.d_model == 32 and model.num_parameters() < 0.45 * r.config["num_parameters"]
    assert res["val_loss"] < res["unigram_baseline"] + 1.0 and res["model"].config.d_model == 32
    assert {"prune/params_removed", "prune/fine_tune_loss"} <= set(r.keys())
    assert r.config["pruning"]["config"]["d_model"] == 32


def test_gradual_pruning_during_training(tmp_path, logdir):
    res = train(load_config(TINY + ["trainer.max_steps=30", "trainer.enable_checkpointing=false",
                                    "tracking.project=prune", f"output_dir={tmp_path / 'g'}",
                                    "plugins.model-pruning.enabled=true", "plugins.model-pruning.prune_at=during_training",
                                    "plugins.model-pruning.pruning_ratio=0.6", "plugins.model-pruning.prune_every_n_steps=5",
                                    "plugins.model-pruning.prune_end_step=20"]))
    sparsity = seetrain.read_run(res["run_dir"]).scalars("prune/global_sparsity").values
    assert len(sparsity) == 4 and sparsity == sorted(sparsity) and sparsity[-1] == pytest.approx(0.6, abs=0.01)
    model = APTLanguageModel.from_pretrained(res["model_dir"])  # masks folded in before saving
    assert not any("weight_orig" in k for k in model.state_dict())


# --- data processors ------------------------------------------------------------------------------
def test_data_processors_clean_the_training_text(tmp_path, logdir):
    base = load_corpus("default", 30000).splitlines()
    lines = []
    for i, line in enumerate(base):
        lines.append(line)
        if i % 3 == 0:
            lines.append(line)                                            # exact duplicate
            lines.append(f"see https://example.org/page{i}?q=1 for\x07 more")  # URL and a control character
    (tmp_path / "corpus.txt").write_text("\n".join(lines), encoding="utf-8")
    common = TINY + ["trainer.max_steps=5", "trainer.enable_checkpointing=false", f"data.corpus={tmp_path / 'corpus.txt'}",
                     "data.max_chars=null", "tracking.project=dp"]
    res = train(load_config(common + [f"output_dir={tmp_path / 'out'}", "plugins.data-processors.enabled=true"]))
    plain = train(load_config(common + [f"output_dir={tmp_path / 'plain'}"]))
    text = (tmp_path / "out" / "data" / "train.txt").read_text(encoding="utf-8")
    kept = [ln for ln in text.splitlines() if ln.strip()]
    assert "https://" not in text and "\x07" not in text and "<URL>" in text
    assert len(kept) == len(set(kept))
    r, p = seetrain.read_run(res["run_dir"]), seetrain.read_run(plain["run_dir"])
    assert r.config["train_tokens"] < 0.85 * p.config["train_tokens"]  # the model saw the processed text
    assert r.config["data_processors"]["steps"] == ["clean", "quality_check"]
    assert r.scalars("data/train_text/records_out").values[0] < r.scalars("data/train_text/records_in").values[0]


# --- cloud storage --------------------------------------------------------------------------------
def test_cloud_backups_every_n_steps_and_epochs_and_auto_upload(tmp_path, logdir):
    from seetrain.apt.plugins.cloud_storage import CloudStoragePlugin

    store = tmp_path / "store"
    res = train(load_config(TINY + ["trainer.max_steps=30", "data.max_chars=3000", "tracking.project=cloud",
                                    "trainer.val_check_interval=10", f"output_dir={tmp_path / 'out'}",
                                    "plugins.cloud-storage.enabled=true", "plugins.cloud-storage.provider=local",
                                    f"plugins.cloud-storage.bucket={store}", "plugins.cloud-storage.prefix=exp",
                                    "plugins.cloud-storage.backup_every_n_steps=10",
                                    "plugins.cloud-storage.backup_every_n_epochs=1",
                                    "plugins.cloud-storage.auto_upload=true"]))
    reader = CloudStoragePlugin({"provider": "local", "bucket": str(store), "prefix": "exp"})
    names = [b["name"] for b in reader.list_backups()]
    # 2700 training bytes / 32 per window / 8 per batch: 10 batches an epoch, so 3 epochs in 30 steps
    assert {"step-0000010", "step-0000020", "step-0000030", "epoch-0000", "epoch-0001", "epoch-0002"} <= set(names)
    assert names[-1] == "final"
    restored = reader.restore_from_cloud("final", local_path=str(tmp_path / "restored"))
    model = APTLanguageModel.from_pretrained(restored)
    x = torch.randint(0, 256, (1, 8))
    assert torch.allclose(model(x).logits, res["model"](x).logits)
    uploaded = reader.download_model("model", str(tmp_path / "uploaded"))
    assert APTLanguageModel.from_pretrained(uploaded).config.d_model == 32
    assert any(o.key.startswith("checkpoints/") and o.key.endswith(".ckpt") for o in reader.storage.list("checkpoints/"))
    r = seetrain.read_run(res["run_dir"])
    assert any(k.startswith("cloud/backup/local/") for k in r.keys()) and "cloud/upload/bytes" in r.keys()


# --- multimodal -----------------------------------------------------------------------------------
def test_multimodal_training_from_its_own_config(tmp_path, logdir):
    res = train(load_config(TINY + ["trainer.max_steps=5", "trainer.enable_checkpointing=false",
                                    "tracking.project=mm", f"output_dir={tmp_path / 'out'}",
                                    "plugins.multimodal-training.enabled=true",
                                    "plugins.multimodal-training.synthetic_samples=160",
                                    "plugins.multimodal-training.vision_encoder=custom",
                                    "plugins.multimodal-training.audio_encoder=custom",
                                    "plugins.multimodal-training.num_epochs=4"]))
    r = seetrain.read_run(res["run_dir"])
    acc = r.scalars("multimodal/eval/accuracy").values
    assert len(acc) == 4 and acc[-1] > 0.3  # 8 classes: chance is 0.125
    assert r.config["multimodal"]["parameters"] > 0 and r.config["multimodal"]["num_classes"] == 8
    assert os.path.getsize(tmp_path / "out" / "multimodal" / "model.safetensors") > 0
    assert json.loads((tmp_path / "out" / "multimodal" / "multimodal.json").read_text())["num_classes"] == 8
    # the language model itself was saved before, untouched by the multimodal phase
    saved = APTLanguageModel.from_pretrained(res["model_dir"])
    x = torch.randint(0, 256, (1, 8))
    assert torch.allclose(saved(x).logits, res["model"](x).logits)
