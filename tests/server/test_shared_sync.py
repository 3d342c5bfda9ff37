"""Shared runs shipped to a server (issue 23): real writer processes (a launcher's RANK/WORLD_SIZE in
their environment), online mode and ``seetrain sync``; every writer's log arrives with its label,
the server stores each (writer, seq) once, and two nodes' log folders of one run synced in any order,
any number of times, make one run with nothing doubled."""

from __future__ import annotations

import os
import subprocess
import textwrap

import orjson
import pytest

from tests._child import popen_python, run_python

from .conftest import api

WRITER = textwrap.dedent("""
    import sys, seetrain
    logdir, run_id, n, host = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    run = seetrain.init(project="p", id=run_id, logdir=logdir, shared=True, flush_interval=0.05,
                        system_metrics=False, console="off", mode="online" if host != "-" else "local",
                        host=host if host != "-" else None)
    for i in range(n):
        run.log({"x": i})
        if i == n // 2:
            run.flush()
            print("half", flush=True)
            sys.stdin.readline()  # the test says when to go on: every writer is alive at once
    run.finish()
""")


def run_writers(tmp_path, logdir, run_id: str, n: int, ranks, world: int, host: str = "-") -> str:
    """One writer process per rank, all alive at once; returns the run directory."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    procs = []
    for r in ranks:
        env = dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(world))
        procs.append(popen_python([str(script), str(logdir), run_id, str(n), host], env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        assert p.stdout.readline().strip() == "half", p.stderr.read()[-3000:]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    return os.path.join(str(logdir), "p", run_id)


def sync(url: str, *paths) -> None:
    res = run_python(["-m", "seetrain.cli", "sync", "--host", url, *map(str, paths)], capture_output=True, text=True,
                     timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


def the_run(url: str, run_id: str) -> dict:
    status, body = api(url, "/api/v1/runs?project=p")
    assert status == 200, body
    runs = [r for r in body["runs"] if r["id"] == run_id]
    assert len(runs) == 1, runs  # one run, however many writers and machines
    return runs[0]


def writer_series(url: str, uuid: str, key: str = "x") -> dict:
    status, body = api(url, f"/api/v1/series?run={uuid}&key={key}&writers=each&full=1")
    assert status == 200, body
    return {s["writer"]: s for s in body["series"]}


def assert_four_writers_complete(url: str, run_id: str, n: int) -> None:
    run = the_run(url, run_id)
    status, merged = api(url, f"/api/v1/series?run={run['uuid']}&key=x&full=1")
    assert merged["series"][0]["total"] == 4 * n  # every point of every writer, none doubled or overwritten
    each = writer_series(url, run["uuid"])
    assert sorted(each) == ["", "rank1", "rank2", "rank3"]  # the primary (rank0) is "" on the server
    for label, s in each.items():
        assert s["x"] == list(range(n)) and s["y"] == [float(i) for i in range(n)], label  # gap-free, in order
    status, writers = api(url, f"/api/v1/runs/{run['uuid']}/writers")
    assert [(w["writer"], w["status"], w["rank"]) for w in writers] == [
        ("", "success", 0), ("rank1", "success", 1), ("rank2", "success", 2), ("rank3", "success", 3)]
    assert run["status"] == "success"


def test_four_processes_online_then_synced_again_store_exactly_40000_points(tmp_path, make_server):
    online, later = make_server(), make_server()
    run_dir = run_writers(tmp_path, tmp_path / "logs", "ddp", 10_000, range(4), 4, host=online.url)
    assert_four_writers_complete(online.url, "ddp", 10_000)
    sync(online.url, tmp_path / "logs")  # everything again over what online mode sent: nothing doubles
    assert_four_writers_complete(online.url, "ddp", 10_000)
    sync(later.url, run_dir)  # the same run directory, by `seetrain sync`, to a server that has none of it
    sync(later.url, run_dir)
    assert_four_writers_complete(later.url, "ddp", 10_000)


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_two_nodes_synced_in_either_order_and_twice_make_one_run(tmp_path, make_server, order):
    node = {"a": tmp_path / "node-a", "b": tmp_path / "node-b"}
    run_writers(tmp_path, node["a"], "multi", 500, [0], 2)  # the primary on node A
    run_writers(tmp_path, node["b"], "multi", 500, [1], 2)  # rank 1 on node B: a minimal run.json there
    srv = make_server()
    for which in order + order:
        sync(srv.url, node[which])
    run = the_run(srv.url, "multi")
    primary = orjson.loads((node["a"] / "p" / "multi" / "run.json").read_bytes())
    assert run["status"] == "success" and run["name"] == primary["name"]  # the run's fields are the primary's
    assert run["records"] == sum(1 for d in node.values() for _ in _all_lines(d))
    each = writer_series(srv.url, run["uuid"])
    assert {k: s["x"] for k, s in each.items()} == {"": list(range(500)), "rank1": list(range(500))}
    status, writers = api(srv.url, f"/api/v1/runs/{run['uuid']}/writers")
    assert [(w["writer"], w["status"]) for w in writers] == [("", "success"), ("rank1", "success")]


def _all_lines(logdir):
    for root, _, files in os.walk(logdir):
        if "records.jsonl" in files:
            with open(os.path.join(root, "records.jsonl"), "rb") as f:
                yield from f


def test_seetrain_ui_indexes_every_writer_of_four_processes(tmp_path):
    """The ``seetrain ui`` watcher (its follower per writer log, the local sink) over a shared run of
    4 real processes: exactly 40,000 points, each writer's series gap-free, each writer's status."""
    from seetrain.server import series
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings
    from seetrain.server.watcher import Watcher
    from seetrain.server.writers import list_writers

    run_writers(tmp_path, tmp_path / "logs", "ddp", 10_000, range(4), 4)
    store = create_app(Settings(db=str(tmp_path / "index.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    state_file = str(tmp_path / "ui-state.json")
    w = Watcher(str(tmp_path / "logs"), store, state_file=state_file)
    w.poll_once()
    while w.behind():
        w.poll_once()
    assert w.poll_once() == 0  # nothing new: nothing stored twice
    w.stop()
    again = Watcher(str(tmp_path / "logs"), store, state_file=state_file)  # `seetrain ui` restarted
    (st,) = again.runs.values()
    assert {label: f.cursor.offset for label, f in st.writers.items()} == {
        label: os.path.getsize(os.path.join(st.path, "writers", label, "records.jsonl"))
        for label in ("rank1", "rank2", "rank3")}  # each writer resumes where it was: no re-read
    (state,) = w.state()["runs"].values()
    assert state["error"] == ""
    uuid = next(iter(w.state()["runs"]))
    with store.read() as conn:
        xs, _ = series.load(conn, uuid, "x")
        assert xs.size == 40_000
        for label in ("", "rank1", "rank2", "rank3"):
            xs, ys = series.load(conn, uuid, "x", writer=label)
            assert xs.tolist() == list(range(10_000)) and ys.tolist() == [float(i) for i in range(10_000)], label
        assert [(x["writer"], x["status"]) for x in list_writers(conn, uuid, 1e9)] == [
            ("", "success"), ("rank1", "success"), ("rank2", "success"), ("rank3", "success")]
