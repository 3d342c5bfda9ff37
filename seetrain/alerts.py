"""Alerts: what ``seetrain.alert(title, text, level)`` records.

An alert is an ``event`` record (``event: "alert"``, ``title``, ``text``, ``level``) in the run
directory like any other, so the dashboard, ``read_run``, the server API and the MCP server all
see it; a webhook (:mod:`seetrain.alert_webhook`) is only a notification on top of it.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional

LEVELS = ("info", "warn", "error")
_ALIASES = {"warning": "warn", "err": "error", "critical": "error", "fatal": "error", "debug": "info"}
MAX_TITLE = 256      # characters kept of a title
MAX_TEXT = 10_000    # characters kept of a text


class AlertFields(NamedTuple):
    """The fields of one alert event, and a problem with the input (``None`` when it was fine)."""

    fields: Dict[str, Any]
    problem: Optional[str]


def normalize_level(level: Any) -> Optional[str]:
    """``"info"``, ``"warn"`` or ``"error"`` for a level given as a string or an enum
    (``AlertLevel.WARN``, W&B style); ``None`` when it is none of these."""
    value = getattr(level, "value", level)
    if not isinstance(value, str):
        value = getattr(level, "name", value)
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    value = _ALIASES.get(value, value)
    return value if value in LEVELS else None


def alert_fields(title: Any, text: Any = "", level: Any = "info") -> AlertFields:
    """Check and bound an alert: an empty or non-string title or an unknown level is kept (as text,
    as ``info``) and named in ``problem``, so a bad call still records what it can."""
    problems = []
    if not isinstance(title, str):
        problems.append(f"alert title should be a string, got {type(title).__name__}")
        title = str(title)
    if not title.strip():
        problems.append("alert title is empty")
        title = "(untitled alert)"
    if text is None:
        text = ""
    elif not isinstance(text, str):
        text = str(text)
    lvl = normalize_level(level)
    if lvl is None:
        problems.append(f"alert level {level!r} is not one of {', '.join(LEVELS)}; recorded as 'info'")
        lvl = "info"
    if len(title) > MAX_TITLE:
        title = title[:MAX_TITLE - 1] + "…"
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT - 1] + "…"
    fields = {"event": "alert", "title": title, "text": text, "level": lvl}
    return AlertFields(fields, "; ".join(problems) or None)
