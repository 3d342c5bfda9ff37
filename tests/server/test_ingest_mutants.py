"""``ingest.add_records``, the in-process append inside the caller's transaction (docs/server.md,
the benchmarks): no test called it, so the mutation run of ``server/ingest.py`` listed its 118
mutants as *no tests*. Exactly once at its boundaries, as ``store_records`` is over HTTP."""

from __future__ import annotations

import random
import uuid as _uuid


def _recs(seqs):
    return [{"seq": s, "time": 1.0 + s, "type": "metrics", "step": s, "data": {"loss": 100.0 + s}} for s in seqs]


def test_add_records_stores_each_seq_once_at_every_boundary(tmp_path):
    from seetrain.server import series
    from seetrain.server.app import create_app
    from seetrain.server.ingest import add_records, upsert_run
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "i.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u = _uuid.uuid4().hex
    shuffled = list(range(16, 20))
    random.Random(3).shuffle(shuffled)
    batches = (
        [],              # nothing: nothing stored, last seq still none
        range(0, 10),    # 0..9 stored, last seq 9
        range(9, 13),    # starts exactly at the last stored seq: 9 is a duplicate
        [12],            # only the last stored seq again
        range(13, 15),   # right after the last seq: nothing is a duplicate
        [14, 15, 14],    # overlaps by one, and repeats a seq inside the batch
        shuffled,        # out of order
        [3, 7],          # old seqs only
    )
    results = []
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r", "name": "r"})
    for seqs in batches:
        with store.write() as conn:
            results.append(add_records(conn, u, _recs(seqs)))
    assert [(r.stored, r.duplicates, r.last_seq) for r in results] == [
        (0, 0, -1), (10, 0, 9), (3, 1, 12), (0, 1, 12), (2, 0, 14), (1, 2, 15), (4, 0, 19), (0, 2, 19)]
    with store.read() as conn:
        xs, ys = series.load(conn, u, "loss")
    assert xs.tolist() == list(range(20))
    assert ys.tolist() == [100.0 + s for s in range(20)]
    # another writer of the same run (a shared run, issue 23) has seqs of its own
    with store.write() as conn:
        other = [add_records(conn, u, _recs(seqs), writer="rank1") for seqs in (range(0, 3), range(2, 4))]
    assert [(r.stored, r.duplicates, r.last_seq) for r in other] == [(3, 0, 2), (1, 1, 3)]


def test_store_records_keeps_each_seq_once_at_ledger_and_batch_edges(tmp_path):
    """The survivors of ``_in_seq_order``, ``_stored_seqs`` and ``store_records`` in the mutation run
    at 4f6a9af (docs/testing.md): a two-record batch repeated or reversed, a repeat after the first
    record, a re-sent batch ending exactly at the first seq of a stored chunk, seqs another run
    stored, and an empty batch answering each writer's last seq."""
    from seetrain.server import series
    from seetrain.server.app import create_app
    from seetrain.server.ingest import store_records, upsert_run, upsert_writer
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "s.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u, other = _uuid.uuid4().hex, _uuid.uuid4().hex
    with store.write() as conn:
        for run in (u, other):
            upsert_run(conn, run, {"project": "p", "id": run[:8], "name": "r"})
        upsert_writer(conn, u, "rank1", {"rank": 1})
    # another run holds seqs 0..29: they are not this run's
    assert tuple(store_records(store, other, _recs(range(30)))) == (30, 0, 29)
    batches = (
        [],              # an empty batch: nothing stored, the last seq still none
        range(0, 5),     # one stored chunk 0..4
        range(5, 10),    # a second chunk 5..9
        range(3, 6),     # re-sent, ending exactly at the second chunk's first seq: all three duplicates
        [10, 10],        # two records, one seq twice: stored once
        [12, 11],        # two records out of order
        [13, 14, 14],    # a seq repeated after the first record
        [15, 17, 16],    # out of order after the first record
        range(8, 20),    # another run stored 8..19: here 8..17 are duplicates, 18 and 19 new
        [],              # an empty batch answers the writer's last seq
    )
    results = [tuple(store_records(store, u, _recs(seqs))) for seqs in batches]
    assert results == [(0, 0, -1), (5, 0, 4), (5, 0, 9), (0, 3, 9), (1, 1, 10), (2, 0, 12), (2, 1, 14),
                       (3, 0, 17), (2, 10, 19), (0, 0, 19)]
    with store.read() as conn:
        xs, ys = series.load(conn, u, "loss")
    assert xs.tolist() == list(range(20))
    assert ys.tolist() == [100.0 + s for s in range(20)]
    # a non-primary writer: its own ledger, and an empty batch answers its own last seq
    rank1 = [tuple(store_records(store, u, _recs(seqs), writer="rank1")) for seqs in ([], range(0, 3), [])]
    assert rank1 == [(0, 0, -1), (3, 0, 2), (0, 0, 2)]
    assert tuple(store_records(store, u, [])) == (0, 0, 19)


def test_add_records_stores_a_rewind_that_hides_what_it_supersedes(tmp_path):
    """A rewind appended in process (``add_records``) counts as ``series.load`` reads it: the steps
    after it logged before it are superseded, for its own writer only."""
    from seetrain.server import series
    from seetrain.server.app import create_app
    from seetrain.server.ingest import add_records, upsert_run
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "r.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r", "name": "r"})
        assert tuple(add_records(conn, u, _recs(range(10)))) == (10, 0, 9)
        assert tuple(add_records(conn, u, _recs(range(3)), writer="rank1")) == (3, 0, 2)
        rewound = [{"seq": 10, "time": 20.0, "type": "rewind", "step": 4}] + [
            {"seq": 11 + i, "time": 21.0 + i, "type": "metrics", "step": 5 + i, "data": {"loss": -1.0}} for i in range(2)]
        assert tuple(add_records(conn, u, rewound)) == (3, 0, 12)
    with store.read() as conn:
        xs, ys = series.load(conn, u, "loss", writer="")
        other = series.load(conn, u, "loss", writer="rank1")
    assert (xs.tolist(), ys.tolist()) == (list(range(7)), [100.0, 101.0, 102.0, 103.0, 104.0, -1.0, -1.0])
    assert other[0].tolist() == [0, 1, 2]


class _RacingStore:
    """A store whose ``write()`` first lets another request store ``racing`` records (its own reads
    and its own write, whole), once: what a concurrent request does between this request's reading
    of the seq ledger and its write transaction."""

    def __init__(self, store, uuid, racing, writer):
        self._store, self._uuid, self._racing, self._writer = store, uuid, racing, writer
        self.blobs, self.raced = store.blobs, None

    def read(self):
        return self._store.read()

    def write(self):
        from seetrain.server.ingest import store_records

        if self._racing is not None:
            racing, self._racing = self._racing, None
            self.raced = tuple(store_records(self._store, self._uuid, racing, writer=self._writer))
        return self._store.write()


def test_a_request_racing_another_with_the_same_seqs_stores_each_once(tmp_path):
    """Two requests re-sending overlapping seqs at once (a retry racing its original): the one whose
    write comes second sees in its transaction that the ledger moved since its read, stores only
    the seqs still missing, and counts the rest as duplicates, for the primary and for another writer."""
    from sqlalchemy import select

    from seetrain.server import series
    from seetrain.server.db.models import run_writers, runs
    from seetrain.server.app import create_app
    from seetrain.server.ingest import store_records, upsert_run, upsert_writer
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "r.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r", "name": "r"})
        upsert_writer(conn, u, "rank1", {"rank": 1})
    for writer, offset in (("", 0.0), ("rank1", 1000.0)):
        assert tuple(store_records(store, u, _recs(range(0, 5)), writer=writer)) == (5, 0, 4)
        # this request read the ledger at last seq 4; meanwhile another stores 5..9 (7 of which it also sends)
        racing = _RacingStore(store, u, _recs(range(5, 10)), writer)
        mine = [dict(r, data={"loss": 100.0 + r["seq"] + offset}) for r in _recs(range(3, 13))]
        got = tuple(store_records(racing, u, mine, writer=writer))
        assert racing.raced == (5, 0, 9)
        assert got == (3, 7, 12)  # 10, 11, 12 new; 3..9 stored already (3, 4 before, 5..9 by the race)
        with store.read() as conn:
            xs, ys = series.load(conn, u, "loss", writer=writer)
        assert xs.tolist() == list(range(13))
        assert ys.tolist() == [100.0 + s for s in range(10)] + [100.0 + s + offset for s in range(10, 13)]
    with store.read() as conn:
        assert conn.execute(select(runs.c.n_records, runs.c.last_seq).where(runs.c.uuid == u)).one() == (26, 12)
        assert sorted(conn.execute(select(run_writers.c.writer, run_writers.c.n_records, run_writers.c.last_seq)
                                   .where(run_writers.c.run_uuid == u)).all()) == [("", 13, 12), ("rank1", 13, 12)]


def test_ingest_run_of_a_run_json_without_uuid_is_refused_clearly_and_stores_nothing(tmp_path):
    """The in-process producer (the ui watcher) hands over run.json as it is: without a ``uuid`` the
    answer is a 400 naming the missing field, not a crash, and no run appears."""
    import pytest
    from sqlalchemy import func, select

    from seetrain.server.app import create_app
    from seetrain.server.db.models import runs
    from seetrain.server.ingest import ingest_run
    from seetrain.server.settings import Settings
    from seetrain.server.validate import IngestError

    store = create_app(Settings(db=str(tmp_path / "n.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    with pytest.raises(IngestError) as refused:
        ingest_run(store, {"project": "p", "id": "r"}, _recs(range(3)))
    assert refused.value.status == 400
    assert refused.value.detail == "run uuid '' is not 32 hex digits (run.json 'uuid')"
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(runs)).scalar() == 0


def test_ingest_run_checks_with_the_servers_limits_in_its_batches_and_stores_the_media(tmp_path):
    """``ingest_run`` (the ui watcher's one call) checks run.json and the records against the server's
    own limits (here looser than the defaults: a longer key, a longer string), checks any number of
    records in slices of the server's batch size and stores them all, and copies each media file a
    record references through ``media_loader`` and maps it to the run."""
    import hashlib

    from sqlalchemy import select

    from seetrain.server import series
    from seetrain.server.app import create_app
    from seetrain.server.db.models import media_files, runs
    from seetrain.server.ingest import ingest_run
    from seetrain.server.settings import Settings

    settings = Settings(db=str(tmp_path / "m.db"), blobs=str(tmp_path / "b"), api_key="", max_batch_records=4,
                        max_key_length=300, max_string_length=1_200_000)
    store = create_app(settings).state.store
    u, key = _uuid.uuid4().hex, "k" * 280  # a key past the default 256 characters
    notes = "n" * 1_100_000                 # a run.json string past the default 1,000,000
    recs = [{"seq": s, "time": 1.0 + s, "type": "metrics", "step": s, "data": {key: float(s)}} for s in range(7)]
    recs.append({"seq": 7, "time": 8.0, "type": "metrics", "step": 7,
                 "data": {"img": {"_type": "image", "path": "media/img/a.png"},
                          "raw": {"_type": "file", "path": "media/raw/b.unknown-kind"}}})
    picture = tmp_path / "a.png"
    picture.write_bytes(b"\x89PNG not really" * 90_000)  # 1.35 MB: hashed in more than one block
    asked = []

    def loader(path):
        asked.append(path)
        return str(picture)

    got = ingest_run(store, {"uuid": u, "project": "p", "id": "r", "notes": notes}, recs, media_loader=loader)
    assert tuple(got) == (8, 0, 7)  # two batches of four, every record stored
    assert asked == ["media/img/a.png", "media/raw/b.unknown-kind"]
    with store.read() as conn:
        xs, _ = series.load(conn, u, key)
        meta = conn.execute(select(runs.c.meta).where(runs.c.uuid == u)).scalar()
        mapped = conn.execute(select(media_files.c.path, media_files.c.sha256, media_files.c.size,
                                     media_files.c.content_type)
                              .where(media_files.c.run_uuid == u).order_by(media_files.c.path)).all()
    assert xs.tolist() == list(range(7))
    assert len(meta["notes"]) == 1_100_000
    raw = picture.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()  # the content type by the path's extension, else plain bytes
    assert mapped == [("media/img/a.png", sha, len(raw), "image/png"),
                      ("media/raw/b.unknown-kind", sha, len(raw), "application/octet-stream")]
    assert store.blobs.exists(hashlib.sha256(raw).hexdigest())


def test_store_media_puts_the_blob_and_maps_the_path_and_a_second_upload_replaces_it(tmp_path):
    """``PUT /media``'s store: the file goes into the blob store under its sha256 and the run's media
    path maps to it (sha, size, content type); the same path uploaded again maps to the new file;
    a path outside ``media/`` is refused and maps nothing."""
    import hashlib

    import pytest
    from sqlalchemy import select

    from seetrain.server.app import create_app
    from seetrain.server.db.models import media_files
    from seetrain.server.ingest import store_media, upsert_run
    from seetrain.server.settings import Settings
    from seetrain.server.validate import IngestError

    store = create_app(Settings(db=str(tmp_path / "p.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r"})
    first, second = tmp_path / "first.png", tmp_path / "second.jpg"
    first.write_bytes(b"\x89PNG one" * 50)
    second.write_bytes(b"\xff\xd8 two" * 70)

    def put(path, f, ctype, run=u):
        raw = f.read_bytes()
        with store.write() as conn:
            store_media(conn, store.blobs, run, path, str(f), hashlib.sha256(raw).hexdigest(), len(raw), ctype)
        return hashlib.sha256(raw).hexdigest(), len(raw), ctype

    def mapped(run=u):
        with store.read() as conn:
            return conn.execute(select(media_files.c.path, media_files.c.sha256, media_files.c.size,
                                       media_files.c.content_type).where(media_files.c.run_uuid == run)).all()

    one = put("media/img/a.png", first, "image/png")
    assert mapped() == [("media/img/a.png", *one)] and store.blobs.exists(one[0])
    two = put("media/img/a.png", second, "image/jpeg")
    assert mapped() == [("media/img/a.png", *two)] and store.blobs.exists(two[0])
    with pytest.raises(IngestError) as refused:
        put("../outside.png", first, "image/png")
    assert refused.value.status == 422 and "media/" in refused.value.detail
    assert mapped() == [("media/img/a.png", *two)]
    three = put("media/img/b.png", first, "image/png")  # another path of the run: both stay mapped
    assert sorted(mapped()) == [("media/img/a.png", *two), ("media/img/b.png", *three)]
    other = _uuid.uuid4().hex                           # the same path in another run: this run's stays
    with store.write() as conn:
        upsert_run(conn, other, {"project": "p", "id": "r2"})
    assert put("media/img/a.png", first, "image/png", run=other) == one
    assert mapped(run=other) == [("media/img/a.png", *one)]
    assert sorted(mapped()) == [("media/img/a.png", *two), ("media/img/b.png", *three)]


def test_store_media_refs_counts_the_files_it_stored_and_skips_those_it_cannot_find(tmp_path):
    """The ui watcher's media step: a batch without references stores nothing (0); a file the loader
    does not have (None) or that is gone from disk is skipped, not a crash; the count is what was stored."""
    from seetrain.server.app import create_app
    from seetrain.server.ingest import store_media_refs, upsert_run
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "r.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r"})
    there = tmp_path / "there.png"
    there.write_bytes(b"\x89PNG here")
    files = {"media/a.png": str(there), "media/gone.png": str(tmp_path / "gone.png"), "media/none.png": None}
    refs = [{"seq": i, "time": 1.0, "type": "metrics", "step": i, "data": {"img": {"_type": "image", "path": p}}}
            for i, p in enumerate(files)]
    assert store_media_refs(store, u, _recs(range(3)), files.get) == 0
    assert store_media_refs(store, u, refs, files.get) == 1


def test_records_mixing_scalars_and_media_store_each_value_where_it_belongs(tmp_path):
    """Records holding scalars and media references together (``run.log({"loss": .., "img": Image})``)
    take the value-by-value path: each scalar in its series at its own steps (a key missing from some
    records too), each reference a media row (several per key for a list of images, with caption and
    meta), the keys' kinds, counts and last values, and the run's summary."""
    from sqlalchemy import select

    from seetrain.server import series
    from seetrain.server.app import create_app
    from seetrain.server.db.models import media, metric_keys, runs
    from seetrain.server.ingest import store_records, upsert_run
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "x.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r"})

    def img(name, **extra):
        return {"_type": "image", "path": f"media/img/{name}.png", **extra}

    recs = [
        {"seq": 0, "time": 1.0, "type": "metrics", "step": 10, "data": {"loss": 2.0, "img": img("a", caption="first", w=4)}},
        {"seq": 1, "time": 2.0, "type": "metrics", "step": 11, "data": {"img": img("b"), "acc": 0.5}},
        {"seq": 2, "time": 3.0, "type": "metrics", "step": 12, "data": {"loss": 1.0, "img": [img("c"), img("d", caption=7)]}},
    ]
    assert tuple(store_records(store, u, recs)) == (3, 0, 2)
    with store.read() as conn:
        loss, acc = series.load(conn, u, "loss"), series.load(conn, u, "acc")
        loss_t = series.load(conn, u, "loss", x="time")
        rows = conn.execute(select(media.c.seq, media.c.key, media.c.idx, media.c.step, media.c.type, media.c.path,
                                   media.c.caption, media.c.meta).where(media.c.run_uuid == u)
                            .order_by(media.c.seq, media.c.idx)).all()
        kinds = {r.key: (r.kind, r.count, r.last, r.last_step) for r in conn.execute(
            select(metric_keys).where(metric_keys.c.run_uuid == u))}
        summary = conn.execute(select(runs.c.summary).where(runs.c.uuid == u)).scalar()
    assert (loss[0].tolist(), loss[1].tolist(), loss_t[0].tolist()) == ([10, 12], [2.0, 1.0], [1.0, 3.0])
    assert (acc[0].tolist(), acc[1].tolist()) == ([11], [0.5])
    assert [tuple(r) for r in rows] == [
        (0, "img", 0, 10, "image", "media/img/a.png", "first", {"_type": "image", "w": 4}),
        (1, "img", 0, 11, "image", "media/img/b.png", None, {"_type": "image"}),
        (2, "img", 0, 12, "image", "media/img/c.png", None, {"_type": "image"}),
        (2, "img", 1, 12, "image", "media/img/d.png", "7", {"_type": "image"})]
    assert kinds == {"loss": ("scalar", 2, 1.0, 12), "acc": ("scalar", 1, 0.5, 11),
                     "img": ("image", 4, img("d", caption=7), 12)}
    assert summary == {"loss": 1.0, "acc": 0.5}


def test_a_keys_last_value_and_the_summary_are_its_latest_when_records_log_different_keys(tmp_path):
    """A batch whose records log different sets of keys (``loss`` every step, ``val`` now and then) is
    stored group by group; each key's last value, last step and the run's summary are still those
    of its latest record, as the run directory's own summary has them."""
    from sqlalchemy import select

    from seetrain.server.app import create_app
    from seetrain.server.db.models import metric_keys, runs
    from seetrain.server.ingest import store_records, upsert_run
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "g.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r"})
    data = [{"loss": 9.0}, {"loss": 8.0, "val": 0.1}, {"loss": 7.0}, {"loss": 6.0}, {"loss": 5.0, "img": {
        "_type": "image", "path": "media/i.png"}}, {"loss": 4.0}]
    recs = [{"seq": i, "time": 1.0 + i, "type": "metrics", "step": 100 + i, "data": d} for i, d in enumerate(data)]
    assert tuple(store_records(store, u, recs)) == (6, 0, 5)
    with store.read() as conn:
        last = {r.key: (r.count, r.last, r.last_step) for r in conn.execute(
            select(metric_keys).where(metric_keys.c.run_uuid == u))}
        summary = conn.execute(select(runs.c.summary).where(runs.c.uuid == u)).scalar()
    assert last == {"loss": (6, 4.0, 105), "val": (1, 0.1, 101), "img": (1, {"_type": "image", "path": "media/i.png"}, 104)}
    assert summary == {"loss": 4.0, "val": 0.1}


def test_combined_status_of_a_shared_runs_writers():
    """A run's status from its writers' (docs/shared-runs.md): running while any writer runs, then
    crashed if any crashed, else the primary's; with no primary known, the worst of the rest; with
    no writer status at all, running."""
    from seetrain.server.ingest import combined_status

    assert combined_status([]) == "running"
    assert combined_status(["success", "running"], primary="success") == "running"
    assert combined_status(["success", "crashed"], primary="success") == "crashed"
    assert combined_status(["success", "failed"], primary="success") == "success"  # the primary's word
    assert combined_status(["killed", "failed"], primary="killed") == "killed"
    assert combined_status(["success", "failed", "killed"]) == "failed"
    assert combined_status(["success", "killed"]) == "killed"
    assert combined_status(["success"]) == "success"


def test_upsert_writer_refuses_the_primary_and_a_body_that_is_not_an_object(tmp_path):
    """The primary's fields are the run's (``PUT /runs/{uuid}``), and a writer's body is writer.json's
    fields: each refusal is a 422 saying so, and nothing is stored."""
    import pytest

    from seetrain.server.app import create_app
    from seetrain.server.ingest import upsert_writer
    from seetrain.server.queries import get_run
    from seetrain.server.settings import Settings
    from seetrain.server.validate import IngestError

    store = create_app(Settings(db=str(tmp_path / "w.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    u = _uuid.uuid4().hex
    statuses = "['crashed', 'failed', 'killed', 'running', 'success']"
    for writer, body, says in (
            ("", {"status": "running"}, f"the primary writer's fields are the run's: PUT /api/v1/runs/{u}"),
            ("rank1", ["status"], "the writer body must be a JSON object (the fields of writer.json)"),
            ("rank1", {"status": "d" * 50}, f"status {'d' * 40!r} is not one of {statuses}"),
            ("rank1", {"rank": 2**31}, "the writer's 'rank' must be an integer of at most 32 bits"),
            ("rank1", {"pid": 2**63}, "the writer's 'pid' must be an integer of at most 64 bits"),
            ("rank1", {"exit_code": 2**31}, "the writer's 'exit_code' must be an integer of at most 32 bits"),
            ("rank1", {"exit_code": "1"}, "the writer's 'exit_code' must be an integer of at most 32 bits"),
            ("rank1", {"host": 7}, "the writer's 'host' must be a string"),
            ("rank1", {"run": ["p"]}, "the writer's 'run' must be a JSON object (project, id, name of the run)"),
            ("rank1", {"uuid": "0" * 32}, "the body's 'uuid' differs from the uuid in the URL")):
        with store.write() as conn, pytest.raises(IngestError) as refused:
            upsert_writer(conn, u, writer, body)
        assert (refused.value.status, refused.value.detail) == (422, says)
    with store.read() as conn:
        assert get_run(conn, u) is None


def _writer_store(tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings

    return create_app(Settings(db=str(tmp_path / "w.db"), blobs=str(tmp_path / "b"), api_key="")).state.store


def _run_and_writer(store, u, writer):
    """The run's row and one writer's row (``""``: the primary's), as stored."""
    from sqlalchemy import select

    from seetrain.server.db.models import run_writers, runs

    with store.read() as conn:
        run = conn.execute(select(runs).where(runs.c.uuid == u)).mappings().first()
        w = conn.execute(select(run_writers).where(run_writers.c.run_uuid == u,
                                                   run_writers.c.writer == writer)).mappings().first()
    return dict(run), dict(w)


def test_a_writer_arriving_before_the_primary_creates_the_run_from_its_run_fields(tmp_path):
    """Another machine's writer synced first: its ``run`` object makes the run (project, id, name, start,
    each cut to its column, NUL made readable); the writer's own fields go to its row, the rest of its
    body to its meta; the row returned is the row stored."""
    import time

    from seetrain.server.ingest import upsert_writer

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex
    body = {"rank": 1, "pid": 4321, "host": "h\x00" + "x" * 300, "status": "running", "start_time": 5.0,
            "heartbeat": 6.5, "uuid": u, "notes": {"gpu": "a"},
            "run": {"project": "p", "id": "i\x00" + "d" * 300, "name": "n\x00" + "m" * 600, "start_time": 4.0}}
    before = time.time()
    with store.write() as conn:
        returned = upsert_writer(conn, u, "rank1", body, max_len=100)
    after = time.time()
    run, w = _run_and_writer(store, u, "rank1")
    assert (run["project"], run["run_id"], run["name"]) == ("p", "i\ufffd" + "d" * 98, "n\ufffd" + "m" * 510)
    assert (run["status"], run["start_time"], run["tags"], run["config"], run["summary"], run["meta"]) == \
        ("running", 4.0, [], {}, {}, {})
    assert (run["last_seq"], run["n_records"]) == (-1, 0) and before <= run["created"] <= after
    assert (w["rank"], w["pid"], w["host"], w["status"], w["start_time"], w["heartbeat"], w["end_time"]) == \
        (1, 4321, "h\ufffd" + "x" * 254, "running", 5.0, 6.5, None)
    assert (w["exit_code"], w["meta"], w["last_seq"], w["n_records"]) == (None, {"notes": {"gpu": "a"}}, -1, 0)
    assert before <= w["updated"] <= after and returned == w

    # without the run's own start, id and name: the writer's start, the uuid's first 8 and the id
    v = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_writer(conn, v, "rank2", {"start_time": 7.0, "run": {"project": "p"}})
    run, w = _run_and_writer(store, v, "rank2")
    assert (run["run_id"], run["name"], run["start_time"], w["status"]) == (v[:8], v[:8], 7.0, "running")
    x = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_writer(conn, x, "rank2", {"run": {"project": "p", "id": "given"}})
    run, w = _run_and_writer(store, x, "rank2")
    assert (run["run_id"], run["name"]) == ("given", "given") and before <= run["start_time"] <= time.time()


def test_a_writers_later_bodies_update_its_row_merge_its_meta_and_never_move_the_run(tmp_path):
    import time

    import pytest

    from seetrain.server.ingest import upsert_run, upsert_writer
    from seetrain.server.validate import IngestError

    store = _writer_store(tmp_path)
    elsewhere, u = _uuid.uuid4().hex, _uuid.uuid4().hex
    with store.write() as conn:  # the same label in another run: nothing of it may reach this one
        upsert_writer(conn, elsewhere, "rank1", {"rank": 5, "other_run": True, "run": {"project": "p"}})
        upsert_run(conn, u, {"project": "p", "id": "r", "name": "first", "start_time": 1.0})
        upsert_writer(conn, u, "rank1", {"rank": 1, "host": "a", "start_time": 2.0, "heartbeat": 3.0, "gpu": 0,
                                         "run": {"project": "p", "name": "not taken", "start_time": 9.0}})
        upsert_writer(conn, u, "rank2", {"rank": 2})
    run, w = _run_and_writer(store, u, "rank1")
    assert (w["rank"], w["meta"]) == (1, {"gpu": 0})
    first_update = run["updated"]
    while time.time() <= first_update:  # a clock that has moved on, however coarse
        time.sleep(0.001)
    with store.write() as conn:
        returned = upsert_writer(conn, u, "rank1", {"status": "failed", "exit_code": 3, "end_time": 8.0,
                                                    "heartbeat": 7.5, "steps": 10, "uuid": "", "run": {"project": "p"}})
    run, w = _run_and_writer(store, u, "rank1")
    assert returned == w and run["updated"] > first_update
    assert (run["name"], run["start_time"]) == ("first", 1.0)  # an existing run's fields stay
    assert (w["rank"], w["host"], w["start_time"], w["heartbeat"], w["end_time"]) == (1, "a", 2.0, 7.5, 8.0)
    assert (w["status"], w["exit_code"], w["meta"]) == ("failed", 3, {"gpu": 0, "steps": 10})
    assert run["heartbeat"] == 7.5  # the run's fields follow its writers'
    with store.write() as conn:  # an exit code sent as null clears it; no status keeps the status
        upsert_writer(conn, u, "rank1", {"exit_code": None})
    run, w = _run_and_writer(store, u, "rank1")
    assert (w["status"], w["exit_code"], w["meta"]) == ("failed", None, {"gpu": 0, "steps": 10})
    for project in ("q", ""):
        with store.write() as conn, pytest.raises(IngestError) as refused:
            upsert_writer(conn, u, "rank1", {"status": "success", "run": {"project": project}})
        assert (refused.value.status, refused.value.detail) == \
            (409, f"run {u} belongs to project 'p'; a writer cannot move it")
    run, w = _run_and_writer(store, u, "rank1")
    assert (run["project"], w["status"]) == ("p", "failed")


def test_finish_run_ends_the_run_or_one_writer_under_the_servers_limits(tmp_path):
    """``POST /runs/{uuid}/finish`` in process: the status, exit code, end and summary of the run, or
    of one writer of a shared run (its summary is the run's: not the writer's meta); every refusal a
    4xx saying what to send, the body checked against the server's limits."""
    import time

    import pytest

    from seetrain.server.ingest import finish_run, upsert_run, upsert_writer
    from seetrain.server.validate import IngestError, Limits

    store = _writer_store(tmp_path)
    u, nowhere = _uuid.uuid4().hex, _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "summary": {"kept": 1}})
        upsert_writer(conn, u, "rank1", {"rank": 1})
    finals = "['crashed', 'failed', 'killed', 'success']"
    for uuid, body, says in ((u, ["success"], (422, f"finish needs 'status' in {finals}")),
                             (u, {"status": "running"}, (422, f"finish needs 'status' in {finals}")),
                             (u, {"status": ["success"]}, (422, f"finish needs 'status' in {finals}")),
                             (u, {}, (422, f"finish needs 'status' in {finals}")),
                             (nowhere, {"status": "success"}, (404, f"run {nowhere} does not exist"))):
        with store.write() as conn, pytest.raises(IngestError) as refused:
            finish_run(conn, uuid, body)
        assert (refused.value.status, refused.value.detail) == says

    before = time.time()
    with store.write() as conn:  # one writer ends: its row, and the run's status made of all writers'
        returned = finish_run(conn, u, {"status": "killed", "exit_code": 130, "end_time": 20.0,
                                        "summary": {"w": 1}, "writer": "rank1"})
    run, w = _run_and_writer(store, u, "rank1")
    assert returned == run and (w["status"], w["exit_code"], w["end_time"], w["meta"]) == ("killed", 130, 20.0, {})
    assert (run["status"], run["summary"]) == ("running", {"kept": 1})  # the primary still runs
    with store.write() as conn:  # the primary ends without an end time: now
        returned = finish_run(conn, u, {"status": "failed", "exit_code": 3, "summary": {"acc": 0.5}})
    run, primary = _run_and_writer(store, u, "")
    assert (primary["status"], primary["exit_code"]) == ("failed", 3) and before <= primary["end_time"] <= time.time()
    assert (run["status"], run["summary"]) == ("failed", {"kept": 1, "acc": 0.5})
    assert {k: returned[k] for k in ("status", "summary")} == {"status": "failed", "summary": {"kept": 1, "acc": 0.5}}

    tight = Limits(string_length=10)  # a server that keeps strings short refuses a longer one in a summary
    with store.write() as conn, pytest.raises(IngestError) as refused:
        finish_run(conn, u, {"status": "success", "summary": {"note": "x" * 11}}, limits=tight)
    assert refused.value.status == 413 and "10 characters" in refused.value.detail, refused.value.detail


def test_ingest_records_checks_a_batch_against_the_limits_it_is_given(tmp_path):
    import pytest

    from seetrain.server.ingest import ingest_records, upsert_run
    from seetrain.server.validate import IngestError, Limits

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p"})
    short_keys = Limits(key_length=4)
    with pytest.raises(IngestError) as refused:
        ingest_records(store, u, [{"seq": 0, "type": "metrics", "time": 1.0, "step": 0, "data": {"loss5": 1.0}}],
                       short_keys)
    assert refused.value.status == 422 and "longer than 4 characters" in refused.value.detail
    res = ingest_records(store, u, [{"seq": 0, "type": "metrics", "time": 1.0, "step": 0, "data": {"loss": 1.0}}],
                         short_keys)
    assert (res.stored, res.last_seq) == (1, 0)


def test_upsert_run_creates_a_run_from_run_json_and_merges_each_later_one(tmp_path):
    """``PUT /runs/{uuid}`` in process: the run's columns from run.json (cut, NUL readable, numbers
    that fit), the rest of run.json in its meta, the primary writer's row; a later run.json (a resume,
    the finish) merges config, summary and meta, leaves a user's rename and tags, never moves the
    run; every refusal a 4xx saying what is wrong."""
    import time

    import pytest

    from seetrain.server.curation import Edit, apply_edit
    from seetrain.server.ingest import upsert_run
    from seetrain.server.validate import IngestError

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex
    before = time.time()
    with store.write() as conn:
        returned = upsert_run(conn, u, {"project": "p", "id": "i\x00" + "d" * 300, "name": "n\x00" + "m" * 600,
                                        "exit_code": 2**31, "start_time": 3.0, "heartbeat": 4.0, "tags": ["a"],
                                        "config": {"lr": 0.1}, "summary": {"acc": 0.5}, "uuid": u.upper(),
                                        "host": "h\x00" + "x" * 300, "pid": 12, "rank": 2**40, "python": "3.11"},
                              max_len=100)
    run, primary = _run_and_writer(store, u, "")
    assert returned == {k: run[k] for k in returned} and len(returned) == len(run) - 4  # all but the curation's
    assert (run["project"], run["run_id"], run["name"]) == ("p", "i\ufffd" + "d" * 98, "n\ufffd" + "m" * 510)
    assert (run["status"], run["exit_code"], run["start_time"], run["end_time"], run["heartbeat"]) == \
        ("running", None, 3.0, None, 4.0)
    assert (run["tags"], run["config"], run["summary"], run["last_seq"], run["n_records"]) == \
        (["a"], {"lr": 0.1}, {"acc": 0.5}, -1, 0)
    assert run["meta"] == {"host": "h\ufffd" + "x" * 300, "pid": 12, "rank": 2**40, "python": "3.11"}  # NUL readable
    assert before <= run["created"] == run["updated"] <= time.time()
    assert (primary["status"], primary["start_time"], primary["heartbeat"], primary["pid"], primary["rank"],
            primary["host"]) == ("running", 3.0, 4.0, 12, None, "h\ufffd" + "x" * 254)

    with store.write() as conn:  # the user renames and retags the run in the dashboard
        apply_edit(conn, u, Edit(name="mine", tags=["kept"]))
    while time.time() <= run["updated"]:  # a clock that has moved on, however coarse
        time.sleep(0.001)
    with store.write() as conn:
        returned = upsert_run(conn, u, {"project": "p", "name": "from run.json", "tags": ["lost"], "status": "success",
                                        "exit_code": 0, "end_time": 9.0, "heartbeat": 8.0, "config": {"bs": 2},
                                        "summary": {"loss": 1.0}, "note": 1, "uuid": ""})
    later, primary = _run_and_writer(store, u, "")
    assert returned == later and later["updated"] > run["updated"] and later["created"] == run["created"]
    assert (later["name"], later["tags"], later["status"], later["exit_code"], later["end_time"],
            later["heartbeat"]) == ("mine", ["kept"], "success", 0, 9.0, 8.0)
    assert (later["config"], later["summary"]) == ({"lr": 0.1, "bs": 2}, {"acc": 0.5, "loss": 1.0})
    assert later["meta"] == {**run["meta"], "note": 1} and later["start_time"] == 3.0
    assert (primary["status"], primary["exit_code"], primary["end_time"]) == ("success", 0, 9.0)

    v = _uuid.uuid4().hex
    with store.write() as conn:  # no id, name or start: the uuid's first 8, the id, now
        upsert_run(conn, v, {"project": "p"})
    run, _ = _run_and_writer(store, v, "")
    assert (run["run_id"], run["name"], run["status"], run["tags"], run["config"], run["meta"]) == \
        (v[:8], v[:8], "running", [], {}, {})
    assert before <= run["start_time"] <= time.time()

    # a run first seen ended (a sync after the fact), forked from another, with the column's default cut
    from seetrain.server.forks import lineage

    x = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, x, {"project": "p", "id": "d" * 300, "status": "failed", "exit_code": 3, "end_time": 9.0,
                             "fork_from": {"uuid": u, "step": 5, "id": "parent", "project": "p"}})
        link = lineage(conn, x)["fork_from"]
    run, primary = _run_and_writer(store, x, "")
    assert (len(run["run_id"]), run["status"], run["exit_code"], run["end_time"]) == (256, "failed", 3, 9.0)
    assert (primary["status"], primary["exit_code"], primary["end_time"]) == ("failed", 3, 9.0)
    assert (link["uuid"], link["step"]) == (u, 5)
    with store.write() as conn:  # merged later: a new start, a long name cut, an exit code past 32 bits left out
        upsert_run(conn, x, {"start_time": 2.0, "name": "n" * 600, "exit_code": 2**31, "tags": ["t2"]})
    run, _ = _run_and_writer(store, x, "")
    assert (run["start_time"], run["name"], run["exit_code"], run["tags"]) == (2.0, "n" * 512, None, ["t2"])

    for body, says in ((["p"], (422, "the run body must be a JSON object (the fields of run.json)")),
                       ({"project": "p", "uuid": v}, (422, "the body's 'uuid' differs from the uuid in the URL")),
                       ({"project": "p", "tags": "a"}, (422, "'tags' must be a list of strings")),
                       ({"project": "p", "tags": ["a", 1]}, (422, "'tags' must be a list of strings")),
                       ({"project": "p", "config": ["lr"]}, (422, "'config' must be a JSON object")),
                       ({"project": "p", "summary": 1.0}, (422, "'summary' must be a JSON object")),
                       ({"project": "q"}, (409, f"run {u} belongs to project 'p'; a run cannot move project"))):
        with store.write() as conn, pytest.raises(IngestError) as refused:
            upsert_run(conn, u, body)
        assert (refused.value.status, refused.value.detail) == says
    assert _run_and_writer(store, u, "")[0] == later


def test_a_shared_runs_status_exit_code_heartbeat_and_end_come_from_its_writers_together(tmp_path):
    """The run row of a shared run as its writers make it, after each writer's change: running while
    any runs (its heartbeat the newest of those running), crashed if any crashed, else the primary's
    word; the exit code of the first writer (by label, the primary first) that ended so; the end the
    last writer's."""
    from sqlalchemy import select

    from seetrain.server.db.models import runs
    from seetrain.server.ingest import finish_run, upsert_run, upsert_writer

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex

    def run_after(change):
        with store.write() as conn:
            change(conn)
        with store.read() as conn:
            r = conn.execute(select(runs).where(runs.c.uuid == u)).mappings().first()
        return r["status"], r["exit_code"], r["heartbeat"], r["end_time"]

    # another machine's writer synced first: the run is its alone
    assert run_after(lambda c: upsert_writer(c, u, "rank1", {"heartbeat": 5.0, "run": {"project": "p"}})) == \
        ("running", None, 5.0, None)
    assert run_after(lambda c: finish_run(c, u, {"status": "failed", "exit_code": 3, "end_time": 10.0,
                                                 "writer": "rank1"})) == ("failed", 3, 5.0, 10.0)
    # the primary arrives and runs, then ends well: its word, though rank1 failed
    assert run_after(lambda c: upsert_run(c, u, {"project": "p", "status": "running", "heartbeat": 20.0})) == \
        ("running", None, 20.0, None)
    assert run_after(lambda c: finish_run(c, u, {"status": "success", "exit_code": 0, "end_time": 30.0})) == \
        ("success", 0, 20.0, 30.0)
    # a third writer runs on (an older heartbeat than the primary's last), then crashes
    assert run_after(lambda c: upsert_writer(c, u, "rank2", {"status": "running", "heartbeat": 15.0})) == \
        ("running", None, 15.0, None)
    assert run_after(lambda c: upsert_writer(c, u, "rank2", {"status": "crashed", "end_time": 35.0})) == \
        ("crashed", None, 20.0, 35.0)

    # two writers ended alike: the exit code is the primary's, whichever row was made first
    u = _uuid.uuid4().hex
    run_after(lambda c: upsert_writer(c, u, "rank1", {"status": "failed", "exit_code": 3, "run": {"project": "p"}}))
    assert run_after(lambda c: upsert_run(c, u, {"project": "p", "status": "failed", "exit_code": 1}))[:2] == \
        ("failed", 1)


def test_one_batch_of_every_record_type_lands_in_its_rows(tmp_path):
    """What ``store_records`` makes of one batch, row by row: the ledger chunk (seqs and the records
    for the export), each key's series (steps, times, values and their bounds; system metrics off the
    step axis), each key's count and last value, the events (name cut to its column), the console
    (stream defaulted and cut), config and summary merged into the run; NUL made readable."""
    import zlib

    import numpy as np
    import orjson
    from sqlalchemy import select

    from seetrain.server import series
    from seetrain.server.db.models import console, events, metric_keys, record_chunks, runs, series_chunks
    from seetrain.server.ingest import store_records, upsert_run

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "config": {"lr": 0.1}, "summary": {"kept": 1}})
    recs = [
        {"seq": 0, "type": "config", "time": 1.0, "config": {"bs": 8}},
        {"seq": 1, "type": "metrics", "time": 2.0, "step": 0, "data": {"loss": 4.0, "acc": 0.1}},
        {"seq": 2, "type": "metrics", "time": 3.0, "step": 2, "data": {"loss": 3.0, "acc": 0.2}},
        {"seq": 3, "type": "system", "time": 3.5, "step": 99, "data": {"cpu": 50.0}},  # a step: not for system
        {"seq": 4, "type": "metrics", "time": 4.0, "step": 7, "data": {"loss": 2.0, "acc": 0.3}},
        {"seq": 5, "type": "event", "time": 5.0, "event": "e\x00" + "v" * 100, "note": "n"},
        {"seq": 6, "type": "console", "time": 6.0, "line": "out\x00line"},
        {"seq": 7, "type": "console", "time": 7.0, "stream": "s" * 20, "line": "err"},
        {"seq": 8, "type": "summary", "time": 8.0, "summary": {"best": 0.9}},
        {"seq": 9, "type": "system", "time": 9.0, "data": {"cpu": 70.0}},
        {"seq": 10, "type": "metrics", "time": 10.0, "step": 9, "data": {"val": 1.5}},
        {"seq": 11, "type": "metrics", "time": 11.0, "step": 10, "data": {}},          # no keys at all
        {"seq": 12, "type": "metrics", "step": 11, "data": {"untimed": 2.0}},          # no time
    ]
    res = store_records(store, u, [recs[11]] + recs[:11] + [recs[12]])  # a record without keys first
    assert (res.stored, res.duplicates, res.last_seq) == (13, 0, 12)
    with store.read() as conn:
        (chunk,) = conn.execute(select(record_chunks).where(record_chunks.c.run_uuid == u)).mappings().all()
        assert (chunk["first_seq"], chunk["last_seq"], chunk["n"], chunk["writer"]) == (0, 12, 13, "")
        assert np.frombuffer(chunk["seqs"], "<i8").tolist() == list(range(13))
        assert orjson.loads(zlib.decompress(chunk["body"])) == recs
        rows = {r["key"]: r for r in conn.execute(select(series_chunks).where(series_chunks.c.run_uuid == u))
                .mappings()}
        assert sorted(rows) == ["acc", "cpu", "loss", "untimed", "val"]
        untimed = rows["untimed"]
        assert np.isnan(np.frombuffer(untimed["times"], "<f8")).all() and untimed["time_min"] is None
        loss = rows["loss"]
        assert (loss["n"], loss["step_stride"], loss["step_min"], loss["step_max"], loss["time_min"],
                loss["time_max"]) == (3, None, 0.0, 7.0, 2.0, 4.0)
        assert np.frombuffer(loss["steps"], "<f8").tolist() == [0.0, 2.0, 7.0]
        assert np.frombuffer(loss["times"], "<f8").tolist() == [2.0, 3.0, 4.0]
        assert np.frombuffer(loss["vals"], "<f8").tolist() == [4.0, 3.0, 2.0]
        cpu = rows["cpu"]
        assert (cpu["n"], cpu["step_min"], cpu["step_max"], cpu["time_min"], cpu["time_max"]) == \
            (2, None, None, 3.5, 9.0)
        assert np.frombuffer(cpu["vals"], "<f8").tolist() == [50.0, 70.0]
        assert series.load(conn, u, "acc")[1].tolist() == [0.1, 0.2, 0.3]
        assert series.load(conn, u, "val")[0].tolist() == [9]
        keys = {r["key"]: (r["kind"], r["count"], r["last"], r["last_step"])
                for r in conn.execute(select(metric_keys).where(metric_keys.c.run_uuid == u)).mappings()}
        assert keys == {"loss": ("scalar", 3, 2.0, 7), "acc": ("scalar", 3, 0.3, 7), "cpu": ("scalar", 2, 70.0, None),
                        "val": ("scalar", 1, 1.5, 9), "untimed": ("scalar", 1, 2.0, 11)}
        (ev,) = conn.execute(select(events).where(events.c.run_uuid == u)).mappings().all()
        assert (ev["seq"], ev["time"], ev["event"], ev["writer"]) == (5, 5.0, "e\ufffd" + "v" * 62, "")
        assert ev["body"]["note"] == "n"
        lines = [(r["seq"], r["time"], r["stream"], r["line"]) for r in conn.execute(
            select(console).where(console.c.run_uuid == u).order_by(console.c.seq)).mappings()]
        assert lines == [(6, 6.0, "stdout", "out\ufffdline"), (7, 7.0, "s" * 16, "err")]
        run = conn.execute(select(runs).where(runs.c.uuid == u)).mappings().first()
        assert run["config"] == {"lr": 0.1, "bs": 8}
        assert run["summary"] == {"kept": 1, "best": 0.9, "loss": 2.0, "acc": 0.3, "cpu": 70.0, "val": 1.5,
                                  "untimed": 2.0}
        assert (run["last_seq"], run["n_records"]) == (12, 13)


def test_parts_cut_a_batch_at_its_value_and_key_limits(monkeypatch):
    """``_parts`` with small limits (10 values, 4 new (key, part) series rows a part): where each batch
    is cut, worked out by hand; a record is never cut, and a config's or summary's keys count as values.
    (The many-keys test checks the real limits end to end; it is too slow for the mutation runs.)"""
    from seetrain.server import ingest

    monkeypatch.setattr(ingest, "PART_VALUES", 10)
    monkeypatch.setattr(ingest, "PART_KEYS", 4)

    def rec(seq, data, type_="metrics"):
        return {"seq": seq, "type": type_, "time": 1.0, "step": seq, "data": data}

    def cut(recs):
        return [[r["seq"] for r in part] for part in ingest._parts(recs)]

    xy = {"x": 1.0, "y": 2.0}
    assert cut([rec(i, xy) for i in range(5)]) == [[0, 1, 2, 3, 4]]                # exactly 10 values
    assert cut([rec(i, xy) for i in range(6)]) == [[0, 1, 2, 3, 4], [5]]           # 12: the sixth starts a part
    assert cut([rec(0, xy), rec(1, {"x": 1.0}, "system")]) == [[0, 1]]              # metrics and system alike
    shapes = [{"a": 1, "b": 1}, {"c": 1, "d": 1}] + [{"e": 1, "f": 1}] * 4
    assert cut([rec(i, d) for i, d in enumerate(shapes)]) == [[0, 1], [2, 3, 4, 5]]  # a shape counts once a part
    assert cut([rec(i, d) for i, d in enumerate(shapes[:5])]) == [[0, 1], [2, 3, 4]]  # 10 values, 6 keys
    big = {f"k{i}": 1.0 for i in range(12)}
    assert cut([rec(0, big), rec(1, {"x": 1.0})]) == [[0], [1]]                     # one record over both: alone
    config = {"seq": 0, "type": "config", "time": 1.0, "config": {f"c{i}": i for i in range(9)}}
    assert cut([config, rec(1, {"x": 1.0})]) == [[0], [1]]                          # 1 + 9 config values, then 1
    config8 = {"seq": 0, "type": "config", "time": 1.0, "config": {f"c{i}": i for i in range(8)}}
    assert cut([config8, rec(1, {"x": 1.0})]) == [[0, 1]]                           # 9 + 1: exactly 10
    summary = {"seq": 0, "type": "summary", "time": 1.0, "summary": {f"s{i}": i for i in range(9)}}
    assert cut([summary, rec(1, {"x": 1.0})]) == [[0], [1]]
    event = {"seq": 0, "type": "event", "time": 1.0, "event": "e" * 50}
    assert cut([event] + [rec(i, {"x": 1.0}) for i in range(1, 10)]) == [list(range(10))]  # an event: one value
    assert cut([event, rec(1, {"a": 1, "b": 1, "c": 1, "d": 1})]) == [[0, 1]]       # ... and no series row
    assert cut([rec(i, xy) for i in range(10)]) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]  # each part starts at 0
    ab = [rec(i, {"a": 1, "b": 1}) for i in range(5)]                               # 10 values: the next starts a part
    new_shapes = [rec(5, {"c": 1, "d": 1}), rec(6, {"e": 1, "f": 1}), rec(7, {"g": 1, "h": 1})]
    assert cut(ab + new_shapes) == [[0, 1, 2, 3, 4], [5, 6], [7]]                 # its first shape counts, from 0
    after = [dict(event, seq=5), rec(6, {"a": 1, "b": 1, "c": 1, "d": 1})]         # a part begun by an event:
    assert cut(ab + after) == [[0, 1, 2, 3, 4], [5, 6]]                            # no series row for it


def test_a_batch_naming_an_artifact_is_stored_with_its_version_only_once_its_files_are_uploaded(tmp_path):
    """``store_records`` with an artifact event: refused whole (422 naming the upload) while a file of
    the version is not in the blob store; once it is, the records and the version are stored, and the
    same batch sent again stores neither twice."""
    import hashlib

    import pytest
    from sqlalchemy import select

    from seetrain.server.artifacts import get_version, list_artifacts
    from seetrain.server.db.models import runs
    from seetrain.server.ingest import store_records, upsert_run
    from seetrain.server.validate import IngestError

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p"})
    content = b"weights"
    sha = hashlib.sha256(content).hexdigest()
    art = {"project": "p", "name": "model", "version": 0, "files": [{"path": "w.bin", "sha256": sha, "size": 7}]}
    batch = [{"seq": 0, "type": "metrics", "time": 1.0, "step": 0, "data": {"loss": 1.0}},
             {"seq": 1, "type": "event", "time": 2.0, "event": "artifact", "direction": "output", "artifact": art}]
    with pytest.raises(IngestError) as refused:
        store_records(store, u, batch)
    assert refused.value.status == 422 and f"first: sha256 {sha}" in refused.value.detail
    with store.read() as conn:
        assert conn.execute(select(runs.c.n_records).where(runs.c.uuid == u)).scalar() == 0
        assert list_artifacts(conn, "p") == []
    blob = tmp_path / "w.bin"
    blob.write_bytes(content)
    store.blobs.put_file(sha, str(blob), "application/octet-stream")
    for stored in (2, 0):  # sent again: nothing new
        res = store_records(store, u, batch)
        assert (res.stored, res.duplicates, res.last_seq) == (stored, 2 - stored, 1)
        with store.read() as conn:
            (listed,) = list_artifacts(conn, "p")
            v0 = get_version(conn, "p", "model", "v0")
        assert (listed["name"], listed["versions"], listed["latest"]) == ("model", 1, "v0")
        assert ([f["sha256"] for f in v0["files"]], v0["producer"]["uuid"]) == ([sha], u)


def test_store_records_at_the_racing_edges_across_parts_and_with_a_rewind(tmp_path, monkeypatch):
    """``store_records`` where its boundaries are: a concurrent request that stored exactly this
    batch's first seq, or all of its seqs, between this request's read and its write; a batch cut
    into several write transactions (counted whole); a rewind it stores (the series reads it)."""
    from seetrain.server import ingest, series
    from seetrain.server.ingest import store_records, upsert_run

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p"})
    assert tuple(store_records(store, u, _recs(range(5)))) == (5, 0, 4)
    mine = [dict(r, data={"loss": -1.0}) for r in _recs(range(5, 9))]
    racing = _RacingStore(store, u, _recs([5]), "")  # stores seq 5 alone: the ledger ends at this batch's first seq
    assert tuple(store_records(racing, u, mine)) == (3, 1, 8) and racing.raced == (1, 0, 5)
    racing = _RacingStore(store, u, _recs([9, 10]), "")  # stores every seq of this batch
    assert tuple(store_records(racing, u, _recs([9, 10]))) == (0, 2, 10)
    with store.read() as conn:
        xs, ys = series.load(conn, u, "loss")
    assert xs.tolist() == list(range(11)) and ys.tolist() == [100.0 + s if s not in (6, 7, 8) else -1.0
                                                             for s in range(11)]

    monkeypatch.setattr(ingest, "PART_VALUES", 10)  # 25 one-value records: three write transactions
    assert tuple(store_records(store, u, _recs(range(8, 33)))) == (22, 3, 32)
    rewound = [{"seq": 33, "time": 50.0, "type": "rewind", "step": 4},
               {"seq": 34, "time": 51.0, "type": "metrics", "step": 5, "data": {"loss": -5.0}}]
    assert tuple(store_records(store, u, rewound)) == (2, 0, 34)
    with store.read() as conn:
        xs, ys = series.load(conn, u, "loss")
    assert xs.tolist() == [0, 1, 2, 3, 4, 5] and ys.tolist() == [100.0, 101.0, 102.0, 103.0, 104.0, -5.0]


def test_records_for_a_run_that_does_not_exist_are_a_404_saying_to_create_it(tmp_path):
    import pytest

    from seetrain.server.ingest import store_records
    from seetrain.server.validate import IngestError

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex
    for recs in ([], _recs([0])):
        with pytest.raises(IngestError) as refused:
            store_records(store, u, recs)
        assert (refused.value.status, refused.value.detail) == \
            (404, f"run {u} does not exist; create it first with PUT /api/v1/runs/{u}")


def test_a_writers_records_stay_its_own_in_its_run_across_calls(tmp_path):
    """The same writer label in two runs, a writer with no row yet, and a writer's config and summary
    kept over several calls (``store_records`` and ``add_records``): each run's writer has its own
    last seq, keys and meta."""
    import time

    from sqlalchemy import select

    from seetrain.server.db.models import metric_keys
    from seetrain.server.ingest import add_records, store_records, upsert_run, upsert_writer

    store = _writer_store(tmp_path)
    a, b = _uuid.uuid4().hex, _uuid.uuid4().hex
    with store.write() as conn:
        for u in (a, b):
            upsert_run(conn, u, {"project": "p"})
            upsert_writer(conn, u, "rank1", {"rank": 1})
    first = [{"seq": 0, "type": "config", "time": 1.0, "config": {"lr": 1}},
             {"seq": 1, "type": "summary", "time": 1.0, "summary": {"best": 1}}] + _recs(range(2, 10))
    assert tuple(store_records(store, a, first, "rank1")) == (10, 0, 9)
    assert tuple(store_records(store, b, [], "rank2")) == (0, 0, -1)       # a writer with no row: nothing yet
    assert tuple(store_records(store, b, _recs([0]), "rank2")) == (1, 0, 0)
    other = [{"seq": 0, "type": "config", "time": 1.0, "config": {"bs": 2}}] + _recs(range(1, 5))
    assert tuple(store_records(store, b, other, "rank1")) == (5, 0, 4)      # rank1 of run a is another writer
    assert _run_and_writer(store, b, "rank1")[1]["meta"] == {"config": {"bs": 2}, "summary": {"loss": 104.0}}
    assert (_run_and_writer(store, a, "rank1")[1]["last_seq"], _run_and_writer(store, b, "rank1")[1]["last_seq"]) == (9, 4)
    with store.read() as conn:
        keys = conn.execute(select(metric_keys.c.writer, metric_keys.c.count)
                            .where(metric_keys.c.run_uuid == b, metric_keys.c.key == "loss")).all()
    assert sorted(keys) == [("rank1", 4), ("rank2", 1)]
    with store.write() as conn:
        assert tuple(add_records(conn, a, [{"seq": 10, "type": "summary", "time": 2.0, "summary": {"x": 2}}],
                                 writer="rank1")) == (1, 0, 10)
    assert _run_and_writer(store, a, "rank1")[1]["meta"] == {"config": {"lr": 1}, "summary": {"best": 1, "loss": 109.0, "x": 2},
                                                   "_summary_set": ["best", "x"]}
    before = _run_and_writer(store, a, "rank1")[1]["updated"]
    while time.time() <= before:  # a clock that has moved on, however coarse
        time.sleep(0.001)
    store_records(store, a, [{"seq": 11, "type": "config", "time": 3.0, "config": {"wd": 0}}], "rank1")
    w = _run_and_writer(store, a, "rank1")[1]
    assert w["meta"]["config"] == {"lr": 1, "wd": 0} and w["updated"] > before  # merged, and the row touched
    # writers whose first records make their row: running, and their meta (or none) as the records say
    new = _run_and_writer(store, b, "rank2")[1]
    assert (new["status"], new["meta"], new["n_records"]) == ("running", {"summary": {"loss": 100.0}}, 1)
    store_records(store, b, [{"seq": 0, "type": "event", "time": 1.0, "event": "started"}], "rank3")
    events_only = _run_and_writer(store, b, "rank3")[1]
    assert (events_only["status"], events_only["meta"], events_only["last_seq"]) == ("running", {}, 0)
    image = {"seq": 1, "type": "metrics", "time": 2.0, "step": 1,
             "data": {"img": {"_type": "image", "path": "media/img/x.png"}, "loss": 1.0}}
    assert tuple(store_records(store, b, [image], "rank3")) == (1, 0, 1)
    from seetrain.server.db.models import events, media

    with store.read() as conn:
        assert conn.execute(select(events.c.writer, events.c.event).where(events.c.run_uuid == b)).all() == \
            [("rank3", "started")]
        assert conn.execute(select(media.c.writer, media.c.key, media.c.seq).where(media.c.run_uuid == b)).all() == \
            [("rank3", "img", 1)]


def test_the_primary_pinning_a_summary_key_keeps_the_runs_environment(tmp_path):
    from seetrain.server.ingest import store_records, upsert_run

    store = _writer_store(tmp_path)
    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "python": "3.11", "host": "h"})
    store_records(store, u, [{"seq": 0, "type": "summary", "time": 1.0, "summary": {"best": 1}}])
    run = _run_and_writer(store, u, "")[0]
    assert run["meta"] == {"python": "3.11", "host": "h", "_summary_set": ["best"]} and run["summary"] == {"best": 1}


def test_a_writer_label_that_is_not_one_is_named_in_the_refusal():
    import pytest

    from seetrain.server.ingest import check_writer
    from seetrain.server.validate import IngestError

    assert (check_writer(None), check_writer(""), check_writer("rank-1.a_b")) == ("", "", "rank-1.a_b")
    for label in ("..bad", "x" * 80, 7):  # a long one shown cut to 70 characters
        with pytest.raises(IngestError) as refused:
            check_writer(label)
        assert (refused.value.status, refused.value.detail) == (422, (
            f"writer {str(label)[:70]!r} is not a writer label: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with a "
            'dot (leave it out, or "", for the primary writer)'))
