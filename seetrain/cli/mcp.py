"""``seetrain mcp [LOGDIR | --host URL --api-key K] [--http [--port P]]``: an MCP server over runs
(docs/mcp.md), for agents and MCP clients. stdio by default; ``--http`` serves streamable HTTP on
127.0.0.1 (another ``--bind`` address only with ``--allow-remote``: the MCP endpoint has no auth)."""

from __future__ import annotations

import argparse
import os
import sys

from ..logdir import DEFAULT_LOGDIR_HELP

DEFAULT_PORT = 8765


def register(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("mcp", help="MCP server over runs for agents (stdio or --http; extra: mcp)",
                       description=f"Serve the runs of LOGDIR (default {DEFAULT_LOGDIR_HELP}) or of "
                                   "a server (--host) to an MCP client: tools list_projects, list_runs, get_run, "
                                   "get_metric_history, compare_runs, query_sql, tail_console, get_events. "
                                   "Read-only. See docs/mcp.md.")
    p.add_argument("logdir", nargs="?", default=None, help="log directory (offline)")
    p.add_argument("--host", default=None, help="server URL (instead of a log directory)")
    p.add_argument("--api-key", default=os.environ.get("SEETRAIN_API_KEY"), help="API key (or SEETRAIN_API_KEY)")
    p.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT})")
    p.add_argument("--bind", default="127.0.0.1", help="HTTP address (default 127.0.0.1, loopback only)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --bind to a non-loopback address (the MCP endpoint itself has no authentication)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="most tokens one answer may take, at ~4 characters a token (default 20000, or "
                        "$SEETRAIN_MCP_MAX_TOKENS)")
    p.add_argument("--allow-writes", action="store_true",
                   help="allow write tools (needs --api-key with write access); no tool writes yet, so this "
                        "changes nothing today")
    p.set_defaults(func=cmd_mcp)


def _is_loopback(host: str) -> bool:
    import ipaddress

    host = host.strip("[]").lower()
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_mcp(args: argparse.Namespace) -> int:
    from .output import USAGE

    def fail(msg: str) -> int:
        print(f"seetrain mcp: {msg}", file=sys.stderr)
        return USAGE

    if args.host and args.logdir:
        return fail("give a LOGDIR or --host, not both")
    if args.allow_writes and not (args.host and args.api_key):
        return fail("--allow-writes needs a server (--host) and a write API key (--api-key); without them the "
                    "server is read-only")
    if not 1 <= args.port <= 65535:
        return fail(f"--port {args.port}: give 1..65535")
    if args.http and not _is_loopback(args.bind) and not args.allow_remote:
        return fail(f"refusing to bind {args.bind}: the MCP endpoint has no authentication; keep the default "
                    "127.0.0.1, or pass --allow-remote behind your own access control")
    from ..mcp.budget import DEFAULT_MAX_TOKENS, MIN_TOKENS

    max_tokens = args.max_tokens or int(os.environ.get("SEETRAIN_MCP_MAX_TOKENS") or DEFAULT_MAX_TOKENS)
    if max_tokens < MIN_TOKENS:
        return fail(f"--max-tokens {max_tokens}: give at least {MIN_TOKENS}")
    try:
        import mcp  # noqa: F401
    except ImportError as exc:
        return fail(f"needs the mcp extra: pip install 'seetrain[mcp]' ({exc})")
    from ..mcp.server import serve
    from ..mcp.source import Source
    from ..mcp.tools import Tools

    if args.logdir is None and not args.host:
        from ..logdir import default_logdir

        args.logdir = default_logdir(None)
    if args.logdir is not None and not os.path.isdir(args.logdir):
        print(f"seetrain mcp: {args.logdir} does not exist yet; runs logged there will be listed when they start",
              file=sys.stderr)
    try:
        source = Source(logdir=args.logdir, host=args.host, api_key=args.api_key)
    except ValueError as exc:
        return fail(str(exc))
    try:
        serve(Tools(source, max_tokens), http=args.http, host=args.bind, port=args.port, writes=args.allow_writes,
              announce=lambda line: print(line, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        return 130
    finally:
        source.close()
    return 0
