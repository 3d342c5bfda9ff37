"""A minimal client of Ollama's HTTP API, used by :mod:`.ollama_export`."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple, Union

PathLike = Union[str, os.PathLike]
DEFAULT_HOST = "http://127.0.0.1:11434"


class OllamaError(RuntimeError):
    """Ollama answered with an error."""


class OllamaConnectionError(OllamaError):
    """No Ollama server answers at the host."""


def normalize_host(host: Optional[str] = None) -> str:
    """``scheme://host:port`` from ``host``, ``$OLLAMA_HOST`` or the default (``127.0.0.1:11434``).

    A missing scheme means ``http``; a missing port means 11434 for http (https keeps its default);
    ``0.0.0.0`` (a server's listen address) is reached as ``127.0.0.1``.
    """
    host = (host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    scheme, rest = host.split("://", 1)
    netloc, slash, path = rest.partition("/")
    if netloc.startswith("0.0.0.0"):
        netloc = "127.0.0.1" + netloc[len("0.0.0.0"):]
    if ":" not in netloc.rsplit("]", 1)[-1] and scheme == "http":
        netloc += ":11434"
    return f"{scheme}://{netloc}{slash}{path}".rstrip("/")

def file_sha256(path: PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class OllamaClient:
    """A minimal client of Ollama's REST API (``/api/blobs``, ``/api/create``, ``/api/generate``, ``/api/tags``)."""

    def __init__(self, host: Optional[str] = None, timeout: float = 300.0) -> None:
        self.host = normalize_host(host)
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None, data: Any = None,
                 headers: Optional[Dict[str, str]] = None, ok_404: bool = False) -> Tuple[int, bytes]:
        url = self.host + path
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            if ok_404 and exc.code == 404:
                return 404, payload
            try:
                msg = json.loads(payload.decode()).get("error") or payload.decode()
            except Exception:
                msg = payload.decode(errors="replace")
            raise OllamaError(f"Ollama {method} {path} failed with HTTP {exc.code}: {msg}") from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OllamaConnectionError(
                f"cannot reach Ollama at {self.host} ({reason}). Start the server with `ollama serve` (install "
                "Ollama first), or point host= / the OLLAMA_HOST variable at a running server.") from exc

    def _json(self, method: str, path: str, body: Any = None) -> Dict[str, Any]:
        _, raw = self._request(method, path, body=body)
        text = raw.decode()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) > 1:  # a streamed answer: the last object is the final status
            objs = [json.loads(ln) for ln in lines]
            for o in objs:
                if "error" in o:
                    raise OllamaError(f"Ollama {path}: {o['error']}")
            return objs[-1]
        obj = json.loads(text) if text.strip() else {}
        if isinstance(obj, dict) and "error" in obj:
            raise OllamaError(f"Ollama {path}: {obj['error']}")
        return obj

    def version(self) -> str:
        return self._json("GET", "/api/version").get("version", "")

    def blob_exists(self, digest: str) -> bool:
        status, _ = self._request("HEAD", f"/api/blobs/{digest}", ok_404=True)
        return status == 200

    def push_blob(self, path: PathLike) -> Tuple[str, int]:
        """Upload a file as a blob (skipped when the server has it); ``(digest, bytes sent)``."""
        digest = "sha256:" + file_sha256(path)
        if self.blob_exists(digest):
            return digest, 0
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            self._request("POST", f"/api/blobs/{digest}", data=f,
                          headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
        return digest, size

    def create(self, model: str, files: Optional[Dict[str, str]] = None, from_: Optional[str] = None,
               parameters: Optional[Dict[str, Any]] = None, system: Optional[str] = None,
               template: Optional[str] = None, license: Optional[str] = None,
               messages: Optional[List[Dict[str, str]]] = None, quantize: Optional[str] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"model": model, "stream": False}
        for key, value in (("files", files), ("from", from_), ("parameters", parameters), ("system", system),
                           ("template", template), ("license", license), ("messages", messages),
                           ("quantize", quantize)):
            if value:
                body[key] = value
        return self._json("POST", "/api/create", body)

    def generate(self, model: str, prompt: str, options: Optional[Dict[str, Any]] = None,
                 system: Optional[str] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"model": model, "prompt": prompt, "stream": False}
        if options:
            body["options"] = dict(options)
        if system is not None:
            body["system"] = system
        return self._json("POST", "/api/generate", body)

    def tags(self) -> List[Dict[str, Any]]:
        return list(self._json("GET", "/api/tags").get("models", []))
