"""Download a file once into a cache, verify its MD5, and say clearly when that is not possible.

The cache is ``data.root`` or ``$SEETRAIN_DATA_DIR`` or ``~/.cache/seetrain/data``. A ``mirror``
(a base URL) replaces the part of each URL before the file name, for a local copy or a closer host.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from typing import Optional

from .errors import TrainConfigError

CHUNK = 1 << 20


def cache_dir(root: Optional[str] = None, *parts: str) -> str:
    base = root or os.environ.get("SEETRAIN_DATA_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "seetrain", "data")
    path = os.path.join(os.path.abspath(os.path.expanduser(base)), *parts)
    os.makedirs(path, exist_ok=True)
    return path


def md5sum(path: str) -> str:
    h = hashlib.md5()  # integrity against the published checksums, not security
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def with_mirror(url: str, mirror: Optional[str]) -> str:
    return url if not mirror else mirror.rstrip("/") + "/" + url.rsplit("/", 1)[-1]


def fetch(url: str, dest: str, md5: Optional[str] = None, what: str = "file", timeout: float = 60.0,
          key: Optional[str] = None) -> str:
    """``dest`` (downloaded from ``url`` unless already there with the right MD5). Returns ``dest``.

    The messages name the file, its folder and, for a copy already there with another MD5, both
    checksums; the advice fits what is fetched (``key``: ``model.pretrained`` or a ``data.*`` key)."""
    found = None
    if os.path.isfile(dest):
        found = md5sum(dest) if md5 is not None else None
        if md5 is None or found == md5:
            return dest
    folder, name = os.path.split(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                _download(url, out, timeout)
            except _Unreachable as exc:
                raise TrainConfigError(_unreachable_message(url, str(exc), name, folder, md5, found, key), key=key) from None
        got = md5sum(tmp)
        if md5 is not None and got != md5:
            raise TrainConfigError(f"{what}: {url} has MD5 {got}, expected {md5}; the download is corrupt or not "
                                   "the published file (try again, or point the mirror at a good copy)", key=key)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


class _Unreachable(Exception):
    """The download failed; the message is why."""


def _unreachable_message(url: str, reason: str, name: str, folder: str, md5: Optional[str], found: Optional[str],
                         key: Optional[str]) -> str:
    msg = f"could not download {url} ({reason})"
    if found is not None:
        msg += (f"; the copy already in the cache, {name} in {folder}, has MD5 {found} but {md5} is expected "
                "(another version, or a broken copy): replace it with the published file")
    elif key == "model.pretrained":
        return msg + ("; check the network, or download the weights yourself and give model.pretrained=PATH "
                      "(a file), or model.pretrained=false to train from scratch")
    else:
        msg += f"; check the network, or put {name} in {folder} (data.root / $SEETRAIN_DATA_DIR)"
    return msg + (", or set data.mirror to a reachable copy" if key != "model.pretrained" else "")


def _download(url: str, out, timeout: float) -> None:
    from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

    def transient(exc: BaseException) -> bool:  # a 4xx answer will not change on retry
        if isinstance(exc, urllib.error.HTTPError):
            return exc.code >= 500
        return isinstance(exc, (ConnectionError, TimeoutError, urllib.error.URLError))

    @retry(stop=stop_after_attempt(3), wait=wait_exponential(0.5, max=4), reraise=True, retry=retry_if_exception(transient))
    def attempt() -> None:
        out.seek(0)
        out.truncate()
        req = urllib.request.Request(url, headers={"User-Agent": "seetrain"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            for block in iter(lambda: resp.read(CHUNK), b""):
                out.write(block)

    try:
        attempt()
    except urllib.error.HTTPError as exc:
        raise _Unreachable(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise _Unreachable(str(getattr(exc, "reason", exc))) from None
