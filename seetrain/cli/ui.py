"""``seetrain ui [LOGDIR] [--port P] [--host H]``: the dashboard over the run directories under LOGDIR.

It starts the SeeTrain server app on the dashboard's own SQLite index (under the user's cache
folder, never inside the run directories) and a watcher that follows LOGDIR with the incremental
reader, then prints the URL to open.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import os
import socket
import sys
from typing import Optional, Tuple

from ..logdir import DEFAULT_LOGDIR_HELP
from .server import add_http_options, http_settings, serve_until_interrupted, uvicorn_options

DEFAULT_PORT = 5096  # beside `seetrain server`'s 5095, so both can run on one machine


def register(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("ui", help="open the dashboard on the runs under LOGDIR (extra: server)",
                       description="Serve the SeeTrain dashboard for the run directories under LOGDIR; runs "
                                   "still training update live and new runs appear by themselves.")
    p.add_argument("logdir", nargs="?", default=None,
                   help=f"folder of runs (default {DEFAULT_LOGDIR_HELP})")
    p.add_argument("--port", type=int, default=None,
                   help=f"port (default {DEFAULT_PORT}, or the next free one; 0 picks any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.add_argument("--index-dir", default=None,
                   help="where the dashboard keeps its index (default ~/.cache/seetrain/ui/<logdir hash>)")
    add_http_options(p)
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=_ui)


def index_dir(logdir: str) -> str:
    """The dashboard's own folder for ``logdir``: its SQLite index, media blobs and watcher offsets."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha1(os.path.abspath(logdir).encode()).hexdigest()[:12]
    return os.path.join(base, "seetrain", "ui", digest)


def _bind(host: str, port: Optional[int]) -> Tuple[socket.socket, int]:
    """A listening socket on ``port``; without an explicit port, the next free one from the default."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    tries = [port] if port is not None else list(range(DEFAULT_PORT, DEFAULT_PORT + 20))
    last: Optional[OSError] = None
    for p in tries:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, p))
        except OSError as exc:
            s.close()
            last = exc
            if exc.errno != errno.EADDRINUSE:
                break
            continue
        s.listen(128)
        s.set_inheritable(True)
        return s, s.getsockname()[1]
    sys.exit(f"seetrain ui: cannot listen on {host}:{tries[0] if len(tries) == 1 else f'{tries[0]}-{tries[-1]}'} "
             f"({last}); pass a free --port")


def _ui(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..server.app import create_app
        from ..server.settings import Settings
        from ..server.watcher import Watcher
    except ImportError as exc:
        sys.exit(f"seetrain ui needs the server extra: pip install 'seetrain[server]' ({exc})")
    from ..server.settings import is_loopback

    from ..logdir import default_logdir

    logdir = default_logdir(args.logdir)
    if not os.path.isdir(logdir):
        print(f"seetrain ui: {logdir} does not exist yet; runs logged there will appear when they start",
              file=sys.stderr)
    if not is_loopback(args.host) and not os.environ.get("SEETRAIN_SERVER_API_KEY"):
        sys.exit(f"seetrain ui: refusing to serve {args.host} without an API key; set SEETRAIN_SERVER_API_KEY "
                 "or keep the default --host 127.0.0.1")
    home = os.path.abspath(args.index_dir or index_dir(logdir))
    os.makedirs(home, exist_ok=True)
    settings = Settings(db=os.path.join(home, "index.db"), blobs=os.path.join(home, "blobs"),
                        api_key=os.environ.get("SEETRAIN_SERVER_API_KEY") or "", ingest_routes=False,
                        **http_settings(args))
    app = create_app(settings)
    watcher = Watcher(logdir, app.state.store, state_file=os.path.join(home, "watcher.json"))
    app.state.watcher = watcher
    from ..server.local_edits import LocalEdits  # curation lands beside the runs, never in them

    app.state.local_edits = LocalEdits(logdir, app.state.store, watcher)
    watcher.after_scan.append(app.state.local_edits.poll)
    sock, port = _bind(args.host, args.port)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    shown = f"[{shown}]" if ":" in shown else shown
    print(f"SeeTrain dashboard: http://{shown}:{port}/  (runs under {logdir}; Ctrl-C to stop)", flush=True)
    watcher.start()
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=False,
                                           timeout_graceful_shutdown=2, **uvicorn_options(settings)))
    try:
        return serve_until_interrupted(lambda: server.run(sockets=[sock]), "seetrain ui")
    finally:
        watcher.stop()
