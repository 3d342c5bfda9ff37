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

Structured pruning makes the model smaller. The APT language models are sliced exactly along the
widths their config describes (residual width and with it every head's width, vein and attention
ranks, FFN width, normals, optionally whole layers; ``_apt_structure``), so they save and load as
before. Other models lose output channels through torch-pruning's dependency graph (``_structured``);
the output layer and embeddings are never pruned.

In ``seetrain apt train`` the plugin prunes at the end (then ``fine_tune_steps``) or gradually during
training (``prune_at: during_training``), and folds the masks into the weights before the model is saved.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from ._lottery import LotteryTicketMixin
from ._structured import StructuredPruningMixin
from .base import APTPlugin

_METHODS = ("magnitude", "random", "taylor", "structured")


def _alias(cfg: Dict[str, Any], given: Dict[str, Any], main: str, alias: str) -> None:
    if alias in given and main not in given:
        cfg[main] = given[alias]
    cfg[alias] = cfg[main]


class ModelPruningPlugin(LotteryTicketMixin, StructuredPruningMixin, APTPlugin):
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
        "prune_at": "training_end",   # in `seetrain apt train`: training_end | during_training
        "make_permanent": False,   # prune_model folds the masks into the weights at the end (the trainer always does)
        # APT language models: what structured pruning shrinks (see _apt_structure); None = every width
        "structured_targets": None,
        # during training (unstructured): gradual magnitude pruning from start to end step (Zhu & Gupta)
        "prune_every_n_steps": 0,
        "prune_start_step": 0,
        "prune_end_step": None,    # default: 3/4 of trainer.max_steps
        "fine_tune_steps": 0,      # after pruning at training_end: this many training batches (0: none)
        "seed": 0,
        "log_every": 10,
    }
    extra_options = ("prune_type", "prune_ratio")

    def __init__(self, config: Optional[Dict[str, Any]] = None, run: Any = None, **options: Any) -> None:
        super().__init__(config, run, **options)
        given = dict(config or {}, **options)
        _alias(self.config, given, "pruning_method", "prune_type")
        _alias(self.config, given, "pruning_ratio", "prune_ratio")
        if self.config["pruning_method"] not in _METHODS:
            raise ValueError(f"pruning_method {self.config['pruning_method']!r} is not one of {_METHODS}")
        self._check_ratio(self.config["pruning_ratio"])
        if self.config["prune_at"] not in ("training_end", "during_training"):
            raise ValueError(f"prune_at {self.config['prune_at']!r} is not 'training_end' or 'during_training'")
        if self.config["prune_at"] == "during_training" and (self.config["structured"]
                                                             or self.config["pruning_method"] == "structured"):
            raise ValueError("structured pruning changes the model's shapes and runs at prune_at='training_end' "
                             "(with fine_tune_steps to recover); during training use magnitude/random/taylor")
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

    # --- trainer hooks ---------------------------------------------------------------------------------
    def on_batch_end(self, context: Dict[str, Any]) -> None:
        """``prune_at: during_training``: every ``prune_every_n_steps`` optimizer steps between
        ``prune_start_step`` and ``prune_end_step``, prune to the cubic schedule's sparsity
        ``ratio * (1 - (1 - t)^3)`` (masks stay enforced while training goes on)."""
        every = int(self.config.get("prune_every_n_steps") or 0)
        if self.config["prune_at"] != "during_training" or not every or not context.get("stepped", True):
            return
        model, step = context.get("model"), int(context.get("step") or 0) + 1  # optimizer steps done
        start = int(self.config.get("prune_start_step") or 0)
        end = self.config.get("prune_end_step")
        end = int(end) if end is not None else int(0.75 * int(context.get("max_steps") or step))
        if model is None or step < start or (step - start) % every or step > max(end, start + every):
            return
        t = min(1.0, (step - start) / max(end - start, 1))
        target = float(self.config["pruning_ratio"]) * (1.0 - (1.0 - t) ** 3)
        self._prune_once(model, target, context.get("train_dataloader"))

    def _prune_once(self, model, ratio: float, data: Optional[Iterable]) -> None:
        method = self.config["pruning_method"]
        if method == "taylor":
            if data is None:
                raise ValueError("pruning_method='taylor' needs calibration data")
            self.taylor_pruning(model, data, ratio, max_batches=4)
        elif method == "random":
            self.random_pruning(model, ratio)
        else:
            self.magnitude_pruning(model, ratio)

    def on_training_start(self, context: Dict[str, Any]) -> None:
        if context.get("model") is not None and self.config.get("pruning_method") != "structured":
            self.remember_initial_state(context["model"])  # the rewind point of a lottery ticket

    def on_training_end(self, context: Dict[str, Any]) -> None:
        """Prune (``prune_at: training_end``), fine-tune ``fine_tune_steps`` batches, and in the trainer
        (or with ``make_permanent``) fold the masks into the weights so the saved model loads anywhere."""
        import itertools

        model = context.get("model")
        if model is None or context.get("exception") is not None:
            return
        data = context.get("calibration_data") or context.get("train_dataloader")
        if self.config.get("prune_at") == "during_training" and int(self.config.get("prune_every_n_steps") or 0):
            if self.get_pruning_statistics(model)["global_sparsity"] < float(self.config["pruning_ratio"]) - 1e-3:
                self._prune_once(model, float(self.config["pruning_ratio"]), data)  # schedule cut short by max_steps
        if self.config.get("prune_at") == "training_end":
            steps = int(self.config.get("fine_tune_steps") or 0)
            self.prune_model(model, data)
            if steps and data is not None:
                batches = list(itertools.islice(itertools.chain.from_iterable(itertools.repeat(data)), steps))
                self.fine_tune_pruned(model, batches, 1)
        if context.get("trainer") is not None or context.get("will_save_model") or self.config.get("make_permanent"):
            self.make_permanent(model)
        stats = self.get_pruning_statistics(model)
        self.update_config({"pruning_result": {"global_sparsity": stats["global_sparsity"],
                                               "total_params": stats["total_params"],
                                               "nonzero_params": stats["nonzero_params"]}})
