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
from .rundir.follow import Batch, Cursor, Follower, Refused, StartOver
from .rundir.format import TAGGED_FIELD, has_non_finite, media_refs, run_uuid, tag_values
from .rundir.safe_open import LinkRefused, read_in_run
from .transport import Client, ServerError, Transient

__all__ = ["Client", "OnlineSender", "RecordsRefused", "RunSync", "ServerError", "Transient", "run_uuid", "wire"]

REFUSED_STATUSES = frozenset((400, 413, 422))  # the server refuses what a batch holds: a smaller one may pass


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
    online sender and ``seetrain sync``). ``pump()`` sends one batch; ``drain()`` everything there is now."""

    def __init__(self, run_dir: str, client: Client, batch_records: int = 5000, batch_bytes: int = 8 << 20,
                 report: Optional[Callable[[str], None]] = None) -> None:
        self.run_dir, self.client = os.path.abspath(run_dir), client
        self.report = report or warn  # how a media file that is not sent is told (once per path)
        self.refused: Dict[str, str] = {}  # media path -> why it was not sent (a link, a special file)
        host_hash = hashlib.sha256(client.base.encode()).hexdigest()[:16]
        self.cursor_path = os.path.join(self.run_dir, ".sync", f"{host_hash}.json")
        self.cursor = self._load_cursor()
        self.follower = Follower(self.run_dir, self, self.cursor, batch_records, batch_bytes)
        self._sent_media: set = set()
        self._opened = False
        self.last_refusal: Optional[ServerError] = None  # the server's answer to the last record it refused
        self.uuid: Optional[str] = None

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
        return self._post(b'{"records":' + batch.json_array() + b"}")

    def send_records(self, records: List[Dict[str, Any]]) -> int:
        self._upload_media(records)
        return self._post(wire(records))

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
                for ref in media_refs(v) or ():
                    path = ref.get("path")
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
        """PUT run.json when it changed since the last PUT; returns it."""
        return self.follower.sync_meta(force)

    def pump(self) -> int:
        """Send the next batch; returns the lines the server acknowledged (0: nothing new)."""
        n = self.follower.step()
        if n:
            self.cursor.extra["uuid"] = self.uuid  # kept for older readers of the cursor file
            self._save_cursor()
        return n

    def pending_bytes(self) -> int:
        try:
            return max(0, os.path.getsize(os.path.join(self.run_dir, "records.jsonl")) - self.cursor.offset)
        except OSError:
            return 0

    def finish_if_ended(self) -> bool:
        """When run.json says the run ended, send its metadata and the finish call (once)."""
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
        total, rejected = 0, self.cursor.rejected
        while True:
            n = self.pump()
            if n == 0:
                break
            total += n
        self.push_meta()
        self.finish_if_ended()
        if self.cursor.rejected > rejected and self.last_refusal is not None:
            exc = self.last_refusal
            raise RecordsRefused(exc.status, f"{self.cursor.rejected - rejected} record(s) of {self.run_dir} refused "
                                             f"and left out ({self.cursor.rejected_reason}); the rest was sent")
        return total


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
                 recovery_s: float = 5.0) -> None:
        self.run_dir, self.host, self.poll_s = run_dir, host, poll_s
        self.client = Client(host, api_key)
        self.sync = RunSync(run_dir, self.client)
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
