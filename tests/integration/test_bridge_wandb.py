"""W&B bridge with the real wandb client in offline mode (WANDB_MODE=offline, WANDB_DIR in tmp).

The mirrored run and the run imported from the offline run directory W&B wrote (its run-<id>.wandb
record log) must both hold what the script logged, under W&B's step rules (the expectations are
written in the test: W&B ships no reader for its .wandb log that could serve as the reference).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

wandb = pytest.importorskip("wandb")
from PIL import Image as PILImage  # noqa: E402

import seetrain  # noqa: E402
from seetrain.cli import main as cli_main  # noqa: E402
from seetrain.integration.bridges import wandb as wb_bridge  # noqa: E402


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_DISABLED", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    yield tmp_path / "wandb"


def _script():
    """A W&B script using log's step/commit rules, nested values, media, config and summary."""
    run = wandb.init(project="wb", name="first", config={"lr": 0.1, "nested": {"a": 1}}, tags=["t1"])
    for i in range(3):
        run.log({"loss": 1 / 3 + i, "acc": {"top1": 0.5 + i / 10}}, step=i)  # waits for the next step
    run.log({"extra": 2.0})                                   # joins step 2, which is then written
    run.log({"part": 1.0}, commit=False)                       # step 3, not yet written
    run.log({"loss": float("nan"), "flag": True, "note": "text is not mirrored"})  # step 3 written
    run.log({"old": 1.0}, step=1)                              # smaller step: W&B drops it
    run.log({"hist": wandb.Histogram(np.arange(20.0), num_bins=4),
             "img": wandb.Image(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))}, step=5)
    run.config.update({"bs": 32})
    run.config.layers = 3
    run.summary["best"] = 0.9
    run.finish()
    failing = wandb.init(project="wb", name="second")
    failing.log({"x": 1.5})
    failing.finish(exit_code=2)
    # W&B keeps its settings (WANDB_DIR) for the process: ask the runs where they wrote
    return run.id, failing.id, os.path.dirname(run.dir), os.path.dirname(failing.dir)


def _read_when_complete(path, rows=None):
    """The run log once W&B has written it out: its service may still be writing after finish(),
    even the run record at the start of the log (then the bridge refuses the file as incomplete)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            src = wb_bridge.WandbRunFile(path)
        except ValueError:
            if time.monotonic() > deadline:
                raise
        else:
            if (src.exit_code is not None and (rows is None or len(src.rows) >= rows)) or time.monotonic() > deadline:
                return src
        time.sleep(0.2)


def _series(r):
    out = {}
    for key in r.keys():
        s = r.scalars(key)
        if s.steps:
            out[key] = [(st, "nan" if math.isnan(v) else v) for st, v in zip(s.steps, s.values)]
    return out


def _media(r, key):
    items = r.media(key)
    if items and items[0]["type"] == "image":
        return [(m["step"], np.asarray(PILImage.open(m["path"])).tolist()) for m in items]
    return [(m["step"], m["bins"], m["counts"]) for m in items]


def _assert_what_the_script_logged(first, second):
    """``first`` and ``second`` hold what ``_script`` logged, under W&B's step rules (the reference is
    written here, not read back through SeeTrain: W&B ships no reader for its .wandb log)."""
    assert (first.name, first.status, first.meta["tags"]) == ("first", "success", ["t1"])
    assert _series(first) == {
        "loss": [(0, 1 / 3), (1, 1 / 3 + 1), (2, 1 / 3 + 2), (3, "nan")],
        "acc/top1": [(0, 0.5), (1, 0.6), (2, 0.7)],
        "extra": [(2, 2.0)], "part": [(3, 1.0)], "flag": [(3, 1)]}
    config = {k: v for k, v in first.config.items() if not k.startswith(("wandb/", "_framework", "imported"))}
    assert config == {"lr": 0.1, "nested": {"a": 1}, "bs": 32, "layers": 3}
    assert first.config["wandb/summary/best"] == 0.9
    counts, edges = np.histogram(np.arange(20.0), bins=4)
    assert _media(first, "hist") == [(5, edges.tolist(), counts.tolist())]
    assert _media(first, "img") == [(5, np.arange(48, dtype=np.uint8).reshape(4, 4, 3).tolist())]
    assert (second.name, second.status) == ("second", "failed")
    assert _series(second) == {"x": [(0, 1.5)]}


def test_mirror_and_import_equal_the_offline_run(offline, logdir, tmp_path):
    sync = seetrain.sync_wandb()
    try:
        first, second, first_dir, second_dir = _script()
    finally:
        sync.finish()
    mirrored = {r.config["wandb/run_id"]: r for r in seetrain.list_runs(logdir, project="wb")}
    assert set(mirrored) == {first, second}
    for run_id, run_dir in ((first, first_dir), (second, second_dir)):  # W&B has written its log out
        (path,) = wb_bridge.find_run_files(run_dir)
        _read_when_complete(path)
    _assert_what_the_script_logged(mirrored[first], mirrored[second])

    # `seetrain import wandb` of the same directories gives the same runs
    target = str(tmp_path / "imported")
    wandb_dir = os.path.dirname(first_dir)
    assert cli_main(["import", "wandb", wandb_dir, "--logdir", target]) == 0
    imported = {r.config["wandb/run_id"]: r for r in seetrain.list_runs(target, project="wb")}
    assert set(imported) == set(mirrored)
    _assert_what_the_script_logged(imported[first], imported[second])  # read from W&B's own log
    for run_id, r in imported.items():
        m = mirrored[run_id]
        assert {k: v for k, v in r.config.items() if k != "imported"} == m.config
    assert cli_main(["import", "wandb", wandb_dir, "--logdir", target]) == 0  # again: skipped
    assert len(seetrain.list_runs(target, project="wb")) == 2


def test_disable_restores_wandb(offline, logdir):
    from wandb.sdk import wandb_run

    names = ("_partial_history_callback", "_config_callback", "_summary_update_callback", "_finish")
    originals = {n: wandb_run.Run.__dict__[n] for n in names}
    init = wandb.__dict__["init"]
    sync = seetrain.sync_wandb(project="off")
    assert wandb.__dict__["init"] is not init
    sync.disable()
    assert wandb.__dict__["init"] is init
    assert all(wandb_run.Run.__dict__[n] is f for n, f in originals.items())


def test_read_records_stops_at_a_torn_tail(offline, logdir, tmp_path):
    run = wandb.init(project="torn")
    for i in range(50):
        run.log({"v": float(i)})
    run.finish()
    (path,) = wb_bridge.find_run_files(os.path.dirname(run.dir))
    whole = _read_when_complete(path, rows=50)
    assert [row["v"] for _, row in whole.rows] == [float(i) for i in range(50)]
    data = open(path, "rb").read()
    cut = tmp_path / "run-cut.wandb"
    cut.write_bytes(data[: len(data) - 40])  # a process killed mid-write
    rows = wb_bridge.WandbRunFile(str(cut)).rows
    assert 0 < len(rows) <= 50 and [row["v"] for _, row in rows] == [float(i) for i in range(len(rows))]


def test_import_bad_path_is_one_clear_message(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        cli_main(["import", "wandb", str(tmp_path / "nope")])
    with pytest.raises(SystemExit, match="no W&B run files"):
        cli_main(["import", "wandb", str(tmp_path)])


def test_wandb_errors_reach_the_user_and_bridge_errors_do_not(offline, logdir, shielded):
    sync = seetrain.sync_wandb(project="wb-err")
    try:
        with pytest.raises(RuntimeError, match="boom"):
            with wandb.init(project="wb-err", name="crash") as run:
                run.log({"a": 1.0})
                with pytest.raises(TypeError):
                    run.log({1: 2.0})  # W&B's own error, unchanged
                row = wb_bridge._row
                wb_bridge._row = lambda data, convert: 1 / 0
                try:
                    with pytest.warns(seetrain.SeeTrainWarning, match="wandb bridge"):
                        run.log({"b": 2.0})  # the bridge fails; W&B still logs it
                finally:
                    wb_bridge._row = row
                raise RuntimeError("boom")
    finally:
        sync.finish()
    (r,) = seetrain.list_runs(logdir, project="wb-err")
    assert r.status == "failed" and r.scalars("a").values == [1.0]  # W&B's exit code 1 after the exception
    rows = _read_when_complete(wb_bridge.find_run_files(os.path.dirname(run.dir))[0], rows=2).rows
    assert [row.get("b") for _, row in rows] == [None, 2.0]
