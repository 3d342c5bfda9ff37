"""`seetrain sweep`: the command line always wins over the search's ``overrides:`` (and says so at the
start), one objective rule (a trial's value is its best validation value of the metric, whether
``metric`` is null or named), and the best config keeps its checkpoints under a name of its own."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import sweep_main  # noqa: E402

# digits_small_cnn's search says trainer.max_epochs: 6 and checkpoints off; a high fixed LR without a
# schedule makes val/acc move up and down, so "best" and "last" differ
ARGS = ["hparams_search=digits_small_cnn", "trainer.enable_progress_bar=false", "trainer.num_threads=1",
        "data.subset=300", "trainer.max_epochs=3", "trainer.limit_train_batches=3", "scheduler.name=none",
        "optim.name=sgd", "+hparams_search.space.optim.lr={type: categorical, choices: [0.8]}", "--n-trials", "1"]


@pytest.mark.parametrize("metric", ["null", "val/acc"])
def test_command_line_wins_and_the_objective_is_the_best_validation(metric, logdir, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'study.db'}"
    assert sweep_main(ARGS + [f"hparams_search.metric={metric}", f"+hparams_search.output_dir={tmp_path}",
                              "--storage", db]) == 0
    out = capsys.readouterr().out
    assert "the command line wins over the search's overrides: trainer.max_epochs=3 (the search says 6)" in out, out
    assert out.index("the command line wins") < out.index("best trial")          # said at the start
    (run,) = seetrain.list_runs(logdir)
    assert run.config["trainer"]["max_epochs"] == 3 and len(run.scalars("val/acc").values) == 3
    (trial,) = optuna.load_study(study_name="digits_small_cnn", storage=db).trials
    assert trial.value == pytest.approx(max(run.scalars("val/acc").values))      # best epoch, either way


def test_the_best_config_keeps_checkpoints_and_has_its_own_name(logdir, tmp_path, capsys):
    from seetrain.train.config import load_config

    assert sweep_main(ARGS + [f"+hparams_search.output_dir={tmp_path}", "trainer.max_epochs=1"]) == 0
    cfg = load_config([str(tmp_path / "best_config.yaml")])
    assert cfg["trainer"]["checkpoint"]["enabled"] is True
    assert cfg["logger"]["experiment_name"] == "digits_small_cnn-best"
