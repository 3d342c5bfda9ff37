"""The runs filter language: ``lr>0.001 and optimizer in (adam, adamw) and summary.val/acc>=0.9``.

One grammar for the dashboard's filter box, ``GET /api/v1/runs?filter=...`` (compiled to SQL by
``seetrain.server.queries``) and offline use (:func:`matches` over run dicts as ``seetrain.list_runs``
returns them)::

    filter    := condition (("and" | ",") condition)*
    condition := field op value | field ["not"] "in" "(" value ("," value)* ")"
    op        := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    field     := status | tag | name | id | summary.KEY | config.KEY | KEY     (KEY: a config key)
    value     := a bare word (adam, 0.001, -1e-3) | a quoted string ("two words", 'x')

A ``config``/``summary`` key is the object's key when it has it literally (``"opt.name"``), else a
dotted path into nested objects (``opt`` -> ``name``). An unquoted value that reads as a finite number
compares as a number (``lr=1e-3`` matches 0.001; ``<``/``>`` only match numbers); any other value
compares as text (``<``/``>`` by code point, only against text values; ``true``/``false`` also match
booleans). ``!=`` and ``not in`` are the exact negations of ``=`` and ``in``: a run without the key
matches them. ``tag=x`` means the run has tag ``x``. Nothing here imports numpy or the server.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")
ORDERING = ("<", "<=", ">", ">=")
RUN_FIELDS = ("status", "tag", "name", "id")  # everything else is a config or summary key
_STOP = set(" \t\r\n=!<>(),\"'")
MISSING = object()  # what lookup() gives for an absent key


class FilterError(ValueError):
    """A filter the parser cannot read: ``position`` (0-based) and ``expected`` say where and what."""

    def __init__(self, text: str, position: int, expected: str, found: str) -> None:
        self.text, self.position, self.expected, self.found = text, position, expected, found
        super().__init__(f"filter {text!r}: at position {position + 1}: expected {expected}, found {found}")


@dataclass(frozen=True)
class Field:
    """What a condition reads: ``kind`` is status, tag, name, id, config or summary; ``key`` the
    config/summary key (empty for the others)."""

    kind: str
    key: str = ""


@dataclass(frozen=True)
class Literal:
    """A value as written; ``number`` is set when it was unquoted and reads as a finite number."""

    text: str
    number: Optional[float] = None


@dataclass(frozen=True)
class Condition:
    field: Field
    op: str  # one of OPS ("==" is read as "=")
    values: Tuple[Literal, ...]  # one value, several for in / not in


@dataclass(frozen=True)
class Filter:
    """Conditions that must all hold (an empty filter matches every run)."""

    conditions: Tuple[Condition, ...]


@dataclass(frozen=True)
class _Token:
    kind: str  # word, string, op, lparen, rparen, comma, end
    text: str
    pos: int


def _tokens(text: str) -> List[_Token]:
    out: List[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise FilterError(text, i, f"a closing {c} for the string that starts here", "the end of the filter")
            out.append(_Token("string", "".join(buf), i))
            i = j + 1
        elif c in "=!<>":
            two = text[i:i + 2]
            if two in ("==", "!=", "<=", ">="):
                out.append(_Token("op", "=" if two == "==" else two, i))
                i += 2
            elif c == "!":
                raise FilterError(text, i, "'!=' (or =, <, <=, >, >=)", repr(two or c))
            else:
                out.append(_Token("op", c, i))
                i += 1
        elif c in "(),":
            out.append(_Token({"(": "lparen", ")": "rparen", ",": "comma"}[c], c, i))
            i += 1
        else:
            j = i
            while j < n and text[j] not in _STOP:
                j += 1
            out.append(_Token("word", text[i:j], i))
            i = j
    out.append(_Token("end", "", n))
    return out


def _describe(tok: _Token) -> str:
    return "the end of the filter" if tok.kind == "end" else repr(tok.text if tok.kind != "string" else f'"{tok.text}"')


def _field(word: str) -> Field:
    low = word.lower()
    if low in RUN_FIELDS or low == "tags":
        return Field("tag" if low == "tags" else low)
    if word.startswith("summary."):
        return Field("summary", word[len("summary."):])
    if word.startswith("config."):
        return Field("config", word[len("config."):])
    return Field("config", word)


def _literal(tok: _Token) -> Literal:
    if tok.kind == "word":
        try:
            f = float(tok.text)
        except ValueError:
            f = None
        if f is not None and math.isfinite(f):
            return Literal(tok.text, f)
    return Literal(tok.text)


def parse(text: str) -> Filter:
    """Parse ``text``; raises :class:`FilterError` naming the position and what was expected."""
    toks = _tokens(text)
    i = 0
    conds: List[Condition] = []

    def fail(tok: _Token, expected: str) -> FilterError:
        return FilterError(text, tok.pos, expected, _describe(tok))

    def value(tok: _Token) -> Literal:
        if tok.kind not in ("word", "string") or (tok.kind == "word" and tok.text.lower() == "and"):
            raise fail(tok, "a value (a word, a number or a quoted string)")
        return _literal(tok)

    if toks[0].kind == "end":
        return Filter(())
    while True:
        tok = toks[i]
        if tok.kind != "word" or tok.text.lower() in ("and", "in", "not"):
            raise fail(tok, "a field (status, tag, name, id, summary.KEY, config.KEY or a config key)")
        fld = _field(tok.text)
        if fld.kind in ("config", "summary") and not fld.key:
            raise fail(tok, f"a key after '{fld.kind}.'")
        if '"' in fld.key:
            raise fail(tok, "a key without '\"'")
        i += 1
        tok = toks[i]
        if tok.kind == "op":
            op = tok.text
            i += 1
            vals = (value(toks[i]),)
            i += 1
        elif tok.kind == "word" and tok.text.lower() in ("in", "not"):
            op = "in"
            if tok.text.lower() == "not":
                i += 1
                if not (toks[i].kind == "word" and toks[i].text.lower() == "in"):
                    raise fail(toks[i], "'in' after 'not'")
                op = "not in"
            i += 1
            if toks[i].kind != "lparen":
                raise fail(toks[i], f"'(' after '{op}'")
            i += 1
            items = [value(toks[i])]
            i += 1
            while toks[i].kind == "comma":
                items.append(value(toks[i + 1]))
                i += 2
            if toks[i].kind != "rparen":
                raise fail(toks[i], "',' or ')' in the list of values")
            i += 1
            vals = tuple(items)
        else:
            raise fail(tok, f"an operator (=, !=, <, <=, >, >=, in, not in) after {toks[i - 1].text!r}")
        if fld.kind == "tag" and op in ORDERING:
            raise fail(toks[i - 2], "=, !=, in or not in after 'tag' (a run has a tag or not)")
        conds.append(Condition(fld, op, vals))
        tok = toks[i]
        if tok.kind == "end":
            return Filter(tuple(conds))
        if tok.kind == "comma" or (tok.kind == "word" and tok.text.lower() == "and"):
            i += 1
            continue
        raise fail(tok, "'and' between conditions (or the end of the filter)")


# ---- the Python evaluator (the SQL compiler in seetrain.server.queries mirrors it) ----

def lookup(obj: Any, key: str) -> Any:
    """The value at ``key`` in a config/summary dict: the literal key first, else the dotted path
    through nested dicts; ``MISSING`` when absent."""
    if not isinstance(obj, dict):
        return MISSING
    if key in obj:
        return obj[key]
    if "." not in key:
        return MISSING
    cur: Any = obj
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _text(v: Any) -> Optional[str]:
    """The value as the SQL side's text: strings as they are, booleans True/False, null None."""
    if isinstance(v, bool):
        return "True" if v else "False"
    if v is None:
        return "None"
    if isinstance(v, str):
        return v
    return None


_CMP: Dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _json_equal(v: Any, lit: Literal) -> bool:
    if v is MISSING:
        return False
    if lit.number is not None and _is_number(v) and float(v) == lit.number:
        return True
    t = _text(v)
    if t is None:
        return False
    return t == lit.text or (lit.text.lower() in ("true", "false") and t == lit.text.capitalize())


def _holds(cond: Condition, run: Dict[str, Any]) -> bool:
    f, op = cond.field, cond.op
    negate = op in ("!=", "not in")
    if f.kind == "tag":
        tags = run.get("tags") or []
        hit = any(lit.text in tags for lit in cond.values)
        return hit != negate
    if f.kind in ("status", "name", "id"):
        t = run.get(f.kind)
        t = None if t is None else str(t)
        if op in ORDERING:
            return t is not None and _CMP[op](t, cond.values[0].text)
        return (t is not None and any(t == lit.text for lit in cond.values)) != negate
    v = lookup(run.get(f.kind) or {}, f.key)
    if op in ORDERING:
        lit = cond.values[0]
        if lit.number is not None:
            return _is_number(v) and _CMP[op](float(v), lit.number)
        return v is not MISSING and not _is_number(v) and _text(v) is not None and _CMP[op](_text(v), lit.text)
    return any(_json_equal(v, lit) for lit in cond.values) != negate


def matches(flt: "Filter | str", run: Dict[str, Any]) -> bool:
    """Whether ``run`` (a dict with config, summary, status, tags, name, id) passes ``flt``."""
    if isinstance(flt, str):
        flt = parse(flt)
    return all(_holds(c, run) for c in flt.conditions)


def filter_runs(flt: "Filter | str", runs: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The runs that pass ``flt``, in their order."""
    if isinstance(flt, str):
        flt = parse(flt)
    return [r for r in runs if matches(flt, r)]
