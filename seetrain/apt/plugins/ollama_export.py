"""The ``ollama-export`` APT plugin: GGUF files, Ollama Modelfiles, and Ollama's HTTP API.

    plugin = OllamaExportPlugin()
    plugin.export_to_gguf(llama_model, "out/tiny-q8.gguf", "Q8_0")        # llama.cpp / Ollama can run it
    files = plugin.export_to_ollama(llama_model, "tiny", "Q8_0", system_prompt="Be brief.", output_dir="out")
    plugin.register_to_ollama("tiny", files["modelfile"])                 # blob upload + POST /api/create
    plugin.test_model("tiny", "Hello")                                     # POST /api/generate

llama.cpp and Ollama have no APT architecture, so an APT model cannot run there as itself.
``export_to_ollama`` takes the route that works: it distils the APT model into a Llama-architecture student
(:func:`.llama_student.distill_to_llama`, the model-distillation plugin's KD loss) on the text given as
``distill_text`` and exports that student. ``export_to_gguf`` of an APT model writes its own ``apt``
architecture (for storage and :func:`load_apt_from_gguf`, not for llama.cpp). Llama-style Transformers models
are written in llama.cpp's ``llama`` layout. Sizes, times and quantisation errors go to the SeeTrain run
(``ollama/*`` keys).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .base import APTPlugin
from .gguf_convert import (GGUFExportResult, UnsupportedQuantizationError, resolve_quantization,
                           supported_quantizations, write_gguf)

PathLike = Union[str, os.PathLike]
DEFAULT_HOST = "http://127.0.0.1:11434"

# quantisations Ollama's /api/create can apply to an F16/F32 model on the server
OLLAMA_SERVER_QUANTIZE = ("q4_K_M", "q4_K_S", "q8_0")


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


# --------------------------------------------------------------------------------------------------
# Modelfile
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# Ollama HTTP API
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# the plugin
# --------------------------------------------------------------------------------------------------
class OllamaExportPlugin(APTPlugin):
    """GGUF export (F16/Q8_0/Q4_0, ... see :func:`supported_quantizations`), Modelfiles and Ollama registration.

    Options: ``output_dir`` and ``model_name`` (export at the end of training when both are set),
    ``quantization``, ``system_prompt``, ``template``, ``parameters``, ``register`` (also create the model
    in Ollama at the end of training), ``host``.
    """

    name = "ollama-export"
    default_config: Dict[str, Any] = {
        "output_dir": None,
        "model_name": None,
        "quantization": "Q8_0",
        "system_prompt": None,
        "template": None,
        "parameters": None,
        "register": False,
        "host": None,
        "distill_corpus": "default",   # APT models: text the Llama student learns from (a shipped corpus or a path)
        "distill_steps": 300,
    }

    supported_quantizations = staticmethod(supported_quantizations)

    def create_modelfile(self, base_model: str, parameters: Optional[Mapping[str, Any]] = None,
                         system_prompt: Optional[str] = None, template: Optional[str] = None,
                         output_path: Optional[PathLike] = None, **kwargs: Any) -> str:
        """The Modelfile text (see :func:`create_modelfile`); also written to ``output_path`` when given."""
        text = create_modelfile(base_model, parameters, system_prompt, template, **kwargs)
        if output_path is not None:
            Path(output_path).parent.mkdir(parents=True, exist_ok=True)
            Path(output_path).write_text(text, encoding="utf-8")
        return text

    def export_to_gguf(self, model_or_path: Any, output_path: PathLike, quantization: str = "F16",
                       tokenizer: Any = None, name: Optional[str] = None) -> GGUFExportResult:
        """Write a GGUF file; logs its size, the time taken and the quantisation error."""
        result = write_gguf(model_or_path, output_path, quantization, tokenizer=tokenizer, name=name)
        self.log({"ollama/gguf_bytes": result.n_bytes, "ollama/gguf_seconds": result.seconds,
                  "ollama/gguf_tensors": result.n_tensors, "ollama/quant_max_abs_error": result.max_abs_error,
                  "ollama/quant_mean_rel_error": result.mean_rel_error})
        return result

    def export_to_ollama(self, model: Any, model_name: str, quantization: str = "Q8_0",
                         system_prompt: Optional[str] = None, output_dir: PathLike = ".",
                         template: Optional[str] = None, parameters: Optional[Mapping[str, Any]] = None,
                         tokenizer: Any = None, distill_text: Optional[str] = None,
                         distill_steps: int = 300) -> Dict[str, Any]:
        """Write ``<output_dir>/<model_name>.gguf`` and a ``Modelfile`` next to it.

        An APT model is first distilled into a Llama student on ``distill_text`` (``distill_steps`` steps; the
        student is also saved to ``<output_dir>/<model_name>-llama-student``), since llama.cpp cannot run APT.
        K-quants (Q4_K_M, ...) are made by llama.cpp's own quantiser when node-llama-cpp is installed; otherwise
        the file is written as F16 and ``quantize`` is returned for :meth:`register_to_ollama`, which asks
        Ollama to quantise on create. Returns ``{"gguf", "modelfile", "quantization", "quantize",
        "architecture", "distilled"}``.
        """
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/-]*", model_name):
            raise ValueError(f"bad Ollama model name {model_name!r}: use letters, digits, '.', '_', '-', ':' or '/'")
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        quantize = None
        try:
            resolve_quantization(quantization)
            local = quantization
        except UnsupportedQuantizationError:
            from .llamacpp import llamacpp_can_quantize

            server = {q.lower(): q for q in OLLAMA_SERVER_QUANTIZE}
            if "_K" in quantization.upper() and llamacpp_can_quantize():
                local = quantization
            elif quantization.lower() in server:
                local, quantize = "F16", server[quantization.lower()]
            else:
                raise
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", model_name)
        distilled = None
        if type(getattr(getattr(model, "apt_model", model), "config", None)).__name__ == "APTConfig":
            if not distill_text:
                raise ValueError(
                    f"{model_name!r} is an APT model, which llama.cpp and Ollama cannot run (no 'apt' architecture). "
                    "The working route distils it into a Llama student and exports that: pass distill_text= (the "
                    "text the student learns from, e.g. seetrain.apt.data.corpus.load_corpus()), or call "
                    "seetrain.apt.plugins.llama_student.distill_to_llama yourself and export the student.")
            from .llama_student import distill_to_llama

            model, report = distill_to_llama(model, distill_text, steps=distill_steps, log=self.log)
            model.save_pretrained(str(out / f"{safe}-llama-student"))
            distilled = {**report.as_dict(), "student_dir": str(out / f"{safe}-llama-student")}
        gguf_path = out / f"{safe}-{local.lower()}.gguf"
        result = self.export_to_gguf(model, gguf_path, local, tokenizer=tokenizer, name=model_name)
        params = dict(parameters or {})
        modelfile = out / "Modelfile"
        self.create_modelfile(f"./{gguf_path.name}", params, system_prompt,
                              template if template is not None else "{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}",
                              output_path=modelfile)
        return {"gguf": str(gguf_path), "modelfile": str(modelfile), "quantization": local, "quantize": quantize,
                "architecture": result.architecture, "distilled": distilled}

    def register_to_ollama(self, model_name: str, modelfile_path: PathLike, host: Optional[str] = None,
                           quantize: Optional[str] = None) -> Dict[str, Any]:
        """Create ``model_name`` in a running Ollama from a Modelfile: upload the GGUF blob, then
        ``POST /api/create`` with ``files``, parameters, template and system prompt."""
        client = OllamaClient(host or self.config.get("host"))
        modelfile_path = Path(modelfile_path)
        spec = parse_modelfile(modelfile_path.read_text(encoding="utf-8"))
        t0 = time.perf_counter()
        source = spec["from"]
        candidate = Path(source) if Path(source).is_absolute() else modelfile_path.parent / source
        files, from_, sent = None, None, 0
        if candidate.is_file():
            digest, sent = client.push_blob(candidate)
            files = {candidate.name: digest}
        elif source.startswith((".", "/", "~")) or source.endswith((".gguf", ".bin", ".safetensors")):
            raise FileNotFoundError(f"the Modelfile's FROM {source!r} is not a file (looked for {candidate})")
        else:
            from_ = source
        upload_s = time.perf_counter() - t0
        status = client.create(model_name, files=files, from_=from_, parameters=spec["parameters"] or None,
                               system=spec["system"], template=spec["template"], license=spec["license"],
                               messages=spec["messages"] or None, quantize=quantize)
        self.log({"ollama/upload_bytes": sent, "ollama/upload_seconds": upload_s,
                  "ollama/create_seconds": time.perf_counter() - t0 - upload_s})
        return {"model": model_name, "host": client.host, "files": files, "from": from_, **status}

    def test_model(self, model_name: str, prompt: str, host: Optional[str] = None,
                   options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Run one prompt through ``POST /api/generate``; logs latency and tokens per second."""
        client = OllamaClient(host or self.config.get("host"))
        t0 = time.perf_counter()
        result = client.generate(model_name, prompt, options=options)
        wall = time.perf_counter() - t0
        stats: Dict[str, float] = {"ollama/generate_seconds": wall}
        if result.get("eval_count") is not None:
            stats["ollama/eval_tokens"] = int(result["eval_count"])
            if result.get("eval_duration"):
                stats["ollama/tokens_per_second"] = result["eval_count"] / (result["eval_duration"] / 1e9)
        self.log(stats)
        return result

    def list_models(self, host: Optional[str] = None) -> List[str]:
        """Names of the models a running Ollama has (``GET /api/tags``)."""
        return [m.get("name") or m.get("model") for m in OllamaClient(host or self.config.get("host")).tags()]

    # --- hooks -------------------------------------------------------------------------------
    def on_training_end(self, context: Dict[str, Any]) -> None:
        """Export (and optionally register) the trained model when ``output_dir`` and ``model_name`` are set."""
        model = context.get("model")
        if model is None or not self.config.get("output_dir") or not self.config.get("model_name"):
            return
        text = None
        if type(getattr(getattr(model, "apt_model", model), "config", None)).__name__ == "APTConfig":
            from seetrain.apt.data.corpus import load_corpus

            text = load_corpus(self.config.get("distill_corpus") or "default")
        files = self.export_to_ollama(model, self.config["model_name"], self.config.get("quantization") or "Q8_0",
                                      self.config.get("system_prompt"), self.config["output_dir"],
                                      self.config.get("template"), self.config.get("parameters"),
                                      tokenizer=context.get("tokenizer"), distill_text=text,
                                      distill_steps=int(self.config.get("distill_steps") or 300))
        if self.config.get("register"):
            self.register_to_ollama(self.config["model_name"], files["modelfile"], quantize=files["quantize"])


__all__ = ["OllamaExportPlugin", "OllamaClient", "OllamaError", "OllamaConnectionError", "create_modelfile",
           "parse_modelfile", "normalize_host", "supported_quantizations"]
