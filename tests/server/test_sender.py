"""Online mode and `seetrain sync` under faults: a killed server, a proxy that drops connections and
answers 429, a killed training process; every record arrives exactly once."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time

import orjson

from tests._child import child_env
from .conftest import PY, api, scalar_points
from .proxy import FaultProxy

SCRIPT = os.path.join(os.path.dirname(__file__), "train_script.py")


def _train(tmp_path, host, n, delay, mode="online", hang=False, timeout="60"):
    env = {**os.environ, "SEETRAIN_LOGDIR": str(tmp_path / "logs"), "SEETRAIN_HOST": host or "",
           "UPLOAD_TIMEOUT": timeout, "PYTHONWARNINGS": "default"}
    args = [PY, SCRIPT, str(n), str(delay), mode] + (["hang"] if hang else [])
    return subprocess.Popen(args, env=child_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _run_uuid(tmp_path):
    (path,) = glob.glob(str(tmp_path / "logs" / "ft" / "*" / "run.json"))
    return orjson.loads(open(path, "rb").read())["uuid"]


def _wait_points(url, uuid_getter, at_least, timeout=60, key="i"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            u = uuid_getter()
            status, body = api(url, f"/api/v1/series?run={u}&key={key}&points=0")
            if status == 200 and body["series"][0]["total"] >= at_least:
                return u
        except (ValueError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"fewer than {at_least} points arrived within {timeout}s")


def _warnings(err, words):
    """SeeTrain warnings in a child's stderr that contain ``words``."""
    return [ln for ln in err.splitlines() if "SeeTrainWarning" in ln and words in ln]


def _assert_exactly_once(url, uuid, n):
    s = scalar_points(url, uuid, "i")
    assert s["total"] == n and s["x"] == list(range(n)) and s["y"] == list(range(n))
    run = api(url, f"/api/v1/runs/{uuid}")[1]
    return run


def test_server_killed_mid_run_then_restarted_gets_every_record_once(make_server, tmp_path):
    srv = make_server()
    n = 2500
    child = _train(tmp_path, srv.url, n, 0.002)
    u = _wait_points(srv.url, lambda: _run_uuid(tmp_path), 300)
    srv.kill()
    time.sleep(1.5)  # training goes on while the server is gone
    srv.start()
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, err
    run = _assert_exactly_once(srv.url, u, n)
    assert run["status"] == "success"
    assert len(_warnings(err, "is unreachable")) == 1 and len(_warnings(err, "reachable again")) == 1, err


def test_proxy_dropping_connections_and_answering_429_keeps_exactly_once(server, tmp_path):
    pattern = ["pass", "429", "drop_after", "pass", "drop", "pass", "429", "pass"]
    plan = lambda i, method, path: pattern[i % len(pattern)] if path.endswith("/records") else "pass"  # noqa: E731
    n = 3000
    with FaultProxy(server.port, plan, retry_after=1.0) as proxy:
        child = _train(tmp_path, proxy.url, n, 0.001)
        out, err = child.communicate(timeout=240)
    assert child.returncode == 0, err
    _assert_exactly_once(server.url, _run_uuid(tmp_path), n)
    actions = [a for _, a, _, p in proxy.log if p.endswith("/records")]
    assert {"429", "drop", "drop_after"} <= set(actions), actions
    for (t, action, _, _), (t_next, *_rest) in zip(proxy.log, proxy.log[1:]):
        if action == "429":  # the next request waited for Retry-After
            assert t_next - t >= 0.95, (t, t_next)


def test_training_killed_then_sync_completes_the_run_once(server, tmp_path):
    child = _train(tmp_path, None, 1500, 0.0, mode="local", hang=True)
    flushed = 0
    for line in child.stdout:
        if line.startswith("flushed"):
            flushed = int(line.split()[1])
        if line.startswith("hanging"):
            break
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(30)
    assert flushed == 1500
    logdir = str(tmp_path / "logs")
    sync = [PY, "-m", "seetrain.cli", "sync", logdir, "--host", server.url]
    first = subprocess.run(sync, capture_output=True, text=True, timeout=180, env=child_env())
    assert first.returncode == 0, first.stderr
    u = _run_uuid(tmp_path)
    s = scalar_points(server.url, u, "i")
    (rec_file,) = glob.glob(str(tmp_path / "logs" / "ft" / "*" / "records.jsonl"))
    on_disk = [orjson.loads(x) for x in open(rec_file, "rb").read().split(b"\n")[:-1]]
    logged = sorted(r["data"]["i"] for r in on_disk if r.get("type") == "metrics")
    assert s["x"][:flushed] == list(range(flushed))  # complete up to the last flush
    assert s["y"] == logged and s["total"] == len(logged)  # and whatever else reached the disk, once
    second = subprocess.run(sync, capture_output=True, text=True, timeout=180, env=child_env())
    assert second.returncode == 0 and "0 records sent" in second.stdout
    assert scalar_points(server.url, u, "i")["total"] == len(logged)
    runs = api(server.url, "/api/v1/runs?project=ft")[1]
    assert runs["total"] == 1 and runs["runs"][0]["records"] == len(on_disk)


def test_server_down_training_goes_on_and_finish_leaves_the_rest_to_sync(make_server, tmp_path):
    from .conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    child = _train(tmp_path, dead, 1000, 0.0, timeout="2")
    # finish() gives up on the server after the upload timeout (2 s) and a backoff step: it ends
    # (a finish that waited for the server would never end); how long it takes is benchmarks' business
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert len(_warnings(err, "is unreachable")) == 1 and _warnings(err, "run `seetrain sync"), err
    srv = make_server()
    sync = subprocess.run([PY, "-m", "seetrain.cli", "sync", str(tmp_path / "logs"), "--host", srv.url],
                          capture_output=True, text=True, timeout=180, env=child_env())
    assert sync.returncode == 0, sync.stderr
    run = _assert_exactly_once(srv.url, _run_uuid(tmp_path), 1000)
    assert run["status"] == "success"


def test_sync_watch_follows_a_live_run(server, tmp_path):
    from .conftest import write_run

    run_dir = str(tmp_path / "logs" / "ft" / "live")
    meta = write_run(run_dir, 100, status="running")
    watch = subprocess.Popen([PY, "-m", "seetrain.cli", "sync", str(tmp_path / "logs"), "--host", server.url,
                              "--watch", "--interval", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True, env=child_env())
    try:
        _wait_points(server.url, lambda: meta["uuid"], 100, key="k0")
        write_run(run_dir, 50, start_seq=100, status="success")
        _wait_points(server.url, lambda: meta["uuid"], 150, key="k0")
        end = time.monotonic() + 30
        while api(server.url, f"/api/v1/runs/{meta['uuid']}")[1]["status"] != "success":
            assert time.monotonic() < end, "the finish did not arrive"
            time.sleep(0.2)
    finally:
        os.killpg(watch.pid, signal.SIGINT)
        watch.wait(30)
    assert scalar_points(server.url, meta["uuid"], "k0")["x"] == list(range(150))


def test_sync_to_a_new_server_at_the_same_address_sends_everything_again(make_server, tmp_path):
    from seetrain.sender import Client, RunSync

    from .conftest import write_run

    run_dir = str(tmp_path / "logs" / "ft" / "r")
    meta = write_run(run_dir, 200)
    first = make_server()
    assert RunSync(run_dir, Client(first.url)).drain() == 200
    first.stop()
    first.db = str(tmp_path / "wiped.sqlite")  # same host and port, a database that never saw the run
    first.start()
    assert RunSync(run_dir, Client(first.url)).drain() == 200
    assert scalar_points(first.url, meta["uuid"], "k0")["x"] == list(range(200))


def test_sync_with_the_server_down_says_so_and_keeps_the_cursor(tmp_path):
    from .conftest import free_port, write_run

    run_dir = tmp_path / "logs" / "ft" / "r"
    write_run(str(run_dir), 10)
    out = subprocess.run([PY, "-m", "seetrain.cli", "sync", str(tmp_path / "logs"), "--host",
                          f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=120,
                         env=child_env())
    assert out.returncode == 1 and "unreachable" in out.stderr and "nothing is lost" in out.stderr
    assert not list(run_dir.glob(".sync/*.json"))  # nothing acknowledged, so no cursor moved
