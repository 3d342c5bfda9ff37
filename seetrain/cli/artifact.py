"""``seetrain artifact ls / get / alias / rm / gc``: artifacts of a log folder's local registry, or
of a server with ``--host`` (docs/artifacts.md)."""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import os
import sys
from typing import Any, Callable, Dict, List

from ..logdir import DEFAULT_LOGDIR_HELP, default_logdir
from .output import FAILED, OK, emit, table


def _where(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", default=None, help="the project (default: $SEETRAIN_PROJECT or 'default')")
    p.add_argument("--logdir", default=None, help=DEFAULT_LOGDIR_HELP)
    p.add_argument("--host", default=None, help="a SeeTrain server (http://HOST:PORT) instead of the log folder")
    p.add_argument("--api-key", default=None, help="the server's API key (default: $SEETRAIN_API_KEY)")
    p.add_argument("--json", action="store_true", help="one JSON document (schema seetrain.artifact.<command>/1)")


def register(sub: "argparse._SubParsersAction") -> None:
    art = sub.add_parser("artifact", help="versioned artifacts: ls, get, alias, rm, gc")
    cmds = art.add_subparsers(dest="artifact_command", required=True)
    ls = cmds.add_parser("ls", help="list the artifacts of a project, or the versions of one")
    ls.add_argument("name", nargs="?", default=None, help="an artifact name: list its versions")
    _where(ls)
    ls.set_defaults(func=cmd_ls)
    get = cmds.add_parser("get", help="put a version's files in a folder (hard links to the local store)")
    get.add_argument("ref", help="name:vN, name:alias or name (= name:latest)")
    get.add_argument("dest", nargs="?", default=None, help="the folder (default: under <logdir>/.artifacts/checkouts)")
    _where(get)
    get.set_defaults(func=cmd_get)
    al = cmds.add_parser("alias", help="point an alias at a version (taken from the version that held it)")
    al.add_argument("ref", help="the version: name:vN (or name:another-alias)")
    al.add_argument("alias", help="the alias, e.g. production")
    al.add_argument("--remove", action="store_true", help="remove the alias instead")
    _where(al)
    al.set_defaults(func=cmd_alias)
    rm = cmds.add_parser("rm", help="remove a version (its files go at gc unless another version holds them)")
    rm.add_argument("ref", help="name:vN or name:alias")
    _where(rm)
    rm.set_defaults(func=cmd_rm)
    gc = cmds.add_parser("gc", help="delete the local store's files that no version holds (servers: "
                                    "`seetrain server gc`)")
    gc.add_argument("--logdir", default=None, help=DEFAULT_LOGDIR_HELP)
    gc.add_argument("--grace", type=float, default=3600.0, help="spare files used within this many seconds")
    gc.add_argument("--json", action="store_true")
    gc.set_defaults(func=cmd_gc)


def _project(args: argparse.Namespace) -> str:
    return args.project or os.environ.get("SEETRAIN_PROJECT") or "default"


def _client(args: argparse.Namespace):
    from ..artifacts.remote import client_for

    return client_for(args.host, args.api_key) if args.host else None


def _with_client(command: Callable[[argparse.Namespace, Any], int]) -> Callable[[argparse.Namespace], int]:
    """``command(args, client)`` with the server's client (None over a log folder), closed after it;
    an artifact or server error becomes a one-line failure."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from ..artifacts.manifest import ArtifactError
        from ..transport import ServerError

        client = _client(args)
        try:
            return command(args, client)
        except (ArtifactError, ServerError) as exc:
            return _fail(str(exc))
        finally:
            if client is not None:
                client.close()

    return run


def _fail(message: str) -> int:
    print(f"seetrain artifact: {message}", file=sys.stderr)
    return FAILED


def _when(t: Any) -> str:
    try:
        return _dt.datetime.fromtimestamp(float(t)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError, OSError, OverflowError):
        return "-"


def _size(n: Any) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _versions_local(args: argparse.Namespace, project: str, name: str) -> List[Dict[str, Any]]:
    from ..artifacts.registry import Registry

    return [dict(v.to_dict(), n_files=len(v.manifest.files) + len(v.manifest.refs))
            for v in reversed(Registry(default_logdir(args.logdir)).versions(project, name))]


@_with_client
def cmd_ls(args: argparse.Namespace, client: Any) -> int:
    from ..artifacts.remote import q

    project = _project(args)
    if args.name is None:
        if client is not None:
            arts = client.call("GET", f"/api/v1/projects/{q(project)}/artifacts")["artifacts"]
        else:
            from ..artifacts.registry import Registry

            reg = Registry(default_logdir(args.logdir))
            arts = []
            for n in reg.names(project):
                vs = reg.versions(project, n)
                if vs:
                    arts.append({"name": n, "type": vs[-1].type, "versions": len(vs), "latest": f"v{vs[-1].version}",
                                 "size": vs[-1].size, "updated": vs[-1].created})
        if args.json:
            emit("seetrain.artifact.ls/1", {"project": project, "artifacts": arts})
        elif not arts:
            print(f"project {project!r} has no artifacts")
        else:
            print(table([[a["name"], a["type"], str(a["versions"]), a["latest"] or "-", _size(a["size"]),
                          _when(a["updated"])] for a in arts],
                        ["name", "type", "versions", "latest", "size (latest)", "updated"]))
        return OK
    if client is not None:
        versions = client.call("GET", f"/api/v1/projects/{q(project)}/artifacts/{q(args.name)}")["versions"]
    else:
        versions = _versions_local(args, project, args.name)
        if not versions:
            return _fail(f"project {project!r} has no artifact named {args.name!r}")
    if args.json:
        emit("seetrain.artifact.ls/1", {"project": project, "name": args.name, "versions": versions})
    else:
        print(table([[f"{args.name}:v{v['version']}" + (" (removed)" if v.get("deleted") else ""),
                      ", ".join(v.get("aliases") or []) or "-", str(v.get("n_files", "-")), _size(v["size"]),
                      v["digest"][:12], _when(v["created"])] for v in versions],
                    ["version", "aliases", "files", "size", "digest", "created"]))
    return OK


def cmd_get(args: argparse.Namespace) -> int:
    from ..artifacts.api import use_version
    from ..artifacts.manifest import ArtifactError

    try:
        v = use_version(default_logdir(args.logdir), _project(args), args.ref, root=args.dest, host=args.host,
                        api_key=args.api_key)
    except ArtifactError as exc:
        return _fail(str(exc))
    if args.json:
        emit("seetrain.artifact.get/1", {"version": v.to_dict(), "path": v.path})
    else:
        print(f"{v.ref} ({len(v.manifest.files)} files, {_size(v.size)}) -> {v.path}")
        for r in v.manifest.refs:
            print(f"  reference {r.path}: {r.uri} (not downloaded)")
    return OK


@_with_client
def cmd_alias(args: argparse.Namespace, client: Any) -> int:
    from ..artifacts.manifest import parse_ref
    from ..artifacts.registry import Registry

    project = _project(args)
    ref = parse_ref(args.ref)
    version = None
    if client is not None:
        from ..artifacts.remote import q

        base = f"/api/v1/projects/{q(project)}/artifacts/{q(ref.name)}/aliases/{q(args.alias)}"
        if args.remove:
            client.call("DELETE", base)
        else:
            import orjson

            version = client.call("PUT", base, orjson.dumps({"version": str(ref).split(":", 1)[1]}))["version"]
    else:
        reg = Registry(default_logdir(args.logdir))
        if args.remove:
            if not reg.remove_alias(project, ref.name, args.alias):
                return _fail(f"artifact {ref.name} has no alias {args.alias!r}")
        else:
            version = reg.resolve(project, ref).version
            reg.set_alias(project, ref.name, args.alias, version)
    if args.json:
        emit("seetrain.artifact.alias/1", {"name": ref.name, "alias": args.alias, "version": version,
                                           "removed": bool(args.remove)})
    elif args.remove:
        print(f"removed alias {ref.name}:{args.alias}")
    else:
        print(f"{ref.name}:{args.alias} -> v{version}")
    return OK


@_with_client
def cmd_rm(args: argparse.Namespace, client: Any) -> int:
    from ..artifacts.manifest import parse_ref
    from ..artifacts.registry import Registry

    project = _project(args)
    ref = parse_ref(args.ref)
    if client is not None:
        from ..artifacts.remote import q

        version = client.call("DELETE", f"/api/v1/projects/{q(project)}/artifacts/{q(ref.name)}/"
                                        f"{q(str(ref).split(':', 1)[1])}")["version"]
        gc = "seetrain server gc"
    else:
        reg = Registry(default_logdir(args.logdir))
        version = reg.resolve(project, ref).version
        reg.remove(project, ref.name, version)
        gc = "seetrain artifact gc"
    if args.json:
        emit("seetrain.artifact.rm/1", {"name": ref.name, "version": version, "removed": True})
    else:
        print(f"removed {ref.name}:v{version} (its files go at the next `{gc}` unless another version holds them)")
    return OK


def cmd_gc(args: argparse.Namespace) -> int:
    from ..artifacts.registry import Registry

    reg = Registry(default_logdir(args.logdir))
    freed = reg.store.remove_unreferenced(reg.referenced_shas(), args.grace)
    if args.json:
        emit("seetrain.artifact.gc/1", {"freed_bytes": freed})
    else:
        print(f"freed {_size(freed)} from {reg.store.root}")
    return OK
