"""A local server that behaves like Ollama's API for the calls SeeTrain makes, running models in REAL llama.cpp.

Routes: ``HEAD/POST /api/blobs/<digest>`` (the digest is checked), ``POST /api/create`` (``files`` must name
uploaded blobs holding GGUF; parameters/system/template kept), ``GET /api/tags``, ``POST /api/show``,
``POST /api/generate`` (non-streamed: the prompt is tokenised and continued greedily by llama.cpp through
node-llama-cpp, ``options.num_predict`` tokens). It is a stand-in written for the tests, not Ollama: a real
Ollama was not run (it is not installable here), and prompt templates are not applied.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List

from seetrain.apt.plugins.llamacpp import run_llamacpp_many


class OllamaLikeServer:
    def __init__(self, blob_dir: Path) -> None:
        self.blob_dir = Path(blob_dir)
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.models: Dict[str, Dict[str, Any]] = {}
        self.requests: List[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, obj: Any = None) -> None:
                body = b"" if obj is None else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _blob(self, digest: str) -> Path:
                return outer.blob_dir / digest.replace(":", "-")

            def do_HEAD(self) -> None:
                outer.requests.append(f"HEAD {self.path}")
                digest = self.path.rsplit("/", 1)[-1]
                self._send(200 if self.path.startswith("/api/blobs/") and self._blob(digest).is_file() else 404)

            def do_GET(self) -> None:
                outer.requests.append(f"GET {self.path}")
                if self.path == "/api/tags":
                    return self._send(200, {"models": [{"name": n, "model": n, "size": m["size"], "digest": m["digest"]}
                                                       for n, m in outer.models.items()]})
                self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                outer.requests.append(f"POST {self.path}")
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/api/blobs/"):
                    digest = self.path.rsplit("/", 1)[-1]
                    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                        return self._send(400, {"error": "digest mismatch"})
                    self._blob(digest).write_bytes(data)
                    return self._send(201)
                body = json.loads(data or b"{}")
                if self.path == "/api/create":
                    files = body.get("files") or {}
                    ggufs = [self._blob(d) for d in files.values()]
                    if not ggufs or not all(p.is_file() for p in ggufs):
                        return self._send(400, {"error": "neither 'from' nor 'files' was specified or a blob is missing"})
                    if ggufs[0].read_bytes()[:4] != b"GGUF":
                        return self._send(400, {"error": "invalid file magic"})
                    outer.models[body["model"]] = {"gguf": ggufs[0], "digest": next(iter(files.values())),
                                                   "size": ggufs[0].stat().st_size, "request": body}
                    return self._send(200, {"status": "success"})
                if self.path == "/api/show":
                    m = outer.models.get(body.get("model") or body.get("name"))
                    if m is None:
                        return self._send(404, {"error": f"model '{body.get('model')}' not found"})
                    req = m["request"]
                    return self._send(200, {"parameters": req.get("parameters"), "system": req.get("system"),
                                            "template": req.get("template"), "details": {"format": "gguf"}})
                if self.path == "/api/generate":
                    m = outer.models.get(body.get("model"))
                    if m is None:
                        return self._send(404, {"error": f"model '{body.get('model')}' not found"})
                    opts = body.get("options") or {}
                    t0 = time.perf_counter_ns()
                    res = run_llamacpp_many([{"model": m["gguf"], "prompt_text": body["prompt"],
                                              "n_tokens": int(opts.get("num_predict", 16))}])[0]
                    prompt = res["prompt_ids"]
                    dt = time.perf_counter_ns() - t0
                    return self._send(200, {"model": body["model"], "response": res["text"], "done": True,
                                            "prompt_eval_count": len(prompt), "eval_count": len(res["generated"]),
                                            "eval_duration": dt, "total_duration": dt})
                self._send(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "OllamaLikeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
