"""``seetrain sync [RUN_DIR ... | LOGDIR] [--watch]``: upload run directories to a SeeTrain server."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict, List

from ..logdir import default_logdir


def register(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("sync", help="upload runs to a SeeTrain server (resumes; never duplicates)",
                       description="Upload finished, crashed and running runs from their saved cursor. "
                                   "Each path is a run directory or a log directory holding <project>/<run>.")
    p.add_argument("paths", nargs="*", help="run directories or log directories (default $SEETRAIN_LOGDIR or ./seetrain_logs)")
    p.add_argument("--host", default=os.environ.get("SEETRAIN_HOST"), help="server URL (or SEETRAIN_HOST)")
    p.add_argument("--api-key", default=os.environ.get("SEETRAIN_API_KEY"), help="API key (or SEETRAIN_API_KEY)")
    p.add_argument("--watch", action="store_true", help="keep following live runs until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between passes with --watch")
    p.add_argument("--json", action="store_true", help="a JSON document per pass on stdout (docs/cli.md)")
    p.set_defaults(func=_sync)


def find_runs(paths: List[str]) -> List[str]:
    """Run directories (holding run.json) named by ``paths`` or found one or two levels below them."""
    out: List[str] = []
    for path in paths:
        path = os.path.abspath(path)
        if os.path.isfile(os.path.join(path, "run.json")):
            out.append(path)
            continue
        if not os.path.isdir(path):
            print(f"seetrain sync: {path} is neither a run directory nor a log directory; skipped", file=sys.stderr)
            continue
        for a in sorted(os.listdir(path)):
            pa = os.path.join(path, a)
            if os.path.isfile(os.path.join(pa, "run.json")):
                out.append(pa)
            elif os.path.isdir(pa):
                out.extend(os.path.join(pa, b) for b in sorted(os.listdir(pa))
                           if os.path.isfile(os.path.join(pa, b, "run.json")))
    return out


def _emit(host: str, runs: List[Dict[str, Any]], failed: int) -> None:
    from .output import emit

    emit("seetrain.sync/1", {"host": host, "runs": runs, "sent": sum(r["sent"] for r in runs), "failed": failed})


def _sync(args: argparse.Namespace) -> int:
    from ..sender import Client, RecordsRefused, RunSync, ServerError, Transient

    if not args.host:
        print("seetrain sync: no server given; pass --host http://HOST:PORT or set SEETRAIN_HOST", file=sys.stderr)
        return 2
    paths = args.paths or [default_logdir()]
    syncs: Dict[str, RunSync] = {}
    from .curate import push_edits  # the log folder's edits of each run (rundir/edits.py)

    pushed: Dict[str, Any] = {}
    failed = 0
    while True:
        found = find_runs(paths)
        if not found and not args.watch:
            print(f"seetrain sync: no run directories (holding run.json) under {', '.join(paths)}", file=sys.stderr)
            if args.json:
                _emit(args.host, [], 1)
            return 1
        status: List[Dict[str, Any]] = []  # one entry per run directory of this pass (--json)
        for run_dir in found:
            s = syncs.get(run_dir)
            if s is None:
                s = syncs[run_dir] = RunSync(run_dir, Client(args.host, args.api_key, attempts=6),
                                             report=lambda message: print(message, file=sys.stderr))
            try:
                n = s.drain()
            except Transient as exc:
                failed += 1
                print(f"seetrain sync: server {args.host} unreachable ({exc}); nothing is lost: run sync again "
                      "when it is back", file=sys.stderr)
                status.append({"path": run_dir, "uuid": s.uuid, "sent": 0, "error": f"unreachable: {exc}"})
                break
            except ServerError as exc:
                failed += 1
                again = ("" if isinstance(exc, RecordsRefused)  # the same records would be refused again
                         else "; the cursor stays where the server last acknowledged, run sync again")
                print(f"seetrain sync: {run_dir}: {exc}{again}", file=sys.stderr)
                status.append({"path": run_dir, "uuid": s.uuid, "sent": 0, "error": str(exc)})
                continue
            except (OSError, ValueError) as exc:
                failed += 1
                print(f"seetrain sync: {run_dir}: cannot read it ({type(exc).__name__}: {exc}); skipped", file=sys.stderr)
                status.append({"path": run_dir, "uuid": None, "sent": 0, "error": f"{type(exc).__name__}: {exc}"})
                continue
            status.append({"path": run_dir, "uuid": s.uuid, "sent": n, "error": None})
            problem = push_edits(args.host, args.api_key, run_dir, s.uuid, pushed)
            if problem:
                print(f"seetrain sync: {run_dir}: {problem}", file=sys.stderr)
            if (n or not args.watch) and not args.json:
                print(f"{run_dir}: {n} records sent ({s.uuid})")
        if args.json:
            _emit(args.host, status, failed)
        if not args.watch:
            return 1 if failed else 0
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0
