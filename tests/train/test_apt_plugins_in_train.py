"""Issue 27 item 10 (first part): the APT plugins are hooks of `seetrain train`'s loop. Enabled in the
``plugins`` section of the language-model task (``experiment=apt_lm``), a plugin sees the loop's
events with APT's context and reports into the run, as under `seetrain apt train`."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402

from .conftest import FAST  # noqa: E402

# 20 windows of 32 bytes a batch of 8: 20 optimizer steps an epoch
TINY_LM = FAST + ["experiment=apt_lm", "model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.rank=8",
                  "model.attn_rank=4", "model.max_seq_len=32", "data.seq_len=32", "data.max_chars=20000",
                  "data.train_windows=160", "data.batch_size=8", "trainer.max_epochs=2", "trainer.limit_val_batches=2",
                  "trainer.checkpoint.enabled=false", "trainer.log_every_n_steps=5"]


def test_advanced_debugging_measures_gradients_at_the_loops_steps(logdir, tmp_path):
    out = tmp_path / "debug"
    assert train_main(TINY_LM + ["plugins.advanced-debugging.enabled=true", "plugins.advanced-debugging.debug_level=normal",
                                 "plugins.advanced-debugging.log_every=10",
                                 f"plugins.advanced-debugging.output_dir={out}"]) == 0
    (run,) = seetrain.list_runs(logdir)
    assert run.status == "success" and run.config["plugins"]["advanced-debugging"]["enabled"] is True
    grad = run.scalars("debug/grad/global_norm")
    assert grad.steps == [0, 10, 20, 30] and all(v > 0 for v in grad.values)  # before each due optimizer step
    assert run.scalars("debug/loss").steps == grad.steps                    # the batch's loss, at its step
    assert {"debug/memory/rss_mb", "debug/act/blocks.0.ffn.act/dead_fraction", "debug/anomalies"} <= set(run.keys())
    assert (out / "report.html").stat().st_size > 0                          # on_training_end ran
    assert run.config["debug"]["level"] == "normal"                          # the plugin wrote into the run's config


def test_gradual_pruning_runs_in_the_loop_and_leaves_a_sparse_model(logdir):
    assert train_main(TINY_LM + ["plugins.model-pruning.enabled=true", "plugins.model-pruning.prune_at=during_training",
                                 "plugins.model-pruning.prune_every_n_steps=10", "plugins.model-pruning.pruning_ratio=0.5",
                                 "plugins.model-pruning.prune_end_step=30"]) == 0
    (run,) = seetrain.list_runs(logdir)
    result = run.config["pruning_result"]
    assert result["global_sparsity"] == pytest.approx(0.5, abs=0.02) and result["nonzero_params"] < result["total_params"]


def test_cloud_storage_uploads_the_saved_model_folder_at_the_end(logdir, tmp_path):
    """The loop's "model saved" step: cloud-storage's auto_upload sends the task's files/model folder."""
    store = tmp_path / "store"
    assert train_main(TINY_LM + ["plugins.cloud-storage.enabled=true", "plugins.cloud-storage.provider=local",
                                 f"plugins.cloud-storage.bucket={store}", "plugins.cloud-storage.auto_upload=true",
                                 f"plugins.cloud-storage.state_dir={tmp_path / 'state'}",
                                 "trainer.checkpoint.enabled=true"]) == 0
    (run,) = seetrain.list_runs(logdir)
    assert run.status == "success"
    uploaded = sorted(p.name for p in store.rglob("*") if p.is_file() and p.parent.name == "model")
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(uploaded), uploaded
    # the loop's own checkpoints folder (<run dir>/checkpoints) went up too
    synced = {p.name for p in store.rglob("*.ckpt") if p.parent.name == "checkpoints"}
    assert "last.ckpt" in synced and synced == {p.name for p in (Path(run.path) / "checkpoints").glob("*.ckpt")}


@pytest.mark.parametrize("args, message", [
    (["plugins.advanced-debuging.enabled=true"], "unknown APT plugin 'advanced-debuging'; did you mean 'advanced-debugging'?"),
    (["plugins.model-pruning.enabled=true", "plugins.model-pruning.pruning_ration=0.3"],
     "plugins.model-pruning: unknown option 'pruning_ration'"),
    (["plugins.model-distillation.enabled=true"], "plugins.model-distillation: model-distillation needs "
                                                  "teacher_checkpoint (a saved model directory) or teacher_config"),
    (["plugins.data-processors.enabled=true", "plugins.data-processors.min_length=100000"],
     "plugins.data-processors: data-processors removed the whole training text"),
], ids=["name", "option", "no teacher", "no text left"])
def test_plugin_mistakes_are_one_line_and_leave_no_run(args, message, logdir, capsys):
    assert train_main(TINY_LM + args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not seetrain.list_runs(logdir)


def test_plugins_belong_to_the_language_model_task(logdir, capsys):
    assert train_main(FAST + ["plugins.advanced-debugging.enabled=true"]) == 2
    assert "the APT plugins join the language-model task (experiment=apt_lm), not task=classification" in \
        capsys.readouterr().err
