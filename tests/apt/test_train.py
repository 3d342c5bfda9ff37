"""Config-driven APT training: a real short Lightning run, read back from the SeeTrain run."""

from __future__ import annotations

import math
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.apt.model import APTLanguageModel  # noqa: E402
from seetrain.train.apt_command import load_config, main, train  # noqa: E402

TINY = ["model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.rank=8", "model.attn_rank=4",
        "model.max_seq_len=32", "data.seq_len=32", "data.batch_size=8", "data.max_chars=40000",
        "trainer.enable_progress_bar=false", "trainer.num_threads=1", "trainer.limit_val_batches=4",
        "sample.max_new_tokens=16", "optim.warmup_steps=5", "optim.lr=0.01"]


def test_config_files_groups_and_overrides(tmp_path):
    cfg = load_config([])
    assert cfg.model.type == "apt" and cfg.model.d_model > 0 and cfg.plugins["advanced-debugging"].enabled is False
    user = tmp_path / "my.yaml"
    user.write_text("trainer:\n  max_steps: 7\ntracking:\n  project: mine\n")
    cfg = load_config([str(user), "model=standard_tiny", "model.n_layers=1", "optim.lr=0.5",
                       "plugins.advanced-debugging.enabled=true", "+extra.note=hi"])
    assert cfg.trainer.max_steps == 7 and cfg.tracking.project == "mine" and cfg.model.type == "standard"
    assert cfg.model.n_layers == 1 and cfg.optim.lr == 0.5 and cfg.extra.note == "hi"
    assert cfg.plugins["advanced-debugging"].enabled is True
    with pytest.raises(ValueError, match="did you mean 'trainer.max_steps'"):
        load_config(["trainer.max_step=3"])
    with pytest.raises(ValueError, match="unknown model config 'nope'"):
        load_config(["model=nope"])
    assert main(["trainer.max_step=3"]) == 2
    assert main(["model.rank=999"]) == 2 and main(["data.seq_len=4096"]) == 2


def test_short_training_run_learns_and_is_tracked(logdir, tmp_path, capsys):
    debug_dir = tmp_path / "debug"
    rc = main(TINY + ["trainer.max_steps=60", "trainer.val_check_interval=30", "trainer.log_every_n_steps=5",
                      "tracking.project=apt-test", "tracking.experiment_name=tiny",
                      "plugins.advanced-debugging.enabled=true", "plugins.advanced-debugging.debug_level=normal",
                      "plugins.advanced-debugging.log_every=10", f"plugins.advanced-debugging.output_dir={debug_dir}"])
    assert rc == 0
    printed = capsys.readouterr().out
    runs = seetrain.list_runs(logdir, project="apt-test")
    assert len(runs) == 1
    r = runs[0]
    assert f"run dir: {r.path}" in printed and "unigram baseline" in printed
    assert r.status == "success" and r.name == "tiny"
    loss = r.scalars("train/loss")
    assert len(loss.values) >= 10 and loss.steps == sorted(loss.steps)
    head, tail = sum(loss.values[:3]) / 3, sum(loss.values[-3:]) / 3
    assert tail < 0.9 * head, (head, tail)
    keys = set(r.keys())
    assert {"train/loss", "val/loss", "val/ppl", "lr", "train/tokens_per_s", "vft/block0/eps_mean",
            "vft/block0/over_tau", "final/val_loss", "final/unigram_baseline"} <= keys
    assert {"debug/grad/global_norm", "debug/grad/blocks.0.attn.qkv.weight/norm", "debug/memory/rss_mb",
            "debug/act/blocks.0.ffn.act/dead_fraction"} <= keys
    assert len(r.scalars("val/loss").values) == 2
    # the plugin measured gradients (before clipping) every 10 optimizer steps, at the trainer's step numbers
    grad = r.scalars("debug/grad/global_norm")
    assert grad.steps == [0, 10, 20, 30, 40, 50] and all(v > 0 for v in grad.values)
    assert r.scalars("debug/loss").steps == grad.steps
    final = r.scalars("final/val_loss").values[-1]
    assert final < math.log(259) - 1.5  # far below the uniform guess of ln(259) = 5.56
    cfg = r.config
    assert cfg["model"]["d_model"] == 32 and cfg["trainer"]["max_steps"] == 60 and cfg["_framework"] == "pytorch_lightning"
    assert cfg["plugins"]["advanced-debugging"]["enabled"] is True and cfg["num_parameters"] > 1000
    assert math.isclose(cfg["unigram_baseline"], r.scalars("final/unigram_baseline").values[-1])
    assert (debug_dir / "report.html").stat().st_size > 0 and cfg["debug"]["level"] == "normal"
    assert r.media("samples/text")
    model = APTLanguageModel.from_pretrained(os.path.join(r.path, "files", "model"))
    assert model.config.d_model == 32
    # one trainer (issue 27 item 10): the checkpoints are seetrain train's, and it goes on with the run
    assert os.path.isfile(os.path.join(r.path, "checkpoints", "last.ckpt"))
    from seetrain.train.commands import train_main

    assert train_main([f"trainer.resume={r.path}", "trainer.max_steps=70"]) == 0
    (again,) = seetrain.list_runs(logdir, project="apt-test")
    assert again.id == r.id and again.status == "success" and again.scalars("train/loss").steps[-1] == 69


def test_bf16_accumulation_without_tracking(tmp_path):
    cfg = load_config(TINY + ["trainer.max_steps=6", "trainer.val_check_interval=12", "trainer.precision=bf16-mixed",
                              "trainer.accumulate_grad_batches=2", "tracking.enabled=false",
                              "trainer.enable_checkpointing=false", f"output_dir={tmp_path}", "model=standard_tiny",
                              "model.d_model=32", "model.n_layers=1", "model.max_seq_len=32"])
    result = train(cfg)
    assert result["steps"] == 6 and result["run_dir"] is None and math.isfinite(result["val_loss"])
    assert type(result["model"]).__name__ == "StandardLanguageModel"
    assert os.path.isfile(tmp_path / "model" / "model.safetensors")


def test_an_apt_config_file_extends_another_as_in_seetrain_train(tmp_path):
    """One YAML loader for both trainers (seetrain.config_overrides.load_yaml): `extends:` works here too."""
    (tmp_path / "base.yaml").write_text("trainer:\n  max_steps: 7\ndata:\n  seq_len: 32\n")
    (tmp_path / "my.yaml").write_text("extends: base.yaml\ntrainer:\n  val_check_interval: 5\n")
    cfg = load_config([str(tmp_path / "my.yaml"), "data.batch_size=4"])
    assert (cfg.trainer.max_steps, cfg.trainer.val_check_interval, cfg.data.seq_len, cfg.data.batch_size) == (7, 5, 32, 4)
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ValueError, match="extends itself"):
        load_config([str(tmp_path / "loop.yaml")])
    assert main([str(tmp_path / "missing.yaml")]) == 2
