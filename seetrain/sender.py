"""Ships a run directory to a SeeTrain server: the follower's HTTP sink, used by the online-mode
sender thread and by ``seetrain sync``.

The run directory is the source of truth. :class:`RunSync` follows it with the one follower
(:mod:`seetrain.rundir.follow`) from a cursor kept in ``<run>/.sync/<host-hash>.json`` and posts
the lines it read as they are (``{"records": [line, line, ...]}``: no decode, no re-encode); it
decodes a batch only to find the media it references (uploaded first, content-addressed by
sha256) or when the server refused it. The cursor advances only after the server acknowledged a
batch; the server stores by (run uuid, seq), so anything re-sent after a crash or a lost answer is
stored once. A record the server refuses for its content is left out (the rest of the run is
sent) and reported. HTTP goes through :mod:`seetrain.transport` (standard library only).
Failures: tenacity retries with exponential backoff and jitter, honouring ``Retry-After`` on
429/503; a circuit breaker stops calls while the server is down; one warning when it becomes
unreachable and one when it is back. Nothing here ever runs on the training loop's thread.
"""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.parse
import warnings
from typing import Any, Callable, Dict, List, Optional

import orjson

from . import resilience
from .rundir.files import writer_logs
from .rundir.follow import Batch, Cursor, Follower, Refused, StartOver, primary_meta
from .rundir.format import PRIMARY_WRITER, WRITER_META, WRITERS_DIR
from .rundir.format import TAGGED_FIELD, has_non_finite, media_refs, ref_paths, run_uuid, tag_values
from .rundir.safe_open import LinkRefused, read_in_run
from .thread_imports import importing
from .transport import Client, ServerError, Transient

__all__ = ["Client", "OnlineSender", "RecordsRefused", "RunSync", "ServerError", "Transient", "WriterSync", "run_uuid",
           "wire"]

REFUSED_STATUSES = frozenset((400, 413, 422))
_ARTIFACT_MARK = b'"event":"artifact"'  # a batch that may name artifact versions (seetrain.artifacts.remote.MARK)  # the server refuses what a batch holds: a smaller one may pass


class RecordsRefused(ServerError):
    """The server refused some records for their content: they were left out, the rest was sent
    (syncing again will not change the server's answer)."""


def wire(records: List[Dict[str, Any]]) -> bytes:
    """The ``{"records": [...]}`` body of decoded records; non-finite floats go back to their tags."""
    body = orjson.dumps({"records": records})
    if b"null" not in body:
        return body
    out = []
    for r in records:
        field = TAGGED_FIELD.get(r.get("type"))
        vals = r.get(field) if field else None
        if vals and type(vals) is dict and has_non_finite(vals):
            r = {**r, field: tag_values(vals)}
        out.append(r)
    return orjson.dumps({"records": out})


class RunSync:
    """The HTTP sink: sends one run directory to one server from its saved cursor (used by both the
    online sender and ``seetrain sync``). ``pump()`` sends one batch; ``drain()`` everything there is now.

    A shared run (format 3): the primary's log goes as today, and every other writer's log
    (``writers/<label>/``) through a :class:`WriterSync` of its own (its cursor in
    ``.sync/<host-hash>@<label>.json``), found anew on each pump. ``writer`` picks what this sync
    ships: None every log of the directory (``seetrain sync``); a label (``""`` the primary) that
    writer's log and its forked children's (``<label>-fork<pid>``): an online-mode process ships
    its own. A directory whose run.json is another node's minimal one (:func:`primary_meta`) ships
    its writers' logs only."""

    label = PRIMARY_WRITER  # the writer whose log this sink sends

    def __init__(self, run_dir: str, client: Client, batch_records: int = 5000, batch_bytes: int = 8 << 20,
                 report: Optional[Callable[[str], None]] = None, writer: Optional[str] = None) -> None:
        self.run_dir, self.client = os.path.abspath(run_dir), client
        self.report = report or warn  # how a media file that is not sent is told (once per path)
        self.refused: Dict[str, str] = {}  # media path -> why it was not sent (a link, a special file)
        host_hash = hashlib.sha256(client.base.encode()).hexdigest()[:16]
        self.cursor_path = os.path.join(self.run_dir, ".sync", f"{host_hash}{'@' + self.label if self.label else ''}.json")
        self.cursor = self._load_cursor()
        folder, meta_name = self.run_dir, "run.json"
        if self.label:
            folder, meta_name = os.path.join(self.run_dir, WRITERS_DIR, self.label), WRITER_META
        self.follower = Follower(folder, self, self.cursor, batch_records, batch_bytes, meta_name=meta_name)
        self._sent_media: set = set()
        self._opened = False
        self.last_refusal: Optional[ServerError] = None  # the server's answer to the last record it refused
        self.uuid: Optional[str] = None
        self.only = writer
        self._batch = (batch_records, batch_bytes)
        self.writers: Dict[str, "WriterSync"] = {}  # label -> the sync of that writer's log
        self._primary_here: Optional[bool] = None   # known once run.json was read as the primary's

    # --- cursor: <run>/.sync/<host-hash>.json ----------------------------------------------------
    def _load_cursor(self) -> Cursor:
        try:
            saved = orjson.loads(read_in_run(self.run_dir, os.path.relpath(self.cursor_path, self.run_dir)))
        except (OSError, orjson.JSONDecodeError):
            saved = None
        cur = Cursor.from_dict(saved)
        cur.extra.setdefault("host", self.client.base)
        cur.extra.setdefault("finished", None)
        return cur

    def _save_cursor(self) -> None:
        try:
            os.makedirs(os.path.dirname(self.cursor_path), exist_ok=True)
            if os.path.islink(os.path.dirname(self.cursor_path)):
                return  # never write through a link: the cursor lives in memory
            tmp = f"{self.cursor_path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(self.cursor.to_dict()))
            os.replace(tmp, self.cursor_path)
        except OSError:
            pass  # a read-only run directory: the cursor lives in memory; the server dedups re-sends

    # --- the Sink of the follower ------------------------------------------------------------------
    def open_run(self, meta: Dict[str, Any], uuid: str) -> bool:
        """PUT run.json (it changed: heartbeat, status, summary). True on the first PUT when the
        server holds nothing of the run (a new or wiped server at the same address): all is sent again."""
        self.uuid = uuid
        answer = self.client.call("PUT", f"/api/v1/runs/{uuid}",
                                  orjson.dumps(dict(meta, uuid=uuid), option=orjson.OPT_NON_STR_KEYS))
        first, self._opened = not self._opened, True
        if first and isinstance(answer, dict) and answer.get("last_seq") == -1 and self.cursor.offset > 0:
            self.cursor.extra["finished"] = None
            return True
        return False

    def send_batch(self, batch: Batch) -> int:
        """The lines as read, in one body (media they reference uploaded first)."""
        if batch.may_hold_media():
            self._upload_media(batch.records())
        if _ARTIFACT_MARK in batch.block:
            self._upload_artifacts(batch.records())
        return self._post(self._records_body(batch.json_array()))

    def send_records(self, records: List[Dict[str, Any]]) -> int:
        self._upload_media(records)
        self._upload_artifacts(records)
        return self._post(self._records_body(wire(records)[len(b'{"records":'):-1]))

    def _records_body(self, array: bytes) -> bytes:
        """The body of a batch whose records are the JSON ``array`` (of the primary: no writer named)."""
        return b'{"records":' + array + b"}"

    def _upload_artifacts(self, records: List[Dict[str, Any]]) -> None:
        """The files of the artifact versions the records name, from the log folder's store, before
        the records (the server refuses a version whose files it lacks: never half a version)."""
        with importing():  # the sender's thread: a fork waits for these first imports
            from .artifacts.remote import upload_blobs
            from .artifacts.store import open_local

        upload_blobs(self.client, open_local(os.path.dirname(os.path.dirname(self.run_dir))), records,
                     self.cursor.extra.get("project") or os.path.basename(os.path.dirname(self.run_dir)))

    def _post(self, body: bytes) -> int:
        try:
            answer = self.client.call("POST", f"/api/v1/runs/{self.uuid}/records", body)
        except ServerError as exc:
            if exc.status == 404:  # the server lost the run (a wiped database): create it again, send it all
                self.cursor.extra["finished"] = None
                self._opened = False
                raise StartOver() from exc
            if exc.status in REFUSED_STATUSES and not exc.transient:
                self.last_refusal = exc
                raise Refused(exc.detail, exc.status) from exc
            raise
        return answer.get("last_seq", -1) if isinstance(answer, dict) else -1

    def _upload_media(self, records: List[Dict[str, Any]]) -> None:
        for r in records:
            if r.get("type") != "metrics":
                continue
            for v in (r.get("data") or {}).values():
                for path in (p for ref in media_refs(v) or () for p in ref_paths(ref)):  # a table's cells too
                    if not isinstance(path, str) or not path or path in self._sent_media or path in self.refused:
                        continue
                    try:  # no link is followed: a media file linking outside the run is never read
                        data = read_in_run(self.run_dir, path)
                    except LinkRefused as exc:
                        self.refused[path] = str(exc)
                        self.report(f"seetrain: {exc}. It was not uploaded; the records of {self.run_dir} "
                                    "are sent without it")
                        continue
                    except OSError:
                        continue  # missing file: the record still goes; the media listing shows no url
                    sha = hashlib.sha256(data).hexdigest()
                    self.client.call("PUT", f"/api/v1/runs/{self.uuid}/media/{urllib.parse.quote(path)}", data,
                                     {"X-Content-SHA256": sha, "Content-Type": "application/octet-stream"})
                    self._sent_media.add(path)

    # --- steps -------------------------------------------------------------------------------------
    def push_meta(self, force: bool = False) -> Dict[str, Any]:
        """PUT run.json (and the other writers' writer.json) when it changed since the last PUT;
        returns run.json (``{}`` when this sync ships other writers' logs only)."""
        meta = self.follower.sync_meta(force) if self._ships_own() else {}
        for ws in list(self.writers.values()):
            ws.push_meta(force)
        return meta

    def pump(self) -> int:
        """Send the next batch of each log shipped; returns the lines the server acknowledged (0: nothing new)."""
        n = 0
        if self._ships_own():
            n = self.follower.step()
            if n:
                self.cursor.extra["uuid"] = self.uuid  # kept for older readers of the cursor file
                self._save_cursor()
        for ws in self._writer_syncs():
            n += ws.pump()
            self.uuid = self.uuid or ws.uuid
        return n

    def _ships_own(self) -> bool:
        """Whether this sync sends the primary's log: not when it ships another writer's only, nor
        from another node's minimal run.json (read again until it is the primary's)."""
        if self.only not in (None, PRIMARY_WRITER):
            return False
        if not self._primary_here:
            try:
                self._primary_here = primary_meta(self.follower.read_meta())
            except (OSError, ValueError):
                return True  # the follower says what is wrong with run.json
        return bool(self._primary_here)

    def _writer_syncs(self) -> List["WriterSync"]:
        """The syncs of the other writers' logs this sync ships (new ones found on each call)."""
        for log in writer_logs(self.run_dir):
            if log.label and log.label not in self.writers and self._wanted(log.label):
                self.writers[log.label] = WriterSync(self.run_dir, self.client, log.label, *self._batch,
                                                     report=self.report)
        return list(self.writers.values())

    def _wanted(self, label: str) -> bool:
        if self.only is None:
            return True
        mine = self.only or (self.follower.meta or {}).get("writer") or ""
        return bool(mine) and (label == mine or label.startswith(mine + "-fork"))

    def pending_bytes(self) -> int:
        try:
            own = max(0, os.path.getsize(self.follower._records) - self.cursor.offset) if self._ships_own() else 0
        except OSError:
            own = 0
        return own + sum(ws.pending_bytes() for ws in self.writers.values())

    def finish_if_ended(self) -> bool:
        """When run.json says the run ended, send its metadata and the finish call (once). Shipping
        other writers' logs only: True when each of them ended (their writer.json says how)."""
        if not self._ships_own():
            ended = [ws.finish_if_ended() for ws in self._writer_syncs()]
            return bool(ended) and all(ended)
        meta = self.push_meta()
        status = meta.get("status")
        if status in (None, "running"):
            return False
        mark = [status, meta.get("end_time")]
        if self.cursor.extra.get("finished") != mark:
            self.client.call("POST", f"/api/v1/runs/{self.uuid}/finish", orjson.dumps(
                {"status": status, "exit_code": meta.get("exit_code"), "end_time": meta.get("end_time"),
                 "summary": meta.get("summary") or {}}, option=orjson.OPT_NON_STR_KEYS))
            self.cursor.extra["finished"] = mark
            self._save_cursor()
        return True

    def drain(self) -> int:
        """Everything written so far, then the finish when the run has ended; returns lines sent.
        Raises the server's :class:`ServerError` after the rest was sent when it refused some record."""
        total, rejected = 0, {ws.label: ws.cursor.rejected for ws in [self, *self.writers.values()]}
        while True:
            n = self.pump()
            if n == 0:
                break
            total += n
        self.push_meta()
        self.finish_if_ended()
        for ws in [self, *self.writers.values()]:
            before = rejected.get(ws.label, 0)
            if ws.cursor.rejected > before and ws.last_refusal is not None:
                exc, whose = ws.last_refusal, f" (writer {ws.label})" if ws.label else ""
                raise RecordsRefused(exc.status, f"{ws.cursor.rejected - before} record(s) of {self.run_dir}{whose} "
                                                 f"refused and left out ({ws.cursor.rejected_reason}); the rest was sent")
        return total


class WriterSync(RunSync):
    """The HTTP sink of one other writer's log of a shared run (``writers/<label>/``): its
    writer.json goes to ``PUT /runs/{uuid}/writers/{label}`` (with the run's project and id, so
    the run is made when this machine syncs first), its records name their writer."""

    def __init__(self, run_dir: str, client: Client, label: str, batch_records: int = 5000,
                 batch_bytes: int = 8 << 20, report: Optional[Callable[[str], None]] = None) -> None:
        self.label = label
        super().__init__(run_dir, client, batch_records, batch_bytes, report, writer=label)
        self._prefix = b'{"writer":' + orjson.dumps(label) + b',"records":'

    def _ships_own(self) -> bool:
        return True

    def _writer_syncs(self) -> List["WriterSync"]:
        return []

    def _records_body(self, array: bytes) -> bytes:
        return self._prefix + array + b"}"

    def open_run(self, meta: Dict[str, Any], uuid: str) -> bool:
        """PUT writer.json (it changed: heartbeat, status). True on the first PUT when the server
        holds nothing of this writer's records while the cursor says some were sent: all go again."""
        self.uuid = uuid
        body = dict(meta, uuid=uuid, run=self._run_fields(meta))
        answer = self.client.call("PUT", f"/api/v1/runs/{uuid}/writers/{self.label}",
                                  orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS))
        first, self._opened = not self._opened, True
        return bool(first and isinstance(answer, dict) and answer.get("last_seq") == -1 and self.cursor.offset > 0)

    def _run_fields(self, meta: Dict[str, Any]) -> Dict[str, Any]:
        """What makes the run on a server that has none of it yet: the directory's run.json's
        project, id, name and start (the writer's own project and id when run.json is unreadable)."""
        try:
            run_meta = orjson.loads(read_in_run(self.run_dir, "run.json"))
        except (OSError, orjson.JSONDecodeError):
            run_meta = {}
        run_meta = run_meta if isinstance(run_meta, dict) else {}
        out = {k: run_meta.get(k, meta.get(k)) for k in ("project", "id", "start_time")}
        if primary_meta(run_meta) and run_meta.get("name"):
            out["name"] = run_meta["name"]
        return out

    def finish_if_ended(self) -> bool:
        """Whether writer.json says this writer ended (sent with it: the server combines the statuses)."""
        return self.follower.sync_meta().get("status") not in (None, "running")


def warn(message: str) -> None:
    """A warning from a background thread that can never kill it (``-W error`` included)."""
    try:
        from .errors import SeeTrainWarning

        warnings.warn(message, SeeTrainWarning, stacklevel=2)
    except Exception:  # noqa: BLE001 - a warning turned into an error must not end the sender
        pass
class OnlineSender:
    """The online-mode sender: a daemon thread that follows the run directory and uploads it.

    ``start()`` returns at once (no network on the caller's thread); ``finish(timeout)`` waits up to
    ``timeout`` seconds for the rest, then leaves it to ``seetrain sync`` and says so."""

    def __init__(self, run_dir: str, host: str, api_key: Optional[str] = None, poll_s: float = 0.25,
                 recovery_s: float = 5.0, writer: Optional[str] = None) -> None:
        """``writer``: in a shared run, this process's writer label (``""`` the primary): it ships its
        own log (and its forked children's), each process of the run its own; None: the whole directory."""
        self.run_dir, self.host, self.poll_s = run_dir, host, poll_s
        self.client = Client(host, api_key)
        self.sync = RunSync(run_dir, self.client, writer=writer)
        self.breaker = resilience.CircuitBreaker(failure_threshold=1, recovery_timeout=recovery_s,
                                                 exceptions=(Transient,), name=f"seetrain server {host}")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._done = threading.Event()
        self._down = False
        self._refused: Optional[Exception] = None  # why the sender stopped early (already warned about)
        self._rejected_told = self.sync.cursor.rejected  # records the server refused, warned about
        self._thread = threading.Thread(target=self._loop, name="seetrain-sender", daemon=True)

    def start(self) -> "OnlineSender":
        self._thread.start()
        return self

    def _step(self) -> int:
        n = self.sync.pump()
        cur = self.sync.cursor
        if cur.rejected > self._rejected_told:
            self._rejected_told = cur.rejected
            warn(f"seetrain: server {self.host} refused {cur.rejected} record(s) of {self.run_dir} "
                 f"({cur.rejected_reason}); they were left out and the rest is uploaded")
        if n == 0 and self._stopping.is_set():
            if self.sync.finish_if_ended() or self._abandon.is_set():
                self._done.set()
        elif n == 0:
            self.sync.push_meta()  # keep the heartbeat current
        return n

    def _loop(self) -> None:
        while not self._done.is_set() and not self._abandon.is_set():
            try:
                n = self.breaker.call(self._step)
                if self._down:
                    self._down = False
                    warn(f"seetrain: server {self.host} is reachable again; uploading the records kept meanwhile")
            except resilience.CircuitOpenError:
                n = 0
                self._wake.wait(min(self.breaker.recovery_timeout, 1.0))
                self._wake.clear()
                continue
            except Transient as exc:
                n = 0
                if not self._down:
                    self._down = True
                    warn(f"seetrain: server {self.host} is unreachable ({exc}); records stay in {self.run_dir} "
                         "and are sent when it is back; training goes on")
            except ServerError as exc:
                self._refused = exc
                warn(f"seetrain: server {self.host} refused the upload of {self.run_dir} ({exc}); online upload "
                     f"stops here; fix it and run `seetrain sync {self.run_dir}`")
                return
            except Exception as exc:  # noqa: BLE001 - the sender never takes the training run down
                self._refused = exc
                resilience.record_failure("sender", exc)
                warn(f"seetrain: the online sender failed ({type(exc).__name__}: {exc}); "
                     f"run `seetrain sync {self.run_dir}` to upload the rest")
                return
            if n == 0:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def flush(self) -> None:
        self._wake.set()

    def finish(self, timeout: float = 30.0) -> bool:
        """Upload what is left, waiting at most ``timeout`` seconds; True when all of it arrived."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._done.is_set():
            self.client.close()
            return True
        self._abandon.set()
        self._wake.set()
        if self._refused is None:
            warn(f"seetrain: {self.sync.pending_bytes()} bytes of records of {self.run_dir} were not uploaded to "
                 f"{self.host} within {timeout:g}s; they are safe on disk: run `seetrain sync {self.run_dir}`")
        return False
