"""Artifacts in a log folder: content-addressed storage, versions, aliases, use offline, lineage."""

from __future__ import annotations

import os
import textwrap

import pytest

import seetrain
from seetrain.artifacts import ArtifactError, Registry
from seetrain.artifacts.api import log_version
from seetrain.artifacts.lineage import graph
from tests._child import popen_python, run_python
from tests.artifacts.helpers import artifact_events, disk_usage, write_file

MB = 1 << 20


def _init(logdir, **kw):
    return seetrain.init(project="p", logdir=str(logdir), system_metrics=False, console="off", **kw)


def test_the_same_100mb_file_in_two_versions_is_stored_once(tmp_path):
    big = os.urandom(MB) * 100  # 100 MB (one random MiB repeated: the store cannot compress it away)
    write_file(str(tmp_path / "v0" / "weights.bin"), big)
    write_file(str(tmp_path / "v0" / "config.json"), b'{"lr": 0.1}')
    write_file(str(tmp_path / "v1" / "weights.bin"), big)
    write_file(str(tmp_path / "v1" / "config.json"), b'{"lr": 0.2}')
    run = _init(tmp_path / "logs")
    first = run.log_artifact(str(tmp_path / "v0"), name="model", type="model")
    second = run.log_artifact(str(tmp_path / "v1"), name="model", type="model")
    run.finish()
    assert (first.ref, second.ref) == ("model:v0", "model:v1")
    assert {f.path: f.sha256 for f in first.manifest.files}["weights.bin"] == \
        {f.path: f.sha256 for f in second.manifest.files}["weights.bin"]
    used = disk_usage(str(tmp_path / "logs" / ".artifacts" / "blobs"))
    assert 100 * MB <= used < 101 * MB, f"the store takes {used / MB:.1f} MB for one 100 MB file and two small ones"
    events = artifact_events(run.dir)
    assert [(e["direction"], e["artifact"]["version"]) for e in events] == [("output", 0), ("output", 1)]


def test_logging_unchanged_files_again_copies_nothing(tmp_path):
    write_file(str(tmp_path / "d" / "a.bin"), os.urandom(3 * MB))
    write_file(str(tmp_path / "d" / "sub" / "b.txt"), b"b")
    logdir = str(tmp_path / "logs")
    v0, first = log_version(logdir, "p", str(tmp_path / "d"), "data")
    v0b, again = log_version(logdir, "p", str(tmp_path / "d"), "data", aliases=["best"])
    assert first.copied_bytes == 3 * MB + 1 and again.copied_bytes == 0
    assert again.hashed_bytes == 3 * MB + 1
    assert v0b.version == v0.version == 0 and v0b.aliases == ["best", "latest"]
    assert sorted(f.path for f in v0.manifest.files) == ["a.bin", "sub/b.txt"]


def test_a_uri_is_referenced_without_copying(tmp_path):
    logdir = str(tmp_path / "logs")
    v, stats = log_version(logdir, "p", ["s3://bucket/data/train.parquet",
                                         {"uri": "https://example.org/x.csv", "size": 12, "etag": "abc"}], "remote")
    assert [(r.path, r.uri, r.size, r.etag) for r in v.manifest.refs] == [
        ("train.parquet", "s3://bucket/data/train.parquet", None, None), ("x.csv", "https://example.org/x.csv", 12, "abc")]
    assert stats.copied_bytes == 0 and not v.manifest.files


def test_bad_input_says_what_to_do(tmp_path):
    run = _init(tmp_path / "logs")
    write_file(str(tmp_path / "f.txt"), b"x")
    with pytest.raises(ArtifactError, match="not valid: use 1-128 letters"):
        run.log_artifact(str(tmp_path / "f.txt"), name="a/b")
    with pytest.raises(ArtifactError, match="neither a file nor a folder"):
        run.log_artifact(str(tmp_path / "missing"), name="ok")
    with pytest.raises(ArtifactError, match="names a version"):
        run.log_artifact(str(tmp_path / "f.txt"), name="ok", aliases=["v2"])
    with pytest.raises(ArtifactError, match=r"does not exist: no artifact named 'nope'"):
        run.use_artifact("nope:latest")
    run.finish()


def test_aliases_move_atomically(tmp_path):
    """One process moves ``best`` between v0 and v1 500 times while this one reads it: every read
    names exactly one of the two versions; none fails or finds the alias missing."""
    logdir = str(tmp_path / "logs")
    for i in range(2):
        write_file(str(tmp_path / f"s{i}" / "w.bin"), bytes([i]) * 10)
        log_version(logdir, "p", str(tmp_path / f"s{i}"), "model", aliases=["best"])
    mover = popen_python(["-c", textwrap.dedent(f"""
        from seetrain.artifacts import Registry
        reg = Registry({logdir!r})
        for i in range(500):
            reg.set_alias("p", "model", "best", i % 2)
        """)])
    reg = Registry(logdir)
    seen = set()
    reads = 0
    while mover.poll() is None or reads < 50:
        v = reg.resolve("p", "model:best")
        owners = [x.version for x in reg.versions("p", "model") if "best" in x.aliases]
        assert len(owners) <= 1  # between the two reads it may have moved; never on two versions at once
        seen.add(v.version)
        reads += 1
    assert mover.wait(60) == 0
    assert seen <= {0, 1} and reads >= 50
    reg.set_alias("p", "model", "best", 0)
    assert [(v.version, v.aliases) for v in reg.versions("p", "model")] == [(0, ["best"]), (1, ["latest"])]


def test_use_artifact_offline_from_the_local_store(tmp_path):
    """A run in another process, with no server reachable, uses ``model:best``: the files are hard
    links to the store (no copy), and its log holds the input edge."""
    logdir = tmp_path / "logs"
    write_file(str(tmp_path / "m" / "weights.bin"), os.urandom(MB))
    producer = _init(logdir)
    made = producer.log_artifact(str(tmp_path / "m"), name="model", type="model", aliases=["best"])
    producer.finish()
    script = textwrap.dedent(f"""
        import os, json, seetrain
        run = seetrain.init(project="p", logdir={str(logdir)!r}, system_metrics=False, console="off")
        v = run.use_artifact("model:best")
        st = os.stat(os.path.join(v.path, "weights.bin"))
        print(json.dumps({{"ref": v.ref, "path": v.path, "ino": st.st_ino, "dir": run.dir}}))
        run.finish()
        """)
    out = run_python(["-c", script], env={**os.environ, "SEETRAIN_HOST": "http://127.0.0.1:9"},
                     capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json

    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["ref"] == "model:v0"
    blob = Registry(str(logdir)).store.path(made.manifest.files[0].sha256)
    assert got["ino"] == os.stat(blob).st_ino  # a hard link: nothing copied
    with open(os.path.join(got["path"], "weights.bin"), "rb") as f, open(str(tmp_path / "m" / "weights.bin"), "rb") as g:
        assert f.read() == g.read()
    events = artifact_events(got["dir"])
    assert [(e["direction"], e["artifact"]["name"], e["artifact"]["version"]) for e in events] == [("input", "model", 0)]


def test_lineage_of_a_three_run_chain(tmp_path):
    """dataset -> train -> evaluate: the graph from any node is the whole chain, edges the way data flowed."""
    logdir = tmp_path / "logs"
    write_file(str(tmp_path / "data" / "train.csv"), b"x,y\n1,2\n")
    prep = _init(logdir, experiment_name="prepare")
    prep.log_artifact(str(tmp_path / "data"), name="dataset", type="dataset")
    prep.finish()
    train = _init(logdir, experiment_name="train")
    train.use_artifact("dataset:latest")
    write_file(str(tmp_path / "model" / "w.bin"), b"weights")
    train.log_artifact(str(tmp_path / "model"), name="model", type="model", aliases=["best"])
    train.finish()
    ev = _init(logdir, experiment_name="evaluate")
    ev.use_artifact("model:best")
    ev.finish()
    edges = Registry(str(logdir)).edges("p")
    expect_edges = [
        {"from": "artifact:dataset:v0", "to": f"run:{train.uuid}", "direction": "input"},
        {"from": "artifact:model:v0", "to": f"run:{ev.uuid}", "direction": "input"},
        {"from": f"run:{prep.uuid}", "to": "artifact:dataset:v0", "direction": "output"},
        {"from": f"run:{train.uuid}", "to": "artifact:model:v0", "direction": "output"},
    ]
    for start in (f"run:{ev.uuid}", "artifact:dataset:v0", f"run:{train.uuid}"):
        g = graph(edges, start)
        assert sorted(g["edges"], key=lambda e: (e["from"], e["to"])) == sorted(expect_edges, key=lambda e: (e["from"], e["to"]))
        assert {n["id"]: n["label"] for n in g["nodes"]} == {
            f"run:{prep.uuid}": "prepare", f"run:{train.uuid}": "train", f"run:{ev.uuid}": "evaluate",
            "artifact:dataset:v0": "dataset:v0", "artifact:model:v0": "model:v0"}
    one_hop = graph(edges, f"run:{ev.uuid}", depth=1)
    assert {n["id"] for n in one_hop["nodes"]} == {f"run:{ev.uuid}", "artifact:model:v0"}


def test_rm_keeps_numbers_and_moves_latest_and_gc_frees_the_files(tmp_path):
    logdir = str(tmp_path / "logs")
    for i in range(3):
        write_file(str(tmp_path / f"s{i}" / "w.bin"), bytes([i]) * 1000)
        log_version(logdir, "p", str(tmp_path / f"s{i}"), "model", aliases=["prod"] if i == 2 else [])
    reg = Registry(logdir)
    reg.remove("p", "model", 2)
    assert [(v.version, v.aliases) for v in reg.versions("p", "model")] == [(0, []), (1, ["latest"])]
    write_file(str(tmp_path / "s3" / "w.bin"), b"new")
    v, _ = log_version(logdir, "p", str(tmp_path / "s3"), "model")
    assert v.version == 3  # a removed number is never given again
    before = reg.store.disk_usage()
    out = run_python(["-m", "seetrain.cli", "artifact", "gc", "--logdir", logdir, "--grace", "0"],
                     capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert reg.store.disk_usage() == before - 1000


def test_two_processes_logging_one_name_get_distinct_numbers(tmp_path):
    """Two processes each log 15 different versions of ``m`` at once: 30 versions numbered 0..29,
    each content once, ``latest`` on the highest number."""
    logdir = str(tmp_path / "logs")
    script = textwrap.dedent("""
        import os, sys
        from seetrain.artifacts.api import log_version
        logdir, tag, src = sys.argv[1:4]
        for i in range(15):
            d = os.path.join(src, f"{tag}{i}")
            os.makedirs(d)
            with open(os.path.join(d, "w.bin"), "wb") as f:
                f.write(f"{tag}-{i}".encode())
            log_version(logdir, "p", d, "m")
        """)
    procs = [popen_python(["-c", script, logdir, tag, str(tmp_path / "src")]) for tag in ("a", "b")]
    assert [p.wait(120) for p in procs] == [0, 0]
    reg = Registry(logdir)
    versions = reg.versions("p", "m")
    assert [v.version for v in versions] == list(range(30))
    assert len({v.digest for v in versions}) == 30
    assert reg.aliases("p", "m") == {"latest": 29}
