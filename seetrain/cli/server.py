"""``seetrain server``: run the SeeTrain server; ``seetrain server keys create|list|revoke``: API keys."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, Callable, List


INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it


def register(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("server", help="run the SeeTrain server (extra: server)",
                       description="Serve the REST API (/api/v1) and the dashboard. Database: a SQLite file "
                                   "(default) or postgresql://...; blobs: a folder (default) or s3://bucket/prefix.")
    p.add_argument("--db", default=os.environ.get("SEETRAIN_SERVER_DB", ""),
                   help="SQLAlchemy URL or SQLite file (default ~/.seetrain/server/seetrain.db)")
    p.add_argument("--blobs", default=os.environ.get("SEETRAIN_SERVER_BLOBS", ""),
                   help="folder or s3://bucket/prefix for media (default ~/.seetrain/server/blobs)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.add_argument("--port", type=int, default=5095)
    p.add_argument("--workers", type=int, default=1, help="worker processes (use PostgreSQL for more than 1)")
    p.add_argument("--api-key", default=None, help="one all-rights key (or SEETRAIN_SERVER_API_KEY)")
    add_http_options(p)
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=_serve)
    ks = p.add_subparsers(dest="server_cmd")
    keys = ks.add_parser("keys", help="manage project-scoped API keys").add_subparsers(dest="keys_cmd", required=True)
    c = keys.add_parser("create", help="create a key (printed once; only its hash is stored)")
    c.add_argument("--project", required=True, help="project the key may use ('*' for all)")
    c.add_argument("--write", action="store_true", help="allow writing (default: read only)")
    c.add_argument("--note", default="")
    c.set_defaults(func=_keys_create)
    ls = keys.add_parser("list", help="list keys (ids, scopes; never the keys)")
    ls.set_defaults(func=_keys_list)
    rv = keys.add_parser("revoke", help="revoke a key by its id")
    rv.add_argument("key_id", help="the id `keys list` shows (one issued before 0.1 may start with '-': put -- before it)")
    rv.set_defaults(func=_keys_revoke)
    for q in (c, ls, rv):
        q.add_argument("--db", dest="keys_db", default=None, help="database (as for `seetrain server --db`)")
        q.add_argument("--json", action="store_true", help="one JSON document (docs/cli.md)")
    from .curate import add_gc_command  # seetrain server gc

    add_gc_command(ks)


def add_http_options(p: argparse.ArgumentParser) -> None:
    """Options both servers share (`seetrain server`, `seetrain ui`): Host names, timeouts, limits."""
    env = os.environ.get
    p.add_argument("--allowed-hosts", default=env("SEETRAIN_SERVER_ALLOWED_HOSTS", ""), metavar="NAMES",
                   help="comma-separated Host names served besides localhost/127.0.0.1/[::1] (and --host when it "
                        "is a specific address), e.g. seetrain.example.com; '*' turns the check off")
    p.add_argument("--timeout-keep-alive", type=float, default=float(env("SEETRAIN_SERVER_TIMEOUT_KEEP_ALIVE_S", 5)),
                   metavar="S", help="close a connection idle between requests after S seconds (default 5)")
    p.add_argument("--header-timeout", type=float, default=float(env("SEETRAIN_SERVER_HEADER_TIMEOUT_S", 10)),
                   metavar="S", help="a request's line and headers must arrive within S seconds (default 10)")
    p.add_argument("--body-timeout", type=float, default=float(env("SEETRAIN_SERVER_BODY_TIMEOUT_S", 30)),
                   metavar="S", help="longest pause while a request body arrives (default 30)")
    p.add_argument("--limit-concurrency", type=int, default=int(env("SEETRAIN_SERVER_LIMIT_CONCURRENCY", 1000)),
                   metavar="N", help="connections and running requests per worker; past it requests get 503 "
                                     "(default 1000)")
    p.add_argument("--http", default=env("SEETRAIN_SERVER_HTTP", "auto"), choices=("auto", "h11", "httptools"),
                   help="uvicorn's HTTP/1.1 parser (default auto: httptools when installed, else h11)")


def http_settings(args: argparse.Namespace) -> dict:
    """The Settings fields of :func:`add_http_options`."""
    from ..server.settings import split_hosts

    return dict(host=args.host, allowed_hosts=split_hosts(args.allowed_hosts),
                timeout_keep_alive_s=args.timeout_keep_alive, header_timeout_s=args.header_timeout,
                body_timeout_s=args.body_timeout, limit_concurrency=args.limit_concurrency,
                http_protocol=args.http)


def uvicorn_options(settings) -> dict:
    """What uvicorn takes from the settings: timeouts, the connection limit, the read deadlines."""
    from ..server.read_deadline import protocol_class

    return dict(timeout_keep_alive=settings.timeout_keep_alive_s, limit_concurrency=settings.limit_concurrency,
                http=protocol_class(settings))


def _settings(args: argparse.Namespace):
    try:
        from ..server.settings import Settings
    except ImportError as exc:  # pragma: no cover - depends on the install
        sys.exit(f"seetrain server needs the server extra: pip install 'seetrain[server]' ({exc})")
    db = getattr(args, "keys_db", None) or args.db
    extra = http_settings(args) if hasattr(args, "allowed_hosts") else {}
    return Settings(db=db, blobs=args.blobs, api_key=getattr(args, "api_key", None), **extra)


def _engine(args: argparse.Namespace):
    from ..server.db import make_engine, upgrade

    engine = make_engine(_settings(args).db)
    upgrade(engine)
    return engine


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        import uvicorn

        from ..server.app import Store, create_app
        from ..server.auth import count_keys
        from ..server.settings import is_loopback
    except ImportError as exc:
        sys.exit(f"seetrain server needs the server extra: pip install 'seetrain[server]' ({exc})")
    if args.workers > 1 and settings.db.startswith("sqlite"):
        print("seetrain server: several workers on SQLite serialize their writes; use PostgreSQL for a team",
              file=sys.stderr)
    store = Store(settings)  # migrates once, before any worker starts
    if not is_loopback(args.host) and not settings.api_key and not count_keys(store.engine):
        sys.exit(f"seetrain server: refusing to serve {args.host} without an API key; pass --api-key "
                 "(or SEETRAIN_SERVER_API_KEY) or create keys with `seetrain server keys create`")
    auth = "open (loopback, no key ever created)" if store.auth.is_open() else "API keys"
    store.engine.dispose()
    print(f"SeeTrain server on http://{args.host}:{args.port} (db {_safe_url(settings.db)}, blobs {settings.blobs}, "
          f"auth {auth})", file=sys.stderr, flush=True)
    common = dict(host=args.host, port=args.port, log_level=args.log_level, access_log=False,
                  timeout_graceful_shutdown=3, **uvicorn_options(settings))
    if args.workers > 1:
        os.environ.update(settings.to_env())
        common["http"] = "seetrain.server.read_deadline:WorkerProtocol"  # a worker imports it by name
        return serve_until_interrupted(lambda: uvicorn.run("seetrain.server.app:app_from_env", factory=True,
                                                           workers=args.workers, **common), "seetrain server")
    app = create_app(settings)
    return serve_until_interrupted(lambda: uvicorn.run(app, **common), "seetrain server")


def serve_until_interrupted(serve: Callable[[], None], name: str) -> int:
    """Run ``serve`` (a uvicorn server, which closes itself on Ctrl-C); 0 when it ends by itself,
    ``INTERRUPTED`` after Ctrl-C, with one line on stderr instead of a traceback."""
    interrupted: List[int] = []

    def on_sigint(signum: int, frame: Any) -> None:  # uvicorn hands a caught Ctrl-C back to this handler
        interrupted.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        serve()
    except KeyboardInterrupt:
        interrupted.append(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        print(f"{name}: stopped (Ctrl-C)", file=sys.stderr)
        return INTERRUPTED
    return 0


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':')[0]}:***@{host}"
    return url


def _keys_create(args: argparse.Namespace) -> int:
    from ..server.auth import create_key

    key, kid = create_key(_engine(args), args.project, args.write, args.note)
    print(f"created key {kid} for project {args.project!r} ({'read+write' if args.write else 'read'}); "
          "it is shown only now:", file=sys.stderr)
    if args.json:
        from .output import emit

        emit("seetrain.server.keys.create/1", {"id": kid, "key": key, "project": args.project,
                                               "write": bool(args.write), "note": args.note})
        return 0
    print(key)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from ..server.auth import list_keys

    keys = list_keys(_engine(args))
    if args.json:
        from .output import emit

        emit("seetrain.server.keys.list/1", {"keys": [{"id": k["id"], "project": k["project"],
                                                       "write": bool(k["can_write"]), "note": k["note"],
                                                       "created": k["created"]} for k in keys]})
        return 0
    for k in keys:
        print(f"{k['id']}  {k['project']}  {'write' if k['can_write'] else 'read'}  {k['note']}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from ..server.auth import revoke_key

    revoked = revoke_key(_engine(args), args.key_id)
    if args.json:
        from .output import emit

        emit("seetrain.server.keys.revoke/1", {"id": args.key_id, "revoked": revoked})
    if not revoked:
        print(f"no key with id {args.key_id!r} (see `seetrain server keys list`)", file=sys.stderr)
        return 1
    return 0
