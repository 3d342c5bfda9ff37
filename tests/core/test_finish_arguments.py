"""``finish(status, exit_code)`` with arguments a run cannot store: a warning that says what to pass,
the run ends by its exit code, and it stays a run the dashboard and every sync accept (a status
outside the four made the server refuse the whole run)."""

import json
import os
import warnings

import pytest

import seetrain
from seetrain.rundir.reader import read_run


def _finish(tmp_path, strict=False, **finish_args):
    run = seetrain.init(project="p", id="r", logdir=str(tmp_path), system_metrics=False, strict=strict)
    run.log({"loss": 0.5})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.finish(**finish_args)
    with open(os.path.join(run.dir, "run.json")) as f:
        meta = json.load(f)
    return run, meta, [str(w.message) for w in caught if issubclass(w.category, seetrain.SeeTrainWarning)]


@pytest.mark.parametrize("args, status, exit_code", [
    ({"status": "done"}, "success", 0),
    ({"status": "error", "exit_code": 3}, "failed", 3),
    ({"status": ["failed"]}, "success", 0),
    ({"status": None, "exit_code": 0}, "success", 0),
    ({"status": "Failed", "exit_code": 1}, "failed", 1),
])
def test_a_status_outside_the_four_is_reported_and_the_exit_code_decides(tmp_path, args, status, exit_code):
    run, meta, said = _finish(tmp_path, **args)
    assert (meta["status"], meta["exit_code"]) == (status, exit_code)
    assert read_run(run.dir).status == status
    assert len(said) == 1 and "'success', 'failed', 'crashed' or 'killed'" in said[0] and f"recorded as {status!r}" in said[0]
    events = [r for r in read_run(run.dir).records() if r["type"] == "event" and r["event"] == "warning"]
    assert [e["message"] for e in events] == [said[0].removeprefix("seetrain: ")]  # kept with the run


@pytest.mark.parametrize("exit_code", ["3", 2**31, -2**31 - 1, 1.0, True])
def test_an_exit_code_that_is_not_a_32_bit_integer_is_left_out(tmp_path, exit_code):
    run, meta, said = _finish(tmp_path, status="failed", exit_code=exit_code)
    assert (meta["status"], meta["exit_code"]) == ("failed", None)
    assert len(said) == 1 and "an exit code is an integer from -2**31 to 2**31-1" in said[0]


@pytest.mark.parametrize("exit_code", [2**31 - 1, -2**31, 0])
def test_the_32_bit_edges_are_exit_codes(tmp_path, exit_code):
    import numpy as np

    run, meta, said = _finish(tmp_path, status="failed", exit_code=np.int64(exit_code))
    assert (meta["status"], meta["exit_code"], said) == ("failed", exit_code, [])


def test_the_four_statuses_pass_unchanged(tmp_path):
    for status in ("success", "failed", "crashed", "killed"):
        run, meta, said = _finish(tmp_path / status, status=status)
        assert (meta["status"], said) == (status, [])
        assert meta["exit_code"] == (0 if status == "success" else None)


def test_strict_raises_and_the_run_stays_open_for_a_correct_finish(tmp_path):
    run = seetrain.init(project="p", id="r", logdir=str(tmp_path), system_metrics=False, strict=True)
    run.log({"loss": 0.5})
    with pytest.raises(seetrain.SeeTrainError, match="finish\\(status='done'\\)"):
        run.finish("done")
    assert not run.finished
    run.log({"loss": 0.25})
    run.finish("killed", exit_code=130)
    r = read_run(run.dir)
    assert (r.status, r.meta["exit_code"]) == ("killed", 130)
    assert [m["data"]["loss"] for m in r.records() if m["type"] == "metrics"] == [0.5, 0.25]


def test_the_dashboard_takes_the_run_whole(tmp_path):
    """What the user meets: ``seetrain ui``'s watcher refused a run finished as 'done' whole."""
    pytest.importorskip("fastapi", reason="the dashboard needs the server extra")
    from seetrain.server.app import create_app
    from seetrain.server.queries import get_run
    from seetrain.server.settings import Settings
    from seetrain.server.watcher import Watcher

    run, meta, said = _finish(tmp_path / "logs", status="done")
    store = create_app(Settings(db=str(tmp_path / "index.db"), blobs=str(tmp_path / "blobs"), api_key="")).state.store
    watcher = Watcher(str(tmp_path / "logs"), store)
    watcher.poll_once()
    state = watcher.state()["runs"][meta["uuid"]]
    assert not state["error"], state["error"]
    with store.read() as conn:
        row = get_run(conn, meta["uuid"])
    assert row is not None and row["status"] == "success" and row["n_records"] == meta["last_seq"] + 1
