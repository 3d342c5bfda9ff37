"""The run directory's one schema (seetrain/rundir/format.py): NaN and infinities keep their value
from the writer through the reader to what the sender puts on the wire, in metrics, system and
summary records and in run.json's summary; media references are recognised the same way everywhere."""

from __future__ import annotations

import math
import os

import orjson

import seetrain
from seetrain.rundir import format as fmt
from seetrain.rundir.queue import SUMMARY, SYSTEM, RecordQueue
from seetrain.rundir.stream import read_records
from seetrain.rundir.writer import RunWriter
from seetrain.sender import wire

SPECIAL = {"nan": math.nan, "up": math.inf, "down": -math.inf, "fine": 0.25}
TAGS = {"nan": "NaN", "up": "Infinity", "down": "-Infinity", "fine": 0.25}


def same(a, b) -> bool:
    """Equal, counting NaN equal to NaN."""
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def same_values(got: dict, want: dict) -> bool:
    return got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)


def test_tag_and_untag_are_inverse_and_leave_everything_else_alone():
    for name, value in SPECIAL.items():
        assert fmt.tag(value) == TAGS[name]
        assert same(fmt.untag(fmt.tag(value)), value)
    for plain in (0.0, -3, 1e308, "text", "nan", "inf", None, True, [1.0]):
        assert fmt.tag(plain) is plain and fmt.untag(plain) is plain
    assert fmt.tag_values(SPECIAL) == TAGS
    assert same_values(fmt.untag_values(TAGS), SPECIAL)
    assert fmt.untag_values(None) == {} and fmt.untag_values(["NaN"]) == {}


def test_non_finite_values_survive_writer_reader_and_wire_in_every_tagged_record(tmp_path):
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)
    queue = RecordQueue()
    warnings = []
    writer = RunWriter(run_dir, queue, {"id": "r", "uuid": "0" * 32}, warn=lambda m, k: warnings.append(m))
    writer.init_returned()
    writer.start()
    queue.put_metrics(0, dict(SPECIAL))
    queue.put(SYSTEM, {f"sys/{k}": v for k, v in SPECIAL.items()})
    queue.put(SUMMARY, {f"best_{k}": v for k, v in SPECIAL.items()})
    writer.close(timeout=30)
    writer.write_meta(fsync=True)
    assert warnings == []

    # on disk: JSON has no NaN or infinity, so the tags are what the file holds
    lines = [orjson.loads(x) for x in open(os.path.join(run_dir, "records.jsonl"), "rb").read().splitlines()]
    by_type = {r["type"]: r for r in lines}
    assert by_type["metrics"]["data"] == TAGS
    assert by_type["system"]["data"] == {f"sys/{k}": v for k, v in TAGS.items()}
    assert by_type["summary"]["summary"] == {f"best_{k}": v for k, v in TAGS.items()}

    # read back: floats again
    chunk = read_records(run_dir)
    assert chunk.corrupt == 0
    read = {r["type"]: r for r in chunk.records}
    assert same_values(read["metrics"]["data"], SPECIAL)
    assert same_values(read["system"]["data"], {f"sys/{k}": v for k, v in SPECIAL.items()})
    assert same_values(read["summary"]["summary"], {f"best_{k}": v for k, v in SPECIAL.items()})

    # on the wire to the server: the same tags as on disk
    sent = {r["type"]: r for r in orjson.loads(wire(chunk.records))["records"]}
    assert sent["metrics"]["data"] == TAGS
    assert sent["system"]["data"] == {f"sys/{k}": v for k, v in TAGS.items()}
    assert sent["summary"]["summary"] == {f"best_{k}": v for k, v in TAGS.items()}

    # run.json's summary: tagged in the file, floats through the reader
    summary = seetrain.read_run(run_dir).summary()
    assert same_values({k: summary[k] for k in SPECIAL}, SPECIAL)
    assert same_values({k: summary[f"best_{k}"] for k in SPECIAL}, SPECIAL)


def test_a_logged_nan_reaches_read_run_through_the_public_api(tmp_path):
    run = seetrain.init(project="fmt", logdir=str(tmp_path), system_metrics=False, console="off")
    run.log(dict(SPECIAL))
    run.summary["best"] = -math.inf
    run.finish()
    r = seetrain.read_run(run.dir)
    assert same_values({k: r.scalars(k).values[0] for k in SPECIAL}, SPECIAL)
    assert r.summary()["best"] == -math.inf and math.isnan(r.summary()["nan"])


def test_media_references_are_recognised_by_one_rule():
    ref = fmt.media_ref("image", "media/img/0_0.png", {"width": 2, "height": 3}, "a cat")
    assert ref == {"_type": "image", "path": "media/img/0_0.png", "width": 2, "height": 3, "caption": "a cat"}
    assert fmt.is_media_ref(ref) and fmt.media_kind(ref) == "image"
    assert fmt.media_refs(ref) == [ref] and fmt.media_refs([ref, ref]) == [ref, ref]
    for not_media in ({"path": "media/x.png"}, [], [ref, {"path": "x"}], [ref, 1.0], 1.0, "NaN", None):
        assert fmt.media_refs(not_media) is None


def test_an_old_format_run_has_a_stable_uuid_from_its_identity_not_its_place():
    meta = {"id": "r0", "project": "old", "start_time": 1.0}
    u = fmt.run_uuid(meta)
    assert fmt.valid_uuid(u) and u == fmt.run_uuid(dict(meta))
    assert u != fmt.run_uuid({**meta, "id": "r1"}) != fmt.run_uuid({**meta, "start_time": 2.0})
    own = "8D1C3F7E-0000-4000-8000-00000000ABCD"
    assert fmt.run_uuid({**meta, "uuid": own}) == own.replace("-", "").lower()
    assert fmt.run_uuid({**meta, "uuid": "not-a-uuid"}) == u  # a damaged uuid: derived, as for format 1
