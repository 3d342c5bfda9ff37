"""model-pruning: exact unstructured sparsity, masks, structured removal (MLP, CNN, APT LM), lottery
tickets, fine-tuning, statistics and what reaches the run."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")
from torch import nn  # noqa: E402

import seetrain  # noqa: E402
from seetrain.apt.plugins.model_pruning import ModelPruningPlugin  # noqa: E402

torch.set_num_threads(1)


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))


def cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def toy_loader(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return [(x[i:i + 32], y[i:i + 32]) for i in range(0, n, 32)]


def prunable_weights(model):
    return [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def apt_lm():
    from seetrain.apt.model import APTConfig, APTLanguageModel

    torch.manual_seed(0)
    return APTLanguageModel(APTConfig(d_model=32, n_heads=4, n_layers=2, rank=8, max_seq_len=32))


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.55, 0.9])
def test_magnitude_pruning_exact_global_sparsity_and_masks(ratio):
    model = mlp()
    weights = torch.cat([w.detach().abs().flatten() for w in prunable_weights(model)])
    plugin = ModelPruningPlugin()
    plugin.magnitude_pruning(model, ratio)
    k = round(ratio * weights.numel())
    zeros = sum(int((w == 0).sum()) for w in prunable_weights(model))
    assert zeros == k
    assert plugin.get_pruning_statistics(model)["global_sparsity"] == pytest.approx(k / weights.numel())
    assert all(hasattr(m, "weight_mask") and hasattr(m, "weight_orig") for m in model if isinstance(m, nn.Linear))
    if k:  # the zeroed weights are the smallest ones
        kept = torch.cat([w.detach().abs().flatten() for w in prunable_weights(model)])
        threshold = weights.sort().values[k - 1]
        assert float(kept[kept > 0].min()) >= float(threshold)


def test_pruning_is_cumulative_and_permanent_removal_keeps_zeros():
    model = mlp()
    plugin = ModelPruningPlugin({"prune_ratio": 0.4})  # alias of pruning_ratio
    assert plugin.config["pruning_ratio"] == 0.4
    plugin.magnitude_pruning(model)
    first_zero = [(w == 0).clone() for w in prunable_weights(model)]
    plugin.magnitude_pruning(model, 0.7)
    assert plugin.get_pruning_statistics(model)["global_sparsity"] == pytest.approx(0.7, abs=1e-3)
    assert all(bool((w[z] == 0).all()) for w, z in zip(prunable_weights(model), first_zero))
    plugin.make_permanent(model)
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.endswith("_orig") for n in names) and not any(hasattr(m, "weight_mask") for m in model)
    assert plugin.get_pruning_statistics(model)["global_sparsity"] == pytest.approx(0.7, abs=1e-3)


def test_random_pruning_is_seeded_and_exact():
    a, b = mlp(), mlp()
    ModelPruningPlugin({"seed": 3}).random_pruning(a, 0.5)
    ModelPruningPlugin({"seed": 3}).random_pruning(b, 0.5)
    for wa, wb in zip(prunable_weights(a), prunable_weights(b)):
        assert torch.equal(wa == 0, wb == 0)
    stats = ModelPruningPlugin().get_pruning_statistics(a)
    assert stats["global_sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert set(stats["layers"]) == {"0", "2", "4"}


def test_taylor_pruning_removes_the_least_important_weights():
    model, loader = mlp(), toy_loader()
    plugin = ModelPruningPlugin({"pruning_method": "taylor"})
    scores = torch.cat([s.flatten() for s in plugin.taylor_scores(model, loader)])
    plugin.taylor_pruning(model, loader, 0.5)
    pruned = torch.cat([(w == 0).flatten() for w in prunable_weights(model)])
    assert int(pruned.sum()) == round(0.5 * scores.numel())
    assert float(scores[pruned].max()) <= float(scores[~pruned].min()) + 1e-12


def test_fine_tuning_keeps_masks_and_lowers_loss(logdir):
    model, loader = mlp(), toy_loader()
    run = seetrain.init(project="prune")
    plugin = ModelPruningPlugin({"fine_tune_lr": 1e-2, "log_every": 1})
    plugin.magnitude_pruning(model, 0.6)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = [plugin.fine_tune_after_pruning(model, loader, opt) for _ in range(5)]
    assert losses[-1] < losses[0]
    assert plugin.get_pruning_statistics(model)["global_sparsity"] == pytest.approx(0.6, abs=1e-3)
    plugin.fine_tune_pruned(model, loader, num_epochs=1)
    stats = plugin.get_pruning_statistics(model)
    run.finish()
    r = seetrain.read_run(run.dir)
    keys = set(r.keys())
    assert {"prune/global_sparsity", "prune/nonzero_params", "prune/total_params", "prune/fine_tune_loss",
            "prune/fine_tune_epoch_loss", "prune/layer/0/sparsity"} <= keys
    assert r.scalars("prune/global_sparsity").values[0] == pytest.approx(0.6, abs=1e-3)
    assert r.scalars("prune/nonzero_params").values[0] == stats["nonzero_params"]


def test_structured_pruning_mlp_and_cnn_shrink_and_keep_outputs():
    plugin = ModelPruningPlugin()
    model = mlp()
    n0 = sum(p.numel() for p in model.parameters())
    x = torch.randn(4, 8)
    plugin.structured_pruning(model, 0.5, example_inputs=x)
    assert model[0].out_features == 16 and model[2].in_features == 16 and model[4].out_features == 3
    assert sum(p.numel() for p in model.parameters()) < 0.5 * n0
    assert model(x).shape == (4, 3)

    net = cnn()
    n0 = sum(p.numel() for p in net.parameters())
    img = torch.randn(2, 1, 8, 8)
    plugin.structured_pruning(net, 0.5, example_inputs=img)
    assert net[0].out_channels == 4 and net[1].num_features == 4 and net[3].out_channels == 8
    assert net(img).shape == (2, 10) and net[-1].out_features == 10
    assert sum(p.numel() for p in net.parameters()) < n0


@pytest.mark.parametrize("ratio,least", [(0.3, 0.40), (0.5, 0.60)])
def test_structured_pruning_of_apt_lm_removes_what_matters_and_saves(tmp_path, ratio, least):
    """Before: only the FFN widths went (1.1% / 1.8% of the parameters) and attention was untouched."""
    from seetrain.apt.model import APTConfig, APTLanguageModel

    torch.manual_seed(0)
    model = APTLanguageModel(APTConfig(d_model=64, n_heads=4, n_layers=2, rank=16, attn_rank=8, max_seq_len=32))
    n0, ids = model.num_parameters(), torch.randint(0, 259, (2, 16))
    qkv0 = model.blocks[0].attn.qkv.weight.numel()
    plugin = ModelPruningPlugin()
    assert plugin.structured_pruning(model, ratio, example_inputs=ids) is model  # in place
    assert 1 - model.num_parameters() / n0 >= least
    assert model.blocks[0].attn.qkv.weight.numel() < 0.75 * qkv0  # attention shrank, not just the FFN
    c = model.config
    assert c.d_model < 64 and c.rank < 16 and c.attn_rank < 8 and c.r_hidden < 32
    assert model.lm_head.weight is model.tok_emb.weight
    out = model(ids, labels=ids)
    assert out.logits.shape == (2, 16, 259) and torch.isfinite(out.loss)
    assert model.generate(ids[:1, :4], max_new_tokens=5).shape == (1, 9)
    model.save_pretrained(tmp_path / "m")
    back = APTLanguageModel.from_pretrained(tmp_path / "m")
    assert torch.allclose(back(ids).logits, model(ids).logits, atol=1e-6)


def test_structured_slicing_is_exact_at_ratio_zero_and_prunes_layers():
    from seetrain.apt.model import APTConfig, APTLanguageModel, StandardLanguageModel
    from seetrain.apt.plugins._apt_structure import prune_lm_structure

    ids = torch.randint(0, 259, (2, 12))
    for cls in (APTLanguageModel, StandardLanguageModel):
        torch.manual_seed(0)
        model = cls(APTConfig(d_model=32, n_heads=4, n_layers=3, rank=8, max_seq_len=16))
        ref = model(ids).logits.detach()
        prune_lm_structure(model, 0.0, inputs=ids)  # every index kept: the same function
        assert torch.allclose(model(ids).logits, ref, atol=1e-6)
    report = prune_lm_structure(model, 0.34, targets=["layers"], inputs=ids)
    assert model.config.n_layers == 2 and len(model.blocks) == 2 and report["params_removed"] > 0.05
    with pytest.raises(ValueError, match="vein_rank"):
        prune_lm_structure(model, 0.3, targets=["vein_rank"])  # the baseline has no vein


def test_structured_pruning_of_standard_lm_mlp():
    from seetrain.apt.model import APTConfig, StandardLanguageModel

    torch.manual_seed(0)
    model = StandardLanguageModel(APTConfig(d_model=32, n_heads=4, n_layers=1, max_seq_len=32))
    ids = torch.randint(0, 259, (2, 8))
    ModelPruningPlugin().structured_pruning(model, 0.25, example_inputs=ids)
    mlp_ = model.blocks[0].mlp
    assert model.config.d_model == 24 and mlp_[0].out_features == 96 and mlp_[2].out_features == 24
    assert model.blocks[0].attn.qkv.out_features == 72 and model.lm_head.weight is model.tok_emb.weight
    assert model(ids).logits.shape == (2, 8, 259)


def test_unstructured_pruning_of_apt_lm_leaves_tied_weights():
    model = apt_lm()
    plugin = ModelPruningPlugin()
    plugin.magnitude_pruning(model, 0.3)
    assert model.lm_head.weight is model.tok_emb.weight
    assert not hasattr(model.lm_head, "weight_mask")
    assert plugin.get_pruning_statistics(model)["global_sparsity"] == pytest.approx(0.3, abs=1e-3)
    ids = torch.randint(0, 259, (1, 8))
    assert model.generate(ids, max_new_tokens=3).shape == (1, 11)


def test_lottery_ticket_rewinds_to_initial_weights():
    model, loader = mlp(), toy_loader()
    init = copy.deepcopy(model.state_dict())
    plugin = ModelPruningPlugin({"fine_tune_lr": 1e-2})
    plugin.lottery_ticket_pruning(model, iterations=2, dataloader=loader, prune_ratio=0.75)
    stats = plugin.get_pruning_statistics(model)
    assert stats["global_sparsity"] == pytest.approx(0.75, abs=1e-3)
    for i in (0, 2, 4):
        m = model[i]
        keep = m.weight_mask.bool()
        assert torch.equal(m.weight_orig[keep], init[f"{i}.weight"][keep])
        assert torch.equal(m.bias, init[f"{i}.bias"])


def test_lottery_ticket_without_a_dataloader_rewinds_to_the_remembered_start():
    """The APT documents call lottery_ticket_pruning(model, iterations) with no data: it needed one."""
    model, loader = mlp(), toy_loader()
    plugin = ModelPruningPlugin({"pruning_ratio": 0.6})
    plugin.remember_initial_state(model)
    init = copy.deepcopy(model.state_dict())
    plugin.fine_tune_pruned(model, loader, 2)  # "training"
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    plugin.lottery_ticket_pruning(model, 3)
    assert plugin.get_pruning_statistics(model)["global_sparsity"] == pytest.approx(0.6, abs=1e-3)
    m = model[2]
    keep = m.weight_mask.bool()
    assert torch.equal(m.weight_orig[keep], init["2.weight"][keep])  # survivors rewound
    # the survivors are the largest *trained* weights (ranked over all layers)
    kept = torch.cat([trained[f"{i}.weight"].abs()[model[i].weight_mask.bool()] for i in (0, 2, 4)])
    gone = torch.cat([trained[f"{i}.weight"].abs()[~model[i].weight_mask.bool()] for i in (0, 2, 4)])
    assert kept.min() >= gone.max()


def test_prune_model_iterative_and_evaluate(logdir):
    model, loader = mlp(), toy_loader()
    original = copy.deepcopy(model)
    plugin = ModelPruningPlugin({"prune_type": "magnitude", "prune_ratio": 0.5, "iterative": True,
                                 "iterative_steps": 2, "fine_tune_epochs": 1, "make_permanent": True})
    run = seetrain.init(project="prune")
    plugin.prune_model(model, loader)
    assert plugin.get_pruning_statistics(model)["global_sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert not any(hasattr(m, "weight_mask") for m in model)
    res = plugin.evaluate_pruning(original, model, loader, latency_repeats=5)
    assert res["original_params"] == res["pruned_params"]  # masks zero weights, they do not remove them
    assert res["nonzero_removed"] > 0.4
    assert 0 <= res["pruned_accuracy"] <= 1 and "accuracy_drop" in res
    structured = ModelPruningPlugin({"pruning_method": "structured", "pruning_ratio": 0.5})
    small = structured.prune_model(copy.deepcopy(original), loader)
    res = structured.evaluate_pruning(original, small, loader, latency_repeats=5)
    assert res["params_removed"] > 0.5 and res["pruned_size_mb"] < res["original_size_mb"]
    run.finish()
    keys = set(seetrain.read_run(run.dir).keys())
    assert {"prune/eval/params_removed", "prune/eval/speedup", "prune/eval/pruned_accuracy",
            "prune/structured_groups"} <= keys


def test_bad_input_messages():
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        ModelPruningPlugin({"pruning_ratio": 1.5})
    with pytest.raises(ValueError, match="pruning_method"):
        ModelPruningPlugin({"pruning_method": "vibes"})
    with pytest.raises(ValueError, match="structured pruning changes"):
        ModelPruningPlugin({"pruning_method": "structured", "prune_at": "during_training"})
    with pytest.raises(ValueError, match="calibration_data"):
        ModelPruningPlugin({"pruning_method": "taylor"}).prune_model(mlp())


def test_plugin_manager_prunes_at_training_end(logdir):
    from seetrain.apt.plugins.base import PluginManager

    mgr = PluginManager.from_config({"model-pruning": {"enabled": True, "prune_ratio": 0.25}})
    model = mlp()
    run = seetrain.init(project="prune")
    mgr.call("on_training_end", {"model": model, "run": run})
    assert mgr.get("model-pruning").get_pruning_statistics(model)["global_sparsity"] == pytest.approx(0.25, abs=1e-3)
    run.finish()
    assert seetrain.read_run(run.dir).scalars("prune/global_sparsity").values == [pytest.approx(0.25, abs=1e-3)]
