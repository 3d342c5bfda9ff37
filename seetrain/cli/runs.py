"""``seetrain ls``, ``show`` and ``export``: reading run directories from the terminal.

``ls`` reads each run's ``run.json`` only (its summary is kept current by the writer), so it
stays fast however long the runs are; runs written before format 2 without a summary are read.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import sys
from typing import Any, Dict, List, Optional

from ..logdir import default_logdir
from ..rundir.format import is_media_ref, media_kind
from ..rundir.reader import RunReader, list_runs, read_run
from ..rundir.stream import records_path

RESERVED_COLUMNS = ("step", "time")


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if is_media_ref(v):
        return f"<{media_kind(v)}>"
    if isinstance(v, list):
        return f"<{len(v)} media>"
    return str(v)


def _fmt_time(t: Any) -> str:
    try:
        return _dt.datetime.fromtimestamp(float(t)).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def _end_time(r: RunReader) -> Optional[float]:
    m = r.meta
    end = m.get("end_time") or m.get("heartbeat")
    if end is None and r.format < 2:  # old runs: the last record says when it stopped
        end = r.last_time
    return end


def _duration(r: RunReader) -> str:
    start = r.meta.get("start_time")
    if not start:
        return "-"
    end = _end_time(r) or start
    return str(_dt.timedelta(seconds=int(max(float(end) - float(start), 0))))


def _steps(r: RunReader) -> str:
    last = r.last_step
    return str(last + 1) if isinstance(last, int) and last >= 0 else "0"


def _last_metrics(r: RunReader, n: int) -> str:
    summary = r.meta_summary()
    if not summary and r.format < 2:  # old runs wrote their summary at finish only
        summary = r.summary()
    shown = [(k, v) for k, v in summary.items()
             if not k.startswith("sys/") and isinstance(v, (int, float)) and not isinstance(v, bool)]
    shown.sort(key=lambda kv: not kv[0].startswith(("val/", "eval/", "test/")))  # validation figures first (stable)
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in shown[:n])


def _table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _matches(run: str, runs: List[RunReader]) -> List[RunReader]:
    """Runs that ``run`` names, most exact kind first: id, uuid, project/id, name, id suffix."""
    tests = (lambda r: r.id == run, lambda r: r.uuid == run, lambda r: f"{r.project}/{r.id}" == run,
             lambda r: r.name == run, lambda r: r.id.endswith(run))
    for test in tests:
        found = [r for r in runs if test(r)]
        if found:
            return found
    return []


def _resolve(run: str, logdir: Optional[str]) -> RunReader:
    if os.path.isdir(run) and os.path.isfile(os.path.join(run, "run.json")):
        return read_run(run)
    found = _matches(run, list_runs(logdir))
    if not found:
        raise SystemExit(f"seetrain: no run {run!r} under {default_logdir(logdir)}"
                         " (give a run directory, an id or a name; see `seetrain ls`)")
    if len(found) > 1:
        rows = [[r.project, r.name, r.id, r.status, _fmt_time(r.meta.get("start_time"))] for r in found]
        raise SystemExit(f"seetrain: {len(found)} runs match {run!r}; give the id (or project/id, or the "
                         f"run directory) of the one you mean:\n"
                         + _table(rows, ["PROJECT", "NAME", "ID", "STATUS", "STARTED"]))
    return found[0]


def runs_in_state(logdir: Optional[str], project: Optional[str], state: str) -> List[RunReader]:
    """The log folder's runs that are ``active`` (not archived), ``archived``, ``deleted`` (in its
    trash) or ``all`` (rundir/edits.py)."""
    from ..rundir import edits

    runs = [] if state == "deleted" else list_runs(logdir, project=project)
    if state == "active":
        return [r for r in runs if not r.meta.get("archived")]
    if state == "archived":
        return [r for r in runs if r.meta.get("archived")]
    for p in edits.trashed_runs(default_logdir(logdir)):
        try:
            r = RunReader(p)
        except (OSError, ValueError):
            continue
        if project is None or r.project == project:
            runs.append(r)
    return runs


def cmd_ls(args: argparse.Namespace) -> int:
    runs = runs_in_state(args.logdir, args.project, getattr(args, "state", "active"))
    if getattr(args, "json", False):
        from . import run_docs
        from .output import emit

        emit(run_docs.LS, run_docs.ls_doc(runs, default_logdir(args.logdir)))
        return 0
    if not runs:
        print(f"no runs under {default_logdir(args.logdir)}")
        return 0
    rows = [[r.project, r.name, r.id, _status_text(r), _steps(r), _duration(r), _last_metrics(r, args.metrics)]
            for r in runs]
    header = ["PROJECT", "NAME", "ID", "STATUS", "STEPS", "DURATION", "LAST METRICS"]
    if any(r.shared for r in runs):  # shared runs (issue 23): how many processes write each
        for row, r in zip(rows, runs):
            row.insert(4, str(len(r.writers)))
        header.insert(4, "WRITERS")
    print(_table(rows, header))
    return 0


def _status_text(r: RunReader) -> str:
    """The run's status; a shared run's names the writers that crashed."""
    crashed = r.crashed_writers if r.shared else []
    return f"{r.status} ({', '.join(crashed)} crashed)" if crashed else r.status


def cmd_show(args: argparse.Namespace) -> int:
    r = _resolve(args.run, args.logdir)
    if getattr(args, "json", False):
        from . import run_docs
        from .output import emit

        emit(run_docs.SHOW, run_docs.show_doc(r))
        return 0
    m = r.meta
    print(f"run       {r.project}/{r.name} ({r.id})")
    if r.uuid:
        print(f"uuid      {r.uuid}")
    status = r.status
    if r.vanished and not r.shared:  # a shared run's writers are listed below, the vanished ones crashed
        age = r.heartbeat_age
        status += (f" (its process vanished: no heartbeat for {int(age)} s)" if age is not None
                   else " (its process is gone)")
    if r.exit_code is not None:
        status += f", exit code {r.exit_code}"
    print(f"status    {status}")
    if r.shared:
        ws = r.writers
        crashed = [w.label for w in ws if w.status == "crashed"]
        print(f"writers   {len(ws)}" + (f", crashed: {', '.join(crashed)}" if crashed else ""))
        for w in ws:
            where = f"{w.host} pid {w.pid}" + (f", rank {w.rank}" if w.rank is not None else "")
            print(f"  {w.label}{' (primary)' if w.primary else ''}: {w.status}, {w.n_records} records ({where})")
    if r.error:
        print(f"error     {r.error.get('type')}: {r.error.get('message')}")
    if r.lost:
        print(f"lost      {r.lost} records could not be written")
    print(f"path      {r.path}")
    if m.get("description"):
        print(f"about     {m['description']}")
    if m.get("tags"):
        print(f"tags      {', '.join(map(str, m['tags']))}")
    if m.get("archived") or m.get("deleted"):
        print(f"state     {'deleted (in the trash)' if m.get('deleted') else 'archived'}")
    if m.get("notes"):
        print("notes     " + str(m["notes"]).replace("\n", "\n          "))
    print(f"started   {_fmt_time(m.get('start_time'))}")
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


def csv_columns(keys: List[str]) -> Dict[str, str]:
    """Column name per metric key: ``step`` and ``time`` are the record's own; a metric of that name
    is written as ``metric:step`` (``metric:metric:step`` if that is taken too, and so on)."""
    taken = set(RESERVED_COLUMNS) | set(keys)
    out = {}
    for k in keys:
        name = k
        if k in RESERVED_COLUMNS:
            name = f"metric:{k}"
            while name in taken:
                name = f"metric:{name}"
            taken.add(name)
        out[k] = name
    return out


def cmd_export(args: argparse.Namespace) -> int:
    if args.format in MODEL_FORMATS:  # a trained run's model (seetrain train), not its records
        return _export_model(args)
    r = _resolve(args.run, args.logdir)
    if getattr(args, "json", False):  # the scalar history as one JSON document
        from . import run_docs
        from .output import dumps

        data = dumps({"schema": run_docs.EXPORT, **run_docs.export_doc(r)}) + b"\n"
        if args.output:
            with open(args.output, "wb") as f:
                f.write(data)
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
        return 0
    if args.format == "jsonl":  # the records as written (complete lines only), streamed
        out = open(args.output, "wb") if args.output else sys.stdout.buffer
        try:
            with open(records_path(r.path), "rb") as f:
                tail = b""
                for block in iter(lambda: f.read(1 << 20), b""):
                    block = tail + block
                    cut = block.rfind(b"\n") + 1
                    out.write(block[:cut])
                    tail = block[cut:]
            out.flush()
        except FileNotFoundError:
            pass
        finally:
            if args.output:
                out.close()
        return 0
    keys = r.scalar_keys()
    names = csv_columns(keys)
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow(list(RESERVED_COLUMNS) + [names[k] for k in keys])
        for step, t, values in r.rows(keys):
            writer.writerow([step, t] + [values.get(k, "") for k in keys])
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


MODEL_FORMATS = ("torchscript", "onnx", "safetensors")


def _export_model(args: argparse.Namespace) -> int:
    from ..train.errors import TrainConfigError
    from ..train.export import export

    try:
        out = export(args.run, args.format, args.output, logdir=args.logdir, checkpoint=args.checkpoint)
    except TrainConfigError as exc:
        print(f"seetrain export: {exc}", file=sys.stderr)
        return 2
    print(f"{out.format}: {out.path} ({out.bytes} bytes, from {out.checkpoint})")
    return 0


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``ls``, ``show`` and ``export``."""
    ls = sub.add_parser("ls", help="list runs (from each run.json; fast for long runs)")
    ls.add_argument("logdir", nargs="?", default=None)
    ls.add_argument("--project", default=None)
    ls.add_argument("--metrics", type=int, default=3, help="how many last metrics to show")
    ls.add_argument("--json", action="store_true", help="one JSON document (schema seetrain.ls/1, docs/cli.md)")
    shown = ls.add_mutually_exclusive_group()
    for flag, state, what in (("--archived", "archived", "archived runs only"),
                              ("--deleted", "deleted", "deleted runs only (the trash)"),
                              ("--all", "all", "every run, archived and deleted ones too")):
        shown.add_argument(flag, dest="state", action="store_const", const=state, help=what)
    ls.set_defaults(state="active")
    ls.set_defaults(func=cmd_ls)
    show = sub.add_parser("show", help="show one run's status, config and summary")
    show.add_argument("run", help="run directory, id, project/id, uuid or name")
    show.add_argument("--logdir", default=None)
    show.add_argument("--json", action="store_true", help="one JSON document (schema seetrain.show/1)")
    show.set_defaults(func=cmd_show)
    ex = sub.add_parser("export", help="export a run's records (csv: one row per step; jsonl: as written)",
                        description="CSV columns: step, time, then one per metric key; a metric named "
                                    "'step' or 'time' becomes 'metric:step' / 'metric:time'.")
    ex.add_argument("run", help="run directory, id, project/id, uuid or name")
    ex.add_argument("--format", choices=["csv", "jsonl", *MODEL_FORMATS], default="csv",
                    help="csv / jsonl: the run's records; torchscript / onnx / safetensors: a trained model")
    ex.add_argument("--checkpoint", default="best", help="model formats: best (default), last or a .ckpt path")
    ex.add_argument("--logdir", default=None)
    ex.add_argument("-o", "--output", default=None)
    ex.add_argument("--json", action="store_true", help="the scalar history as one JSON document "
                                                        "(schema seetrain.export/1) instead of --format")
    ex.set_defaults(func=cmd_export)
