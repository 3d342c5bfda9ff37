"""Capture of ``sys.stdout`` / ``sys.stderr`` into the open runs, one ``console`` record a line.

The streams are wrapped by a tee that writes through to the original stream first (what the user
sees is unchanged) and then hands complete lines to the runs that capture. Progress bars that
redraw with ``\\r`` record only the final state of the line. Output written to the file
descriptors directly (C extensions, subprocesses) is not captured. ``init(console="off")``
turns it off for a run.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, List

MAX_LINE = 16 << 10  # characters; longer lines are split

Sink = Callable[[str, str], None]  # sink(stream name, line): one captured line for one run

_sinks: List[Sink] = []
_lock = threading.Lock()
_fork_hook = False


class Tee:
    """A text stream that writes through to ``stream`` and records complete lines."""

    def __init__(self, stream: Any, name: str) -> None:
        self._stream = stream
        self._name = name
        self._buf = ""
        self._lock = threading.Lock()

    def write(self, text: Any) -> Any:
        n = self._stream.write(text)
        if _sinks and type(text) is str and text:
            try:
                self._capture(text)
            except Exception:
                pass  # capture is best effort; the user's write already happened
        return n

    def _capture(self, text: str) -> None:
        with self._lock:
            buf = self._buf + text
            if "\n" not in buf:
                if "\r" in buf:
                    buf = buf[buf.rfind("\r") + 1:]
                self._buf = buf[-MAX_LINE:] if len(buf) > MAX_LINE else buf
                return
            parts = buf.split("\n")
            self._buf = parts.pop()
        for line in parts:
            if "\r" in line:
                line = line[line.rfind("\r") + 1:]
            for i in range(0, max(len(line), 1), MAX_LINE):
                for sink in list(_sinks):
                    sink(self._name, line[i:i + MAX_LINE])

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<seetrain console capture of {self._stream!r}>"


def install(sink: Sink) -> None:
    """Start handing complete lines to ``sink(stream, line)`` (wraps the streams once)."""
    global _fork_hook
    with _lock:
        if not _fork_hook:
            _fork_hook = True
            os.register_at_fork(after_in_child=after_fork)
        if sink not in _sinks:
            _sinks.append(sink)
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name, None)
            if stream is not None and not isinstance(stream, Tee):
                setattr(sys, name, Tee(stream, name))


def uninstall(sink: Sink) -> None:
    """Stop handing lines to ``sink``; the streams are restored when no sink is left."""
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)
        if _sinks:
            return
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name, None)
            if isinstance(stream, Tee):
                setattr(sys, name, stream._stream)


def after_fork() -> None:
    """In a forked child: fresh locks, and no capture into runs the child does not own."""
    global _lock
    _lock = threading.Lock()
    _sinks.clear()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        if isinstance(stream, Tee):
            stream._lock = threading.Lock()
            stream._buf = ""
