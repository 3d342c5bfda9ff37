"""A client that leaves in the middle of a download (a run's export) gives its database connection
back at once: the server goes on answering every request and logs no error, on SQLite and
PostgreSQL. (A connection left to the garbage collector was checked in twice: two requests then
shared one SQLite connection, "cannot start a transaction within a transaction", and reads waited
the pool's 30 s for a connection.)"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from .conftest import api

N_RECORDS = 40_000  # an export of several MB: far more than the socket buffers hold
ABANDONED = 30      # more downloads than the server's pool has connections (SQLite 15, PostgreSQL 10)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_server(request, make_server):
    if request.param == "postgresql":
        return make_server(db=request.getfixturevalue("pg_db"))
    return make_server()


def _long_run(url: str) -> str:
    uuid = "ab" * 16
    assert api(url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "dl"}))[0] == 200
    for lo in range(0, N_RECORDS, 20_000):
        recs = [{"seq": i, "type": "metrics", "step": i, "time": float(i), "data": {"loss": i / 7, "note": "x" * 80}}
                for i in range(lo, lo + 20_000)]
        status, body = api(url, f"/api/v1/runs/{uuid}/records", "POST", orjson.dumps({"records": recs}))
        assert status == 200 and body["stored"] == len(recs), body
    return uuid


def _leave_mid_download(port: int, uuid: str) -> None:
    """Start downloading the export, read its first bytes (the answer has begun), hang up."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET /api/v1/runs/{uuid}/export HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, "the server closed the connection before answering"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head[:200]


def _server_log(server) -> str:
    server.stop()
    return server.proc.stderr.read().decode(errors="replace")


def test_clients_leaving_mid_export_leave_the_server_answering_and_its_log_clean(db_server):
    url = db_server.url
    uuid = _long_run(url)
    with ThreadPoolExecutor(ABANDONED) as ex:  # all at once, as browsers and scripts do
        list(ex.map(lambda _: _leave_mid_download(db_server.port, uuid), range(ABANDONED)))
    # every connection is back: as many concurrent reads and writes as the pool holds all answer
    def read(i: int) -> int:
        return api(url, f"/api/v1/series?run={uuid}&key=loss&points=100")[0]

    def write(i: int) -> int:
        rec = {"seq": N_RECORDS + i, "type": "metrics", "step": N_RECORDS + i, "data": {"loss": 0.0, "note": ""}}
        return api(url, f"/api/v1/runs/{uuid}/records", "POST", orjson.dumps({"records": [rec]}))[0]

    with ThreadPoolExecutor(24) as ex:
        reads = list(ex.map(read, range(16)))
        writes = list(ex.map(write, range(8)))
    assert reads == [200] * 16 and writes == [200] * 8
    status, body = api(url, f"/api/v1/runs/{uuid}/export")
    assert status == 200
    seqs = [orjson.loads(line)["seq"] for line in body.splitlines()]
    assert seqs == list(range(N_RECORDS + 8))  # a download to the end is whole
    log = _server_log(db_server)
    assert "Traceback" not in log and "Exception" not in log, log[-3000:]
