"""Rebuild ``corpus.txt``: English prose assembled from the Python standard library's own docstrings.

The shipped corpus was made with ``python -m seetrain.apt.data.build_corpus`` and is covered by the
Python Software Foundation License, like the docstrings it comes from. Only documentation text is
kept (interactive examples and very short docstrings are dropped), so the result reads as technical
English prose of a few hundred kilobytes; no download is involved.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Iterator, List

MODULES = [
    "abc", "argparse", "ast", "asyncio.events", "asyncio.queues", "asyncio.tasks", "base64", "bisect",
    "bz2", "calendar", "cmd", "codecs", "collections", "concurrent.futures._base", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "doctest", "email.message",
    "email.utils", "enum", "filecmp", "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext",
    "glob", "gzip", "hashlib", "heapq", "hmac", "html.parser", "http.client", "http.cookiejar",
    "http.server", "imaplib", "inspect", "io", "ipaddress", "json", "json.decoder", "json.encoder",
    "locale", "logging", "logging.handlers", "lzma", "mailbox", "mimetypes", "multiprocessing.pool",
    "numbers", "operator", "optparse", "os", "pathlib", "pdb", "pickle", "pickletools", "platform",
    "plistlib", "poplib", "pprint", "profile", "pstats", "queue", "quopri", "random", "re", "sched",
    "secrets", "selectors", "shelve", "shlex", "shutil", "signal", "smtplib", "socket", "socketserver",
    "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "symtable", "tarfile", "tempfile",
    "textwrap", "threading", "timeit", "token", "tokenize", "trace", "traceback", "tracemalloc", "types",
    "typing", "unittest.case", "unittest.mock", "urllib.parse", "urllib.request", "uuid", "warnings",
    "wave", "weakref", "webbrowser", "xml.dom.minidom", "xml.etree.ElementTree", "zipfile", "zipimport",
]


def _docstrings(module) -> Iterator[str]:
    if module.__doc__:
        yield module.__doc__
    for _, obj in sorted(vars(module).items()):
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if obj.__doc__:
                yield obj.__doc__
            if inspect.isclass(obj):
                for _, meth in sorted(vars(obj).items()):
                    if inspect.isfunction(meth) and meth.__doc__:
                        yield meth.__doc__


def _clean(doc: str) -> str:
    lines = inspect.cleandoc(doc).splitlines()
    kept: List[str] = [ln for ln in lines if not ln.lstrip().startswith((">>>", "...", "$ "))]
    text = "\n".join(kept).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def build(max_chars: int = 220_000) -> str:
    """The corpus text (deterministic for a given Python version)."""
    parts: List[str] = []
    seen = set()
    total = 0
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        for doc in _docstrings(module):
            text = _clean(doc)
            if len(text) < 120 or text in seen or not text.isascii():
                continue
            seen.add(text)
            parts.append(text)
            total += len(text) + 2
            if total >= max_chars:
                return "\n\n".join(parts) + "\n"
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":  # pragma: no cover
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.txt")
    text = build()
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {len(text)} characters to {out} (Python {sys.version.split()[0]})")
