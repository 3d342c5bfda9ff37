"""Structured pruning for :class:`~seetrain.apt.plugins.model_pruning.ModelPruningPlugin` (a mixin):
exact slicing for the APT language models (``_apt_structure``), torch-pruning's dependency graph for
any other model."""

from __future__ import annotations

import warnings
from typing import Any, Iterable, List, Optional


class StructuredPruningMixin:
    """``structured_pruning`` and its helpers; needs the plugin's ``config``, ``_check_ratio``,
    ``make_permanent``, ``_report`` and ``update_config``."""

    def structured_pruning(self, model, prune_ratio: Optional[float] = None, example_inputs: Any = None,
                           ignored_layers: Optional[List[Any]] = None, dataloader: Optional[Iterable] = None,
                           safe_only: Optional[bool] = None):
        """Remove ``prune_ratio`` of the widths of ``model``, in place; returns it (masks are folded in first).

        APT / standard language models: exact slicing of the widths their config describes
        (``structured_targets``; see ``_apt_structure``), so the model saves and loads. Other models:
        output channels/neurons of each prunable group through torch-pruning (``example_inputs`` traces
        the model, guessed from the first layer when omitted; ``safe_only``, also the way to send an APT
        model through torch-pruning, keeps to groups of linear layers and element-wise ops).
        """
        import torch
        from torch import nn
        import torch_pruning as tp

        from ._compression import call_model, example_inputs_for, logits_of, to_device, model_device

        ratio = self._check_ratio(self.config["pruning_ratio"] if prune_ratio is None else prune_ratio)
        self.make_permanent(model)
        if getattr(model, "model_type", None) in ("apt", "standard") and hasattr(model, "blocks") and not safe_only:
            return self._prune_apt_structure(model, ratio, example_inputs, dataloader)
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

    def _prune_apt_structure(self, model, ratio: float, example_inputs: Any, dataloader: Optional[Iterable]):
        """APT/standard LMs: exact slicing of widths the config can describe (see ``_apt_structure``)."""
        from ._apt_structure import prune_lm_structure
        from ._compression import example_inputs_for, split_batch

        if example_inputs is None and dataloader is not None:
            example_inputs = example_inputs_for(model, dataloader)
        if isinstance(example_inputs, dict):
            example_inputs = example_inputs.get("input_ids")
        if example_inputs is not None and not isinstance(example_inputs, __import__("torch").Tensor):
            example_inputs = split_batch(example_inputs)[0]
        report = prune_lm_structure(model, ratio, self.config.get("structured_targets"), example_inputs)
        self.last_structured_report = report
        self.last_structured_groups = len(report["targets"])
        self._report(model, "structured", extra={"prune/params_removed": report["params_removed"],
                                                 "prune/params_before": report["params_before"]})
        self.update_config({"pruning": {"method": "structured", "ratio": ratio, **report}})
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

