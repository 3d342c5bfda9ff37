"""model-distillation: loss definitions, training on a learnable toy task, the APT LM, measurements."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import seetrain  # noqa: E402
from seetrain.apt.plugins.base import PluginManager  # noqa: E402
from seetrain.apt.plugins.model_distillation import ModelDistillationPlugin  # noqa: E402

torch.set_num_threads(1)


def toy_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return [(x[i:i + 32], y[i:i + 32]) for i in range(0, n, 32)]


def mlp(hidden, seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def trained_teacher(loader):
    t = mlp(64, 0)
    opt = torch.optim.Adam(t.parameters(), 1e-2)
    for _ in range(15):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(t(x), y).backward()
            opt.step()
    return t


def accuracy(model, loader):
    """Share of the loader's labels the model's argmax gets right, computed here (the reference)."""
    with torch.no_grad():
        return sum(int((model(x).argmax(-1) == y).sum()) for x, y in loader) / sum(len(y) for _, y in loader)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def tiny_lms():
    from seetrain.apt.model import APTConfig, APTLanguageModel

    torch.manual_seed(0)
    teacher = APTLanguageModel(APTConfig(d_model=32, n_heads=4, n_layers=2, rank=8, max_seq_len=32))
    student = APTLanguageModel(APTConfig(d_model=16, n_heads=2, n_layers=1, rank=4, max_seq_len=32))
    return teacher, student


def test_response_loss_is_T2_scaled_kl():
    plugin = ModelDistillationPlugin({"temperature": 3.0})
    s, t = torch.randn(5, 7), torch.randn(5, 7)
    T = 3.0
    expected = (F.softmax(t / T, -1) * (F.log_softmax(t / T, -1) - F.log_softmax(s / T, -1))).sum(-1).mean() * T * T
    assert torch.allclose(plugin.response_distillation(s, t), expected, atol=1e-5)
    assert float(plugin.response_distillation(t, t, temperature=2.0)) == pytest.approx(0.0, abs=1e-6)
    # language-model logits (B, T, V) with a padding mask: masked positions do not count
    s3, t3 = torch.randn(2, 4, 11), torch.randn(2, 4, 11)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    full = plugin.response_distillation(s3[mask.bool()], t3[mask.bool()])
    assert torch.allclose(plugin.response_distillation(s3, t3, mask=mask), full, atol=1e-6)
    with pytest.raises(ValueError, match="same output space"):
        plugin.response_distillation(torch.randn(2, 3), torch.randn(2, 4))


def test_feature_and_attention_losses():
    plugin = ModelDistillationPlugin({"distill_method": "feature"})
    s = [torch.randn(2, 5, 16, requires_grad=True)]
    t = [torch.randn(2, 5, 32)]
    loss = plugin.feature_distillation(s, t)
    assert loss.dim() == 0 and math.isfinite(float(loss.detach()))
    proj = plugin.projections["feat0_16_32"]
    assert proj.weight.shape == (32, 16)
    loss.backward()
    assert proj.weight.grad is not None and s[0].grad is not None
    same = torch.randn(2, 5, 8)
    assert float(plugin.feature_distillation([same], [same])) == 0.0
    a_s = torch.softmax(torch.randn(2, 2, 5, 5), -1)
    a_t = torch.softmax(torch.randn(2, 4, 5, 5), -1)  # head counts differ: compared head-averaged
    expected = F.mse_loss(a_s.mean(1), a_t.mean(1))
    assert torch.allclose(plugin.attention_distillation([a_s], [a_t]), expected)


def test_config_aliases_and_bad_method():
    assert ModelDistillationPlugin({"distill_type": "relation"}).method == "relation"
    assert ModelDistillationPlugin(distill_method="attention").config["distill_type"] == "attention"
    with pytest.raises(ValueError, match="distill_method"):
        ModelDistillationPlugin({"distill_method": "telepathy"})
    assert PluginManager.from_config({"model-distillation": {"enabled": True, "alpha": 0.5}}).get(
        "model-distillation").config["alpha"] == 0.5


@pytest.mark.parametrize("method", ["response", "feature", "relation"])
def test_classifier_distillation_learns_and_logs(logdir, method):
    loader = toy_data()
    teacher = trained_teacher(loader)
    student = mlp(8, 1)
    run = seetrain.init(project="distill", config={"method": method})
    plugin = ModelDistillationPlugin({"distill_method": method, "learning_rate": 1e-2, "log_every": 1})
    before = plugin.evaluate_compression(teacher, student, loader, latency_repeats=5)
    plugin.distill(teacher, student, loader, num_epochs=6)
    losses = [h["loss"] for h in plugin.history]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] * 0.8
    if method == "feature":  # hidden widths 8 vs 64: a learned projection was trained too
        assert any(k.startswith("feat0_8_64") for k in plugin.projections.keys())
    after = plugin.evaluate_compression(teacher, student, loader, latency_repeats=5)
    assert after["student_accuracy"] > before["student_accuracy"]
    student_acc, teacher_acc = accuracy(student, loader), accuracy(teacher, loader)
    assert (after["student_accuracy"], after["teacher_accuracy"]) == pytest.approx((student_acc, teacher_acc))
    assert after["accuracy_retained"] == pytest.approx(student_acc / teacher_acc)
    assert after["param_ratio"] == pytest.approx(n_params(student) / n_params(teacher))
    run.finish()
    r = seetrain.read_run(run.dir)
    keys = set(r.keys())
    assert {"distill/loss", "distill/soft_loss", "distill/hard_loss", "distill/epoch_loss",
            "compression/student_params", "compression/speedup", "compression/accuracy_retained"} <= keys
    if method != "response":
        assert "distill/aux_loss" in keys
    epoch_losses = r.scalars("distill/epoch_loss").values
    assert epoch_losses == pytest.approx(losses)
    assert r.scalars("compression/teacher_params").values[-1] == sum(p.numel() for p in teacher.parameters())


@pytest.mark.parametrize("method", ["response", "feature", "attention", "relation"])
def test_apt_language_model_distillation(method):
    teacher, student = tiny_lms()
    g = torch.Generator().manual_seed(0)
    batches = [{"input_ids": torch.randint(0, 259, (4, 16), generator=g),
                "attention_mask": torch.ones(4, 16, dtype=torch.long)} for _ in range(2)]
    plugin = ModelDistillationPlugin({"distill_method": method, "learning_rate": 3e-3})
    terms = plugin.compute_loss(student, teacher, batches[0])
    assert terms["soft_loss"].dim() == 0 and torch.isfinite(terms["loss"])
    if method != "response":
        assert torch.isfinite(terms["aux_loss"])
    plugin.distill(teacher, student, batches, num_epochs=4)
    losses = [h["loss"] for h in plugin.history]
    assert losses[-1] < losses[0]
    out = student.generate(batches[0]["input_ids"][:1, :4], max_new_tokens=3)
    assert out.shape == (1, 7)


def test_distill_model_with_callers_optimizer_and_lm_evaluation():
    teacher, student = tiny_lms()
    ids = torch.randint(0, 259, (4, 16), generator=torch.Generator().manual_seed(1))
    plugin = ModelDistillationPlugin({"distill_method": "feature"})
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    n_groups = len(opt.param_groups)
    means = plugin.distill_model(student, teacher, [ids], opt)
    assert set(means) >= {"loss", "soft_loss", "hard_loss", "aux_loss"}
    assert len(opt.param_groups) == n_groups + 1  # the width projection joined the optimizer
    res = plugin.evaluate_compression(teacher, student, [ids], latency_repeats=5)
    assert res["teacher_params"] == n_params(teacher) and res["student_params"] == n_params(student)
    assert res["param_ratio"] == pytest.approx(n_params(student) / n_params(teacher)) and res["param_ratio"] < 0.5
    assert 0 < res["student_size_mb"] < res["teacher_size_mb"]
    assert res["teacher_latency_ms"] > 0 and res["student_latency_ms"] > 0
    assert res["speedup"] == pytest.approx(res["teacher_latency_ms"] / res["student_latency_ms"])  # its definition
    with torch.no_grad():  # next-token loss, perplexity and accuracy computed here
        logits = student(ids).logits[:, :-1]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    assert res["student_loss"] == pytest.approx(float(loss), rel=1e-5)
    assert res["student_perplexity"] == pytest.approx(math.exp(float(loss)), rel=1e-5)
    assert res["student_accuracy"] == pytest.approx(float((logits.argmax(-1) == ids[:, 1:]).float().mean()))
