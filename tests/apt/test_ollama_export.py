"""ollama-export: GGUF files read back with gguf.GGUFReader, Modelfiles, and Ollama's HTTP API against a
local test server that checks every request."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

import seetrain  # noqa: E402
from seetrain.apt.plugins import plugin_class  # noqa: E402
from seetrain.apt.plugins.gguf_convert import (UnsupportedQuantizationError, _permute_rope,  # noqa: E402
                                               load_apt_from_gguf, read_metadata, read_tensors,
                                               supported_quantizations)
from seetrain.apt.plugins.ollama_export import (OllamaConnectionError, OllamaError,  # noqa: E402
                                                OllamaExportPlugin, create_modelfile, parse_modelfile)

# per-type bound on ||dequantised - original|| / ||original|| (a wrong layout gives ~1.4)
REL_BOUND = {"F32": 0.0, "F16": 1e-3, "Q8_0": 0.01, "Q5_0": 0.05, "Q4_0": 0.12}
# per-block bound on max |error| / max |block| for the block types (32 values a block)
BLOCK_BOUND = {"Q8_0": 1 / 254 + 2e-3, "Q5_0": 1 / 16 + 1e-2, "Q4_0": 1 / 8 + 1e-2}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      rms_norm_eps=1e-5, pad_token_id=256, bos_token_id=257, eos_token_id=258,
                      tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # norms away from 1 so a lost norm would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def apt_model():
    from seetrain.apt.model import APTConfig, APTLanguageModel

    torch.manual_seed(0)
    return APTLanguageModel(APTConfig(vocab_size=259, d_model=64, n_heads=4, n_layers=2, rank=16,
                                      max_seq_len=64)).eval()


def _expected_llama_tensors(model):
    """The HF tensors under their GGUF names, Q/K rows permuted for llama.cpp's rope."""
    cfg = model.config
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    out = {"token_embd.weight": model.model.embed_tokens.weight, "output_norm.weight": model.model.norm.weight,
           "output.weight": model.lm_head.weight}
    for i, layer in enumerate(model.model.layers):
        for hf, gg in names.items():
            out[f"blk.{i}.{gg}.weight"] = layer.get_submodule(hf).weight
    out = {k: v.detach().float().numpy() for k, v in out.items()}
    for i in range(cfg.num_hidden_layers):
        out[f"blk.{i}.attn_q.weight"] = _permute_rope(out[f"blk.{i}.attn_q.weight"], cfg.num_attention_heads)
        out[f"blk.{i}.attn_k.weight"] = _permute_rope(out[f"blk.{i}.attn_k.weight"], cfg.num_key_value_heads)
    return out


def test_supported_quantizations_and_clear_errors(tmp_path, llama, monkeypatch):
    # gguf-py alone (no node-llama-cpp: an empty install dir) cannot write K-quants, and says how to get them
    monkeypatch.setenv("SEETRAIN_LLAMACPP_DIR", str(tmp_path / "no-llamacpp"))
    supported = supported_quantizations()
    for q in ("F16", "Q8_0", "Q4_0"):
        assert q in supported
    for q in ("Q4_K", "Q4_K_M", "Q5_K", "Q6_K"):
        assert q not in supported
        with pytest.raises(UnsupportedQuantizationError) as err:
            OllamaExportPlugin().export_to_gguf(llama, tmp_path / "x.gguf", q)
        msg = str(err.value)
        assert "llama-quantize" in msg and "install_llamacpp.sh" in msg and "Q8_0" in msg and "not supported" in msg
    with pytest.raises(UnsupportedQuantizationError, match="unknown GGUF quantisation"):
        OllamaExportPlugin().export_to_gguf(llama, tmp_path / "x.gguf", "Q9_9")
    assert not (tmp_path / "x.gguf").exists()


@pytest.mark.parametrize("quant", ["F16", "Q8_0", "Q5_0", "Q4_0"])
def test_llama_gguf_tensors_metadata_and_tokenizer(tmp_path, logdir, llama, quant):
    run = seetrain.init(project="gguf", config={"q": quant})
    plugin = OllamaExportPlugin()
    path = tmp_path / f"tiny-{quant}.gguf"
    result = plugin.export_to_gguf(llama, path, quant)
    run.finish()

    reader = gguf.GGUFReader(str(path))
    meta = {k: f.contents() for k, f in reader.fields.items()}
    assert meta["general.architecture"] == "llama"
    assert meta["general.file_type"] == int(gguf.LlamaFileType[{"F16": "MOSTLY_F16"}.get(quant, "MOSTLY_" + quant)])
    assert meta["general.quantization_version"] == gguf.GGML_QUANT_VERSION
    assert meta["llama.context_length"] == 128 and meta["llama.embedding_length"] == 64
    assert meta["llama.block_count"] == 2 and meta["llama.feed_forward_length"] == 128
    assert meta["llama.attention.head_count"] == 4 and meta["llama.attention.head_count_kv"] == 2
    assert meta["llama.rope.dimension_count"] == 16
    assert meta["llama.rope.freq_base"] == pytest.approx(10000.0)
    assert meta["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)
    # the byte vocabulary, SPM style: byte tokens, the space as the word-boundary piece, control specials
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    assert meta["tokenizer.ggml.model"] == "llama" and len(tokens) == 259 == len(types)
    assert tokens[0x41] == "<0x41>" and types[0x41] == int(gguf.TokenType.BYTE)
    assert tokens[0x20] == "\u2581" and types[0x20] == int(gguf.TokenType.NORMAL)
    assert tokens[256:] == ["<pad>", "<bos>", "<eos>"] and set(types[256:]) == {int(gguf.TokenType.CONTROL)}
    assert (meta["tokenizer.ggml.padding_token_id"], meta["tokenizer.ggml.bos_token_id"],
            meta["tokenizer.ggml.eos_token_id"]) == (256, 257, 258)
    assert meta["tokenizer.ggml.add_space_prefix"] is False

    expected = _expected_llama_tensors(llama)
    got = {t.name: t for t in reader.tensors}
    assert set(got) == set(expected)
    for name, want in expected.items():
        t = got[name]
        assert tuple(int(x) for x in reversed(t.shape.tolist())) == want.shape, name
        back = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(want.shape)
        if want.ndim == 1:
            assert t.tensor_type == gguf.GGMLQuantizationType.F32
            np.testing.assert_array_equal(back, want)
            continue
        assert t.tensor_type.name == quant, name
        rel = np.linalg.norm(back - want) / np.linalg.norm(want)
        assert rel <= max(REL_BOUND[quant], 1e-7), (name, rel)
        if quant in BLOCK_BOUND:
            blocks_err = np.abs(back - want).reshape(-1, 32).max(1)
            blocks_amax = np.abs(want).reshape(-1, 32).max(1)
            assert np.all(blocks_err <= BLOCK_BOUND[quant] * blocks_amax + 1e-8), name
    # the Q/K permutation is really applied (and differs from the HF layout)
    q_hf = llama.model.layers[0].self_attn.q_proj.weight.detach().numpy()
    q_file = read_tensors(path)["blk.0.attn_q.weight"][1]
    assert np.linalg.norm(q_file - q_hf) > 0.5 * np.linalg.norm(q_hf)

    logged = seetrain.read_run(run.dir)
    assert logged.scalars("ollama/gguf_bytes").values[-1] == path.stat().st_size == result.n_bytes
    assert logged.scalars("ollama/gguf_tensors").values[-1] == 21
    err = logged.scalars("ollama/quant_mean_rel_error").values[-1]
    assert err <= REL_BOUND[quant] and (quant == "F16" or err > 1e-4)


def _rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def _rope_adjacent_pairs(x, theta):
    """llama.cpp's LLAMA_ROPE_TYPE_NORM: rotate dimensions (2i, 2i+1) of each head. x: (T, H, D)."""
    T, _, D = x.shape
    inv = theta ** (-np.arange(0, D, 2) / D)
    ang = np.arange(T)[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def _llama_cpp_style_forward(path, ids):
    """A from-first-principles Llama forward on the GGUF tensors, with llama.cpp's rope convention."""
    meta = read_metadata(path)
    W = {k: v for k, (_, v) in read_tensors(path).items()}
    H, KV = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    eps, theta = meta["llama.attention.layer_norm_rms_epsilon"], meta["llama.rope.freq_base"]
    x = W["token_embd.weight"][ids]
    T, d = x.shape
    D = d // H
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(meta["llama.block_count"]):
        h = _rms(x, W[f"blk.{i}.attn_norm.weight"], eps)
        q = _rope_adjacent_pairs((h @ W[f"blk.{i}.attn_q.weight"].T).reshape(T, H, D), theta)
        k = _rope_adjacent_pairs((h @ W[f"blk.{i}.attn_k.weight"].T).reshape(T, KV, D), theta)
        v = (h @ W[f"blk.{i}.attn_v.weight"].T).reshape(T, KV, D)
        k, v = np.repeat(k, H // KV, axis=1), np.repeat(v, H // KV, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(D) + mask
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        x = x + np.einsum("hts,shd->thd", p, v).reshape(T, d) @ W[f"blk.{i}.attn_output.weight"].T
        h = _rms(x, W[f"blk.{i}.ffn_norm.weight"], eps)
        g = h @ W[f"blk.{i}.ffn_gate.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ W[f"blk.{i}.ffn_up.weight"].T)) @ W[f"blk.{i}.ffn_down.weight"].T
    return _rms(x, W["output_norm.weight"], eps) @ W["output.weight"].T


def test_llama_gguf_runs_like_the_original(tmp_path, llama):
    """The file computes the same logits (a) in a llama.cpp-convention reference forward and (b) when
    Transformers' own GGUF loader reads it back."""
    from transformers import LlamaForCausalLM

    ids = torch.tensor([[257, 72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100]])
    with torch.no_grad():
        want = llama(ids).logits[0].numpy()
    OllamaExportPlugin().export_to_gguf(llama, tmp_path / "f32.gguf", "F32")
    ref = _llama_cpp_style_forward(tmp_path / "f32.gguf", ids[0].numpy())
    np.testing.assert_allclose(ref, want, atol=1e-4)

    for quant, atol in (("F16", 2e-3), ("Q8_0", 2e-2)):
        OllamaExportPlugin().export_to_gguf(llama, tmp_path / f"{quant}.gguf", quant)
        back = LlamaForCausalLM.from_pretrained(str(tmp_path), gguf_file=f"{quant}.gguf").eval()
        with torch.no_grad():
            got = back(ids).logits[0].numpy()
        assert np.abs(got - want).max() < atol, quant
        assert np.abs(got - want).max() > 0  # really quantised


def test_apt_gguf_roundtrip(tmp_path, apt_model):
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = apt_model(ids).logits
    scale = want.abs().max().item()
    for quant, tol in (("F16", 2e-3), ("Q8_0", 3e-2), ("Q4_0", 0.4)):
        path = tmp_path / f"apt-{quant}.gguf"
        result = OllamaExportPlugin().export_to_gguf(apt_model, path, quant)
        assert result.architecture == "apt"
        meta = read_metadata(path)
        assert meta["general.architecture"] == "apt" and meta["apt.block_count"] == 2
        assert meta["apt.embedding_length"] == 64 and meta["apt.context_length"] == 64
        assert meta["apt.attention.head_count"] == 4 and meta["apt.vein.rank"] == 16
        assert json.loads(meta["apt.config_json"])["d_model"] == 64
        assert len(meta["tokenizer.ggml.tokens"]) == 259
        # tied embedding / shared vein tensors are stored once
        assert "lm_head.weight" in json.loads(meta["apt.tied_tensors"])
        assert len(meta["apt.tensor_names"]) == result.n_tensors
        back = load_apt_from_gguf(path).eval()
        with torch.no_grad():
            err = (back(ids).logits - want).abs().max().item() / scale
        assert err < tol, (quant, err)
    assert (tmp_path / "apt-Q4_0.gguf").stat().st_size < 0.5 * (tmp_path / "apt-F16.gguf").stat().st_size


# --------------------------------------------------------------------------------------------------
# Modelfile
# --------------------------------------------------------------------------------------------------
def test_modelfile_syntax_and_roundtrip():
    text = create_modelfile("./tiny-q8_0.gguf", {"temperature": 0.7, "num_ctx": 128, "stop": ["<eos>", "User:"]},
                            system_prompt='You are terse.\nAnswer in "one" line.',
                            template="{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}")
    lines = text.splitlines()
    assert lines[0] == "FROM ./tiny-q8_0.gguf"
    assert "PARAMETER temperature 0.7" in lines and "PARAMETER num_ctx 128" in lines
    assert 'PARAMETER stop "<eos>"' in lines and "PARAMETER stop User:" in lines
    assert 'TEMPLATE """{{ if .System }}{{ .System }}' in text
    assert 'SYSTEM """You are terse.\nAnswer in "one" line."""' in text
    spec = parse_modelfile(text)
    assert spec["from"] == "./tiny-q8_0.gguf"
    assert spec["parameters"] == {"temperature": 0.7, "num_ctx": 128, "stop": ["<eos>", "User:"]}
    assert spec["system"] == 'You are terse.\nAnswer in "one" line.'
    assert spec["template"] == "{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}"
    assert create_modelfile("llama3", system_prompt="Be kind.").splitlines()[1] == 'SYSTEM "Be kind."'


def test_modelfile_errors():
    with pytest.raises(ValueError, match='"""'):
        create_modelfile("m", system_prompt='breaks """ quoting')
    with pytest.raises(ValueError, match="parameter name"):
        create_modelfile("m", {"bad name": 1})
    with pytest.raises(ValueError, match="FROM"):
        create_modelfile("")
    with pytest.raises(ValueError, match="line 2: unknown command 'PARAMETERS'"):
        parse_modelfile("FROM x\nPARAMETERS a 1\n")
    with pytest.raises(ValueError, match="unclosed triple-quoted"):
        parse_modelfile('FROM x\nSYSTEM """never closed\n')
    with pytest.raises(ValueError, match="no FROM"):
        parse_modelfile("# only a comment\nSYSTEM hi\n")


# --------------------------------------------------------------------------------------------------
# a local server speaking Ollama's API, checking what it gets
# --------------------------------------------------------------------------------------------------
class FakeOllama:
    def __init__(self):
        self.blobs, self.models, self.requests, self.errors = {}, {}, [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, obj=None):
                body = b"" if obj is None else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self):
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_HEAD(self):
                outer.requests.append(("HEAD", self.path))
                digest = self.path.rsplit("/", 1)[-1]
                self._send(200 if self.path.startswith("/api/blobs/") and digest in outer.blobs else 404)

            def do_GET(self):
                outer.requests.append(("GET", self.path))
                if self.path == "/api/tags":
                    return self._send(200, {"models": [{"name": n, "model": n, "size": m["size"],
                                                        "digest": m["digest"]} for n, m in outer.models.items()]})
                self._send(404, {"error": "not found"})

            def do_POST(self):
                raw = self._body()
                outer.requests.append(("POST", self.path))
                if self.path.startswith("/api/blobs/sha256:"):
                    digest = self.path.rsplit("/", 1)[-1]
                    if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
                        outer.errors.append("digest mismatch")
                        return self._send(400, {"error": "digest mismatch, expected " + digest})
                    outer.blobs[digest] = raw
                    return self._send(201)
                body = json.loads(raw)
                if self.path == "/api/create":
                    outer.requests[-1] = ("POST", self.path, body)
                    if not body.get("model") or body.get("stream") is not False:
                        return self._send(400, {"error": "model and stream=false required"})
                    files = body.get("files") or {}
                    for fname, digest in files.items():
                        if digest not in outer.blobs:
                            return self._send(400, {"error": f"blob {digest} for {fname} not uploaded"})
                        if outer.blobs[digest][:4] != b"GGUF":
                            return self._send(400, {"error": f"{fname} is not a GGUF file"})
                    if not files and not body.get("from"):
                        return self._send(400, {"error": "neither files nor from given"})
                    for key, value in (body.get("parameters") or {}).items():
                        if key == "stop" and not isinstance(value, list):
                            return self._send(400, {"error": "stop must be a list"})
                    digest = next(iter(files.values()), "sha256:" + "0" * 64)
                    outer.models[body["model"]] = {"size": len(outer.blobs.get(digest, b"")), "digest": digest,
                                                   "body": body}
                    return self._send(200, {"status": "success"})
                if self.path == "/api/generate":
                    if body.get("model") not in outer.models:
                        return self._send(404, {"error": f"model '{body.get('model')}' not found"})
                    return self._send(200, {"model": body["model"], "response": "echo: " + body["prompt"],
                                            "done": True, "eval_count": 5, "eval_duration": 50_000_000})
                self._send(404, {"error": "unknown endpoint"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_export_register_and_generate_through_ollama_api(tmp_path, logdir, llama):
    run = seetrain.init(project="ollama")
    plugin = OllamaExportPlugin()
    files = plugin.export_to_ollama(llama, "tiny-llama", "Q8_0", system_prompt="You are tiny.\nBe brief.",
                                    output_dir=tmp_path / "out", parameters={"temperature": 0.2, "stop": ["<eos>"]})
    assert files["architecture"] == "llama" and files["quantize"] is None
    gguf_path = Path(files["gguf"])
    assert gguf_path.read_bytes()[:4] == b"GGUF"
    modelfile = Path(files["modelfile"]).read_text()
    assert modelfile.startswith(f"FROM ./{gguf_path.name}\n")

    with FakeOllama() as server:
        status = plugin.register_to_ollama("tiny-llama", files["modelfile"], host=server.host)
        assert status["status"] == "success"
        digest = "sha256:" + hashlib.sha256(gguf_path.read_bytes()).hexdigest()
        assert server.blobs[digest] == gguf_path.read_bytes() and not server.errors
        body = server.models["tiny-llama"]["body"]
        assert body["files"] == {gguf_path.name: digest}
        assert body["parameters"] == {"temperature": 0.2, "stop": ["<eos>"]}
        assert body["system"] == "You are tiny.\nBe brief." and "{{ .Prompt }}" in body["template"]
        # the blob is not sent twice
        plugin.register_to_ollama("tiny-llama:v2", files["modelfile"], host=server.host)
        assert [r[:2] for r in server.requests].count(("POST", f"/api/blobs/{digest}")) == 1
        assert set(plugin.list_models(host=server.host)) == {"tiny-llama", "tiny-llama:v2"}
        answer = plugin.test_model("tiny-llama", "hi there", host=server.host)
        assert answer["response"] == "echo: hi there"
        with pytest.raises(OllamaError, match="model 'nope' not found"):
            plugin.test_model("nope", "hi", host=server.host)
    run.finish()
    r = seetrain.read_run(run.dir)
    assert r.scalars("ollama/upload_bytes").values == [gguf_path.stat().st_size, 0]
    assert r.scalars("ollama/tokens_per_second").values[-1] == pytest.approx(100.0)
    assert r.scalars("ollama/gguf_bytes").values[-1] == gguf_path.stat().st_size


def test_k_quant_is_left_to_ollama_and_from_name(tmp_path, llama, monkeypatch):
    # without llama.cpp's quantiser (node-llama-cpp absent: an empty install dir) Ollama quantises on create
    monkeypatch.setenv("SEETRAIN_LLAMACPP_DIR", str(tmp_path / "no-llamacpp"))
    plugin = OllamaExportPlugin()
    files = plugin.export_to_ollama(llama, "tiny-k", "Q4_K_M", output_dir=tmp_path)
    assert files["quantization"] == "F16" and files["quantize"] == "q4_K_M"
    mf = tmp_path / "Modelfile.base"
    mf.write_text(create_modelfile("llama3.2:1b", {"num_ctx": 64}))
    with FakeOllama() as server:
        plugin.register_to_ollama("tiny-k", files["modelfile"], host=server.host, quantize=files["quantize"])
        assert server.models["tiny-k"]["body"]["quantize"] == "q4_K_M"
        plugin.register_to_ollama("derived", mf, host=server.host)
        body = server.models["derived"]["body"]
        assert body["from"] == "llama3.2:1b" and "files" not in body and body["parameters"] == {"num_ctx": 64}
    missing = tmp_path / "Modelfile.missing"
    missing.write_text("FROM ./gone.gguf\n")
    with pytest.raises(FileNotFoundError, match="gone.gguf"):
        plugin.register_to_ollama("x", missing, host="http://127.0.0.1:9")


def test_clear_error_when_ollama_is_not_running(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    (tmp_path / "m.gguf").write_bytes(b"GGUF0000")
    (tmp_path / "Modelfile").write_text("FROM ./m.gguf\n")
    plugin = OllamaExportPlugin(host=host)
    for call in (lambda: plugin.test_model("m", "hi"), lambda: plugin.register_to_ollama("m", tmp_path / "Modelfile"),
                 lambda: plugin.list_models()):
        with pytest.raises(OllamaConnectionError) as err:  # refused at once: no retry loop on a closed port
            call()
        assert host in str(err.value) and "ollama serve" in str(err.value)


def test_plugin_hook_exports_at_training_end(tmp_path, logdir, apt_model):
    cls = plugin_class("ollama-export")
    assert cls is OllamaExportPlugin
    plugin = cls({"output_dir": str(tmp_path / "end"), "model_name": "apt-end", "quantization": "Q4_0",
                  "distill_steps": 5})
    run = seetrain.init(project="hook")
    plugin.on_training_end({"model": apt_model, "run": run})  # an APT model goes through a Llama student
    run.finish()
    written = sorted(p.name for p in (tmp_path / "end").iterdir())
    assert written == ["Modelfile", "apt-end-llama-student", "apt-end-q4_0.gguf"]
    assert read_metadata(tmp_path / "end" / "apt-end-q4_0.gguf")["general.architecture"] == "llama"
    assert read_metadata(tmp_path / "end" / "apt-end-q4_0.gguf")["general.file_type"] == int(gguf.LlamaFileType.MOSTLY_Q4_0)
    assert "ollama/gguf_bytes" in seetrain.read_run(run.dir).keys()


def test_byte_vocabulary_tokenizes_like_byte_tokenizer(tmp_path, llama):
    """Transformers' GGUF tokenizer converter (an independent reader) rebuilds the byte vocabulary."""
    from transformers import AutoTokenizer

    from seetrain.apt.data import ByteTokenizer

    OllamaExportPlugin().export_to_gguf(llama, tmp_path / "b.gguf", "Q8_0")
    tok = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="b.gguf")
    text = "Héllo wörld  x\n你好"
    ids = ByteTokenizer().encode(text)
    # Transformers always prepends the SPM space (it ignores tokenizer.ggml.add_space_prefix, which
    # llama.cpp honours), so skip its first id
    got = tok.encode(text, add_special_tokens=False)
    assert got[0] == 0x20 and got[1:] == ids
    assert tok.decode(ids) == text


def test_bpe_tokenizer_and_tied_llama_from_a_directory(tmp_path):
    """A directory (save_pretrained) with a byte-level BPE tokenizer.json and tied embeddings."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from seetrain.apt.data import load_corpus

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([load_corpus()[:4000]], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, max_position_embeddings=64, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg).eval()
    src = tmp_path / "src"
    model.save_pretrained(str(src))
    tok.save_pretrained(str(src))

    OllamaExportPlugin().export_to_gguf(src, tmp_path / "bpe.gguf", "F16")
    meta = read_metadata(tmp_path / "bpe.gguf")
    assert meta["tokenizer.ggml.model"] == "gpt2"
    assert meta["tokenizer.ggml.tokens"] == tok.convert_ids_to_tokens(list(range(len(tok))))
    n_merges = len(json.loads(bpe.to_str())["model"]["merges"])
    assert n_merges > 0 and len(meta["tokenizer.ggml.merges"]) == n_merges
    assert meta["tokenizer.ggml.token_type"][tok.eos_token_id] == int(gguf.TokenType.CONTROL)
    assert "output.weight" not in read_tensors(tmp_path / "bpe.gguf")  # tied: llama.cpp reuses token_embd

    text = "the cat sat on the mat"
    back_tok = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="bpe.gguf")
    assert back_tok.encode(text, add_special_tokens=False) == tok.encode(text)
    back = LlamaForCausalLM.from_pretrained(str(tmp_path), gguf_file="bpe.gguf").eval()
    ids = torch.tensor([tok.encode(text)])
    with torch.no_grad():
        assert (back(ids).logits - model(ids).logits).abs().max() < 2e-3


def test_normalize_host(monkeypatch):
    from seetrain.apt.plugins.ollama_export import normalize_host

    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert normalize_host() == "http://127.0.0.1:11434"
    assert normalize_host("localhost") == "http://localhost:11434"
    assert normalize_host("0.0.0.0:8080") == "http://127.0.0.1:8080"
    assert normalize_host("http://[::1]:9000/") == "http://[::1]:9000"
    assert normalize_host("https://ollama.example.org/base") == "https://ollama.example.org/base"
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:5555")
    assert normalize_host() == "http://127.0.0.1:5555"
