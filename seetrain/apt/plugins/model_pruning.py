"""Model pruning: unstructured masks (magnitude, random, Taylor, lottery ticket) and structured
removal of neurons/channels through torch-pruning's dependency graph.

    plugin = ModelPruningPlugin({"pruning_method": "magnitude", "pruning_ratio": 0.5})
    plugin.magnitude_pruning(model, 0.5)          # exactly 50% of prunable weights become zero
    plugin.fine_tune_pruned(model, loader, num_epochs=2)
    plugin.make_permanent(model)                  # fold the masks into the weights
    small = plugin.structured_pruning(model, 0.4, example_inputs=x)   # really smaller and faster

Unstructured pruning acts on the weights of ``nn.Linear`` and ``nn.Conv*`` layers (tied weights, such as
a language model's head tied to its embedding, are left alone) with ``torch.nn.utils.prune`` masks; the
ratio is the fraction of those weights that are zero afterwards (cumulative, exact up to rounding).

Structured pruning removes output channels of layers with torch-pruning. The output layer (the one
producing the logits) and embeddings are never pruned. For models with embeddings (language models
such as the APT LM) only "safe" groups are pruned: groups made of linear layers and element-wise ops
only (FFN hidden widths); groups that touch reshapes, splits, raw parameters (low-rank factors,
attention heads) or the residual stream are kept whole.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .base import APTPlugin

_METHODS = ("magnitude", "random", "taylor", "structured")


def _alias(cfg: Dict[str, Any], given: Dict[str, Any], main: str, alias: str) -> None:
    if alias in given and main not in given:
        cfg[main] = given[alias]
    cfg[alias] = cfg[main]


class ModelPruningPlugin(APTPlugin):
    """Prune, fine-tune and measure; reports sparsity, sizes and latencies to the active run."""

    name = "model-pruning"
    default_config: Dict[str, Any] = {
        "pruning_method": "magnitude",
        "pruning_ratio": 0.3,
        "structured": False,
        "iterative": False,
        "iterative_steps": 3,
        "fine_tune_epochs": 0,
        "fine_tune_lr": 1e-3,
        "structured_importance": "magnitude",
        "ignored_layers": None,
        "prune_at": "training_end",
        "make_permanent": False,   # prune_model folds the masks into the weights at the end
        "seed": 0,
        "log_every": 10,
    }

    def __init__(self, config: Optional[Dict[str, Any]] = None, run: Any = None, **options: Any) -> None:
        super().__init__(config, run, **options)
        given = dict(config or {}, **options)
        _alias(self.config, given, "pruning_method", "prune_type")
        _alias(self.config, given, "pruning_ratio", "prune_ratio")
        if self.config["pruning_method"] not in _METHODS:
            raise ValueError(f"pruning_method {self.config['pruning_method']!r} is not one of {_METHODS}")
        self._check_ratio(self.config["pruning_ratio"])
        self._step = 0

    @staticmethod
    def _check_ratio(ratio: float) -> float:
        ratio = float(ratio)
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"prune ratio must be in [0, 1), got {ratio}")
        return ratio

    # --- which weights ------------------------------------------------------------------------------
    @staticmethod
    def prunable_weights(model) -> List[Tuple[str, Any]]:
        """``(qualified name, module)`` of Linear/Conv layers whose weight is not shared with another module."""
        from torch import nn

        owners: Dict[int, int] = {}
        for m in model.modules():
            for p in m.parameters(recurse=False):
                owners[id(p)] = owners.get(id(p), 0) + 1
        out = []
        for name, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                w = getattr(m, "weight_orig", None)
                w = w if w is not None else m.weight
                if owners.get(id(w), 0) <= 1:
                    out.append((name, m))
        return out

    @staticmethod
    def _effective(module):
        return module.weight.detach()

    def _apply_global_mask(self, model, scores: List[Any], ratio: float) -> None:
        """Zero the ``round(ratio * n)`` lowest-scoring weights (already-pruned ones first) with prune masks."""
        import torch
        from torch.nn.utils import prune

        layers = self.prunable_weights(model)
        if not layers:
            raise ValueError(f"{type(model).__name__} has no Linear/Conv weights to prune")
        flat = torch.cat([s.reshape(-1) for s in scores])
        k = int(round(ratio * flat.numel()))
        keep = torch.ones_like(flat, dtype=torch.bool)
        if k > 0:
            keep[torch.topk(flat, k, largest=False).indices] = False
        offset = 0
        for (_, m), s in zip(layers, scores):
            n = s.numel()
            mask = keep[offset:offset + n].reshape(s.shape).to(m.weight.dtype)
            offset += n
            if prune.is_pruned(m) and hasattr(m, "weight_mask"):
                prune.remove(m, "weight")  # fold the old mask; the new one contains it
            prune.custom_from_mask(m, "weight", mask)

    def _scores_with_mask(self, model, raw: List[Any]) -> List[Any]:
        """Scores where already-pruned weights rank lowest (so pruning is cumulative)."""
        out = []
        for (_, m), s in zip(self.prunable_weights(model), raw):
            mask = getattr(m, "weight_mask", None)
            s = s.float().clone()
            if mask is not None:
                s[mask == 0] = -1.0
            out.append(s)
        return out

    # --- unstructured methods ------------------------------------------------------------------------
    def magnitude_pruning(self, model, prune_ratio: Optional[float] = None):
        """Global magnitude pruning: the smallest ``|w|`` over all prunable layers become zero."""
        ratio = self._check_ratio(self.config["pruning_ratio"] if prune_ratio is None else prune_ratio)
        scores = self._scores_with_mask(model, [self._effective(m).abs() for _, m in self.prunable_weights(model)])
        self._apply_global_mask(model, scores, ratio)
        self._report(model, "magnitude")
        return model

    def random_pruning(self, model, prune_ratio: Optional[float] = None):
        """Random unstructured pruning (a baseline), reproducible through ``seed``."""
        import torch

        ratio = self._check_ratio(self.config["pruning_ratio"] if prune_ratio is None else prune_ratio)
        gen = torch.Generator().manual_seed(int(self.config.get("seed") or 0))
        raw = [torch.rand(m.weight.shape, generator=gen) for _, m in self.prunable_weights(model)]
        self._apply_global_mask(model, self._scores_with_mask(model, raw), ratio)
        self._report(model, "random")
        return model

    def taylor_scores(self, model, dataloader: Iterable, max_batches: Optional[int] = None) -> List[Any]:
        """First-order Taylor importance ``|w * dL/dw|`` summed over the batches, per prunable layer."""
        import torch

        from ._compression import call_model, logits_of, model_device, split_batch, task_loss, to_device

        layers = self.prunable_weights(model)
        acc = [torch.zeros_like(m.weight) for _, m in layers]
        device = model_device(model)
        was_training = model.training
        model.eval()
        n = 0
        for i, batch in enumerate(dataloader):
            if max_batches is not None and i >= max_batches:
                break
            inputs, labels = split_batch(batch)
            if labels is None:
                raise ValueError("taylor pruning needs labelled batches (inputs, labels)")
            model.zero_grad(set_to_none=True)
            logits = logits_of(call_model(model, to_device(inputs, device)))
            task_loss(logits, labels.to(device)).backward()
            for j, (_, m) in enumerate(layers):
                w = getattr(m, "weight_orig", None)
                w = w if w is not None else m.weight
                if w.grad is not None:
                    acc[j] += (m.weight.detach() * w.grad.detach()).abs()
            n += 1
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        if n == 0:
            raise ValueError("taylor pruning needs at least one batch of calibration data")
        return acc

    def taylor_pruning(self, model, dataloader: Iterable, prune_ratio: Optional[float] = None,
                       max_batches: Optional[int] = None):
        """Global Taylor pruning: weights with the smallest ``|w * grad|`` on ``dataloader`` become zero."""
        ratio = self._check_ratio(self.config["pruning_ratio"] if prune_ratio is None else prune_ratio)
        scores = self._scores_with_mask(model, self.taylor_scores(model, dataloader, max_batches))
        self._apply_global_mask(model, scores, ratio)
        self._report(model, "taylor")
        return model

    def make_permanent(self, model):
        """Fold every pruning mask into its weight (``prune.remove``); the zeros stay."""
        from torch.nn.utils import prune

        for m in model.modules():
            for hook in list(m._forward_pre_hooks.values()):
                if isinstance(hook, (prune.BasePruningMethod, prune.PruningContainer)):
                    prune.remove(m, hook._tensor_name)
        return model

    remove = make_permanent

    # --- structured ---------------------------------------------------------------------------------
    def structured_pruning(self, model, prune_ratio: Optional[float] = None, example_inputs: Any = None,
                           ignored_layers: Optional[List[Any]] = None, dataloader: Optional[Iterable] = None,
                           safe_only: Optional[bool] = None):
        """Remove ``prune_ratio`` of the output channels/neurons of each prunable group (torch-pruning).

        Changes ``model`` in place and returns it (unstructured masks are folded in first). ``example_inputs`` is needed to trace the model (a
        guess is made from the first layer when omitted). ``safe_only`` (default: on for models with
        embeddings) restricts pruning to groups of linear layers and element-wise ops.
        """
        import torch
        from torch import nn
        import torch_pruning as tp

        from ._compression import call_model, example_inputs_for, logits_of, to_device, model_device

        ratio = self._check_ratio(self.config["pruning_ratio"] if prune_ratio is None else prune_ratio)
        self.make_permanent(model)
        if example_inputs is None:
            example_inputs = example_inputs_for(model, dataloader, batch_size=2, seq_len=16)
        example_inputs = to_device(example_inputs, model_device(model))
        was_training = model.training
        model.eval()
        with torch.no_grad():
            before = logits_of(call_model(model, example_inputs))
        has_embedding = any(isinstance(m, nn.Embedding) for m in model.modules())
        safe_only = has_embedding if safe_only is None else bool(safe_only)

        ignored = list(ignored_layers or self._named_modules(model, self.config.get("ignored_layers")))
        ignored += [m for m in model.modules() if isinstance(m, nn.Embedding)]
        ignored += self._output_layers(model, example_inputs, before.shape)
        importance = (tp.importance.TaylorImportance() if self.config["structured_importance"] == "taylor"
                      else tp.importance.MagnitudeImportance(p=2))
        with warnings.catch_warnings():  # raw parameters (low-rank factors) are never pruned: see _safe_group
            warnings.filterwarnings("ignore", message=".*[Uu]nwrapped parameters.*")
            pruner = tp.pruner.MetaPruner(
                model, example_inputs, importance=importance, pruning_ratio=ratio, ignored_layers=ignored,
                global_pruning=False, forward_fn=lambda m, x: call_model(m, x), output_transform=logits_of)
        if isinstance(importance, tp.importance.TaylorImportance):
            if dataloader is None:
                raise ValueError("structured_importance='taylor' needs a dataloader for gradients")
            self._accumulate_grads(model, dataloader, max_batches=4)
        pruned_groups = 0
        for group in pruner.step(interactive=True):
            if safe_only and not self._safe_group(group):
                continue
            group.prune()
            pruned_groups += 1
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            after = logits_of(call_model(model, example_inputs))
        model.train(was_training)
        if after.shape != before.shape:
            raise RuntimeError(f"structured pruning changed the output shape {tuple(before.shape)} -> "
                               f"{tuple(after.shape)}; add the affected layers to ignored_layers")
        self.last_structured_groups = pruned_groups
        self._report(model, "structured", extra={"prune/structured_groups": pruned_groups})
        return model

    @staticmethod
    def _accumulate_grads(model, dataloader: Iterable, max_batches: int = 4) -> None:
        from ._compression import call_model, logits_of, model_device, split_batch, task_loss, to_device

        model.zero_grad(set_to_none=True)
        for i, batch in enumerate(dataloader):
            if i >= max_batches:
                break
            x, y = split_batch(batch)
            if y is None:
                raise ValueError("Taylor importance needs labelled batches (inputs, labels)")
            device = model_device(model)
            task_loss(logits_of(call_model(model, to_device(x, device))), y.to(device)).backward()

    @staticmethod
    def _named_modules(model, names) -> List[Any]:
        if not names:
            return []
        mods = dict(model.named_modules())
        missing = [n for n in names if isinstance(n, str) and n not in mods]
        if missing:
            raise ValueError(f"ignored_layers {missing} are not modules of {type(model).__name__}")
        return [mods[n] if isinstance(n, str) else n for n in names]

    @staticmethod
    def _output_layers(model, example_inputs, out_shape) -> List[Any]:
        """Layers whose output has the logits' shape (the classifier / LM head): never pruned."""
        import torch
        from torch import nn

        from ._compression import call_model

        found, handles = [], []
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                handles.append(m.register_forward_hook(
                    lambda mod, a, out: found.append(mod) if tuple(out.shape) == tuple(out_shape) else None))
        try:
            with torch.no_grad():
                call_model(model, example_inputs)
        finally:
            for h in handles:
                h.remove()
        return found

    @staticmethod
    def _safe_group(group) -> bool:
        """Linear/Conv layers joined by element-wise ops (and the flattening a Linear does on 3-D input),
        with a layer consuming the pruned channels: e.g. an FFN's hidden width. No raw parameters,
        splits, concatenations or head reshapes."""
        from torch import nn
        import torch_pruning as tp

        T = tp.ops.OPTYPE
        layer_types = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
        sizes, consumers = set(), 0
        for dep, idxs in group:
            node = dep.target
            sizes.add(len(idxs))
            if isinstance(node.module, layer_types):
                consumers += int(dep.handler.__name__ == "prune_in_channels")
            elif node.type not in (T.ELEMENTWISE, T.RESHAPE) and not isinstance(
                    node.module, (nn.GELU, nn.ReLU, nn.SiLU, nn.Dropout, nn.Tanh, nn.Sigmoid)):
                return False
        return consumers > 0 and len(sizes) == 1

    # --- lottery ticket -----------------------------------------------------------------------------
    def lottery_ticket_pruning(self, model, iterations: int = 3, dataloader: Optional[Iterable] = None,
                               prune_ratio: Optional[float] = None, num_epochs: int = 1,
                               train_fn: Optional[Callable[[Any], Any]] = None, initial_state: Optional[Dict] = None):
        """Iterative magnitude pruning with rewinding (Frankle & Carbin).

        Call it on the freshly initialised model (or pass ``initial_state``). Each of ``iterations``
        rounds trains the model (``train_fn(model)`` or :meth:`fine_tune_pruned` on ``dataloader``),
        prunes up to ``1 - (1 - prune_ratio) ** (i / iterations)`` of the weights by magnitude and rewinds
        the surviving weights to their initial values. Returns the rewound, masked "winning ticket".
        """
        ratio = self._check_ratio(self.config["pruning_ratio"] if prune_ratio is None else prune_ratio)
        if iterations < 1:
            raise ValueError("iterations must be >= 1")
        if train_fn is None and dataloader is None:
            raise ValueError("lottery_ticket_pruning needs a dataloader or a train_fn to train each round")
        init = {k: v.detach().clone() for k, v in (initial_state or self._plain_state(model)).items()}
        for it in range(1, iterations + 1):
            if train_fn is not None:
                train_fn(model)
            else:
                self.fine_tune_pruned(model, dataloader, num_epochs)
            target = 1.0 - (1.0 - ratio) ** (it / iterations)
            scores = self._scores_with_mask(model, [self._effective(m).abs() for _, m in self.prunable_weights(model)])
            self._apply_global_mask(model, scores, target)
            self._rewind(model, init)
            stats = self.get_pruning_statistics(model)
            self.log({"prune/lottery_iteration": it, "prune/lottery_target": target,
                      "prune/global_sparsity": stats["global_sparsity"]}, step=self._next_step())
        return model

    @staticmethod
    def _plain_state(model) -> Dict[str, Any]:
        return {(k[:-5] if k.endswith("_orig") else k): v for k, v in model.named_parameters()}

    @staticmethod
    def _rewind(model, init: Dict[str, Any]) -> None:
        import torch

        with torch.no_grad():
            for k, p in model.named_parameters():
                base = k[:-5] if k.endswith("_orig") else k
                if base in init and init[base].shape == p.shape:
                    p.copy_(init[base])

    # --- driver, fine-tuning, statistics -----------------------------------------------------------
    def prune_model(self, model, calibration_data: Optional[Iterable] = None, example_inputs: Any = None):
        """Prune with the configured method and ratio (in ``iterative_steps`` rounds when ``iterative``,
        fine-tuning ``fine_tune_epochs`` on ``calibration_data`` between rounds)."""
        method, ratio = self.config["pruning_method"], float(self.config["pruning_ratio"])
        structured = bool(self.config["structured"]) or method == "structured"
        steps = max(int(self.config["iterative_steps"]), 1) if self.config["iterative"] else 1
        for s in range(1, steps + 1):
            if structured:  # per-round share so that the widths shrink by ``ratio`` overall
                step_ratio = 1.0 - (1.0 - ratio) ** (1.0 / steps)
                model = self.structured_pruning(model, step_ratio, example_inputs=example_inputs,
                                                dataloader=calibration_data)
            else:
                target = 1.0 - (1.0 - ratio) ** (s / steps)
                if method == "taylor":
                    if calibration_data is None:
                        raise ValueError("pruning_method='taylor' needs calibration_data")
                    self.taylor_pruning(model, calibration_data, target)
                elif method == "random":
                    self.random_pruning(model, target)
                else:
                    self.magnitude_pruning(model, target)
            if int(self.config["fine_tune_epochs"]) > 0 and calibration_data is not None:
                self.fine_tune_pruned(model, calibration_data, int(self.config["fine_tune_epochs"]))
        if self.config.get("make_permanent"):
            self.make_permanent(model)
        return model

    def fine_tune_after_pruning(self, model, dataloader: Iterable, optimizer) -> float:
        """One epoch of task-loss training (masks stay enforced); returns the mean loss."""
        from ._compression import call_model, logits_of, model_device, split_batch, task_loss, to_device

        model.train()
        device = model_device(model)
        total, n = 0.0, 0
        for batch in dataloader:
            inputs, labels = split_batch(batch)
            if labels is None:
                raise ValueError("fine-tuning needs labelled batches (inputs, labels)")
            loss = task_loss(logits_of(call_model(model, to_device(inputs, device))), labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            n += 1
            if self._step % max(int(self.config["log_every"]), 1) == 0:
                self.log({"prune/fine_tune_loss": float(loss.detach())}, step=self._step)
            self._step += 1
        if n == 0:
            raise ValueError("the fine-tuning dataloader gave no batches")
        return total / n

    def fine_tune_pruned(self, model, dataloader: Iterable, num_epochs: int = 1, lr: Optional[float] = None,
                         optimizer=None):
        """Fine-tune ``num_epochs`` with Adam (``fine_tune_lr``) unless an optimizer is given; returns the model."""
        import torch

        if optimizer is None:
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.Adam(params, lr=float(lr if lr is not None else self.config["fine_tune_lr"]))
        for epoch in range(int(num_epochs)):
            loss = self.fine_tune_after_pruning(model, dataloader, optimizer)
            self.log({"prune/fine_tune_epoch_loss": loss, "prune/fine_tune_epoch": epoch}, step=self._next_step())
        return model

    def get_pruning_statistics(self, model) -> Dict[str, Any]:
        """``global_sparsity`` over prunable weights, per-layer ``{params, zeros, sparsity}``, and the
        model's total / non-zero parameter counts."""
        from ._compression import count_parameters

        layers: Dict[str, Dict[str, float]] = {}
        total = zeros = 0
        for name, m in self.prunable_weights(model):
            w = m.weight.detach()
            z = int((w == 0).sum())
            layers[name or "<root>"] = {"params": w.numel(), "zeros": z, "sparsity": z / max(w.numel(), 1),
                                        "shape": list(w.shape)}
            total += w.numel()
            zeros += z
        all_params = count_parameters(model)
        nonzero = count_parameters(model, nonzero=True)
        return {"global_sparsity": zeros / max(total, 1), "prunable_params": total, "pruned_params": zeros,
                "total_params": all_params, "nonzero_params": nonzero,
                "overall_sparsity": 1.0 - nonzero / max(all_params, 1), "layers": layers}

    def evaluate_pruning(self, original_model, pruned_model, dataloader: Optional[Iterable] = None,
                         example_inputs: Any = None, latency_repeats: int = 20) -> Dict[str, float]:
        """Parameters (total and non-zero), safetensors size, CPU latency, speed-up and accuracy drop."""
        from ._compression import compare_models

        res = compare_models(original_model, pruned_model, dataloader, example_inputs, ("original", "pruned"),
                             latency_repeats)
        res["params_removed"] = 1.0 - res["pruned_params"] / max(res["original_params"], 1)
        res["nonzero_removed"] = 1.0 - res["pruned_nonzero_params"] / max(res["original_nonzero_params"], 1)
        self.log({f"prune/eval/{k}": v for k, v in res.items()}, step=self._next_step())
        return res

    def _next_step(self) -> int:
        s = self._step
        self._step += 1
        return s

    def _report(self, model, method: str, extra: Optional[Dict[str, Any]] = None) -> None:
        stats = self.get_pruning_statistics(model)
        data = {"prune/global_sparsity": stats["global_sparsity"], "prune/total_params": stats["total_params"],
                "prune/nonzero_params": stats["nonzero_params"], "prune/overall_sparsity": stats["overall_sparsity"]}
        for name, s in stats["layers"].items():
            data[f"prune/layer/{name}/sparsity"] = s["sparsity"]
        data.update(extra or {})
        self.log(data, step=self._next_step())
        self.last_statistics = stats
        self.last_method = method

    # --- trainer hook ---------------------------------------------------------------------------------
    def on_training_end(self, context: Dict[str, Any]) -> None:
        model = context.get("model")
        if model is not None and self.config.get("prune_at") == "training_end":
            self.prune_model(model, context.get("calibration_data"))
