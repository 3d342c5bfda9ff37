"""Lottery-ticket pruning for :class:`~seetrain.apt.plugins.model_pruning.ModelPruningPlugin`:
iterative magnitude pruning with rewinding to the initial weights (Frankle & Carbin)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Optional


class LotteryTicketMixin:
    """Needs the plugin's ``config``, ``log``, masks (``_apply_global_mask``, ``_scores_with_mask``,
    ``_effective``, ``prunable_weights``), ``fine_tune_pruned`` and ``get_pruning_statistics``."""

    def lottery_ticket_pruning(self, model, iterations: int = 3, dataloader: Optional[Iterable] = None,
                               prune_ratio: Optional[float] = None, num_epochs: int = 1,
                               train_fn: Optional[Callable[[Any], Any]] = None, initial_state: Optional[Dict] = None):
        """Iterative magnitude pruning with rewinding (Frankle & Carbin).

        With ``dataloader`` (or ``train_fn(model)``): call it on the freshly initialised model (or pass
        ``initial_state``); each of ``iterations`` rounds trains, prunes up to ``1 - (1 - prune_ratio) **
        (i / iterations)`` by magnitude and rewinds the survivors to the initial values.

        Without training data: the model's current (trained) weights pick the survivors in one shot at
        ``prune_ratio`` and the survivors are rewound to ``initial_state``, or to the weights recorded by
        :meth:`remember_initial_state` / the trainer's ``on_training_start``; with neither, the weights
        stay as they are (plain magnitude pruning). Returns the masked "winning ticket".
        """
        ratio = self._check_ratio(self.config["pruning_ratio"] if prune_ratio is None else prune_ratio)
        if iterations < 1:
            raise ValueError("iterations must be >= 1")
        trains = train_fn is not None or dataloader is not None
        init_src = initial_state or getattr(self, "initial_state", None)
        if trains:
            init_src = init_src or self._plain_state(model)
        init = {k: v.detach().clone() for k, v in (init_src or {}).items()}
        rounds = iterations if trains else 1
        for it in range(1, rounds + 1):
            if train_fn is not None:
                train_fn(model)
            elif dataloader is not None:
                self.fine_tune_pruned(model, dataloader, num_epochs)
            target = 1.0 - (1.0 - ratio) ** (it / rounds)
            scores = self._scores_with_mask(model, [self._effective(m).abs() for _, m in self.prunable_weights(model)])
            self._apply_global_mask(model, scores, target)
            if init:
                self._rewind(model, init)
            stats = self.get_pruning_statistics(model)
            self.log({"prune/lottery_iteration": it, "prune/lottery_target": target,
                      "prune/global_sparsity": stats["global_sparsity"]}, step=self._next_step())
        return model

    def remember_initial_state(self, model) -> None:
        """Record ``model``'s weights now: the rewind point of :meth:`lottery_ticket_pruning` without data."""
        self.initial_state = {k: v.detach().clone() for k, v in self._plain_state(model).items()}

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
