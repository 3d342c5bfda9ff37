"""Run directories that hold symbolic links to files outside the run (the secret a reader must never
read): used by the `seetrain sync` and `seetrain ui` tests of issue 21 item 8."""

from __future__ import annotations

import os
import time
import uuid as _uuid
from typing import Dict, NamedTuple

import orjson

SECRET = b"TOP-SECRET-" + _uuid.uuid4().hex.encode() + b"-never-leaves-this-machine"
GOOD = b"GOOD-MEDIA-" + _uuid.uuid4().hex.encode()


class LinkedRun(NamedTuple):
    """A run directory and what its media refer to."""

    run_dir: str
    uuid: str
    secret_path: str   # the outside file every link points at
    links: Dict[str, str]  # media path in the records -> the path a reader must name when refusing it


def _line(seq: int, step: int, data: dict) -> bytes:
    return orjson.dumps({"seq": seq, "time": time.time(), "type": "metrics", "step": step, "data": data}) + b"\n"


def _meta(run_dir: str, project: str) -> dict:
    now = time.time()
    return {"format": 2, "uuid": _uuid.uuid4().hex, "id": os.path.basename(run_dir), "name": os.path.basename(run_dir),
            "project": project, "status": "success", "start_time": now - 5, "end_time": now, "heartbeat": now,
            "exit_code": 0, "config": {}}


def outside_secret(root: str) -> str:
    """A file outside every run directory holding :data:`SECRET`; and a folder of it (``outside/``)."""
    os.makedirs(os.path.join(root, "outside"), exist_ok=True)
    path = os.path.join(root, "outside", "secret.png")
    with open(path, "wb") as f:
        f.write(SECRET)
    return path


def run_with_media_links(logdir: str, project: str = "p", name: str = "linked") -> LinkedRun:
    """A finished run with one real image, one image that is a link to the secret, and one image
    inside ``media/leak`` where ``media/leak`` itself is a link to the secret's folder; plus metrics."""
    root = os.path.dirname(os.path.abspath(logdir))
    secret = outside_secret(root)
    run_dir = os.path.join(logdir, project, name)
    os.makedirs(os.path.join(run_dir, "media", "img"), exist_ok=True)
    with open(os.path.join(run_dir, "media", "img", "good.png"), "wb") as f:
        f.write(GOOD)
    os.symlink(secret, os.path.join(run_dir, "media", "img", "x.png"))
    os.symlink(os.path.dirname(secret), os.path.join(run_dir, "media", "leak"))
    meta = _meta(run_dir, project)
    ref = lambda p: {"_type": "image", "path": p, "width": 1, "height": 1}  # noqa: E731
    with open(os.path.join(run_dir, "records.jsonl"), "wb") as f:
        for i in range(5):
            f.write(_line(i, i, {"loss": 1.0 / (i + 1)}))
        f.write(_line(5, 5, {"good": ref("media/img/good.png")}))
        f.write(_line(6, 5, {"x": ref("media/img/x.png")}))
        f.write(_line(7, 5, {"leak": ref("media/leak/secret.png")}))
        f.write(_line(8, 6, {"loss": 0.1}))
    with open(os.path.join(run_dir, "run.json"), "wb") as f:
        f.write(orjson.dumps(meta))
    links = {"media/img/x.png": os.path.join(run_dir, "media", "img", "x.png"),
             "media/leak/secret.png": os.path.join(run_dir, "media", "leak")}
    return LinkedRun(run_dir, meta["uuid"], secret, links)


def run_with_linked_file(logdir: str, which: str, project: str = "p", name: str = "") -> LinkedRun:
    """A run whose ``records.jsonl`` or ``run.json`` (``which``) is a link to a file outside it that
    holds valid content with :data:`SECRET` in it."""
    root = os.path.dirname(os.path.abspath(logdir))
    os.makedirs(os.path.join(root, "outside"), exist_ok=True)
    run_dir = os.path.join(logdir, project, name or which.replace(".", "-"))
    os.makedirs(run_dir, exist_ok=True)
    meta = _meta(run_dir, project)
    target = os.path.join(root, "outside", f"{_uuid.uuid4().hex}-{which}")
    records = _line(0, 0, {"loss": 0.5}) + orjson.dumps(
        {"seq": 1, "time": time.time(), "type": "console", "stream": "stdout", "line": SECRET.decode()}) + b"\n"
    meta_bytes = orjson.dumps(dict(meta, description=SECRET.decode()))
    with open(target, "wb") as f:
        f.write(records if which == "records.jsonl" else meta_bytes)
    os.symlink(target, os.path.join(run_dir, which))
    other = "run.json" if which == "records.jsonl" else "records.jsonl"
    with open(os.path.join(run_dir, other), "wb") as f:
        f.write(orjson.dumps(meta) if other == "run.json" else _line(0, 0, {"loss": 0.5}))
    return LinkedRun(run_dir, meta["uuid"], target, {which: os.path.join(run_dir, which)})


def files_holding(folder: str, needle: bytes) -> list:
    """Every file under ``folder`` whose bytes contain ``needle``."""
    hits = []
    for base, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        hits.append(path)
            except OSError:
                continue
    return hits
