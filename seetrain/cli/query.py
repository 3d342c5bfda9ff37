"""``seetrain query "SQL" [LOGDIR | --host URL]``: read-only SQL over runs (docs/query.md)."""

from __future__ import annotations

import argparse
import csv
import os
import sys

from ..logdir import DEFAULT_LOGDIR_HELP
from . import output


def register(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("query", help="read-only SQL over runs: tables runs, config, summary, metrics, events, "
                                     "console, media (docs/query.md)",
                       description=f"Run one SELECT over the runs of LOGDIR (default {DEFAULT_LOGDIR_HELP}) "
                                   "or of a server (--host). Example: seetrain query \"SELECT "
                                   "run, max(value) FROM metrics WHERE key='val/acc' GROUP BY run\"")
    p.add_argument("sql", help="one SELECT statement")
    p.add_argument("logdir", nargs="?", default=None, help="log directory (offline)")
    p.add_argument("--host", default=None, help="server URL (instead of a log directory)")
    p.add_argument("--api-key", default=os.environ.get("SEETRAIN_API_KEY"), help="API key (or SEETRAIN_API_KEY)")
    p.add_argument("--project", default=None, help="only this project's runs")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    fmt.add_argument("--json", action="store_true", help="one JSON document (schema seetrain.query/1)")
    p.add_argument("--max-rows", type=int, default=10_000, help="stop the answer after N rows (default 10000; "
                                                                "exit code 4 when cut)")
    p.add_argument("--timeout", type=float, default=30.0, help="stop the query after S seconds (default 30; "
                                                               "exit code 3)")
    p.set_defaults(func=cmd_query)


def cmd_query(args: argparse.Namespace) -> int:
    from ..query import QueryError, run_query

    if args.host and args.logdir:
        print("seetrain query: give a LOGDIR or --host, not both", file=sys.stderr)
        return output.USAGE
    if args.max_rows < 1 or args.timeout <= 0:
        print("seetrain query: --max-rows and --timeout must be positive", file=sys.stderr)
        return output.USAGE
    try:
        res = run_query(args.sql, logdir=args.logdir, host=args.host, api_key=args.api_key, project=args.project,
                        timeout_s=args.timeout, max_rows=args.max_rows)
    except QueryError as exc:
        code = output.TIME_LIMIT if exc.kind == "timeout" else output.FAILED
        if args.json:
            output.emit("seetrain.query/1", {"ok": False, "error": {"kind": exc.kind, "message": str(exc)}})
        print(f"seetrain query: {exc}", file=sys.stderr)
        return code
    if args.json:
        output.emit("seetrain.query/1", {"ok": True, "columns": res.columns, "types": res.types,
                                         "rows": [list(r) for r in res.rows], "row_count": len(res.rows),
                                         "truncated": res.truncated, "max_rows": args.max_rows,
                                         "seconds": round(res.seconds, 6)})
    elif args.csv:
        w = csv.writer(sys.stdout)
        w.writerow(res.columns)
        w.writerows([["" if v is None else v for v in r] for r in res.rows])
    else:
        print(output.table([[output.cell(v) for v in r] for r in res.rows], res.columns))
        print(f"({len(res.rows)} row{'s' if len(res.rows) != 1 else ''}, {res.seconds:.3f} s)", file=sys.stderr)
    if res.truncated:
        print(f"seetrain query: the answer was cut at {args.max_rows} rows; add a LIMIT or an aggregate, or raise "
              "--max-rows", file=sys.stderr)
        return output.ROW_LIMIT
    return output.OK
