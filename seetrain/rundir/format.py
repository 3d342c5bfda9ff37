"""The run directory's one schema (docs/record-format.md): every fact about what a record or a
``run.json`` holds that more than one module needs, defined once.

The writer, the reader, the sender and the server's validation all import it: record types,
run statuses, the non-finite number tags (JSON has no NaN or infinity, so they are written as
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``), media references, and the uuid of a run written
before format 2 (which has none in its ``run.json``). It imports nothing of seetrain.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional

FORMAT = 2  # the run directory format written today (run.json "format"; absent: 1)
FORMAT_SHARED = 3  # a shared run's (several writers, see "writers" below)

# --- record types ------------------------------------------------------------------------------
METRICS, CONFIG, SYSTEM, EVENT, CONSOLE, SUMMARY = "metrics", "config", "system", "event", "console", "summary"
# ``{"type": "rewind", "step": S}``: the metrics records before it (in its writer's log) whose step
# is above S are superseded (``seetrain.init(resume_from=S)``): kept in the log, hidden by readers
REWIND = "rewind"
RECORD_TYPES = frozenset((METRICS, CONFIG, SYSTEM, EVENT, CONSOLE, SUMMARY, REWIND))
UNKNOWN = "unknown"  # a format-1 record that is neither metrics nor config (readers skip it)

# the field of a typed record whose values are numbers that may be tagged
TAGGED_FIELD: Dict[str, str] = {METRICS: "data", SYSTEM: "data", SUMMARY: "summary"}


def infer_type(rec: Mapping[str, Any]) -> Optional[str]:
    """The type of a format-1 record (it has none): ``metrics`` with ``data``, ``config`` with
    ``config``, else None."""
    return METRICS if "data" in rec else CONFIG if "config" in rec else None


# --- run statuses ------------------------------------------------------------------------------
RUNNING = "running"
FINAL_STATUSES = frozenset(("success", "failed", "crashed", "killed"))
STATUSES = FINAL_STATUSES | {RUNNING}


def ending_by_exit_code(exit_code: Any) -> str:
    """How a run ended when its exit code is all that says it: ``success`` for none or 0, else
    ``failed``."""
    return "success" if exit_code is None or exit_code == 0 else "failed"


def known_status(status: Any, exit_code: Any) -> Optional[str]:
    """A run's (or writer's) status as everything that reads a run directory takes it: one of
    :data:`STATUSES` as it is, None when there is none; any other value (a run.json written before
    ``finish()`` checked its arguments, or edited by hand) is the ending its exit code gives."""
    if status is None or (type(status) is str and status in STATUSES):
        return status
    return ending_by_exit_code(exit_code)


# --- non-finite numbers --------------------------------------------------------------------------
NAN_TAG, INF_TAG, NEG_INF_TAG = "NaN", "Infinity", "-Infinity"
NON_FINITE: Dict[str, float] = {NAN_TAG: math.nan, INF_TAG: math.inf, NEG_INF_TAG: -math.inf}


def tag(value: Any) -> Any:
    """``value`` as written: a non-finite float becomes its tag; anything else is itself."""
    if type(value) is float and not math.isfinite(value):
        return NAN_TAG if value != value else INF_TAG if value > 0 else NEG_INF_TAG
    return value


def untag(value: Any) -> Any:
    """``value`` as read: a tag becomes its float; anything else (other strings too) is itself."""
    return NON_FINITE.get(value, value) if type(value) is str else value


def tag_values(values: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of ``{key: value}`` with non-finite floats tagged."""
    return {k: tag(v) for k, v in values.items()}


def untag_values(values: Any) -> Dict[str, Any]:
    """A copy of ``{key: value}`` with tags turned into floats (``{}`` when ``values`` is not a dict)."""
    if not isinstance(values, dict):
        return {}
    return {k: NON_FINITE.get(v, v) if type(v) is str else v for k, v in values.items()}


def has_non_finite(values: Mapping[str, Any]) -> bool:
    """Whether any value of ``{key: value}`` is a NaN or infinite float."""
    return any(type(v) is float and not math.isfinite(v) for v in values.values())


# --- media references ----------------------------------------------------------------------------
MEDIA_TYPE = "_type"  # a metrics value that is a dict with this key is a media reference


def media_ref(kind: str, path: str, fields: Optional[Mapping[str, Any]] = None,
              caption: Optional[str] = None) -> Dict[str, Any]:
    """The reference a metrics record stores for one media file: ``{"_type": kind, "path": path,
    ...fields, "caption": caption}`` (``path`` relative to the run directory, under ``media/``)."""
    ref: Dict[str, Any] = {MEDIA_TYPE: kind, "path": path}
    if fields:
        ref.update(fields)
    if caption is not None:
        ref["caption"] = caption
    return ref


def is_media_ref(value: Any) -> bool:
    """Whether ``value`` is one media reference."""
    return type(value) is dict and MEDIA_TYPE in value


def media_refs(value: Any) -> Optional[List[Dict[str, Any]]]:
    """The media references a metrics value holds (one reference, or a non-empty list of them),
    or None when it is not media."""
    if type(value) is dict:
        return [value] if MEDIA_TYPE in value else None
    if type(value) is list and value and all(type(v) is dict and MEDIA_TYPE in v for v in value):
        return value
    return None


def ref_paths(ref: Mapping[str, Any]) -> List[Any]:
    """The files one reference names: its own ``path`` and, for a table, its image cells' ``files``
    (what a sender uploads and a server stores and checks)."""
    files = ref.get("files")
    return [ref.get("path"), *files] if type(files) is list else [ref.get("path")]


def media_kind(ref: Mapping[str, Any]) -> str:
    """What a reference's file is (``image``, ``audio``, ``text``, ``histogram`` ...)."""
    return str(ref.get(MEDIA_TYPE))


# --- writers (format 3: shared runs, issue 23) --------------------------------------------------
# A run may be written by many processes. Each writer owns one append-only log with its own gap-free
# seqs. The primary writer's log is the run directory's own ``records.jsonl`` (so a one-writer run
# is laid out as in format 2); every other writer's is ``writers/<label>/records.jsonl``, beside
# its ``writers/<label>/writer.json`` (label, rank, host, pid, status, exit code, heartbeat).
WRITERS_DIR = "writers"
WRITER_META = "writer.json"
PRIMARY_WRITER = ""  # the primary writer's label where a (run, writer, seq) key is stored
WRITER_LABEL_MAX = 64
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def valid_writer_label(label: Any) -> bool:
    """Whether ``label`` can name a writer (and its folder): 1..64 of ``A-Z a-z 0-9 . _ -``, not
    starting with a dot."""
    return (type(label) is str and 0 < len(label) <= WRITER_LABEL_MAX and not label.startswith(".")
            and all(c in _LABEL_CHARS for c in label))


def shared_run_uuid(project: str, run_id: str) -> str:
    """The uuid of shared run ``project/run_id``: the same on every machine that writes it (its
    writers start apart, so none can hand the others a random one)."""
    import uuid as _uuid

    return _uuid.uuid5(_uuid.NAMESPACE_URL, f"seetrain-shared:{project}/{run_id}").hex


# --- uuids ---------------------------------------------------------------------------------------
def norm_uuid(value: Any) -> str:
    """A uuid as stored: 32 lower-case hex digits, without dashes (may be invalid: see :func:`valid_uuid`)."""
    return str(value or "").replace("-", "").lower()


def valid_uuid(u: str) -> bool:
    return len(u) == 32 and all(c in "0123456789abcdef" for c in u)


def run_uuid(meta: Mapping[str, Any]) -> str:
    """The uuid of the run whose ``run.json`` is ``meta``: its own ``uuid`` (format 2), else, for a
    run written before format 2 (or a ``uuid`` that is not 32 hex digits), one derived from its
    identity (uuid5 of project, id and start time), so ``seetrain sync`` and ``seetrain ui`` give
    such a run the same uuid wherever its directory lies."""
    u = norm_uuid(meta.get("uuid"))
    if valid_uuid(u):
        return u
    import uuid as _uuid  # here: the module costs a training process's init() several milliseconds

    ident = f"seetrain:{meta.get('project')}/{meta.get('id')}/{meta.get('start_time')}"
    return _uuid.uuid5(_uuid.NAMESPACE_URL, ident).hex
