"""The test servers are the processes the tests started: a port taken by another server between
``free_port()`` and the bind (another test process on the machine got the same free port) is
never mistaken for ours."""

import uuid

import orjson
import pytest

from .conftest import ServerProc, api


def test_a_server_whose_port_another_server_took_gets_a_port_of_its_own(make_server, tmp_path):
    first = make_server()
    second = ServerProc(str(tmp_path / "second.sqlite"), str(tmp_path / "blobs2"))
    second.port, second.url = first.port, first.url  # what free_port() handed out was taken meanwhile
    try:
        second.start()
        u = uuid.uuid4().hex
        status, _ = api(second.url, f"/api/v1/runs/{u}", "PUT", orjson.dumps({"project": "ports", "id": "r"}))
        assert status == 200
        assert second.url != first.url
        assert api(first.url, f"/api/v1/runs/{u}")[0] == 404  # the run is in the second's database only
    finally:
        second.stop()


def test_a_restart_on_a_port_taken_while_the_server_was_down_is_an_error(make_server, tmp_path):
    first = make_server()
    second = make_server(str(tmp_path / "second.sqlite"))
    second.stop()
    second.port, second.url = first.port, first.url  # taken while it was down: it must come back there
    with pytest.raises(RuntimeError, match=f"port {first.port} is held by another process"):
        second.start()
