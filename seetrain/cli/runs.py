"""``seetrain ls``, ``show`` and ``export``: reading run directories from the terminal."""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import sys
from typing import List, Optional

from ..reader import RunReader, list_runs, read_run


def _fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict) and "_type" in v:
        return f"<{v['_type']}>"
    if isinstance(v, list):
        return f"<{len(v)} media>"
    return str(v)


def _duration(r: RunReader) -> str:
    start, end = r.meta.get("start_time"), r.meta.get("end_time")
    if not start:
        return "-"
    if not end:
        recs = r.records()
        end = recs[-1]["time"] if recs else start
    secs = int(max(end - start, 0))
    return str(_dt.timedelta(seconds=secs))


def _table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _resolve(run: str, logdir: Optional[str]) -> RunReader:
    if os.path.isdir(run):
        return read_run(run)
    matches = [r for r in list_runs(logdir) if r.id == run or r.id.endswith(run) or r.name == run]
    if not matches:
        raise SystemExit(f"seetrain: no run {run!r} under {os.path.abspath(logdir or os.environ.get('SEETRAIN_LOGDIR') or './seetrain_logs')}"
                         " (give a run directory, an id or a name; see `seetrain ls`)")
    return matches[-1]


def cmd_ls(args: argparse.Namespace) -> int:
    runs = list_runs(args.logdir, project=args.project)
    if not runs:
        print(f"no runs under {os.path.abspath(args.logdir or os.environ.get('SEETRAIN_LOGDIR') or './seetrain_logs')}")
        return 0
    rows = []
    for r in runs:
        summary = {k: v for k, v in r.summary().items() if not k.startswith("sys/") and isinstance(v, (int, float))}
        steps = [rec["step"] for rec in r.iter_data()]
        last = ", ".join(f"{k}={_fmt_value(v)}" for k, v in list(summary.items())[: args.metrics])
        rows.append([r.project, r.name, r.id, r.status, str(max(steps) + 1 if steps else 0), _duration(r), last])
    print(_table(rows, ["PROJECT", "NAME", "ID", "STATUS", "STEPS", "DURATION", "LAST METRICS"]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    r = _resolve(args.run, args.logdir)
    m = r.meta
    print(f"run       {r.project}/{r.name} ({r.id})")
    print(f"status    {r.status}")
    print(f"path      {r.path}")
    if m.get("description"):
        print(f"about     {m['description']}")
    if m.get("tags"):
        print(f"tags      {', '.join(m['tags'])}")
    print(f"duration  {_duration(r)}")
    git = m.get("git") or {}
    if git:
        print(f"git       {git.get('branch')}@{str(git.get('commit'))[:10]}{' (dirty)' if git.get('dirty') else ''}")
    print("\nconfig")
    cfg = r.config
    for k in sorted(cfg):
        print(f"  {k}: {cfg[k]}")
    print("\nsummary")
    for k, v in sorted(r.summary().items()):
        print(f"  {k}: {_fmt_value(v)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    r = _resolve(args.run, args.logdir)
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "jsonl":
            with open(os.path.join(r.path, "records.jsonl"), "rb") as f:
                for line in f:
                    if line.endswith(b"\n"):
                        out.write(line.decode("utf-8"))
        else:
            rows = r.history()
            keys = sorted({k for row in rows for k in row} - {"step", "time"})
            writer = csv.DictWriter(out, fieldnames=["step", "time"] + keys, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``ls``, ``show`` and ``export``."""
    ls = sub.add_parser("ls", help="list runs")
    ls.add_argument("logdir", nargs="?", default=None)
    ls.add_argument("--project", default=None)
    ls.add_argument("--metrics", type=int, default=3, help="how many last metrics to show")
    ls.set_defaults(func=cmd_ls)
    show = sub.add_parser("show", help="show one run's config and summary")
    show.add_argument("run", help="run directory, id or name")
    show.add_argument("--logdir", default=None)
    show.set_defaults(func=cmd_show)
    ex = sub.add_parser("export", help="export a run's records")
    ex.add_argument("run")
    ex.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    ex.add_argument("--logdir", default=None)
    ex.add_argument("-o", "--output", default=None)
    ex.set_defaults(func=cmd_export)
