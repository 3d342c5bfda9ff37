"""``seetrain server``: run the SeeTrain server; ``seetrain server keys create|list|revoke``: API keys."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys


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
    rv.add_argument("key_id")
    rv.set_defaults(func=_keys_revoke)
    for q in (c, ls, rv):
        q.add_argument("--db", dest="keys_db", default=None, help="database (as for `seetrain server --db`)")


def _settings(args: argparse.Namespace):
    try:
        from ..server.settings import Settings
    except ImportError as exc:  # pragma: no cover - depends on the install
        sys.exit(f"seetrain server needs the server extra: pip install 'seetrain[server]' ({exc})")
    db = getattr(args, "keys_db", None) or args.db
    return Settings(db=db, blobs=args.blobs, api_key=getattr(args, "api_key", None))


def _engine(args: argparse.Namespace):
    from ..server.db import make_engine, upgrade

    engine = make_engine(_settings(args).db)
    upgrade(engine)
    return engine


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        import uvicorn

        from ..server.app import Store, create_app
    except ImportError as exc:
        sys.exit(f"seetrain server needs the server extra: pip install 'seetrain[server]' ({exc})")
    if args.workers > 1 and settings.db.startswith("sqlite"):
        print("seetrain server: several workers on SQLite serialize their writes; use PostgreSQL for a team",
              file=sys.stderr)
    store = Store(settings)  # migrates once, before any worker starts
    if not _is_loopback(args.host) and store.auth.is_open():
        sys.exit(f"seetrain server: refusing to serve {args.host} without an API key; pass --api-key "
                 "(or SEETRAIN_SERVER_API_KEY) or create keys with `seetrain server keys create`")
    store.engine.dispose()
    print(f"SeeTrain server on http://{args.host}:{args.port} (db {_safe_url(settings.db)}, blobs {settings.blobs}, "
          f"auth {'open' if store.auth.is_open() else 'API keys'})", file=sys.stderr, flush=True)
    common = dict(host=args.host, port=args.port, log_level=args.log_level, access_log=False,
                  timeout_graceful_shutdown=3)
    if args.workers > 1:
        os.environ["SEETRAIN_SERVER_DB"] = settings.db
        os.environ["SEETRAIN_SERVER_BLOBS"] = settings.blobs
        if settings.api_key:
            os.environ["SEETRAIN_SERVER_API_KEY"] = settings.api_key
        uvicorn.run("seetrain.server.app:app_from_env", factory=True, workers=args.workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)
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
    print(key)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from ..server.auth import list_keys

    for k in list_keys(_engine(args)):
        print(f"{k['id']}  {k['project']}  {'write' if k['can_write'] else 'read'}  {k['note']}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from ..server.auth import revoke_key

    if not revoke_key(_engine(args), args.key_id):
        print(f"no key with id {args.key_id!r} (see `seetrain server keys list`)", file=sys.stderr)
        return 1
    return 0
