"""The token budget of one MCP answer, paging cursors, and JSON that any client can read.

Every answer is compact JSON text of at most ``max_tokens`` tokens, estimated at
:data:`CHARS_PER_TOKEN` characters a token (default :data:`DEFAULT_MAX_TOKENS`). List answers stop
early and give a ``next_cursor`` to continue; anything still too long is cut by :func:`shrink`
(long lists and dicts keep their first entries, long strings their start) and says so.
NaN and infinities are written as the run format writes them: ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

import base64
import math
from typing import Any, Dict, Iterable, List, Optional

import orjson

from ..rundir.format import tag

CHARS_PER_TOKEN = 4
DEFAULT_MAX_TOKENS = 20_000
MIN_TOKENS = 500


class ToolInputError(ValueError):
    """Arguments a tool cannot use; the message says what was wrong and what to pass instead."""


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def tag_nonfinite(obj: Any) -> Any:
    """``obj`` with every NaN/infinite float replaced by its record-format tag (JSON has none)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else tag(float(obj))
    if isinstance(obj, dict):
        return {k: tag_nonfinite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [tag_nonfinite(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """Compact JSON text (numpy values as numbers; other odd values as their str)."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def chars_for(max_tokens: int) -> int:
    return int(max_tokens) * CHARS_PER_TOKEN


def tokens_of(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def take_fitting(items: Iterable[Any], room: int) -> List[Any]:
    """The leading items whose JSON fits in ``room`` characters (at least one, if any)."""
    out: List[Any] = []
    used = 0
    for item in items:
        used += len(dumps(item)) + 1
        if out and used > room:
            break
        out.append(item)
        if used > room:
            break
    return out


def _cut(obj: Any, k: int) -> Any:
    """``obj`` with lists and dicts cut to ``k`` entries and strings to ``64 * k`` characters."""
    if isinstance(obj, str):
        lim = 64 * k
        return obj if len(obj) <= lim else obj[:lim] + f"… ({len(obj) - lim} more characters)"
    if isinstance(obj, dict):
        items = list(obj.items())
        out = {key: _cut(v, k) for key, v in items[:k]}
        if len(items) > k:
            out["…"] = f"{len(items) - k} more keys"
        return out
    if isinstance(obj, list):
        out_l = [_cut(v, k) for v in obj[:k]]
        if len(obj) > k:
            out_l.append(f"… {len(obj) - k} more items")
        return out_l
    return obj


def shrink(obj: Any, room: int) -> Any:
    """``obj`` cut (see :func:`_cut`) by the largest entry count whose JSON fits in ``room``."""
    lo, hi = 1, 1
    while len(dumps(_cut(obj, hi))) <= room and hi < 1 << 20:
        lo, hi = hi, hi * 2
    if hi == 1 and len(dumps(_cut(obj, 1))) > room:
        return {"error": "the answer does not fit the token budget even cut down; ask for less"}
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if len(dumps(_cut(obj, mid))) <= room:
            lo = mid
        else:
            hi = mid
    return _cut(obj, lo)


def respond(obj: Dict[str, Any], max_tokens: int) -> str:
    """The answer as JSON text within ``max_tokens``; cut down with a note when it does not fit."""
    text = dumps(obj)
    room = chars_for(max_tokens)
    if len(text) <= room:
        return text
    note = (f"answer cut to fit the {max_tokens}-token budget (about {CHARS_PER_TOKEN} characters a token): "
            "ask for less (fields=, keys=, limit=, a smaller points=) or page with cursor")
    out = shrink(obj, room - len(note) - 64)
    if isinstance(out, dict):
        out["truncated_to_fit"] = note
    return dumps(out)


def encode_cursor(state: Dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(cursor: Optional[str], tool: str) -> Dict[str, Any]:
    """The state a ``next_cursor`` of ``tool`` carried ({} for no cursor)."""
    if not cursor:
        return {}
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, orjson.JSONDecodeError):
        state = None
    if not isinstance(state, dict) or state.get("tool") != tool:
        raise ToolInputError(f"cursor {cursor[:40]!r} is not a cursor of {tool}: pass the next_cursor of the "
                             f"previous {tool} answer unchanged, with the same other arguments")
    return state
