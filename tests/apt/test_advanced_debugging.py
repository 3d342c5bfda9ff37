"""The advanced-debugging plugin on real tiny models with real hooks, read back from the run."""

from __future__ import annotations

import math
import os
import random
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

import seetrain  # noqa: E402
from seetrain.apt.model import APTConfig, APTLanguageModel  # noqa: E402
from seetrain.apt.plugins import PluginManager, plugin_class  # noqa: E402
from seetrain.apt.plugins.advanced_debugging import AdvancedDebuggingPlugin  # noqa: E402

torch.set_num_threads(1)


def mlp(dead_units: int = 0, act: type = torch.nn.ReLU) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), act(), torch.nn.Linear(8, 1))
    if dead_units:
        with torch.no_grad():  # these units can never fire: zero weights, very negative bias
            model[0].weight[:dead_units] = 0.0
            model[0].bias[:dead_units] = -100.0
    return model


def train_steps(plugin, model, steps=5, scale=1.0, lr=0.01):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for step in range(steps):
        plugin.on_batch_start({"model": model, "step": step})
        loss = torch.nn.functional.mse_loss(model(x), y) * scale
        loss.backward()
        plugin.on_batch_end({"model": model, "step": step, "loss": float(loss.detach())})
        opt.step()
        opt.zero_grad()


def test_gradient_stats_match_torch_and_reach_the_run(logdir, tmp_path):
    run = seetrain.init(project="dbg", system_metrics=False)
    model = mlp()
    plugin = AdvancedDebuggingPlugin({"debug_level": "normal", "log_every": 1, "histogram_every": 2,
                                      "output_dir": str(tmp_path)})
    plugin.on_training_start({"model": model})
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    torch.nn.functional.mse_loss(model(x), y).backward()
    stats = plugin.gradient_stats(model)
    g = model[0].weight.grad
    assert math.isclose(stats["0.weight"]["norm"], float(g.norm()), rel_tol=1e-5)
    assert math.isclose(stats["0.weight"]["mean"], float(g.mean()), rel_tol=1e-4, abs_tol=1e-8)
    assert math.isclose(stats["0.weight"]["std"], float(g.std()), rel_tol=1e-4)
    assert math.isclose(stats["0.weight"]["max"], float(g.abs().max()), rel_tol=1e-5)
    model.zero_grad()
    train_steps(plugin, model, steps=4)
    plugin.on_training_end({})
    run.finish()
    r = seetrain.read_run(run.dir)
    keys = set(r.keys())
    assert {"debug/grad/global_norm", "debug/grad/0.weight/norm", "debug/grad/2.bias/max", "debug/loss",
            "debug/memory/rss_mb", "debug/act/1/dead_fraction", "debug/act/1/sparsity"} <= keys
    assert r.scalars("debug/grad/global_norm").steps == [0, 1, 2, 3]
    assert [m["step"] for m in r.media("debug/grad_hist/0.weight")] == [0, 2]
    assert r.media("debug/figures/gradients") and r.media("debug/figures/memory")
    assert r.config["debug"]["level"] == "normal" and os.path.isfile(r.config["debug"]["report"])


def test_explosion_and_vanishing_are_detected(logdir):
    run = seetrain.init(project="dbg", system_metrics=False)
    plugin = AdvancedDebuggingPlugin({"log_every": 1, "gradient_threshold": 5.0, "report_on_end": False})
    model = mlp()
    with pytest.warns(seetrain.SeeTrainWarning, match="exploding gradient"):
        train_steps(plugin, model, steps=2, scale=1e4, lr=0.0)
    kinds = {a["kind"] for a in plugin.anomalies}
    assert "exploding_gradient" in kinds and plugin.gradient_history[-1]["exploding"]
    plugin.anomalies.clear()
    with pytest.warns(seetrain.SeeTrainWarning, match="vanishing gradient"):
        train_steps(plugin, model, steps=1, scale=1e-12, lr=0.0)
    assert {a["kind"] for a in plugin.anomalies} == {"vanishing_gradient"}
    assert set(plugin.gradient_history[-1]["vanishing"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    run.finish()
    series = seetrain.read_run(run.dir).scalars("debug/grad/exploding_layers")
    assert series.values[0] >= 1 and series.values[-1] == 0


def test_dead_neurons_sparsity_and_saturation():
    plugin = AdvancedDebuggingPlugin({"log_every": 1})
    model = mlp(dead_units=4)
    assert plugin.attach(model) == 1
    model(torch.randn(32, 4))
    st = plugin._captured["1"]
    assert st["dead_fraction"] == 0.5 and st["sparsity"] >= 0.5
    tanh = mlp(act=torch.nn.Tanh)
    with torch.no_grad():
        tanh[0].weight.mul_(1000.0)
    plugin.attach(tanh)
    tanh(torch.randn(32, 4))
    assert plugin._captured["1"]["saturation"] > 0.9
    plugin.detach()


def test_hooks_are_removed_at_training_end_and_minimal_level_adds_none(logdir, tmp_path):
    model = APTLanguageModel(APTConfig(d_model=16, n_heads=2, n_layers=1, rank=4, max_seq_len=16))
    n_before = sum(len(m._forward_hooks) for m in model.modules())
    plugin = AdvancedDebuggingPlugin({"debug_level": "verbose", "output_dir": str(tmp_path)})
    plugin.on_training_start({"model": model})
    assert plugin.num_hooks >= 1 and sum(len(m._forward_hooks) for m in model.modules()) > n_before
    x = torch.randint(0, 256, (2, 12))
    plugin.on_batch_start({"step": 0})
    out = model(x, labels=x)
    out.loss.backward()
    plugin.on_batch_end({"model": model, "step": 0, "loss": out.loss})
    assert 0.0 <= plugin.activation_stats["blocks.0.ffn.act"]["dead_fraction"] <= 1.0
    plugin.on_training_end({})
    assert plugin.num_hooks == 0 and sum(len(m._forward_hooks) for m in model.modules()) == n_before
    minimal = AdvancedDebuggingPlugin({"debug_level": "minimal"})
    minimal.on_training_start({"model": model})
    assert minimal.num_hooks == 0 and minimal.histogram_every == 0
    with pytest.raises(ValueError, match="debug_level"):
        AdvancedDebuggingPlugin({"debug_level": "loud"})


def test_memory_tracking_and_leak_detection(logdir):
    run = seetrain.init(project="dbg", system_metrics=False)
    plugin = AdvancedDebuggingPlugin({"leak_window": 8, "leak_threshold_mb": 40.0})
    stable = [plugin.track_memory(step) for step in range(6)]
    assert all(s["rss_mb"] > 10 for s in stable) and not plugin.detect_memory_leak()["suspected"]
    hoard = []
    with pytest.warns(seetrain.SeeTrainWarning, match="memory leak"):
        for step in range(6, 14):
            hoard.append(b"\x01" * (12 << 20))  # 12 MB a step that is never freed
            sample = plugin.track_memory(step)
    leak = plugin.detect_memory_leak()
    assert leak["suspected"] and leak["slope_mb_per_step"] > 5 and sample["leak_suspected"] == 1.0
    assert any(a["kind"] == "memory_leak" for a in plugin.anomalies)
    del hoard
    run.finish()
    r = seetrain.read_run(run.dir)
    assert len(r.scalars("debug/memory/rss_mb").values) == 14
    assert r.scalars("debug/memory/leak_suspected").values[-1] == 1.0


def test_profile_section_ranks_bottlenecks():
    plugin = AdvancedDebuggingPlugin()
    for _ in range(2):  # a sleep lasts at least its time; an empty section takes microseconds
        with plugin.profile_section("slow"):
            time.sleep(0.1)
        with plugin.profile_section("fast"):
            pass
    ranked = plugin.bottlenecks()
    assert [b["section"] for b in ranked] == ["slow", "fast"] and ranked[0]["calls"] == 2
    assert ranked[0]["mean_ms"] >= 100 and 0.5 < ranked[0]["share"] < 1.0
    with pytest.raises(RuntimeError):
        with plugin.profile_section("boom"):
            raise RuntimeError("boom")
    assert plugin.profile_stats["boom"]["count"] == 1


def test_diagnose_training_cases():
    plugin = AdvancedDebuggingPlugin()
    rng = random.Random(0)

    def issues(losses):
        return {i["issue"] for i in plugin.diagnose_training(losses)["issues"]}

    good = [5.0 - 0.04 * i + rng.uniform(-0.02, 0.02) for i in range(100)]
    assert plugin.diagnose_training(good)["status"] == "ok"
    assert "nan_or_inf" in issues(good[:50] + [float("nan")] + good[50:])
    assert "not_decreasing" in issues([2.0 + rng.uniform(-0.05, 0.05) for _ in range(60)])
    assert "oscillating" in issues([1.0 if i % 2 else 3.0 for i in range(60)])
    assert "plateau" in issues([5.0 - 0.1 * i for i in range(30)] + [2.0] * 40)
    assert plugin.diagnose_training([1.0, 0.9])["status"] == "insufficient_data"
    report = plugin.diagnose_training([1.0 if i % 2 else 3.0 for i in range(60)])
    assert report["status"] == "problems" and all(i["advice"] for i in report["issues"])


def test_report_and_figures_are_written(tmp_path):
    plugin = AdvancedDebuggingPlugin({"log_every": 1, "output_dir": str(tmp_path)})
    model = mlp()
    plugin.on_training_start({"model": model})
    with plugin.profile_section("train"):
        train_steps(plugin, model, steps=6)
    plugin.on_training_end({})  # writes the report
    report = tmp_path / "report.html"
    for f in (report, tmp_path / "gradients.png", tmp_path / "memory.png", tmp_path / "loss.png"):
        assert f.is_file() and f.stat().st_size > 1000
    text = report.read_text()
    assert "Diagnosis" in text and "data:image/png;base64," in text and "0.weight" in text and "train" in text
    assert open(plugin.visualize_gradients(str(tmp_path / "g2.png")), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_plugin_is_built_from_a_config_section():
    mgr = PluginManager.from_config({"advanced-debugging": {"enabled": True, "debug_level": "minimal"},
                                     "model-pruning": {"enabled": False}})
    assert mgr.names() == ["advanced-debugging"] and plugin_class("advanced-debugging") is AdvancedDebuggingPlugin
    assert mgr.get("advanced-debugging").level == "minimal"


def test_activations_are_sampled_on_due_steps_without_on_batch_start(logdir):
    run = seetrain.init(project="dbg", system_metrics=False)
    plugin = AdvancedDebuggingPlugin({"log_every": 3, "report_on_end": False})
    model = mlp(dead_units=2)
    plugin.on_training_start({"model": model})
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    for step in range(7):  # a plain loop: no on_batch_start calls
        loss = model(torch.randn(256, 4)).square().mean()
        loss.backward()
        plugin.on_batch_end({"model": model, "step": step, "loss": loss.detach()})
        opt.step()
        opt.zero_grad()
    plugin.on_training_end({})
    run.finish()
    dead = seetrain.read_run(run.dir).scalars("debug/act/1/dead_fraction")
    assert dead.steps == [0, 3, 6] and dead.values == [0.25, 0.25, 0.25]
