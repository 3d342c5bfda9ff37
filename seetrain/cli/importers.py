"""``seetrain import wandb|tensorboard|mlflow``: turn other trackers' runs into SeeTrain runs.

    seetrain import wandb wandb/offline-run-20240101_120000-abc123   # or the wandb/ folder: every run in it
    seetrain import tensorboard runs/                                 # one run per folder of event files
    seetrain import mlflow --tracking-uri sqlite:///mlflow.db         # or file:./mlruns; --experiment NAME

Each imported run gets a stable id derived from its source, so importing again skips what is
already there. The bridges' modules (and their frameworks) are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import os
from typing import List, Optional, Tuple

from ..logdir import DEFAULT_LOGDIR


def _report(kind: str, results: List[Tuple[str, Optional[int], Optional[str]]], as_json: bool = False) -> int:
    """Print one line per source run (or, ``as_json``, one JSON document); exit code 0 when nothing failed."""
    if as_json:
        from .output import emit

        runs = [{"path": d or None, "records": n, "status": "imported" if p is None else
                 "skipped" if p.startswith("skipped") else "failed",
                 "problem": None if p is None else p[len("skipped"):].strip() if p.startswith("skipped") else p}
                for d, n, p in results]
        failed = sum(r["status"] == "failed" for r in runs)
        emit("seetrain.import/1", {"source": kind, "runs": runs,
                                   "imported": sum(r["status"] == "imported" for r in runs), "failed": failed})
        return 1 if failed else 0
    failed = 0
    for run_dir, records, problem in results:
        if problem is None:
            print(f"imported  {run_dir}  ({records} records)")
        elif problem.startswith("skipped"):
            print(problem)
        else:
            failed += 1
            print(f"failed    {problem}")
    done = sum(1 for _, _, p in results if p is None)
    print(f"{done} {kind} run(s) imported" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


def _each(sources, do) -> List[Tuple[str, Optional[int], Optional[str]]]:
    out = []
    for source in sources:
        try:
            run_dir, n = do(source)
            out.append((run_dir, n, None))
        except FileExistsError as exc:
            out.append(("", None, f"skipped   {exc}"))
        except Exception as exc:
            out.append(("", None, f"{source}: {type(exc).__name__}: {exc}"))
    return out


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from ..integration.bridges import tensorboard as bridge

    logdir = os.path.abspath(args.path)
    if not os.path.isdir(logdir):
        raise SystemExit(f"seetrain import tensorboard: {logdir} is not a directory; give the TensorBoard "
                         "log directory (the one you pass to `tensorboard --logdir`)")
    runs = bridge.find_run_dirs(logdir)
    if not runs:
        raise SystemExit(f"seetrain import tensorboard: no TensorBoard event files (events.out.tfevents.*) under "
                         f"{logdir}")
    project = args.project or os.path.basename(logdir) or "tensorboard"

    def one(run_dir: str):
        rel = os.path.relpath(run_dir, logdir)
        return bridge.import_run_dir(run_dir, os.path.basename(logdir) if rel == "." else rel, project, args.logdir)

    return _report("TensorBoard", _each(runs, one), args.json)


def cmd_wandb(args: argparse.Namespace) -> int:
    from ..integration.bridges import wandb as bridge

    try:
        runs = bridge.find_run_files(args.path)
    except FileNotFoundError as exc:
        raise SystemExit(f"seetrain import wandb: {exc}")
    return _report("W&B", _each(runs, lambda path: bridge.import_run_file(path, args.project, args.logdir)), args.json)


def cmd_mlflow(args: argparse.Namespace) -> int:
    from ..integration.bridges import mlflow as bridge

    try:
        runs = bridge.find_runs(args.tracking_uri, experiments=args.experiment)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"seetrain import mlflow: {exc}")
    return _report("MLflow", _each(runs, lambda run: bridge.import_run(args.tracking_uri, run, args.project,
                                                                        args.logdir)), args.json)


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``import wandb``, ``import tensorboard`` and ``import mlflow``."""
    imp = sub.add_parser("import", help="import runs from W&B (offline dirs), TensorBoard or MLflow")
    kinds = imp.add_subparsers(dest="source", required=True)

    wb = kinds.add_parser("wandb", help="W&B run directories (offline-run-*/run-* with a run-*.wandb file)")
    wb.add_argument("path", help="a W&B run directory, its .wandb file, or a folder of runs (./wandb)")
    wb.set_defaults(func=cmd_wandb)

    tb = kinds.add_parser("tensorboard", help="TensorBoard event files: one SeeTrain run per run folder")
    tb.add_argument("path", help="the TensorBoard log directory")
    tb.set_defaults(func=cmd_tensorboard)

    ml = kinds.add_parser("mlflow", help="MLflow runs from a file store or a database (SQLite) store")
    ml.add_argument("--tracking-uri", required=True,
                    help="e.g. file:./mlruns, ./mlruns or sqlite:///mlflow.db")
    ml.add_argument("--experiment", action="append", default=None,
                    help="experiment name to import (repeatable; default: every experiment)")
    ml.set_defaults(func=cmd_mlflow)

    for p, default in ((wb, None), (tb, None), (ml, None)):
        p.add_argument("--project", default=default,
                       help="SeeTrain project (default: the W&B project / log directory name / MLflow experiment)")
        p.add_argument("--logdir", default=None,
                       help=f"SeeTrain log directory (default: $SEETRAIN_LOGDIR or {DEFAULT_LOGDIR})")
        p.add_argument("--json", action="store_true", help="one JSON document (docs/cli.md)")
