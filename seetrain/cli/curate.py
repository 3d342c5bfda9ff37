"""``seetrain tag / note / rename / archive / rm / restore``: curate runs in a log folder (edits in
its sidecar, deleted runs in its trash: :mod:`seetrain.rundir.edits`) or on a server (``--server
URL``, the REST routes of docs/server-api.md); and ``seetrain server gc``.

``seetrain tag RUN +a -b c`` adds a and c and removes b; ``seetrain rm RUN`` moves the run to the
trash (``--purge``: deletes it, and on a server frees the blobs nothing else references).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

import orjson

from ..logdir import DEFAULT_LOGDIR_HELP, default_logdir

_UUID = re.compile(r"^[0-9a-f]{32}$")


def _fail(msg: str) -> int:
    print(f"seetrain: {msg}", file=sys.stderr)
    return 1


# --- a server ------------------------------------------------------------------------------------
class Remote:
    """The curation routes of a server, spoken to over HTTP."""

    def __init__(self, url: str, key: Optional[str]) -> None:
        self.url, self.key = url.rstrip("/"), key

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Tuple[int, Any]:
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = f"Bearer {self.key}"
        req = urllib.request.Request(f"{self.url}/api/v1{path}", method=method, headers=h,
                                     data=orjson.dumps(body) if body is not None else
                                     (b"{}" if method != "GET" else None))
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, orjson.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, orjson.loads(raw)
            except ValueError:
                return e.code, {"detail": raw[:300].decode(errors="replace")}

    def resolve(self, run: str) -> str:
        """The uuid of the run ``run`` names (a uuid, an id, or project/id)."""
        if _UUID.match(run):
            return run
        project, _, rid = run.rpartition("/")
        q = {"q": rid, "state": "all", "limit": "1000", **({"project": project} if project else {})}
        status, body = self.call("GET", "/runs?" + urllib.parse.urlencode(q))
        if status != 200:
            raise SystemExit(f"seetrain: {self.url}: {status} {body.get('detail') if isinstance(body, dict) else body}")
        found = [r for r in body["runs"] if r["id"] == rid] or [r for r in body["runs"] if r["name"] == rid]
        if len(found) != 1:
            raise SystemExit(f"seetrain: {len(found)} runs on {self.url} match {run!r}; give the run's uuid "
                             "(or project/id)")
        return found[0]["uuid"]


def _remote(args: argparse.Namespace, method: str, path_of, body: Optional[Dict[str, Any]] = None) -> int:
    r = Remote(args.server, args.api_key)
    uuid = r.resolve(args.run)
    status, answer = r.call(method, path_of(uuid), body)
    if status >= 400:
        return _fail(f"{args.server}: {status}: {answer.get('detail') if isinstance(answer, dict) else answer}")
    if args.func is cmd_rm:
        _report_rm(args, answer)
    else:
        _report(args, answer)
    return 0


RUN_EDIT, RM = "seetrain.run_edit/1", "seetrain.rm/1"  # the --json documents (cli/json_schemas.py)


def _report_rm(args: argparse.Namespace, answer: Dict[str, Any]) -> None:
    purged = bool(answer.get("purged"))
    doc = {"uuid": answer.get("uuid"), "deleted": purged or bool(answer.get("deleted")), "purged": purged,
           "path": answer.get("path"), "blobs_freed": answer.get("blobs_freed"),
           "bytes_freed": answer.get("bytes_freed")}
    if getattr(args, "json", False):
        from .output import emit

        emit(RM, doc)
    elif purged:
        print(f"purged {doc['uuid']}" + (f"; {doc['blobs_freed']} blobs ({doc['bytes_freed']} bytes) freed"
                                         if doc["blobs_freed"] is not None else ""))
    elif doc["path"]:
        print(f"moved the run to {doc['path']}; `seetrain restore {args.run}` brings it back, "
              f"`seetrain rm {args.run} --purge` deletes it")
    else:
        print(f"deleted {doc['uuid']} (restorable: `seetrain restore {args.run} --server URL`)")


def _report(args: argparse.Namespace, answer: Dict[str, Any]) -> None:
    if getattr(args, "json", False):
        from .output import emit

        emit(RUN_EDIT, {k: answer.get(k) for k in ("uuid", "project", "id", "name", "tags", "notes", "archived",
                                                  "deleted", "path")})
        return
    state = "deleted" if answer.get("deleted") else ("archived" if answer.get("archived") else "active")
    print(f"{answer.get('project')}/{answer.get('id')}  name={answer.get('name')!r}  tags={answer.get('tags')}  "
          f"{state}" + (f"  notes={len(answer.get('notes') or '')} chars" if answer.get("notes") else ""))


def push_edits(host: str, api_key: Optional[str], run_dir: str, uuid: Optional[str],
               pushed: Dict[str, Tuple[int, int]]) -> Optional[str]:
    """``seetrain sync``: send the run's log-folder edits (name, tags, notes, archived) to the server
    once per change of its sidecar (``pushed`` remembers what was sent); a problem, said in words, or None.
    A local delete is not sent: removing a run from a server takes ``seetrain rm RUN --server URL``."""
    from ..rundir import edits

    if not uuid:
        return None
    logdir = edits.logdir_of(run_dir)
    try:
        st = os.stat(edits.edits_path(logdir, uuid))
    except (OSError, ValueError):
        return None
    sig = (st.st_mtime_ns, st.st_size)
    if pushed.get(uuid) == sig:
        return None
    d = edits.load(logdir, uuid)
    body: Dict[str, Any] = {k: d[k] for k in ("name", "tags", "notes") if d.get(k) is not None}
    if "archived" in d:
        body["archived"] = bool(d["archived"])
    if not body:
        return None
    status, answer = Remote(host, api_key).call("PATCH", f"/runs/{uuid}", body)
    if status >= 400:
        return f"its edits were not sent ({status}: {answer.get('detail') if isinstance(answer, dict) else answer})"
    pushed[uuid] = sig
    return None


# --- a log folder --------------------------------------------------------------------------------
def _local_run(args: argparse.Namespace, trash: bool = False):
    """The RunReader ``args.run`` names in the log folder (``trash``: among the deleted runs too)."""
    from ..rundir import edits
    from ..rundir.reader import RunReader
    from .runs import _matches, _resolve

    if not trash:
        return _resolve(args.run, args.logdir)
    readers = []
    for p in edits.trashed_runs(default_logdir(args.logdir)):
        try:
            readers.append(RunReader(p))
        except (OSError, ValueError):
            continue
    found = _matches(args.run, readers)
    if len(found) != 1:
        raise SystemExit(f"seetrain: {len(found)} deleted runs under {default_logdir(args.logdir)} match "
                         f"{args.run!r} (see `seetrain ls --deleted`)")
    return found[0]


def _local_answer(r) -> Dict[str, Any]:
    m = r.meta
    return {"uuid": r.uuid, "project": r.project, "id": r.id, "name": r.name, "tags": m.get("tags") or [],
            "notes": m.get("notes") or "", "archived": m.get("archived"), "deleted": m.get("deleted"),
            "path": r.path}


def _local_save(args: argparse.Namespace, changes: Dict[str, Any]) -> int:
    from ..rundir import edits
    from ..rundir.reader import RunReader

    r = _local_run(args)
    if not r.uuid:
        return _fail(f"{r.path} has no uuid (written before format 2): it cannot carry edits")
    try:
        edits.save(edits.logdir_of(r.path), r.uuid, changes(r) if callable(changes) else changes)
    except OSError as exc:
        return _fail(f"cannot keep the edit beside {r.path}: {exc}")
    _report(args, _local_answer(RunReader(r.path)))
    return 0


# --- the commands --------------------------------------------------------------------------------
def parse_tag_ops(ops: List[str]) -> Tuple[List[str], List[str]]:
    """``+a -b c`` -> (add [a, c], remove [b])."""
    add, remove = [], []
    for op in ops:
        if op.startswith("-"):
            remove.append(op[1:])
        else:
            add.append(op[1:] if op.startswith("+") else op)
    if any(not t.strip() for t in add + remove):
        raise SystemExit("seetrain tag: an empty tag; write +TAG to add, -TAG to remove")
    return add, remove


def cmd_tag(args: argparse.Namespace, rest: List[str]) -> int:
    wrong = [a for a in rest if a.startswith("--")]
    if wrong:
        return _fail(f"seetrain tag: unknown option {wrong[0]}; write +TAG to add, -TAG to remove")
    add, remove = parse_tag_ops(args.ops + rest)  # -TAG reaches here unparsed (argparse reads it as an option)
    if args.server:
        return _remote(args, "PATCH", lambda u: f"/runs/{u}", {"add_tags": add, "remove_tags": remove})

    def changes(r) -> Dict[str, Any]:
        tags = [t for t in list(r.meta.get("tags") or []) + [t for t in add if t not in (r.meta.get("tags") or [])]
                if t not in remove]
        return {"tags": list(dict.fromkeys(tags))}
    return _local_save(args, changes)


def cmd_note(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    if args.server:
        return _remote(args, "PATCH", lambda u: f"/runs/{u}", {"notes": text})
    return _local_save(args, {"notes": text})


def cmd_rename(args: argparse.Namespace) -> int:
    if not args.name.strip():
        return _fail("a run's name cannot be empty")
    if args.server:
        return _remote(args, "PATCH", lambda u: f"/runs/{u}", {"name": args.name.strip()})
    return _local_save(args, {"name": args.name.strip()})


def cmd_archive(args: argparse.Namespace) -> int:
    if args.server:
        return _remote(args, "PATCH", lambda u: f"/runs/{u}", {"archived": not args.undo})
    import time

    return _local_save(args, {"archived": None if args.undo else time.time()})


def cmd_rm(args: argparse.Namespace) -> int:
    if args.server:
        return _remote(args, "DELETE", lambda u: f"/runs/{u}" + ("?purge=true" if args.purge else ""))
    from ..rundir import edits

    try:
        r = _local_run(args)
    except SystemExit:
        if not args.purge:
            raise
        r = _local_run(args, trash=True)  # purging a run that is in the trash already
    if r.alive and not args.force:
        return _fail(f"{r.path} is still running (pid {r.meta.get('pid')}); stop it first, or pass --force")
    try:
        if args.purge:
            edits.purge(r.path, r.uuid)
            _report_rm(args, {"uuid": r.uuid, "purged": True})
            return 0
        _report_rm(args, {"uuid": r.uuid, "deleted": True, "path": edits.move_to_trash(r.path, r.uuid)})
    except OSError as exc:
        return _fail(f"cannot delete {r.path}: {exc}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    if args.server:
        return _remote(args, "POST", lambda u: f"/runs/{u}/restore")
    from ..rundir import edits
    from ..rundir.reader import RunReader

    r = _local_run(args, trash=True)
    try:
        dest = edits.restore_from_trash(r.path, r.uuid)
    except OSError as exc:
        return _fail(f"cannot restore {r.path}: {exc}")
    _report(args, _local_answer(RunReader(dest)))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    try:
        from ..server.deps import Store
        from ..server.gc import collect
        from ..server.settings import Settings
    except ImportError as exc:  # pragma: no cover - depends on the install
        sys.exit(f"seetrain server gc needs the server extra: pip install 'seetrain[server]' ({exc})")

    store = Store(Settings(db=args.keys_db or args.db, blobs=args.gc_blobs or args.blobs))
    rep = collect(store, dry_run=not args.yes)
    if args.json:
        from .output import emit

        emit("seetrain.server.gc/1", rep._asdict())
        return 0
    verb = "deleted" if args.yes else "would delete"
    print(f"{rep.examined} blobs ({rep.examined_bytes} bytes) examined; {verb} {rep.collected} unreferenced "
          f"({rep.collected_bytes} bytes); {rep.leased} kept for uploads in progress")
    if not args.yes and rep.collected:
        print("dry run: nothing deleted; run again with --yes to delete them")
    return 0


def add_gc_command(server_sub: "argparse._SubParsersAction") -> None:
    """``seetrain server gc`` (called by :mod:`.server` when it builds ``seetrain server``)."""
    g = server_sub.add_parser("gc", help="remove blobs no run or artifact references (dry run unless --yes)",
                              description="Lists (and with --yes deletes) the blobs of the blob store that no run "
                                          "or artifact references. Safe while the server runs: a blob being "
                                          "uploaded is never collected.")
    g.add_argument("--db", dest="keys_db", default=None, help="database (as for `seetrain server --db`)")
    g.add_argument("--blobs", dest="gc_blobs", default=None, help="blob store (as for `seetrain server --blobs`)")
    g.add_argument("--yes", action="store_true", help="delete (default: a dry run that only counts)")
    g.add_argument("--dry-run", action="store_false", dest="yes", help="only count (the default)")
    g.add_argument("--json", action="store_true", help="one JSON document")
    g.set_defaults(func=cmd_gc)


def register(sub: "argparse._SubParsersAction") -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("run", help="run id, project/id, uuid, name or run directory")
        p.add_argument("--logdir", default=None, help=f"log folder (default {DEFAULT_LOGDIR_HELP})")
        p.add_argument("--server", default=None, metavar="URL", help="act on a server's run instead")
        p.add_argument("--api-key", default=os.environ.get("SEETRAIN_API_KEY"),
                       help="API key with write access (or SEETRAIN_API_KEY)")
        p.add_argument("--json", action="store_true", help="the run after the change as one JSON document")

    t = sub.add_parser("tag", help="add (+TAG or TAG) and remove (-TAG) a run's tags")
    common(t)
    t.add_argument("ops", nargs="*", metavar="[+|-]TAG")
    t.set_defaults(func=cmd_tag, passthrough=True)
    n = sub.add_parser("note", help="set a run's notes ('-' reads them from stdin)")
    common(n)
    n.add_argument("text")
    n.set_defaults(func=cmd_note)
    rn = sub.add_parser("rename", help="set a run's display name")
    common(rn)
    rn.add_argument("name")
    rn.set_defaults(func=cmd_rename)
    a = sub.add_parser("archive", help="archive a run (hidden from lists unless asked for)")
    common(a)
    a.add_argument("--undo", action="store_true", help="unarchive")
    a.set_defaults(func=cmd_archive)
    rm = sub.add_parser("rm", help="delete a run: to the trash (restorable), or --purge for good")
    common(rm)
    rm.add_argument("--purge", action="store_true", help="delete for good (a server also frees its blobs)")
    rm.add_argument("--force", action="store_true", help="even while its process is running")
    rm.set_defaults(func=cmd_rm)
    rs = sub.add_parser("restore", help="bring back a deleted run")
    common(rs)
    rs.set_defaults(func=cmd_restore)
