"""The names the APT design documents promise exist and are the same functions as the better names:
debugging monitors, `eda`, `kl_divergence`, `load_hf_dataset(name, config, split)`,
`process_pipeline(data)` with default steps; and APT's `aux_loss` is trained under the HF Trainer."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import seetrain  # noqa: E402
from seetrain.apt.plugins.advanced_debugging import AdvancedDebuggingPlugin  # noqa: E402
from seetrain.apt.plugins.data_processors import DataProcessorsPlugin  # noqa: E402
from seetrain.apt.plugins.model_distillation import ModelDistillationPlugin  # noqa: E402


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_debugging_monitors_under_the_promised_names(logdir):
    run = seetrain.init(project="names")
    dbg = AdvancedDebuggingPlugin({"debug_level": "normal", "gradient_threshold": 1.0, "vanishing_threshold": 1e-3,
                                   "report_on_end": False})
    model = _net()
    assert dbg.monitor_activations(model) == 1 == dbg.num_hooks  # = attach: the ReLU is hooked
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every ReLU unit dead
    x = torch.randn(16, 4)
    (model(x).sum() * 100).backward()
    model[2].weight.grad[0, 0] = float("nan")
    stats = dbg.monitor_gradients(model, step=3)  # = record_gradients
    assert set(stats) == {n for n, _ in model.named_parameters()}
    kinds = dbg.detect_gradient_anomalies(stats)
    assert kinds["non_finite"] == ["2.weight"] and "0.weight" in kinds["vanishing"] and "2.bias" in kinds["exploding"]
    assert dbg.detect_gradient_anomalies({"a": torch.full((3,), 10.0), "b": 0.0}) == {
        "exploding": ["a"], "vanishing": ["b"], "non_finite": []}
    assert dbg.detect_dead_neurons() == {"1": 1.0}  # from the hooked forward pass
    relu_out = torch.relu(torch.tensor([[1.0, -1.0, 0.0], [2.0, -3.0, 0.0]]))
    assert dbg.detect_dead_neurons(relu_out) == {"tensor": pytest.approx(2 / 3)}
    for step in range(8):
        dbg.memory_history.append({"step": step, "rss_mb": 100.0 + 50.0 * step})
    assert dbg.detect_memory_leaks() == dbg.detect_memory_leak() and dbg.detect_memory_leaks()["suspected"]
    run.finish()
    assert seetrain.read_run(run.dir).scalars("debug/grad/nan_layers").values == [1]


def test_monitor_performance_off_skips_profiling():
    dbg = AdvancedDebuggingPlugin({"monitor_performance": False})
    with dbg.profile_section("forward"):
        pass
    assert dbg.bottlenecks() == []
    on = AdvancedDebuggingPlugin()
    with on.profile_section("forward"):
        pass
    assert on.bottlenecks()[0]["section"] == "forward"


def test_eda_is_the_four_easy_data_augmentation_operations():
    text = "the quick brown fox makes a good and fast answer to the old problem"
    a = DataProcessorsPlugin({"seed": 4}).augment_text(text, ["eda"])
    b = DataProcessorsPlugin({"seed": 4}).augment_text(text, ["synonym", "insert", "swap", "delete"])
    assert a == b and len(a) == 4 and all(v != text for v in a)
    with pytest.raises(ValueError, match="did you mean 'eda'"):
        DataProcessorsPlugin().augment_text(text, ["edaa"])


def test_process_pipeline_without_steps_uses_the_configured_defaults():
    data = [{"text": "Visit  https://x.org now", "label": 1}, {"text": "hello   world", "label": 0},
            {"text": "hello   world", "label": 0}, {"text": "good code is fast", "label": 0}]
    dp = DataProcessorsPlugin({"seed": 0})
    out = dp.process_pipeline(data)
    assert [e["name"] for e in dp.last_report] == ["clean", "quality_check", "balance"]
    assert out[0]["text"] == "Visit <URL> now" and sorted(r["label"] for r in out) == [0, 0, 1, 1]
    promised = DataProcessorsPlugin({"enable_cleaning": True, "enable_augmentation": True,
                                     "augmentation_ratio": 0.5, "normalize_urls": False, "seed": 0})
    out = promised.process_pipeline([{"text": f"the good answer number {i} is fast"} for i in range(6)]
                                    + [{"text": "keep https://x.org as is"}])
    assert [e["name"] for e in promised.last_report] == ["clean", "quality_check", "augment"]
    assert "keep https://x.org as is" in [r["text"] for r in out]
    assert promised.last_report[-1]["out"] - promised.last_report[-1]["in"] > 0
    with pytest.raises(ValueError, match="did you mean 'clean'"):
        DataProcessorsPlugin({"pipeline_steps": ["claen"]})


def test_kl_divergence_is_the_response_method():
    kd = ModelDistillationPlugin({"temperature": 4.0, "alpha": 0.7, "distill_layers": [6, 12],
                                  "distill_method": "kl_divergence"})
    assert kd.method == "response" and kd.config["distill_type"] == "response"
    torch.manual_seed(0)
    s, t = torch.randn(5, 7), torch.randn(5, 7)
    expected = torch.nn.functional.kl_div(torch.log_softmax(s / 4, -1), torch.log_softmax(t / 4, -1),
                                          reduction="batchmean", log_target=True) * 16
    assert torch.allclose(kd.response_distillation(s, t), expected)
    with pytest.raises(ValueError, match="unknown option 'temprature'.*did you mean 'temperature'"):
        ModelDistillationPlugin({"temprature": 2.0})


def test_load_hf_dataset_with_a_config_name_from_a_local_dataset_directory(tmp_path, logdir):
    pytest.importorskip("datasets")
    from seetrain.apt.plugins.huggingface_integration import HuggingFaceIntegrationPlugin

    root = tmp_path / "tiny-wikitext"
    for config, n in (("raw-small", 3), ("raw-large", 5)):
        for split in ("train", "test"):
            d = root / config
            d.mkdir(parents=True, exist_ok=True)
            rows = [f'{{"text": "{config} {split} line {i}"}}' for i in range(n + (split == "test"))]
            (d / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    (root / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: raw-small\n  data_files:\n  - split: train\n    path: raw-small/train.jsonl\n"
        "  - split: test\n    path: raw-small/test.jsonl\n"
        "- config_name: raw-large\n  data_files:\n  - split: train\n    path: raw-large/train.jsonl\n"
        "  - split: test\n    path: raw-large/test.jsonl\n---\n")
    plugin = HuggingFaceIntegrationPlugin()
    cache = str(tmp_path / "cache")
    ds = plugin.load_hf_dataset(str(root), "raw-large", "test", cache_dir=cache)  # name, config, split
    assert len(ds) == 6 and ds[0]["text"] == "raw-large test line 0"
    small = plugin.load_hf_dataset(str(root), "raw-small", split="train", cache_dir=cache)
    assert small["text"] == ["raw-small train line 0", "raw-small train line 1", "raw-small train line 2"]


def test_hf_trainer_trains_the_vein_regulariser(tmp_path, logdir):
    """Before: APTForCausalLM returned only the cross-entropy, so vein_reg did nothing under the Trainer."""
    pytest.importorskip("transformers")
    from seetrain.apt.data import ByteTokenizer, load_corpus
    from seetrain.apt.model import APTConfig, APTLanguageModel
    from seetrain.apt.plugins.hf_apt import APTForCausalLM
    from seetrain.apt.plugins.huggingface_integration import HuggingFaceIntegrationPlugin

    import datasets

    ds = datasets.Dataset.from_dict({"text": [load_corpus()[:8000]]})
    penalties = {}
    for reg in (0.0, 1.0):
        torch.manual_seed(0)
        model = APTLanguageModel(APTConfig(d_model=32, n_heads=2, n_layers=1, rank=8, max_seq_len=32, vein_reg=reg))
        run = seetrain.init(project="hf-vein")
        HuggingFaceIntegrationPlugin().train_with_hf_trainer(model, ds, ByteTokenizer(), output_dir=tmp_path / str(reg),
                                                             max_steps=25, per_device_train_batch_size=8,
                                                             block_size=32, learning_rate=2e-2)
        run.finish()
        penalties[reg] = float(sum(b.vein.orthogonality_penalty().detach() for b in model.blocks))
    assert penalties[1.0] < 0.5 * penalties[0.0], penalties
    wrapper = APTForCausalLM.from_apt_model(model)
    x = torch.randint(0, 256, (2, 16))
    wrapper.train()
    out = wrapper(x, labels=x)
    inner = model(x, labels=x)
    assert math.isclose(float(out.loss), float(inner.loss + inner.aux_loss), rel_tol=1e-5)
    wrapper.eval()
    assert math.isclose(float(wrapper(x, labels=x).loss), float(inner.loss), rel_tol=1e-5)  # eval: pure CE


def test_hf_auto_upload_is_push_to_hub_and_options_are_checked():
    from seetrain.apt.plugins.huggingface_integration import HuggingFaceIntegrationPlugin

    plugin = HuggingFaceIntegrationPlugin({"auto_upload": True, "repo_name": "me/apt-model", "private": False})
    assert plugin.config["push_to_hub"] is True and "auto_upload" not in plugin.config
    assert HuggingFaceIntegrationPlugin({"auto_upload": False}).config["push_to_hub"] is False
    with pytest.raises(ValueError, match="did you mean 'repo_name'"):
        HuggingFaceIntegrationPlugin({"repo_nam": "me/x"})
