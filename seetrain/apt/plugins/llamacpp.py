"""Real llama.cpp from the npm package ``node-llama-cpp`` (prebuilt CPU binaries): run and quantise GGUF files.

Install it with ``bash scripts/install_llamacpp.sh`` (into ``./.node-llamacpp``; ``$SEETRAIN_LLAMACPP_DIR``
points elsewhere). Two things are used:

* :func:`run_llamacpp` loads a GGUF file in llama.cpp through node-llama-cpp and returns the token ids
  llama.cpp's own tokenizer gives for a text, and the greedy continuation of a prompt (temperature 0).
* :func:`quantize_with_llamacpp` calls ``llama_model_quantize`` of the package's ``libllama`` shared
  library (through ``ctypes``): llama.cpp's own quantiser, which writes the K-quants (Q4_K_M, Q6_K, ...)
  that gguf-py can only read. node-llama-cpp ships no ``llama-quantize`` program and no JavaScript API
  for it, but its ``libllama`` exports the C function.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

PathLike = Union[str, os.PathLike]

_RUNNER = r"""
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const jobs = JSON.parse(process.argv[2]);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false});
const results = [];
for (const req of jobs) {
  const model = await llama.loadModel({modelPath: req.model, gpuLayers: 0});
  const out = {tokenized: req.texts.map((t) => Array.from(model.tokenize(t, false))), bos: model.tokens.bos,
               eos: model.tokens.eos, generated: []};
  const prompt = req.prompt_text != null ? Array.from(model.tokenize(req.prompt_text, false)) : req.prompt_ids;
  out.prompt_ids = prompt;
  if (prompt.length) {
    const context = await model.createContext({contextSize: req.context_size, batchSize: req.context_size,
                                               threads: req.threads});
    const sequence = context.getSequence();
    for await (const token of sequence.evaluate(prompt, {temperature: 0})) {
      out.generated.push(token);
      if (out.generated.length >= req.n_tokens) break;
    }
    await context.dispose();
  }
  out.text = model.detokenize(out.generated, false);
  await model.dispose();
  results.push(out);
}
await llama.dispose();
process.stdout.write(JSON.stringify(results) + "\n");
"""

_PLATFORMS = {("Linux", "x86_64"): "linux-x64", ("Linux", "aarch64"): "linux-arm64",
              ("Darwin", "arm64"): "mac-arm64-metal", ("Darwin", "x86_64"): "mac-x64"}


class LlamaCppUnavailable(RuntimeError):
    """node-llama-cpp (or node itself) is not installed here."""


def install_dir() -> Path:
    """Where node-llama-cpp is installed: ``$SEETRAIN_LLAMACPP_DIR``, else ``.node-llamacpp`` in the current
    directory or in the SeeTrain checkout."""
    env = os.environ.get("SEETRAIN_LLAMACPP_DIR")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / ".node-llamacpp" / "node_modules" / "node-llama-cpp").is_dir():
            return base / ".node-llamacpp"
    return Path.cwd() / ".node-llamacpp"


def why_unavailable() -> Optional[str]:
    """None when llama.cpp can be run here; else the reason, with the command that fixes it."""
    if shutil.which("node") is None:
        return "node (Node.js >= 18) is not installed; llama.cpp runs through the npm package node-llama-cpp"
    if not (install_dir() / "node_modules" / "node-llama-cpp").is_dir():
        return f"node-llama-cpp is not installed in {install_dir()}: run `bash scripts/install_llamacpp.sh`"
    return None


def run_llamacpp(model_path: PathLike, texts: Sequence[str] = (), prompt_ids: Sequence[int] = (),
                 n_tokens: int = 0, context_size: int = 128, threads: int = 1, timeout: float = 120.0) -> Dict[str, Any]:
    """Load ``model_path`` in llama.cpp; ``{"tokenized": [ids per text], "generated": [greedy ids], "text": the
    generated ids detokenised, "bos", "eos"}``.

    ``texts`` are tokenised without special tokens; ``prompt_ids`` are evaluated as given and ``n_tokens``
    are generated greedily (temperature 0, no repetition penalty). A job of :func:`run_llamacpp_many` may give
    ``prompt_text`` instead of ``prompt_ids`` (tokenised by llama.cpp without special tokens).
    """
    job = {"model": model_path, "texts": texts, "prompt_ids": prompt_ids, "n_tokens": n_tokens,
           "context_size": context_size, "threads": threads}
    return run_llamacpp_many([job], timeout)[0]


def run_llamacpp_many(jobs: Sequence[Dict[str, Any]], timeout: float = 300.0) -> List[Dict[str, Any]]:
    """:func:`run_llamacpp` for several models in one llama.cpp process (loading node-llama-cpp once)."""
    reason = why_unavailable()
    if reason:
        raise LlamaCppUnavailable(reason)
    request = [{"model": str(Path(j["model"]).resolve()), "texts": list(j.get("texts") or []),
                "prompt_ids": [int(i) for i in j.get("prompt_ids") or []], "n_tokens": int(j.get("n_tokens", 0)),
                "prompt_text": j.get("prompt_text"),
                "context_size": int(j.get("context_size", 128)), "threads": int(j.get("threads", 1))} for j in jobs]
    with tempfile.NamedTemporaryFile("w", suffix=".mjs", dir=install_dir(), delete=False) as f:
        f.write(_RUNNER)
        script = f.name
    try:
        proc = subprocess.run(["node", script, json.dumps(request)], cwd=str(install_dir()), capture_output=True,
                              text=True, timeout=timeout)
    finally:
        os.unlink(script)
    if proc.returncode != 0:
        raise RuntimeError(f"llama.cpp could not run {[j['model'] for j in request]}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------
# llama.cpp's quantiser
# --------------------------------------------------------------------------------------------------
def libllama_path() -> Path:
    """The ``libllama`` shared library of the installed node-llama-cpp platform package."""
    plat = _PLATFORMS.get((platform.system(), platform.machine()))
    if plat is None:
        raise LlamaCppUnavailable(f"no prebuilt node-llama-cpp for {platform.system()} {platform.machine()}")
    bins = install_dir() / "node_modules" / "@node-llama-cpp" / plat / "bins" / plat
    libs = sorted(bins.glob("libllama.*so*")) + sorted(bins.glob("libllama*.dylib"))
    libs = [p for p in libs if "common" not in p.name]
    if not libs:
        raise LlamaCppUnavailable(f"node-llama-cpp's libllama is not in {bins}: run `bash scripts/install_llamacpp.sh`")
    return libs[0]


class _QuantizeParams(ctypes.Structure):
    # llama_model_quantize_params begins with ``int32_t nthread; enum llama_ftype ftype;`` in every llama.cpp
    # release; the rest is left as llama_model_quantize_default_params() filled it (room for future fields).
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int32), ("_rest", ctypes.c_ubyte * 1016)]


def quantize_with_llamacpp(src: PathLike, dst: PathLike, quantization: str, threads: int = 1) -> Path:
    """Quantise the GGUF file ``src`` (F32/F16) into ``dst`` with llama.cpp's ``llama_model_quantize``.

    ``quantization`` is a llama.cpp file type name such as ``Q4_K_M``, ``Q4_K_S``, ``Q5_K_M``, ``Q6_K``, ``Q3_K_M``.
    """
    import gguf

    name = str(quantization).strip().upper()
    name = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M"}.get(name, name)
    try:
        ftype = int(gguf.LlamaFileType[f"MOSTLY_{name}"])
    except KeyError:
        raise ValueError(f"llama.cpp has no file type {quantization!r} (try Q4_K_M, Q5_K_M, Q6_K, Q8_0)") from None
    lib = ctypes.CDLL(str(libllama_path()))
    lib.llama_model_quantize_default_params.restype = _QuantizeParams
    lib.llama_model_quantize_default_params.argtypes = []
    lib.llama_model_quantize.restype = ctypes.c_uint32
    lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_QuantizeParams)]
    params = lib.llama_model_quantize_default_params()
    params.nthread, params.ftype = int(threads), ftype
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    rc = lib.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.is_file():
        raise RuntimeError(f"llama.cpp's quantiser failed ({rc}) making {name} from {src}")
    return dst


def llamacpp_can_quantize() -> bool:
    """Whether :func:`quantize_with_llamacpp` can be used here."""
    try:
        libllama_path()
        return True
    except LlamaCppUnavailable:
        return False


__all__ = ["LlamaCppUnavailable", "install_dir", "why_unavailable", "run_llamacpp", "run_llamacpp_many", "libllama_path",
           "quantize_with_llamacpp", "llamacpp_can_quantize"]
