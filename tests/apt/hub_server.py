"""A local HTTP server that speaks the Hugging Face Hub API calls ``HfApi.create_repo`` and
``HfApi.upload_folder`` make (repo creation, model card YAML validation, preupload, commit with files sent
inline), storing what it gets.

It is a stand-in written for the tests from the huggingface_hub client's requests, not the Hub: it answers
every file as a "regular" (non-LFS) upload, so LFS/Xet transfers are not exercised.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List


class HubServer:
    def __init__(self, token: str = "hf_test_token") -> None:
        self.token = token
        self.repos: Dict[str, Dict[str, Any]] = {}   # repo id -> {"private": bool, "files": {path: bytes}}
        self.requests: List[str] = []
        self.commits: List[Dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, obj: Any) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                server.requests.append(f"POST {self.path}")
                if self.path.startswith("/api/validate-yaml"):  # the README's YAML front matter
                    import yaml

                    req = json.loads(self._body())
                    try:
                        meta = yaml.safe_load(req["content"].split("---")[1])
                        errors = [] if isinstance(meta, dict) else [{"message": "metadata is not a mapping"}]
                    except Exception as exc:
                        errors = [{"message": str(exc)}]
                    return self._send(400 if errors else 200, {"errors": errors, "warnings": []})
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    return self._send(401, {"error": "Invalid credentials in Authorization header"})
                body = self._body()
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    req = json.loads(body)
                    repo = f"{req.get('organization') or 'me'}/{req['name']}"
                    if req.get("type", "model") != "model":
                        return self._send(400, {"error": "only model repos here"})
                    private = req.get("visibility", "private" if req.get("private") else "public") != "public"
                    server.repos.setdefault(repo, {"private": private, "files": {}})
                    return self._send(200, {"url": f"http://{self.headers['Host']}/{repo}", "name": repo})
                if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("preupload", "commit"):
                    repo = f"{parts[2]}/{parts[3]}"
                    if repo not in server.repos:
                        return self._send(404, {"error": f"Repository {repo} not found"})
                    if parts[4] == "preupload":
                        files = json.loads(body)["files"]
                        return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                           "shouldIgnore": False} for f in files]})
                    lines = [json.loads(ln) for ln in body.decode().splitlines() if ln.strip()]
                    header = next(ln["value"] for ln in lines if ln["key"] == "header")
                    files = {}
                    for ln in lines:
                        if ln["key"] == "file":
                            v = ln["value"]
                            files[v["path"]] = base64.b64decode(v["content"]) if v.get("encoding") == "base64" \
                                else v["content"].encode()
                        elif ln["key"] not in ("header",):
                            return self._send(400, {"error": f"unsupported commit operation {ln['key']}"})
                    server.repos[repo]["files"].update(files)
                    oid = f"{len(server.commits) + 1:040x}"
                    server.commits.append({"repo": repo, "summary": header.get("summary"), "files": sorted(files)})
                    return self._send(200, {"commitUrl": f"http://{self.headers['Host']}/{repo}/commit/{oid}",
                                            "commitOid": oid, "success": True})
                return self._send(404, {"error": f"no route {self.path}"})

            def do_GET(self) -> None:
                server.requests.append(f"GET {self.path}")
                return self._send(404, {"error": f"no route {self.path}"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
