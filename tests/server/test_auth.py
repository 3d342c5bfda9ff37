"""Auth: the single --api-key, project-scoped read/write keys (stored hashed), 401/403."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Tuple

import orjson

from seetrain.sender import Client, RunSync
from seetrain.server.settings import Settings

from .conftest import PY, api, write_run


def _key(db: str, *args: str) -> str:
    return _create(db, *args)[0]


def _create(db: str, *args: str) -> Tuple[str, str]:
    """``seetrain server keys create``: (the key, its id as the CLI names it)."""
    out = subprocess.run([PY, "-m", "seetrain.cli", "server", "keys", "create", "--db", db, *args],
                         capture_output=True, text=True, timeout=120, check=True)
    kid = re.search(r"created key (\S+) ", out.stderr)
    assert kid, out.stderr
    return out.stdout.strip(), kid.group(1)


def _cli(*args: str) -> str:
    return subprocess.run([PY, "-m", "seetrain.cli", *args], capture_output=True, text=True, timeout=120,
                          check=True).stdout


def test_keys_scope_projects_and_rights(make_server, tmp_path):
    db = str(tmp_path / "auth.sqlite")
    admin = "admin-" + "x" * 20
    writer_a = _key(db, "--project", "A", "--write")
    reader_a = _key(db, "--project", "A")
    srv = make_server(db=db, api_key=admin)
    da, db_ = tmp_path / "A" / "ra", tmp_path / "B" / "rb"
    ma = write_run(str(da), 5, project="A")
    mb = write_run(str(db_), 5, project="B")
    (db_ / "media").mkdir()
    (db_ / "media" / "x.txt").write_bytes(b"secret of B")
    with open(db_ / "records.jsonl", "ab") as f:
        f.write(orjson.dumps({"seq": 5, "time": 1.0, "type": "metrics", "step": 5,
                              "data": {"t": {"_type": "text", "path": "media/x.txt"}}}) + b"\n")
    RunSync(str(da), Client(srv.url, writer_a)).drain()
    RunSync(str(db_), Client(srv.url, admin)).drain()

    # no key or a wrong key: 401 with a JSON reason
    for key in (None, "st_wrong", "x" * 5000):
        status, body = api(srv.url, "/api/v1/runs", key=key)
        assert status == 401 and "API key" in body["detail"]
    # a project key sees only its project
    status, body = api(srv.url, "/api/v1/runs", key=reader_a)
    assert status == 200 and [r["project"] for r in body["runs"]] == ["A"]
    assert [p["name"] for p in api(srv.url, "/api/v1/projects", key=reader_a)[1]] == ["A"]
    # ... and cannot tell another project's run (or its media) from none: the same 404
    assert api(srv.url, f"/api/v1/runs/{mb['uuid']}", key=reader_a)[0] == 404
    assert api(srv.url, f"/api/v1/series?run={mb['uuid']}&key=k0", key=reader_a)[0] == 404
    media = api(srv.url, f"/api/v1/runs/{mb['uuid']}/media", key=admin)[1]
    assert api(srv.url, media[0]["url"], key=reader_a)[0] == 404
    assert api(srv.url, media[0]["url"], key=admin) == (200, b"secret of B")
    # read-only key cannot write; a write key cannot write another project
    rec = orjson.dumps({"records": [{"seq": 99, "time": 1.0, "type": "metrics", "step": 99, "data": {"k0": 1}}]})
    assert api(srv.url, f"/api/v1/runs/{ma['uuid']}/records", "POST", rec, key=reader_a)[0] == 403
    assert api(srv.url, f"/api/v1/runs/{mb['uuid']}/records", "POST", rec, key=writer_a)[0] == 404
    new_b = dict(mb, uuid="f" * 32)
    assert api(srv.url, f"/api/v1/runs/{'f' * 32}", "PUT", orjson.dumps(new_b), key=writer_a)[0] == 403
    assert api(srv.url, f"/api/v1/runs/{ma['uuid']}/records", "POST", rec, key=writer_a)[1]["stored"] == 1
    # keys are stored hashed: the database file never holds them
    raw = open(db, "rb").read()
    assert writer_a.encode() not in raw and reader_a.encode() not in raw and admin.encode() not in raw
    # `keys list` shows one line per key (id, scope) and never a key itself (revocation: see below)
    listing = subprocess.run([PY, "-m", "seetrain.cli", "server", "keys", "list", "--db", db], capture_output=True,
                             text=True, timeout=120, check=True).stdout
    assert writer_a not in listing and len(listing.strip().splitlines()) == 2


def test_a_revoked_key_stops_working_once_the_key_cache_expires(make_server, tmp_path):
    """Create two keys, use one (the server caches it), revoke it with the real CLI against the
    server's database: within the cache time it answers 401, while the other key keeps working."""
    db = str(tmp_path / "revoke.sqlite")
    doomed, doomed_id = _create(db, "--project", "A", "--write")
    kept, _ = _create(db, "--project", "A")
    assert doomed.startswith("st_") and len(doomed) > 40 and doomed_id == doomed[3:11]  # the id shows 8 characters
    srv = make_server(db=db)
    assert api(srv.url, "/api/v1/runs", key=doomed)[0] == 200      # looked up and cached
    assert api(srv.url, "/api/v1/runs", key=kept)[0] == 200
    _cli("server", "keys", "revoke", doomed_id, "--db", db)
    assert doomed_id not in _cli("server", "keys", "list", "--db", db)
    ttl = Settings(db=db).key_cache_s
    deadline = time.monotonic() + 3 * ttl + 30                     # the cache entry must expire well before
    status = api(srv.url, "/api/v1/runs", key=doomed)[0]
    while status != 401 and time.monotonic() < deadline:
        time.sleep(0.2)
        status = api(srv.url, "/api/v1/runs", key=doomed)[0]
    assert status == 401, f"a revoked key still answers {status} more than {3 * ttl + 30:g}s after revocation"
    status, body = api(srv.url, "/api/v1/runs", key=doomed)
    assert status == 401 and "API key" in body["detail"]
    assert api(srv.url, "/api/v1/runs", key=kept)[0] == 200
    out = subprocess.run([PY, "-m", "seetrain.cli", "server", "keys", "revoke", doomed_id, "--db", db],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and f"no key with id {doomed_id!r}" in out.stderr


def test_open_server_refuses_non_loopback_without_key(tmp_path):
    out = subprocess.run([PY, "-m", "seetrain.cli", "server", "--db", str(tmp_path / "o.sqlite"), "--blobs",
                          str(tmp_path / "b"), "--host", "0.0.0.0", "--port", "1"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0 and "without an API key" in out.stderr


# --- in process: the Authenticator and the key table on a real, migrated SQLite database --------
def _migrated_engine(path: str):
    from seetrain.server.db import make_engine, upgrade
    from seetrain.server.settings import normalize_db_url

    engine = make_engine(normalize_db_url(path))
    upgrade(engine)
    return engine


def test_a_database_that_held_a_key_stays_closed_even_without_its_marker(tmp_path):
    """``keys_ever_created``: False on a new database, even one holding other server facts; True
    once a key was created, after it is revoked (the marker), and for a key row whose marker is
    missing (a database written before the marker existed)."""
    from sqlalchemy import delete, insert

    from seetrain.server.auth import KEYS_EVER_CREATED, create_key, keys_ever_created, revoke_key
    from seetrain.server.db.models import server_state

    engine = _migrated_engine(str(tmp_path / "ever.sqlite"))
    with engine.begin() as conn:
        conn.execute(insert(server_state).values(name="some_other_fact", value="1", updated=0.0))
    with engine.connect() as conn:
        assert keys_ever_created(conn) is False
    _, kid = create_key(engine, "A", write=False)
    _, kid2 = create_key(engine, "B", write=True)                 # a second key: the marker is kept once
    with engine.connect() as conn:
        assert keys_ever_created(conn) is True
    assert revoke_key(engine, kid) and revoke_key(engine, kid2)
    with engine.connect() as conn:
        assert keys_ever_created(conn) is True                     # revoking every key opens nothing
    create_key(engine, "A", write=False)
    with engine.begin() as conn:
        conn.execute(delete(server_state).where(server_state.c.name == KEYS_EVER_CREATED))
    with engine.connect() as conn:
        assert keys_ever_created(conn) is True                     # the key row alone is enough
    engine.dispose()


def test_an_api_key_or_a_public_address_closes_a_server_with_an_empty_database(tmp_path):
    from seetrain.server.auth import Authenticator

    engine = _migrated_engine(str(tmp_path / "closed.sqlite"))
    assert Authenticator(engine, None, ttl=0.0, loopback=True).is_open() is True
    assert Authenticator(engine, "admin-" + "x" * 20, ttl=0.0, loopback=True).is_open() is False
    assert Authenticator(engine, None, ttl=0.0, loopback=False).is_open() is False
    engine.dispose()


def test_keys_list_shows_id_scope_rights_and_the_note_cut_to_256_characters(tmp_path):
    from seetrain.server.auth import create_key, list_keys

    engine = _migrated_engine(str(tmp_path / "list.sqlite"))
    _, plain = create_key(engine, "A", write=False)
    _, noted = create_key(engine, "*", write=True, note="n" * 300)
    rows = {r["id"]: r for r in list_keys(engine)}
    assert set(rows) == {plain, noted}
    assert {k: rows[plain][k] for k in ("project", "can_write", "note")} == {"project": "A", "can_write": False,
                                                                              "note": ""}
    assert {k: rows[noted][k] for k in ("project", "can_write")} == {"project": "*", "can_write": True}
    assert rows[noted]["note"] == "n" * 256
    assert all(isinstance(r["created"], float) and r["created"] > 0 for r in rows.values())
    engine.dispose()


def test_no_key_id_starts_with_a_dash_and_an_old_one_is_revoked_after_two_dashes(tmp_path, monkeypatch):
    """A key id is the key's first 8 characters of base64url, "-" 1 time in 64: `seetrain server keys revoke
    -BfVFI2Q` then failed ("the following arguments are required: key_id"; CI, stop 42)."""
    import secrets

    from seetrain.server.auth import create_key
    from tests._child import run_python

    db = str(tmp_path / "keys.sqlite")
    engine = _migrated_engine(db)
    drawn = iter(["-BfVFI2Q" + "x" * 35, "AbcdEFGH" + "y" * 35])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    key, kid = create_key(engine, "A", write=False)
    assert kid == "AbcdEFGH" and key.endswith("y" * 35)  # the draw starting with "-" was thrown away
    # an id issued before this (a row written by hand here) is revoked with `--` before it
    from sqlalchemy import insert

    from seetrain.server.db.models import api_keys

    with engine.begin() as conn:
        conn.execute(insert(api_keys).values(id="-OldKey1", hash="0" * 64, project="A", can_write=False, note="",
                                             created=0.0))
    out = run_python(["-m", "seetrain.cli", "server", "keys", "revoke", "--db", db, "--", "-OldKey1"],
                     capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with engine.connect() as conn:
        assert {r.id for r in conn.execute(api_keys.select())} == {"AbcdEFGH"}
