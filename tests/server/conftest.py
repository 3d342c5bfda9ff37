"""Real server processes on 127.0.0.1 (SQLite or PostgreSQL), a PostgreSQL cluster per session,
and helpers that write run directories in format 2."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid as _uuid
from typing import Dict, List, Optional

import orjson
import pytest

from tests._child import child_env
from tests._services import require_or_skip

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(RuntimeError):
    """Another process listens on the port a test server was started on."""


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a listening TCP socket on ``port``."""
    import psutil

    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)


def wait_http(url: str, timeout: float = 30.0, proc: Optional[subprocess.Popen] = None) -> None:
    """Wait until ``url`` answers its health check; with ``proc``, until it is ``proc`` that
    answers: a port from :func:`free_port` is free only when asked, and another process on the
    machine may take it before ``proc`` binds it (then ``proc`` exits and this raises
    :class:`PortTaken`), and its server would answer the health check in ``proc``'s place."""
    port = urllib.parse.urlsplit(url).port
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            if "address already in use" in err.lower():
                raise PortTaken(f"port {port} is held by another process; the server exited: {err[-2000:]}")
            raise RuntimeError(f"server exited with {proc.returncode}: {err}")
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=2) as r:
                if r.status == 200 and (proc is None or listens_on(proc.pid, port)):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server at {url} did not answer within {timeout}s")


class ServerProc:
    """``seetrain server`` as a child process; ``kill()`` sends SIGKILL, ``start()`` (re)starts it."""

    def __init__(self, db: str, blobs: str, api_key: Optional[str] = None, workers: int = 1,
                 env: Optional[Dict[str, str]] = None) -> None:
        self.db, self.blobs, self.api_key, self.workers = db, blobs, api_key, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.env.pop("SEETRAIN_SERVER_API_KEY", None)
        self.proc: Optional[subprocess.Popen] = None
        self.started = False  # once started, clients know the port: a restart must get the same one

    def start(self) -> "ServerProc":
        """Start the server; a first start on a port another process took meanwhile moves to a new
        port, a restart (clients know the port) raises :class:`PortTaken`."""
        for _ in range(5):
            cmd = [PY, "-m", "seetrain.cli", "server", "--db", self.db, "--blobs", self.blobs, "--port",
                   str(self.port), "--workers", str(self.workers)]
            if self.api_key:
                cmd += ["--api-key", self.api_key]
            self.proc = subprocess.Popen(cmd, env=child_env(self.env), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, start_new_session=True)
            try:
                wait_http(self.url, 60, self.proc)
            except PortTaken:
                if self.started:
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                continue
            self.started = True
            return self
        raise PortTaken(f"no free port after 5 tries (the last: {self.port})")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def make_server(tmp_path):
    started: List[ServerProc] = []

    def make(db: Optional[str] = None, **kw) -> ServerProc:
        s = ServerProc(db or str(tmp_path / f"db{len(started)}.sqlite"), str(tmp_path / "blobs"), **kw)
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def server(make_server) -> ServerProc:
    return make_server()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for a module's tests (each test uses its own project)."""
    d = tmp_path_factory.mktemp("shared-server")
    s = ServerProc(str(d / "db.sqlite"), str(d / "blobs")).start()
    yield s
    s.stop()


# --- PostgreSQL --------------------------------------------------------------------------------
def _pg_bin(name: str) -> Optional[str]:
    for cand in [shutil.which(name), f"/usr/local/bin/{name}", *sorted(
            __import__("glob").glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)]:
        if cand and os.path.exists(cand):
            return cand
    return None


@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL cluster for this session (started as the postgres user); skips with the reason
    (fails where services are required: tests/_services.py)."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        require_or_skip(f"psycopg is not installed ({exc}); pip install -e '.[server]'")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        require_or_skip("PostgreSQL binaries (initdb, pg_ctl) not found; run scripts/system-deps.sh")
    as_pg: List[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            require_or_skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
        as_pg = ["runuser", "-u", "postgres", "--"]
    base = tempfile.mkdtemp(prefix="seetrain-pg-")
    data = os.path.join(base, "data")
    os.chmod(base, 0o755)
    if as_pg:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    try:
        subprocess.run(as_pg + [initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run(as_pg + [pg_ctl, "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60", "-o",
                                f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
                                "-c max_connections=100", "start"], check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        require_or_skip(f"PostgreSQL could not start: {exc} {detail.decode(errors='replace')[-300:]}")
    yield f"postgresql://postgres@127.0.0.1:{port}"
    subprocess.run(as_pg + [pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, timeout=60)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_db(pg_url):
    """A fresh database in the session's cluster: its URL."""
    import psycopg

    name = "t" + _uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url + "/postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return f"{pg_url}/{name}"


# --- run directories ----------------------------------------------------------------------------
def write_run(run_dir: str, n: int, keys: int = 2, status: str = "success", project: str = "p",
              start_seq: int = 0, extra: Optional[List[dict]] = None) -> Dict:
    """A format-2 run directory with ``n`` metrics records of ``keys`` scalars (``k0`` = step)."""
    os.makedirs(run_dir, exist_ok=True)
    meta_path = os.path.join(run_dir, "run.json")
    if os.path.exists(meta_path):
        with open(meta_path, "rb") as f:
            meta = orjson.loads(f.read())
    else:
        now = time.time()
        meta = {"format": 2, "uuid": _uuid.uuid4().hex, "id": os.path.basename(run_dir),
                "name": os.path.basename(run_dir), "project": project, "status": "running", "start_time": now,
                "heartbeat": now, "config": {"lr": 0.1}}
    with open(os.path.join(run_dir, "records.jsonl"), "ab") as f:
        for i in range(start_seq, start_seq + n):
            data = {f"k{j}": (i if j == 0 else i * 0.5 + j) for j in range(keys)}
            f.write(orjson.dumps({"seq": i, "time": time.time(), "type": "metrics", "step": i, "data": data}) + b"\n")
        for rec in extra or []:
            f.write(orjson.dumps(rec) + b"\n")
    meta.update(status=status, heartbeat=time.time())
    if status != "running":
        meta.update(end_time=time.time(), exit_code=0 if status == "success" else 1)
    with open(meta_path, "wb") as f:
        f.write(orjson.dumps(meta))
    return meta


def api(url: str, path: str, method: str = "GET", body: Optional[bytes] = None, key: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None):
    """(status, parsed JSON or bytes) of one request."""
    h = {"Content-Type": "application/json", **(headers or {})}
    if key:
        h["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url + path, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, data, ctype = r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, data, ctype = e.code, e.read(), e.headers.get("content-type", "")
    return status, (orjson.loads(data) if ctype.startswith("application/json") and data else data)


def scalar_points(url: str, uuid: str, key: str, api_key: Optional[str] = None):
    status, body = api(url, f"/api/v1/series?run={uuid}&key={key}&full=1", key=api_key)
    assert status == 200, body
    return body["series"][0]
