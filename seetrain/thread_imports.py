"""Modules a background thread imports for the first time, and forks that wait for those imports.

While a module is being imported, the importing thread holds that module's lock. A process forked
then inherits the lock, held by a thread the child does not have, and the child's first import of the
module waits for ever (a data-loader worker forked while SeeTrain's writer thread loaded orjson hung:
tests/core/test_fork_after_first_log.py). Importing everything in ``init()``'s thread instead made every
run pay for it up front (orjson and the record encoder: ~13 ms of ``init()``).

So a SeeTrain thread imports through :func:`load` (or inside :func:`importing`), and
``os.register_at_fork(before=...)`` makes a fork wait, at most :data:`WAIT` seconds, until no such
import is in progress: milliseconds, once per process. Ground floor: imports nothing of seetrain.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

WAIT = 5.0  # a fork waits at most this long (a thread's import that never ends must not stop the fork)

_lock = threading.Lock()
_idle = threading.Condition(_lock)
_active = 0


@contextmanager
def importing() -> Iterator[None]:
    """Mark a first import by this (background) thread: a fork waits until the block ends."""
    global _active
    with _lock:
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if not _active:
                _idle.notify_all()


def load(name: str) -> ModuleType:
    """The module ``name``, imported (the first time) inside :func:`importing`."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    if module is not None and not getattr(spec, "_initializing", False):
        return module  # loaded and complete: no lock, no import
    with importing():
        return importlib.import_module(name)


def wait_for_imports(timeout: float = WAIT) -> bool:
    """Wait until no :func:`importing` block is open (True), or ``timeout`` passed (False)."""
    with _lock:
        return _idle.wait_for(lambda: _active == 0, timeout)


def _before_fork() -> None:
    wait_for_imports()


def _after_fork_in_child() -> None:
    global _lock, _idle, _active
    _lock = threading.Lock()  # the parent's threads are gone, and so are their imports
    _idle = threading.Condition(_lock)
    _active = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
