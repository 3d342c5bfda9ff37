"""Writing and parsing Ollama Modelfiles, used by :mod:`.ollama_export`."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple


def _quote(value: str, what: str) -> str:
    """A Modelfile string: ``"..."`` on one line, ``\"\"\"...\"\"\"`` when it spans lines or holds quotes."""
    value = str(value)
    if "\n" not in value and '"' not in value and "\\" not in value:
        return f'"{value}"'
    if '"""' in value or value.endswith('"'):
        raise ValueError(f"the {what} cannot be written to a Modelfile: it contains '\"\"\"' or ends with '\"', "
                         "which Ollama's triple-quoted strings cannot hold")
    return f'"""{value}"""'


def _param_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    s = str(value)
    if "\n" in s:
        raise ValueError(f"a Modelfile PARAMETER value cannot span lines: {s!r}")
    return _quote(s, "parameter value") if (not s or re.search(r'[\s"#]', s) or s.startswith("<")) else s


def create_modelfile(base_model: str, parameters: Optional[Mapping[str, Any]] = None,
                     system_prompt: Optional[str] = None, template: Optional[str] = None,
                     adapter: Optional[str] = None, license: Optional[str] = None,
                     messages: Optional[List[Tuple[str, str]]] = None) -> str:
    """The text of an Ollama Modelfile.

    ``base_model``: a GGUF path (relative to the Modelfile's folder or absolute) or an Ollama model name.
    ``parameters``: ``{"temperature": 0.7, "stop": ["<eos>", "User:"], "num_ctx": 128}``; a list value gives
    one ``PARAMETER`` line per item. Multi-line ``system_prompt`` / ``template`` are triple-quoted.
    """
    if not base_model or "\n" in str(base_model):
        raise ValueError(f"FROM needs one model name or file path, got {base_model!r}")
    lines = [f"FROM {base_model}"]
    if adapter:
        lines.append(f"ADAPTER {adapter}")
    for key, value in dict(parameters or {}).items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
            raise ValueError(f"bad Modelfile parameter name {key!r}")
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            lines.append(f"PARAMETER {key} {_param_value(v)}")
    if template is not None:
        lines.append(f"TEMPLATE {_quote(template, 'template')}")
    if system_prompt is not None:
        lines.append(f"SYSTEM {_quote(system_prompt, 'system prompt')}")
    if license is not None:
        lines.append(f"LICENSE {_quote(license, 'license')}")
    for role, content in messages or []:
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"MESSAGE role must be system, user or assistant, got {role!r}")
        lines.append(f"MESSAGE {role} {_quote(content, 'message')}")
    return "\n".join(lines) + "\n"


def _typed(value: str) -> Any:
    if re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", value):
        return float(value)
    if value in ("true", "false"):
        return value == "true"
    return value


def parse_modelfile(text: str) -> Dict[str, Any]:
    """Parse a Modelfile into ``{"from", "adapter", "parameters", "system", "template", "license", "messages"}``.

    Raises ``ValueError`` with the line number for an unknown command or an unclosed string.
    """
    out: Dict[str, Any] = {"from": None, "adapter": None, "parameters": {}, "system": None, "template": None,
                           "license": None, "messages": []}
    i, n, lineno = 0, len(text), 1

    def read_value(pos: int) -> Tuple[str, int]:
        nonlocal lineno
        if text.startswith('"""', pos):
            end = text.find('"""', pos + 3)
            if end < 0:
                raise ValueError(f"Modelfile line {lineno}: unclosed triple-quoted string")
            value = text[pos + 3:end]
            lineno += value.count("\n")
            return value, end + 3
        end = text.find("\n", pos)
        end = n if end < 0 else end
        raw = text[pos:end].strip()
        if raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"'):
                raise ValueError(f"Modelfile line {lineno}: unclosed string {raw!r}")
            raw = raw[1:-1]
        return raw, end

    while i < n:
        eol = text.find("\n", i)
        eol = n if eol < 0 else eol
        line = text[i:eol].strip()
        if not line or line.startswith("#"):
            i, lineno = eol + 1, lineno + 1
            continue
        m = re.match(r"\s*(\S+)[ \t]*", text[i:eol])
        cmd = m.group(1).upper()
        pos = i + m.end()
        if cmd in ("FROM", "ADAPTER", "SYSTEM", "TEMPLATE", "LICENSE"):
            value, end = read_value(pos)
            out[cmd.lower()] = value
        elif cmd == "PARAMETER":
            pm = re.match(r"(\S+)[ \t]+", text[pos:eol])
            if not pm:
                raise ValueError(f"Modelfile line {lineno}: PARAMETER needs a name and a value")
            value, end = read_value(pos + pm.end())
            key = pm.group(1)
            typed = value if text.startswith('"', pos + pm.end()) else _typed(value)
            if key == "stop":
                out["parameters"].setdefault("stop", []).append(str(value))
            else:
                out["parameters"][key] = typed
        elif cmd == "MESSAGE":
            mm = re.match(r"(\S+)[ \t]+", text[pos:eol])
            if not mm:
                raise ValueError(f"Modelfile line {lineno}: MESSAGE needs a role and a text")
            value, end = read_value(pos + mm.end())
            out["messages"].append({"role": mm.group(1), "content": value})
        else:
            raise ValueError(f"Modelfile line {lineno}: unknown command {cmd!r} (FROM, PARAMETER, TEMPLATE, SYSTEM, "
                             "ADAPTER, LICENSE, MESSAGE)")
        nl = text.find("\n", end)
        i = n if nl < 0 else nl + 1
        lineno += 1
    if not out["from"]:
        raise ValueError("Modelfile has no FROM line")
    return out
