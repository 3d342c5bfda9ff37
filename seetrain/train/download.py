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
    """``dest`` (downloaded from ``url`` unless already there with the right MD5). Returns ``dest``."""
    if os.path.isfile(dest) and (md5 is None or md5sum(dest) == md5):
        return dest
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            _download(url, out, timeout)
        got = md5sum(tmp)
        if md5 is not None and got != md5:
            raise TrainConfigError(f"{what}: {url} has MD5 {got}, expected {md5}; the download is corrupt or not "
                                   "the published file (try again, or point the mirror at a good copy)", key=key)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


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
        raise TrainConfigError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrainConfigError(f"could not download {url} ({reason}); check the network, or put the files in the "
                               "cache folder (data.root / $SEETRAIN_DATA_DIR), or set data.mirror to a reachable copy") from None
