"""huggingface-integration: Transformers export/import of APT models, the byte tokenizer, datasets,
Trainer with SeeTrain logging, model cards, and clear errors where the Hub cannot be reached."""

from __future__ import annotations

import json
import os
import shutil
import socket
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import seetrain  # noqa: E402
from seetrain.apt.data import ByteTokenizer  # noqa: E402
from seetrain.apt.model import APTConfig, APTLanguageModel, StandardLanguageModel  # noqa: E402
from seetrain.apt.plugins import plugin_class  # noqa: E402
from seetrain.apt.plugins.huggingface_integration import (HubUnavailableError,  # noqa: E402
                                                          HuggingFaceIntegrationPlugin,
                                                          register_apt_with_transformers)
from tests._child import run_python

TEXT = "Héllo wörld! 你好 <eos> tabs\tand\nnew lines; emoji 🙂."
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _tiny_apt(cls=APTLanguageModel, seed=0):
    torch.manual_seed(seed)
    return cls(APTConfig(vocab_size=259, d_model=32, n_heads=2, n_layers=2, rank=8, max_seq_len=64)).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An APT model exported once; the directory and the expected logits."""
    model = _tiny_apt()
    out = tmp_path_factory.mktemp("hf") / "apt-tiny"
    ids = torch.tensor([ByteTokenizer().encode("the vein subspace")])
    with torch.no_grad():
        logits = model(ids).logits
    path = HuggingFaceIntegrationPlugin().export_to_huggingface(model, ByteTokenizer(), out,
                                                                metrics={"val_loss": 2.5})
    return Path(path), model, ids, logits


def test_export_writes_a_transformers_directory(exported, logdir):
    path, model, _, _ = exported
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md",
            "configuration_apt.py", "modeling_apt.py"} <= names
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["model_type"] == "apt_vft" and cfg["d_model"] == 32 and cfg["n_layers"] == 2
    assert cfg["auto_map"] == {"AutoConfig": "configuration_apt.APTHFConfig",
                               "AutoModelForCausalLM": "modeling_apt.APTForCausalLM"}
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    # tied / shared tensors are stored once
    assert "model.tok_emb.weight" in keys and "model.lm_head.weight" not in keys
    assert len(keys) == len({id(p) for p in model.parameters()})


def test_export_logs_to_the_run(tmp_path, logdir):
    run = seetrain.init(project="hf-export")
    out = HuggingFaceIntegrationPlugin().export_to_huggingface(_tiny_apt(StandardLanguageModel), None, tmp_path / "std")
    run.finish()
    r = seetrain.read_run(run.dir)
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    assert r.scalars("hf/export_bytes").values == [size]
    assert r.scalars("hf/num_parameters").values == [_tiny_apt(StandardLanguageModel).num_parameters()]
    assert r.scalars("hf/export_seconds").values[0] > 0  # a measured figure: its size is benchmarks' business


def test_loads_with_registration_without_remote_code(exported):
    path, _, ids, logits = exported
    from transformers import AutoModelForCausalLM

    register_apt_with_transformers()
    loaded = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    assert type(loaded).__name__ == "APTForCausalLM"
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, logits, atol=1e-6)
    inner = loaded.model
    assert inner.lm_head.weight is inner.tok_emb.weight  # the tie survives loading
    greedy = loaded.generate(ids, max_new_tokens=6, do_sample=False)
    assert torch.equal(greedy, exported[1].generate(ids, max_new_tokens=6))


def test_loads_with_trust_remote_code_in_a_fresh_process(exported, tmp_path):
    """A new interpreter that never imported the plugin: auto_map + the written .py files load it."""
    path, _, ids, logits = exported
    torch.save({"ids": ids, "logits": logits}, tmp_path / "expected.pt")
    code = textwrap.dedent(f"""
        import sys, torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        assert "seetrain.apt.plugins.hf_apt" not in sys.modules
        model = AutoModelForCausalLM.from_pretrained({str(path)!r}, trust_remote_code=True).eval()
        tok = AutoTokenizer.from_pretrained({str(path)!r}, trust_remote_code=True)
        exp = torch.load({str(tmp_path / 'expected.pt')!r})
        with torch.no_grad():
            got = model(exp["ids"]).logits
        assert torch.allclose(got, exp["logits"], atol=1e-6), (got - exp["logits"]).abs().max()
        assert tok.encode("the vein subspace") == exp["ids"][0].tolist()
        print("OK", type(model).__name__)
    """)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               HF_MODULES_CACHE=str(tmp_path / "modules"))
    proc = run_python(["-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK APTForCausalLM" in proc.stdout


def test_hf_tokenizer_matches_byte_tokenizer(exported):
    path = exported[0]
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(path))
    bt = ByteTokenizer()
    assert hf.encode(TEXT) == bt.encode(TEXT)  # "<eos>" typed in text stays bytes, as in ByteTokenizer
    assert hf.decode(hf.encode(TEXT)) == TEXT == bt.decode(bt.encode(TEXT))
    assert (hf.pad_token_id, hf.bos_token_id, hf.eos_token_id) == (256, 257, 258)
    assert hf.decode([257, 72, 105, 258], skip_special_tokens=True) == "Hi"
    batch = hf(["ab", "abcd"], padding=True)
    assert batch["input_ids"][0][-2:] == [256, 256] and batch["attention_mask"][0] == [1, 1, 0, 0]


def test_model_card_has_yaml_metadata(exported):
    from huggingface_hub import ModelCard

    card = ModelCard.load(str(exported[0] / "README.md"))
    data = card.data.to_dict()
    assert data["license"] == "apache-2.0" and data["library_name"] == "transformers"
    assert {"seetrain", "apt"} <= set(data["tags"])
    results = data["model-index"][0]["results"][0]
    assert results["metrics"][0]["type"] == "val_loss" and results["metrics"][0]["value"] == 2.5
    assert "| val_loss | 2.5 |" in card.text
    card2 = HuggingFaceIntegrationPlugin().create_model_card("m", "A test.", {"ppl": 3.0, "acc": 0.5},
                                                             base_model="org/base", datasets=["tiny-corpus"])
    d2 = card2.data.to_dict()
    assert d2["base_model"] == "org/base" and d2["datasets"] == ["tiny-corpus"]
    assert sorted(m["type"] for m in d2["model-index"][0]["results"][0]["metrics"]) == ["acc", "ppl"]
    assert card2.content.startswith("---\n") and "A test." in card2.content


def _tiny_llama_dir(path):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(cfg).eval()
    model.save_pretrained(str(path))
    HuggingFaceIntegrationPlugin().hf_tokenizer(ByteTokenizer()).save_pretrained(str(path))
    return model


def test_import_local_dir_and_cached_repo(tmp_path, logdir):
    src = tmp_path / "llama"
    original = _tiny_llama_dir(src)
    ids = torch.tensor([ByteTokenizer().encode("hello")])
    with torch.no_grad():
        want = original(ids).logits
    run = seetrain.init(project="hf-import")
    plugin = HuggingFaceIntegrationPlugin()
    model, tok = plugin.import_from_huggingface(src)
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, want)
    assert tok.encode("hello") == ids[0].tolist()

    # a repository in the Hub cache layout (what snapshot_download leaves behind), read offline
    cache = tmp_path / "hub-cache"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = cache / "models--org--tiny-llama" / "snapshots" / commit
    shutil.copytree(src, snap)
    (cache / "models--org--tiny-llama" / "refs").mkdir()
    (cache / "models--org--tiny-llama" / "refs" / "main").write_text(commit)
    model2, tok2 = plugin.import_from_huggingface("org/tiny-llama", cache_dir=cache, local_files_only=True)
    with torch.no_grad():
        assert torch.allclose(model2(ids).logits, want)
    run.finish()
    r = seetrain.read_run(run.dir)
    assert r.scalars("hf/import_num_parameters").values == [original.num_parameters()] * 2

    with pytest.raises(HubUnavailableError, match="org/absent") as err:
        plugin.import_from_huggingface("org/absent", cache_dir=cache, local_files_only=True)
    assert "offline" in str(err.value)


def test_import_round_trip_of_an_exported_apt_model(exported):
    model, tok = HuggingFaceIntegrationPlugin().import_from_huggingface(exported[0])
    with torch.no_grad():
        assert torch.allclose(model(exported[2]).logits, exported[3], atol=1e-6)
    assert tok.encode(TEXT) == ByteTokenizer().encode(TEXT)


def test_load_hf_dataset_from_local_files(tmp_path, logdir):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": f"line {i}", "n": i}) for i in range(5)))
    (tmp_path / "b.csv").write_text("text,label\nhello,1\nworld,0\n")
    (tmp_path / "c.txt").write_text("one\ntwo\nthree\n")
    cache = str(tmp_path / "ds-cache")
    run = seetrain.init(project="hf-data")
    plugin = HuggingFaceIntegrationPlugin()
    ds = plugin.load_hf_dataset(tmp_path / "a.jsonl", cache_dir=cache)
    assert ds["n"] == [0, 1, 2, 3, 4] and ds[0]["text"] == "line 0"
    assert plugin.load_hf_dataset([tmp_path / "b.csv"], cache_dir=cache)["label"] == [1, 0]
    assert plugin.load_hf_dataset(str(tmp_path / "c.txt"), cache_dir=cache)["text"] == ["one", "two", "three"]
    splits = plugin.load_hf_dataset({"train": tmp_path / "c.txt", "test": tmp_path / "c.txt"}, split="test",
                                    cache_dir=cache)
    assert len(splits) == 3
    ds.save_to_disk(str(tmp_path / "saved"))
    assert plugin.load_hf_dataset(tmp_path / "saved")["n"] == [0, 1, 2, 3, 4]
    run.finish()
    assert seetrain.read_run(run.dir).scalars("hf/dataset_rows").values == [5, 2, 3, 3, 5]
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        plugin.load_hf_dataset([tmp_path / "missing.jsonl"])
    (tmp_path / "d.xyz").write_text("?")
    with pytest.raises(ValueError, match="'.xyz'"):
        plugin.load_hf_dataset(tmp_path / "d.xyz")
    with pytest.raises(HubUnavailableError, match="network"):
        plugin.load_hf_dataset("someone/not-here", cache_dir=cache)


def test_train_with_hf_trainer_logs_to_seetrain(tmp_path, logdir):
    from seetrain.apt.data import load_corpus

    text = load_corpus()[:6000]
    (tmp_path / "train.txt").write_text(text)
    model = _tiny_apt(seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run = seetrain.init(project="hf-trainer")
    plugin = HuggingFaceIntegrationPlugin()
    ds = plugin.load_hf_dataset(tmp_path / "train.txt", cache_dir=str(tmp_path / "cache"))
    trainer = plugin.train_with_hf_trainer(model, ds, ByteTokenizer(), output_dir=tmp_path / "out", max_steps=6,
                                           per_device_train_batch_size=4, block_size=32, learning_rate=3e-3)
    run.finish()
    assert trainer.state.global_step == 6
    r = seetrain.read_run(run.dir)
    losses = r.scalars("train/loss")
    assert losses.steps == [1, 2, 3, 4, 5, 6]
    assert losses.values[-1] < losses.values[0]
    assert r.scalars("hf/train_steps").values == [6]
    assert r.scalars("hf/train_loss").values[0] == pytest.approx(sum(losses.values) / 6, rel=1e-3)
    # SeeTrain's Transformers callback wrote the TrainingArguments and the model into this same run
    assert r.config["max_steps"] == 6 and r.config["model"]["class"] == "APTForCausalLM"
    # the trained weights are copied back into the APT model
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_upload_errors_are_clear_and_fast(tmp_path, monkeypatch):
    plugin = HuggingFaceIntegrationPlugin()
    model = _tiny_apt()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored token either
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    with pytest.raises(HubUnavailableError, match="no token"):
        plugin.upload_to_hub(model, "me/apt-tiny")
    # offline mode (as in this test session): refused before any request
    with pytest.raises(HubUnavailableError, match="offline mode is on"):
        plugin.upload_to_hub(model, "me/apt-tiny", token="hf_dummy")
    # online, but the endpoint is a closed local port
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(HubUnavailableError) as err:
        plugin.upload_to_hub(model, "me/apt-tiny", token="hf_dummy", endpoint=endpoint)
    assert endpoint in str(err.value) and "me/apt-tiny" in str(err.value) and "ConnectError" in str(err.value)


def test_plugin_hook_exports_at_training_end(tmp_path, logdir):
    cls = plugin_class("huggingface-integration")
    assert cls is HuggingFaceIntegrationPlugin
    run = seetrain.init(project="hf-hook")
    plugin = cls({"export_dir": str(tmp_path / "end"), "model_name": "apt-end"})
    plugin.on_training_end({"model": _tiny_apt(), "loss": 1.25, "run": run})
    run.finish()
    assert (tmp_path / "end" / "model.safetensors").is_file()
    assert "| loss | 1.25 |" in (tmp_path / "end" / "README.md").read_text()
    assert "hf/export_bytes" in seetrain.read_run(run.dir).keys()
    with pytest.raises(ValueError, match="repo_name"):
        cls({"push_to_hub": True}).on_training_end({"model": _tiny_apt()})


def test_model_card_usage_names_the_repository_id(tmp_path):
    """The card's usage lines load the repository that was pushed (``user/name``), not the bare model name."""
    plugin = HuggingFaceIntegrationPlugin()
    out = plugin.export_to_huggingface(_tiny_apt(), ByteTokenizer(), tmp_path / "apt-card", repo_id="me/apt-card")
    card = (Path(out) / "README.md").read_text()
    assert 'from_pretrained("me/apt-card", trust_remote_code=True)' in card
    assert 'AutoTokenizer.from_pretrained("me/apt-card")' in card
    # a local export names its own directory, which from_pretrained loads as written
    local = plugin.export_to_huggingface(_tiny_apt(), ByteTokenizer(), tmp_path / "apt-local")
    assert f'from_pretrained("{local}"' in (Path(local) / "README.md").read_text()


def test_upload_to_hub_success_path_against_a_local_hub(tmp_path, monkeypatch, logdir):
    """create_repo + upload_folder against a local server speaking those Hub API calls (tests/apt/hub_server.py,
    not the real Hub; every file goes inline as a regular upload, so LFS/Xet transfer is not exercised)."""
    from tests.apt.hub_server import HubServer

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    model = _tiny_apt()
    run = seetrain.init(project="hf-upload")
    with HubServer(token="hf_local") as hub:
        plugin = HuggingFaceIntegrationPlugin(run=run)
        url = plugin.upload_to_hub(model, "me/apt-up", token="hf_local", endpoint=hub.url, metrics={"val_loss": 2.0})
        assert url.endswith("/me/apt-up")
        assert hub.repos["me/apt-up"]["private"] is True
        files = hub.repos["me/apt-up"]["files"]
        assert {"config.json", "model.safetensors", "README.md", "tokenizer.json", "modeling_apt.py"} <= set(files)
        assert hub.commits[-1]["summary"] == "Upload model with SeeTrain"
        card = files["README.md"].decode()
        assert 'from_pretrained("me/apt-up", trust_remote_code=True)' in card and "| val_loss | 2.0 |" in card
        # the uploaded files are the model: write them out and load them back
        repo = tmp_path / "pulled"
        for name, data in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(data)
        register_apt_with_transformers()
        loaded = transformers.AutoModelForCausalLM.from_pretrained(str(repo)).eval()
        ids = torch.tensor([ByteTokenizer().encode("upload")])
        with torch.no_grad():
            assert torch.allclose(loaded(ids).logits, model(ids).logits, atol=1e-5)
        # a wrong token is refused by the server and reported clearly
        with pytest.raises(HubUnavailableError, match="me/apt-up"):
            plugin.upload_to_hub(model, "me/apt-up", token="hf_wrong", endpoint=hub.url)
    run.finish()
    assert "hf/upload_bytes" in seetrain.read_run(run.dir).keys()
