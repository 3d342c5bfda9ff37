"""Blob garbage collection and purge: what they cost on a store of many blobs (SQLite, a blob folder).

    python benchmarks/bench_gc.py [--blobs 20000] [--runs 200] [--points 200000]

1. ``seetrain server gc``'s collection (:func:`seetrain.server.gc.collect`), dry run and ``--yes``,
   over ``--blobs`` small blobs of which half are referenced by ``--runs`` runs' media.
2. A purge (:func:`seetrain.server.curation.purge`) of one run with ``--points`` scalar points and
   100 media files, 50 of them shared with another run.

Prints a table; quote the load average printed beside it (the machine is shared).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid as _uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import insert  # noqa: E402

from seetrain.server import ingest  # noqa: E402
from seetrain.server.curation import purge  # noqa: E402
from seetrain.server.db.models import media_files  # noqa: E402
from seetrain.server.deps import Store  # noqa: E402
from seetrain.server.gc import collect  # noqa: E402
from seetrain.server.settings import Settings  # noqa: E402


def _blob(store: Store, tmp: str, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    with open(tmp, "wb") as f:
        f.write(data)
    store.blobs.put_file(sha, tmp, "image/png")
    return sha


def _run(store: Store, project: str, rid: str) -> str:
    u = _uuid.uuid4().hex
    with store.write() as conn:
        ingest.upsert_run(conn, u, {"project": project, "id": rid, "status": "success"})
    return u


def bench_gc(n_blobs: int, n_runs: int) -> list:
    home = tempfile.mkdtemp(prefix="bench-gc-")
    store = Store(Settings(db=os.path.join(home, "db.sqlite"), blobs=os.path.join(home, "blobs")))
    tmp = os.path.join(home, "tmp")
    runs = [_run(store, "bench", f"r{i}") for i in range(n_runs)]
    rows = []
    for i in range(n_blobs):
        sha = _blob(store, tmp, f"blob {i}".encode() * 20)
        if i % 2 == 0:
            rows.append({"run_uuid": runs[i % n_runs], "path": f"media/img/{i}.png", "sha256": sha, "size": 1,
                         "content_type": "image/png"})
    with store.write() as conn:
        conn.execute(insert(media_files), rows)
    out = []
    for dry in (True, False):
        t0 = time.perf_counter()
        rep = collect(store, dry_run=dry)
        out.append((f"gc {'dry run' if dry else '--yes'}: {n_blobs:,} blobs, {len(rows):,} referenced",
                    time.perf_counter() - t0, f"{rep.collected:,} {'collectable' if dry else 'deleted'}"))
    return out


def bench_purge(n_points: int) -> list:
    home = tempfile.mkdtemp(prefix="bench-purge-")
    store = Store(Settings(db=os.path.join(home, "db.sqlite"), blobs=os.path.join(home, "blobs")))
    tmp = os.path.join(home, "tmp")
    a, b = _run(store, "bench", "a"), _run(store, "bench", "b")
    recs = [{"seq": i, "time": 1.0 + i, "type": "metrics", "step": i, "data": {"loss": 1.0 / (i + 1), "acc": i * 1e-6}}
            for i in range(n_points // 2)]
    ingest.store_records(store, a, ingest.validate_records(recs, limits=ingest.Limits(batch_records=len(recs))))
    with store.write() as conn:
        for i in range(100):
            sha = _blob(store, tmp, (f"shared {i}" if i < 50 else f"own {i}").encode() * 50)
            ingest._map_media(conn, a, f"media/img/{i}.png", sha, 1, "image/png")
            if i < 50:
                ingest._map_media(conn, b, f"media/img/{i}.png", sha, 1, "image/png")
    t0 = time.perf_counter()
    rep = purge(store, a)
    return [(f"purge: a run of {n_points:,} points, 100 media (50 shared)", time.perf_counter() - t0,
             f"{rep.rows:,} rows, {rep.blobs_freed} blobs freed")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blobs", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--points", type=int, default=200_000)
    args = ap.parse_args()
    rows = bench_gc(args.blobs, args.runs) + bench_purge(args.points)
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    width = max(len(r[0]) for r in rows)
    print(f"{'what'.ljust(width)}  {'seconds':>8}  result")
    for what, secs, result in rows:
        print(f"{what.ljust(width)}  {secs:8.2f}  {result}")


if __name__ == "__main__":
    main()
