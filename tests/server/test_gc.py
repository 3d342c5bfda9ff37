"""``seetrain server gc``: a dry run first, ``--yes`` deletes exactly the blobs no run references,
disk usage after it equals the remaining references, and a gc racing a paused upload never
deletes the blob being uploaded (real SQLite / PostgreSQL, real blob folder, gc as a child process)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid as _uuid

import orjson
import pytest

from seetrain.server import ingest
from seetrain.server.blobs import LocalBlobs
from seetrain.server.deps import Store
from seetrain.server.settings import Settings
from tests._child import run_python

from .test_curation import blob_files, make_run
from .test_s3 import s3_endpoint  # noqa: F401 - the moto S3 server fixture


def gc_cli(db: str, blobs: str, *flags: str) -> dict:
    out = run_python(["-m", "seetrain.cli", "server", "gc", "--db", db, "--blobs", blobs, "--json", *flags],
                     capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = orjson.loads(out.stdout)
    jsonschema = pytest.importorskip("jsonschema")
    from seetrain.cli.json_schemas import SCHEMAS

    jsonschema.validate(doc, SCHEMAS[doc["schema"]])
    return doc


def test_gc_dry_run_then_yes_deletes_only_unreferenced_blobs(server):
    a = make_run(server.url, "gc", "a", {"media/img/x.png": b"kept" * 500})
    orphan = b"left by a purge that crashed" * 50
    sha = hashlib.sha256(orphan).hexdigest()
    tmp = os.path.join(server.blobs, "orphan.tmp")
    with open(tmp, "wb") as f:
        f.write(orphan)
    LocalBlobs(server.blobs).put_file(sha, tmp, "image/png")
    os.unlink(tmp)
    before = blob_files(server.blobs)
    assert len(before) == 2
    dry = gc_cli(server.db, server.blobs)
    assert dry["dry_run"] and dry["shas"] == [sha] and dry["collected_bytes"] == len(orphan)
    assert blob_files(server.blobs) == before                     # a dry run deletes nothing
    done = gc_cli(server.db, server.blobs, "--yes")
    assert done["shas"] == [sha] and not done["dry_run"]
    kept = blob_files(server.blobs)
    assert kept == {hashlib.sha256(b"kept" * 500).hexdigest(): 2000}  # disk == the remaining references
    assert gc_cli(server.db, server.blobs, "--yes")["collected"] == 0
    from .conftest import api

    media = api(server.url, f"/api/v1/runs/{a}/media")[1]
    assert api(server.url, media[0]["url"])[1] == b"kept" * 500


class PausingBlobs(LocalBlobs):
    """A real blob folder whose ``put_file`` stops after the blob is written, until released."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.written, self.release = threading.Event(), threading.Event()

    def put_file(self, sha: str, tmp_path: str, content_type: str) -> None:
        super().put_file(sha, tmp_path, content_type)
        self.written.set()
        assert self.release.wait(120), "the test never released the upload"


def _gc_blocked_or_done(db: str, gc) -> bool:
    """The gc child waits for the lock a PostgreSQL upload transaction holds, or it has ended."""
    import psycopg

    if gc.poll() is not None:
        return True
    with psycopg.connect(db) as c:
        return bool(c.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                              "AND query LIKE 'LOCK TABLE blob_leases%'").fetchone()[0])


# SQLite write transactions exclude each other, so a one-transaction upload there cannot race gc at all
@pytest.mark.parametrize("path,database", [("lease", "sqlite"), ("lease", "postgresql"),
                                           ("one transaction", "postgresql")])
def test_gc_racing_a_paused_upload_never_deletes_its_blob(request, tmp_path, path, database):
    """An upload paused between writing its blob and recording the reference: ``gc --yes`` meanwhile
    keeps the blob (a lease, or it waits for the upload's transaction), and after the upload the run
    serves it."""
    db = str(tmp_path / "db.sqlite") if database == "sqlite" else request.getfixturevalue("pg_db")
    root = str(tmp_path / "blobs")
    store = Store(Settings(db=db, blobs=root))
    store.blobs = blobs = PausingBlobs(root)
    u = _uuid.uuid4().hex
    with store.write() as conn:
        ingest.upsert_run(conn, u, {"project": "race", "id": "r"})
    raw = b"\x89PNG being uploaded" * 1000
    sha = hashlib.sha256(raw).hexdigest()
    src = tmp_path / "a.png"
    src.write_bytes(raw)
    recs = [{"seq": 0, "time": 1.0, "type": "metrics", "step": 0,
             "data": {"img": {"_type": "image", "path": "media/img/a.png"}}}]
    ingest.store_records(store, u, ingest.validate_records(recs))

    def upload() -> None:
        if path == "lease":  # the ui watcher: blob first, reference in a later transaction
            ingest.store_media_refs(store, u, recs, lambda rel: str(src))
        else:                # PUT /media: blob and reference in one write transaction
            with store.write() as conn:
                ingest.store_media(conn, store.blobs, u, "media/img/a.png", str(src), sha, len(raw), "image/png")

    t = threading.Thread(target=upload)
    t.start()
    try:
        assert blobs.written.wait(60)
        if path == "lease":
            report = gc_cli(db, root, "--yes")   # runs to the end while the upload is paused
            assert report["leased"] == 1 and report["collected"] == 0
            assert blob_files(root) == {sha: len(raw)}
        else:
            from tests._child import popen_python
            import subprocess

            gc = popen_python(["-m", "seetrain.cli", "server", "gc", "--db", db, "--blobs", root, "--yes", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 120
            while not _gc_blocked_or_done(db, gc):  # a condition, polled: gc waits for the upload's lock
                assert time.monotonic() < deadline, "gc neither waited for the upload nor ended"
                time.sleep(0.05)
            assert blob_files(root) == {sha: len(raw)}
    finally:
        blobs.release.set()
        t.join(60)
    if path != "lease":
        out, err = gc.communicate(timeout=300)
        assert gc.returncode == 0, err
        assert orjson.loads(out)["collected"] == 0   # it waited for the upload's transaction, then saw the reference
    assert blob_files(root) == {sha: len(raw)}
    assert gc_cli(db, root, "--yes")["collected"] == 0
    with store.read() as conn:
        from seetrain.server.queries import list_media

        assert [m["sha256"] for m in list_media(conn, u, None)] == [sha]


def test_purge_and_gc_on_an_s3_blob_store(make_server, s3_endpoint):
    """The same on S3 (moto's S3-compatible server): purge frees the run's own object, the shared one
    stays, gc deletes an orphan object and nothing else."""
    import boto3

    from .conftest import api

    s3 = boto3.client("s3", endpoint_url=s3_endpoint["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket="gc-bucket")
    srv = make_server(env=s3_endpoint)
    srv.stop()
    srv.blobs = "s3://gc-bucket/team"
    srv.start()
    shared, own = b"shared object" * 100, b"own object" * 100
    a = make_run(srv.url, "s3", "a", {"media/img/s.png": shared, "media/img/o.png": own})
    make_run(srv.url, "s3", "b", {"media/img/s.png": shared})
    s3.put_object(Bucket="gc-bucket", Key=f"team/{hashlib.sha256(b'orphan').hexdigest()[:2]}/"
                                          f"{hashlib.sha256(b'orphan').hexdigest()}", Body=b"orphan")

    def objects():
        return {o["Key"].rsplit("/", 1)[1] for o in s3.list_objects_v2(Bucket="gc-bucket").get("Contents", [])}

    status, rep = api(srv.url, f"/api/v1/runs/{a}?purge=true", "DELETE", b"{}")
    assert status == 200 and rep["blobs_freed"] == 1
    orphan = hashlib.sha256(b"orphan").hexdigest()
    assert objects() == {hashlib.sha256(shared).hexdigest(), orphan}
    out = run_python(["-m", "seetrain.cli", "server", "gc", "--db", srv.db, "--blobs", srv.blobs, "--yes", "--json"],
                     capture_output=True, text=True, timeout=300, env=s3_endpoint)
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["shas"] == [orphan]
    assert objects() == {hashlib.sha256(shared).hexdigest()}


def test_a_blob_an_artifact_references_survives_purge_and_gc(tmp_path):
    """A run's media blob that an artifact version's file also references (BLOB_REFERENCES) stays
    through the run's purge and gc; once the artifact's row is gone, gc collects it."""
    from sqlalchemy import delete, insert

    from seetrain.server.curation import purge
    from seetrain.server.db.models import artifact_files

    db, root = str(tmp_path / "db.sqlite"), str(tmp_path / "blobs")
    store = Store(Settings(db=db, blobs=root))
    u = _uuid.uuid4().hex
    with store.write() as conn:
        ingest.upsert_run(conn, u, {"project": "art", "id": "r", "status": "success"})
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights" * 1000)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    with store.write() as conn:
        ingest.store_media(conn, store.blobs, u, "media/file/model.bin", str(src), sha, 7000, "application/octet-stream")
        conn.execute(insert(artifact_files).values(version_id=1, path="model.bin", sha256=sha, size=7000))
    assert purge(store, u).blobs_freed == 0
    assert gc_cli(db, root, "--yes")["collected"] == 0 and blob_files(root) == {sha: 7000}
    with store.write() as conn:
        conn.execute(delete(artifact_files))
    assert gc_cli(db, root, "--yes")["shas"] == [sha] and blob_files(root) == {}
