"""``Api.runs(state=...)``: the runs a script gets offline are the runs it gets from the server the
folder was synced to. Before, offline listed archived runs among the active ones while the server
(and the dashboard) left them out."""

from __future__ import annotations

import pytest

import seetrain
from tests._child import run_python

pytest.importorskip("fastapi", reason="the server extra is needed")


def _write(logdir: str, rid: str) -> None:
    run = seetrain.init(project="st", id=rid, experiment_name=rid, logdir=logdir, system_metrics=False,
                        console="off")
    run.log({"loss": 0.5})
    run.finish()


def _cli(*args: str) -> None:
    res = run_python(["-m", "seetrain.cli", *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


def names(runs) -> list:
    return sorted(r.name for r in runs)


def test_offline_and_server_list_the_same_runs_per_state(server, tmp_path):
    logdir = str(tmp_path / "logs")
    for rid in ("keep", "shelve", "gone"):
        _write(logdir, rid)
    _cli("archive", "st/shelve", "--logdir", logdir)
    _cli("sync", logdir, "--host", server.url)
    _cli("rm", "st/gone", "--logdir", logdir)  # a local delete stays local (docs/ui.md)

    off, on = seetrain.Api(logdir=logdir), seetrain.Api(host=server.url)
    try:
        assert names(off.runs()) == ["keep"]
        assert names(off.runs(state="archived")) == ["shelve"]
        assert names(off.runs(state="deleted")) == ["gone"]
        assert names(off.runs(state="all")) == ["gone", "keep", "shelve"]

        assert names(on.runs()) == ["gone", "keep"]  # the server never heard of the delete
        assert names(on.runs(state="archived")) == ["shelve"]
        assert names(on.runs(state="all")) == ["gone", "keep", "shelve"]

        for api in (off, on):
            (shelved,) = api.runs(state="archived")
            assert shelved.archived is not None and shelved.deleted is None
            assert api.run("shelve").uuid == shelved.uuid  # an archived run is still found by name
            assert api.runs(filter="status=success", project="st", state="archived")[0].uuid == shelved.uuid
        (gone,) = off.runs(state="deleted")
        assert gone.deleted is not None and off.run("gone").uuid == gone.uuid
        assert {p["name"]: p["runs"] for p in off.projects()} == {"st": 2}  # as the server counts: not deleted
        with pytest.raises(ValueError, match="state='gone'.*active, archived, deleted, all"):
            off.runs(state="gone")
    finally:
        on.close()
