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
(``ollama/*`` keys). Modelfiles: :mod:`._modelfile`; the HTTP client: :mod:`._ollama_client`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from ._modelfile import _param_value, _quote, _typed, create_modelfile, parse_modelfile  # noqa: F401
from ._ollama_client import (DEFAULT_HOST, OllamaClient, OllamaConnectionError, OllamaError,  # noqa: F401
                             file_sha256, normalize_host)
from .base import APTPlugin
from .gguf_convert import (GGUFExportResult, UnsupportedQuantizationError, resolve_quantization,
                           supported_quantizations, write_gguf)

PathLike = Union[str, os.PathLike]

# quantisations Ollama's /api/create can apply to an F16/F32 model on the server
OLLAMA_SERVER_QUANTIZE = ("q4_K_M", "q4_K_S", "q8_0")


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
