"""Opening files inside a run directory without following symbolic links.

A run directory may come from anywhere (copied from a cluster, unpacked from an archive), and what
reads it (``seetrain sync``, the ``seetrain ui`` watcher, the readers) runs with the user's rights:
a ``media/x.png`` linking to ``~/.ssh/id_rsa``, or a ``media`` folder linking to ``/etc``, would
upload or serve that file. So no path component below the run directory is ever followed: each
folder is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent and the file itself
with ``O_NOFOLLOW``; a link anywhere raises :class:`LinkRefused`. Only regular files are opened
(a FIFO would hang the reader, a device would never end). The run directory itself may be a link
(the user named it, or keeps a log directory on another disk).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_FILE_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_DIRECTORY


class LinkRefused(OSError):
    """A path inside a run directory is a symbolic link, or something other than a regular file."""

    def __init__(self, path: str, what: str, advice: str = "replace it with a copy of the file itself") -> None:
        super().__init__(errno.ELOOP, f"{path} is {what}: SeeTrain never follows links or opens special files "
                                      f"inside a run directory (one could point at any file on this machine); {advice}")
        self.path = path


def _refuse_if_link(err: OSError, name: str, dir_fd: "int | None", shown: str) -> None:
    """Turn the error of an ``O_NOFOLLOW`` open into :class:`LinkRefused` when ``name`` is a link."""
    if err.errno not in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):
        return
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise LinkRefused(shown, "a symbolic link") from None


def _open_regular(name: str, dir_fd: "int | None", shown: str) -> BinaryIO:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        _refuse_if_link(exc, name, dir_fd, shown)
        exc.filename = shown
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a directory", shown)
            raise LinkRefused(shown, "not a regular file (a FIFO, socket or device)")
        if _FILE_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_nofollow(path: "os.PathLike[str] | str") -> BinaryIO:
    """Open the regular file ``path`` for reading, refusing it when its last component is a link."""
    path = os.fspath(path)
    return _open_regular(path, None, path)


def open_in_run(run_dir: "os.PathLike[str] | str", rel: str) -> BinaryIO:
    """Open ``run_dir/rel`` for reading with no component of ``rel`` followed if it is a link.

    ``rel`` is a relative path with ``/`` separators (``records.jsonl``, ``media/img/3_7.png``);
    one that is absolute or holds ``..`` is refused with :class:`LinkRefused` too. A missing file
    raises ``FileNotFoundError`` as ``open`` does.
    """
    run_dir = os.fspath(run_dir)
    shown = os.path.join(run_dir, rel)
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in rel:
        raise LinkRefused(shown, "not a path inside the run directory", "media paths are relative, without '..'")
    if len(parts) == 1:
        return _open_regular(shown, None, shown)
    fd = os.open(run_dir, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                _refuse_if_link(exc, part, fd, os.path.join(run_dir, *parts[: i + 1]))
                exc.filename = shown
                raise
            os.close(fd)
            fd = nxt
        return _open_regular(parts[-1], fd, shown)
    finally:
        os.close(fd)


def read_in_run(run_dir: "os.PathLike[str] | str", rel: str) -> bytes:
    """The bytes of ``run_dir/rel`` (see :func:`open_in_run`)."""
    with open_in_run(run_dir, rel) as f:
        return f.read()
