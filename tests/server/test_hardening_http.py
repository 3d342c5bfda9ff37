"""Issue 21 against real `seetrain server` processes: auth decided per request (a server that ever
had a key stays closed), media served inert, Host/Origin/Content-Type checks on every request,
project keys that cannot tell another project's run from no run, and connections that never
finish a request closed by the server."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
import uuid as _uuid
from typing import Dict, Optional, Tuple

import orjson
import pytest

from seetrain.sender import Client, RunSync

from .conftest import PY, api, write_run


def wait_until(check, timeout: float, what: str, every: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = check()
        if out:
            return out
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def raw(url: str, method: str, path: str, body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    """One request with exactly the headers given (Host included when given): (status, headers, body)."""
    hostport = url.split("://", 1)[1]
    conn = http.client.HTTPConnection(hostport, timeout=30)
    try:
        h = dict(headers or {})
        conn.putrequest(method, path, skip_host="Host" in h, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def keys_cli(db: str, *args: str) -> str:
    out = subprocess.run([PY, "-m", "seetrain.cli", "server", "keys", *args, "--db", db],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# --- 1. auth per request ---------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_revoking_the_last_key_leaves_a_closed_server(backend, make_server, tmp_path, request):
    db = request.getfixturevalue("pg_db") if backend == "postgresql" else str(tmp_path / "auth.sqlite")
    srv = make_server(db=db, env={"SEETRAIN_SERVER_KEY_CACHE_S": "0.5"})
    run_uuid = _uuid.uuid4().hex
    body = orjson.dumps({"project": "p", "id": "r", "name": "r"})
    assert api(srv.url, "/api/v1/runs")[0] == 200  # loopback, never a key: open
    assert api(srv.url, f"/api/v1/runs/{run_uuid}", "PUT", body)[0] == 200

    key = keys_cli(db, "create", "--project", "*", "--write")
    wait_until(lambda: api(srv.url, "/api/v1/runs")[0] == 401, 30, "the new key to close the server")
    assert api(srv.url, "/api/v1/runs", key=key)[0] == 200
    kid = keys_cli(db, "list").split()[0]
    keys_cli(db, "revoke", kid)
    # the server has noticed once the revoked key stops working (or, failing open, the anonymous call passes)
    wait_until(lambda: api(srv.url, "/api/v1/runs", key=key)[0] == 401 or api(srv.url, "/api/v1/runs")[0] == 200,
               30, "the server to notice the revocation")

    finish = orjson.dumps({"status": "killed"})
    for method, path, data in [("GET", "/api/v1/runs", None), ("GET", "/api/v1/projects", None),
                               ("GET", f"/api/v1/runs/{run_uuid}", None),
                               ("PUT", f"/api/v1/runs/{_uuid.uuid4().hex}", body),
                               ("POST", f"/api/v1/runs/{run_uuid}/finish", finish)]:
        status, answer = api(srv.url, path, method, data)
        assert status == 401 and "API key" in answer["detail"], (method, path, status, answer)

    # the fact outlives the process: restarted, still closed; a new key then revoked opens nothing
    srv.stop()
    srv.start()
    assert api(srv.url, "/api/v1/runs")[0] == 401
    key2 = keys_cli(db, "create", "--project", "p")
    assert api(srv.url, "/api/v1/runs", key=key2)[0] == 200
    keys_cli(db, "revoke", keys_cli(db, "list").split()[0])
    wait_until(lambda: api(srv.url, "/api/v1/runs", key=key2)[0] == 401, 30, "the second key to be revoked")
    assert api(srv.url, "/api/v1/runs")[0] == 401
    assert api(srv.url, "/api/v1/health")[0] == 200


# --- 2. media are served inert, privately ------------------------------------------------------
SCRIPTED = {"a.html": b"<html><script>document.title='pwned'</script></html>",
            "a.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "x.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "x.txt": b"plain words", "x.wav": b"RIFF0000WAVE"}


def media_run(run_dir, project: str = "p") -> dict:
    """A run directory whose records point at the files of SCRIPTED (uploaded by the real sender)."""
    meta = write_run(str(run_dir), 2, project=project)
    (run_dir / "media").mkdir()
    with open(run_dir / "records.jsonl", "ab") as f:
        for i, (name, data) in enumerate(SCRIPTED.items()):
            (run_dir / "media" / name).write_bytes(data)
            f.write(orjson.dumps({"seq": 2 + i, "time": 1.0, "type": "metrics", "step": 2 + i,
                                  "data": {f"m{i}": {"_type": "text", "path": f"media/{name}"}}}) + b"\n")
    return meta


def test_media_are_served_as_inert_types_or_attachments(server, tmp_path):
    meta = media_run(tmp_path / "p" / "r")
    RunSync(str(tmp_path / "p" / "r"), Client(server.url)).drain()
    items = {m["path"]: m for m in api(server.url, f"/api/v1/runs/{meta['uuid']}/media")[1]}
    expect = {"media/a.html": "application/octet-stream", "media/a.svg": "application/octet-stream",
              "media/x.png": "image/png", "media/x.txt": "text/plain; charset=utf-8", "media/x.wav": "audio/wav"}
    for path, ctype in expect.items():
        status, h, body = raw(server.url, "GET", items[path]["url"], headers={"Host": "127.0.0.1"})
        assert status == 200 and body == SCRIPTED[path.split("/")[1]]
        assert h["content-type"] == ctype, path
        assert h["x-content-type-options"] == "nosniff"
        assert h["content-security-policy"] == "default-src 'none'; sandbox"
        assert ("content-disposition" in h) == (ctype == "application/octet-stream"), path
        if "content-disposition" in h:
            assert h["content-disposition"].startswith("attachment")
        assert "private" in h["cache-control"] and "public" not in h["cache-control"]
        assert "authorization" in h["vary"].lower()


# --- 9. a project key cannot tell another project's run from no run ------------------------------
def test_a_project_key_gets_the_same_404_for_another_projects_run(make_server, tmp_path):
    db = str(tmp_path / "scoped.sqlite")
    admin = "admin-" + "k" * 24
    reader_a = keys_cli(db, "create", "--project", "A")
    writer_a = keys_cli(db, "create", "--project", "A", "--write")
    srv = make_server(db=db, api_key=admin)
    mb = media_run(tmp_path / "B" / "rb", project="B")
    RunSync(str(tmp_path / "B" / "rb"), Client(srv.url, admin)).drain()
    blob = api(srv.url, f"/api/v1/runs/{mb['uuid']}/media", key=admin)[1][0]["url"]
    nobody = _uuid.uuid4().hex
    rec = orjson.dumps({"records": [{"seq": 50, "time": 1.0, "type": "metrics", "step": 50, "data": {"k0": 1}}]})

    def answer(method: str, path: str, key: str, body: Optional[bytes] = None):
        status, out = api(srv.url, path, method, body, key=key)
        return status, out["detail"].replace(mb["uuid"], "U").replace(nobody, "U")

    for key in (reader_a, writer_a):
        for suffix in ("", "/keys", "/events", "/console", "/media", "/export"):
            theirs, missing = (answer("GET", f"/api/v1/runs/{u}{suffix}", key) for u in (mb["uuid"], nobody))
            assert theirs == missing and theirs[0] == 404, (suffix, theirs, missing)
        for path in ("/api/v1/series?key=k0&run={}", "/api/v1/ui/series?key=k0&run={}"):
            theirs, missing = (answer("GET", path.format(u), key) for u in (mb["uuid"], nobody))
            assert theirs == missing and theirs[0] == 404, (path, theirs, missing)
        theirs, missing = api(srv.url, blob, key=key), api(srv.url, "/api/v1/media/" + "0" * 64, key=key)
        assert theirs[0] == missing[0] == 404
        assert theirs[1]["detail"].replace(blob.rsplit("/", 1)[1], "S") == missing[1]["detail"].replace("0" * 64, "S")
    for path, body in (("/api/v1/runs/{}/records", rec), ("/api/v1/runs/{}/finish", b'{"status": "killed"}')):
        theirs, missing = (answer("POST", path.format(u), writer_a, body) for u in (mb["uuid"], nobody))
        assert theirs == missing and theirs[0] == 404, (path, theirs, missing)
    # creating a run is still allowed in the key's own project, and refused (403) in another one
    put = lambda u, project: api(srv.url, f"/api/v1/runs/{u}", "PUT", orjson.dumps({"project": project}), key=writer_a)
    assert put(mb["uuid"], "A")[0] == 404  # B's run: as if it did not exist, never re-homed
    assert put(nobody, "B")[0] == 403
    assert put(nobody, "A")[0] == 200
    assert api(srv.url, f"/api/v1/runs/{mb['uuid']}", key=admin)[1]["status"] != "killed"


# --- 3. Host, Content-Type and Origin ------------------------------------------------------------
def test_foreign_host_names_are_refused(make_server, tmp_path):
    srv = make_server(env={"SEETRAIN_SERVER_ALLOWED_HOSTS": "seetrain.team.example"})
    port = srv.url.rsplit(":", 1)[1]
    for host in ("rebind.attacker.example", f"rebind.attacker.example:{port}", "127.0.0.1.attacker.example", ""):
        status, h, body = raw(srv.url, "GET", "/api/v1/projects", headers={"Host": host})
        assert status == 400 and h["content-type"] == "application/json", host
        assert "--allowed-hosts" in orjson.loads(body)["detail"]
    assert raw(srv.url, "GET", "/", headers={"Host": "rebind.attacker.example"})[0] == 400  # the page too
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST",
                 f"seetrain.team.example:{port}"):
        assert raw(srv.url, "GET", "/api/v1/projects", headers={"Host": host})[0] == 200, host


def test_writes_need_json_and_the_servers_own_origin(server, tmp_path):
    meta = write_run(str(tmp_path / "p" / "r"), 3)
    RunSync(str(tmp_path / "p" / "r"), Client(server.url)).drain()
    run = f"/api/v1/runs/{meta['uuid']}"
    origin = server.url
    killed = b'{"status": "killed"}'
    rec = orjson.dumps({"records": [{"seq": 3, "time": 1.0, "type": "console", "stream": "stdout",
                                     "line": "forged"}]})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        h = {"Content-Type": ctype} if ctype else {}
        for path, body in ((f"{run}/finish", killed), (f"{run}/records", rec)):
            status, rh, out = raw(server.url, "POST", path, body, headers=h)
            assert status == 415 and "application/json" in orjson.loads(out)["detail"], (ctype, path, status)
    for foreign in ("http://evil.example", "null", origin.replace("127.0.0.1", "localhost"),
                    origin.rsplit(":", 1)[0] + ":1"):
        status, _, out = raw(server.url, "POST", f"{run}/finish", killed,
                             headers={"Content-Type": "application/json", "Origin": foreign})
        assert status == 403 and "another site" in orjson.loads(out)["detail"], foreign
    detail = api(server.url, run)[1]
    assert detail["status"] == "success" and detail["records"] == 3
    assert api(server.url, f"{run}/console")[1] == []
    # the server's own page (same origin) and clients without an Origin still write
    assert raw(server.url, "POST", f"{run}/records", rec,
               headers={"Content-Type": "application/json; charset=utf-8", "Origin": origin})[0] == 200
    assert [c["line"] for c in api(server.url, f"{run}/console")[1]] == ["forged"]


def test_security_headers_on_the_page_and_the_api(server):
    status, h, _ = raw(server.url, "GET", "/", headers={"Host": "localhost"})
    assert status == 200 and h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
    csp = dict(d.strip().split(" ", 1) for d in h["content-security-policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["frame-ancestors"] == "'none'" and csp["default-src"] == "'none'"
    status, h, _ = raw(server.url, "GET", "/api/v1/projects", headers={"Host": "localhost"})
    assert h["cache-control"].startswith("private") and "authorization" in h["vary"].lower()
    assert h["x-content-type-options"] == "nosniff" and "default-src 'none'" in h["content-security-policy"]


# --- 7. connections that never finish a request ---------------------------------------------------
@pytest.mark.parametrize("parser", ["h11", "httptools"])
def test_half_sent_requests_are_closed_by_the_server(parser, make_server):
    if parser == "httptools":
        pytest.importorskip("httptools", reason="uvicorn's httptools parser is not installed (uvicorn[standard])")
    srv = make_server(env={"SEETRAIN_SERVER_HEADER_TIMEOUT_S": "1", "SEETRAIN_SERVER_BODY_TIMEOUT_S": "1",
                           "SEETRAIN_SERVER_HTTP": parser})
    addr = ("127.0.0.1", int(srv.url.rsplit(":", 1)[1]))
    head = (b"POST /api/v1/runs/" + b"f" * 32 + b"/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n")
    sends = {"nothing": b"", "half headers": head, "half body": head + b"Content-Length: 1000\r\n\r\n{\"records\": ["}
    sockets = []
    for kind, data in sends.items():
        for _ in range(10):
            s = socket.create_connection(addr, timeout=30)
            s.sendall(data)
            sockets.append((kind, s))
    answers: Dict[str, set] = {}
    for kind, s in sockets:  # recv returns when the server answers or closes (b""); 30 s at most
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        answers.setdefault(kind, set()).add(got.split(b"\r\n", 1)[0])
        s.close()
    assert answers == {"nothing": {b""}, "half headers": {b"HTTP/1.1 408 Request Timeout"},
                       "half body": {b"HTTP/1.1 408 Request Timeout"}}
    assert api(srv.url, "/api/v1/projects")[0] == 200  # the server serves on


def test_connections_past_the_limit_get_503(make_server):
    srv = make_server(env={"SEETRAIN_SERVER_LIMIT_CONCURRENCY": "4"})
    addr = ("127.0.0.1", int(srv.url.rsplit(":", 1)[1]))
    held = [socket.create_connection(addr, timeout=30) for _ in range(4)]
    try:
        wait_until(lambda: raw(srv.url, "GET", "/api/v1/projects")[0] == 503, 30, "the limit to refuse a request")
    finally:
        for s in held:
            s.close()
    wait_until(lambda: raw(srv.url, "GET", "/api/v1/projects")[0] == 200, 30, "the server to serve again")
