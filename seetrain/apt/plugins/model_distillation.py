"""Knowledge distillation: train a small student to imitate a large teacher.

    plugin = ModelDistillationPlugin({"temperature": 4.0, "alpha": 0.7, "beta": 0.3})
    plugin.distill(teacher, student, train_loader, num_epochs=3)
    print(plugin.evaluate_compression(teacher, student, test_loader))

Loss = ``alpha * distill_term + beta * hard_label_loss`` where the distill term is

* ``response``: KL(teacher || student) on temperature-softened outputs, scaled by T²;
* ``feature``: response term + ``feature_weight`` * MSE between hidden states (student widths
  projected to the teacher's by learned linear maps when they differ);
* ``attention``: response term + ``feature_weight`` * MSE between (head-averaged when head counts
  differ) attention maps;
* ``relation``: response term + ``feature_weight`` * relational (pairwise-distance) loss on pooled
  last hidden states.

Works for classifiers (logits ``(B, C)``) and language models (logits ``(B, T, V)``; hidden states and
attentions through ``output_hidden_states`` / ``output_attentions``). Models whose forward has no such
arguments give their features through forward hooks on ``distill_layers`` (module names), by default
the input of their last ``nn.Linear``.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .base import APTPlugin

_METHODS = ("response", "feature", "attention", "relation")
_METHOD_ALIASES = {"kl_divergence": "response", "kl": "response", "logits": "response"}  # names the APT documents use


class ModelDistillationPlugin(APTPlugin):
    """Teacher→student distillation with the losses above; reports to the active SeeTrain run."""

    name = "model-distillation"
    default_config: Dict[str, Any] = {
        "temperature": 4.0,
        "alpha": 0.7,
        "beta": 0.3,
        "distill_method": "response",
        "distill_layers": None,
        "feature_weight": 1.0,
        "learning_rate": 1e-3,
        "num_epochs": 1,
        "log_every": 10,
        "seed": None,
        # in `seetrain apt train`: the teacher is a save_pretrained directory, or a model config (a name in
        # apt/configs/model/, a YAML path or a mapping) trained first for teacher_steps on the same data
        "teacher_checkpoint": None,
        "teacher_config": None,
        "teacher_steps": 300,
        "teacher_lr": 3e-3,
        "save_teacher": True,      # the trained teacher goes to <output_dir>/teacher (reuse: teacher_checkpoint)
        "teacher_model": None,     # an nn.Module (programmatic use)
    }
    extra_options = ("distill_type",)

    def __init__(self, config: Optional[Dict[str, Any]] = None, run: Any = None, **options: Any) -> None:
        super().__init__(config, run, **options)
        if "distill_type" in self.config and ("distill_method" not in dict(config or {}, **options)):
            self.config["distill_method"] = self.config["distill_type"]
        method = _METHOD_ALIASES.get(self.config["distill_method"], self.config["distill_method"])
        if method not in _METHODS:
            raise ValueError(f"distill_method {method!r} is not one of {_METHODS + tuple(_METHOD_ALIASES)}")
        self.config["distill_method"] = self.config["distill_type"] = method
        for key in ("temperature", "alpha", "beta", "feature_weight"):
            if not isinstance(self.config[key], (int, float)) or isinstance(self.config[key], bool):
                raise ValueError(f"{key} must be a number, got {self.config[key]!r}")
        if float(self.config["temperature"]) <= 0:
            raise ValueError(f"temperature must be > 0, got {self.config['temperature']}")
        ckpt = self.config.get("teacher_checkpoint")
        if ckpt and not os.path.isfile(os.path.join(str(ckpt), "config.json")):
            raise FileNotFoundError(f"teacher_checkpoint {ckpt!r} is not a directory saved with save_pretrained "
                                    "(no config.json); train a teacher first, e.g. seetrain apt train model=vft_small")
        self.projections = None  # nn.ModuleDict of student→teacher width maps, built on first use
        self.teacher = None
        self._step = 0
        self.history: List[Dict[str, float]] = []

    # --- losses ---------------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.config["distill_method"]

    def response_distillation(self, student_logits, teacher_logits, temperature: Optional[float] = None,
                              mask=None):
        """T²·KL(softmax(teacher/T) || softmax(student/T)), averaged over samples (and kept positions)."""
        import torch.nn.functional as F

        T = float(temperature if temperature is not None else self.config["temperature"])
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                             f"{tuple(teacher_logits.shape)} differ: distillation needs the same output space")
        s = student_logits.reshape(-1, student_logits.size(-1))
        t = teacher_logits.reshape(-1, teacher_logits.size(-1)).detach()
        if mask is not None:
            keep = mask.reshape(-1).bool()
            s, t = s[keep], t[keep]
        log_p_s = F.log_softmax(s / T, dim=-1)
        log_p_t = F.log_softmax(t / T, dim=-1)
        return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (T * T)

    def _projection(self, key: str, d_in: int, d_out: int, device):
        from torch import nn

        if self.projections is None:
            self.projections = nn.ModuleDict()
        if key not in self.projections:
            self.projections[key] = nn.Linear(d_in, d_out, bias=False).to(device)
        return self.projections[key]

    def feature_distillation(self, student_features: Sequence, teacher_features: Sequence):
        """Mean MSE between paired features; a learned linear map fixes width differences."""
        import torch.nn.functional as F

        if len(student_features) != len(teacher_features):
            raise ValueError(f"{len(student_features)} student features vs {len(teacher_features)} teacher features")
        losses = []
        for i, (s, t) in enumerate(zip(student_features, teacher_features)):
            t = t.detach()
            if s.size(-1) != t.size(-1):
                s = self._projection(f"feat{i}_{s.size(-1)}_{t.size(-1)}", s.size(-1), t.size(-1), s.device)(s)
            if s.shape != t.shape:
                raise ValueError(f"feature {i}: shapes {tuple(s.shape)} and {tuple(t.shape)} differ beyond width")
            losses.append(F.mse_loss(s, t))
        return sum(losses) / len(losses)

    def attention_distillation(self, student_attentions: Sequence, teacher_attentions: Sequence):
        """MSE between attention maps ``(B, H, T, T)``; maps are averaged over heads when head counts differ."""
        import torch.nn.functional as F

        if len(student_attentions) != len(teacher_attentions):
            raise ValueError(f"{len(student_attentions)} student vs {len(teacher_attentions)} teacher attention maps")
        losses = []
        for s, t in zip(student_attentions, teacher_attentions):
            t = t.detach()
            if s.size(1) != t.size(1):
                s, t = s.mean(1), t.mean(1)
            losses.append(F.mse_loss(s, t))
        return sum(losses) / len(losses)

    def relation_distillation(self, student_repr, teacher_repr):
        """Relational KD: smooth-L1 between mean-normalised pairwise distance matrices of a batch."""
        import torch
        import torch.nn.functional as F

        def dist(x):  # sequences (B, T, d) are mean-pooled over T first
            x = x.mean(1) if x.dim() == 3 else x.reshape(x.size(0), -1)
            d = torch.cdist(x, x)
            return d / d[d > 0].mean().clamp_min(1e-8)

        return F.smooth_l1_loss(dist(student_repr), dist(teacher_repr.detach()))

    # --- forward passes -----------------------------------------------------------------------------
    def _hooked_forward(self, model, inputs, names: Optional[List[str]]):
        from torch import nn

        from ._compression import call_model

        modules = dict(model.named_modules())
        if names:
            missing = [n for n in names if n not in modules]
            if missing:
                raise ValueError(f"distill_layers {missing} are not modules of {type(model).__name__}; "
                                 f"known: {[n for n in modules if n][:20]}")
            targets = [(n, modules[n], "out") for n in names]
        else:
            last = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            if not last:
                raise ValueError("no nn.Linear to take features from: set distill_layers to module names")
            targets = [(last[-1], modules[last[-1]], "in")]
        feats: Dict[str, Any] = {}
        handles = []
        for n, m, where in targets:
            def hook(mod, args, out, n=n, where=where):
                feats[n] = args[0] if where == "in" else (out[0] if isinstance(out, tuple) else out)
            handles.append(m.register_forward_hook(hook))
        try:
            out = call_model(model, inputs)
        finally:
            for h in handles:
                h.remove()
        return out, [feats[n] for n, _, _ in targets]

    def _forward_parts(self, model, inputs, role: str):
        """``(logits, features, attentions)`` of ``model``; features/attentions only when the method needs them."""
        from ._compression import accepts, call_model, logits_of

        need_feat = self.method in ("feature", "relation")
        need_attn = self.method == "attention"
        if not (need_feat or need_attn):
            return logits_of(call_model(model, inputs)), None, None
        layers = self.config.get("distill_layers")
        if accepts(model, "output_hidden_states"):
            extra = {"output_hidden_states": True} if need_feat else {"output_attentions": True}
            out = call_model(model, inputs, **extra)
            seq = out.hidden_states if need_feat else out.attentions
            if seq is None:
                raise ValueError(f"{type(model).__name__} returned no {'hidden_states' if need_feat else 'attentions'}")
            return logits_of(out), list(seq), None
        if need_attn:
            raise ValueError(f"attention distillation needs a model with output_attentions; "
                             f"{type(model).__name__} has none")
        names = None
        if layers and all(isinstance(x, (list, tuple)) for x in layers):
            names = [x[0] if role == "student" else x[1] for x in layers]
        elif layers and all(isinstance(x, str) for x in layers):
            names = list(layers)
        out, feats = self._hooked_forward(model, inputs, names)
        return logits_of(out), feats, "hooked"

    def _pair_layers(self, s_seq: List, t_seq: List, hooked: bool) -> Tuple[List, List]:
        if hooked:
            return s_seq, t_seq
        layers = self.config.get("distill_layers")
        ns, nt = len(s_seq) - 1, len(t_seq) - 1
        if layers and all(isinstance(x, (list, tuple)) for x in layers):
            pairs = [(int(a), int(b)) for a, b in layers]
        elif layers and all(isinstance(x, int) for x in layers):
            pairs = [(i, round(i * nt / max(ns, 1))) for i in layers]
        elif self.method == "attention":  # attentions: one map per layer, no embedding entry
            ns, nt = len(s_seq), len(t_seq)
            pairs = [(i, min(nt - 1, round((i + 1) * nt / ns) - 1)) for i in range(ns)]
        else:
            pairs = [(i, round(i * nt / max(ns, 1))) for i in range(1, ns + 1)]
        return [s_seq[a] for a, _ in pairs], [t_seq[b] for _, b in pairs]

    def compute_loss(self, student_model, teacher_model, batch) -> Dict[str, Any]:
        """All loss terms for one batch: ``{"loss", "soft_loss", "hard_loss", "aux_loss"}`` (tensors)."""
        import torch

        from ._compression import attention_mask_of, model_device, split_batch, task_loss, to_device

        inputs, labels = split_batch(batch)
        device = model_device(student_model)
        inputs = to_device(inputs, device)
        with torch.no_grad():
            t_logits, t_seq, _ = self._forward_parts(teacher_model, inputs, "teacher")
        s_logits, s_seq, hooked = self._forward_parts(student_model, inputs, "student")
        mask = attention_mask_of(inputs) if s_logits.dim() == 3 else None
        soft = self.response_distillation(s_logits, t_logits, mask=mask)
        terms: Dict[str, Any] = {"soft_loss": soft}
        aux = None
        if self.method in ("feature", "attention"):
            s_sel, t_sel = self._pair_layers(s_seq, t_seq, bool(hooked))
            aux = (self.feature_distillation(s_sel, t_sel) if self.method == "feature"
                   else self.attention_distillation(s_sel, t_sel))
        elif self.method == "relation":
            aux = self.relation_distillation(s_seq[-1], t_seq[-1])
        distill = soft if aux is None else soft + float(self.config["feature_weight"]) * aux
        if aux is not None:
            terms["aux_loss"] = aux
        total = float(self.config["alpha"]) * distill
        if labels is not None and float(self.config["beta"]) > 0:
            hard = task_loss(s_logits, labels.to(device))
            terms["hard_loss"] = hard
            total = total + float(self.config["beta"]) * hard
        terms["loss"] = total
        return terms

    # --- training loops -------------------------------------------------------------------------------
    def _attach_projections(self, optimizer) -> None:
        if self.projections is None or optimizer is None:
            return
        have = {id(p) for g in optimizer.param_groups for p in g["params"]}
        new = [p for p in self.projections.parameters() if id(p) not in have]
        if new:
            optimizer.add_param_group({"params": new})

    def distill_model(self, student_model, teacher_model, train_dataloader: Iterable, optimizer) -> Dict[str, float]:
        """One epoch of distillation with the caller's optimizer; returns the epoch's mean losses."""
        teacher_model.eval()
        student_model.train()
        sums: Dict[str, float] = {}
        n = 0
        for batch in train_dataloader:
            terms = self.compute_loss(student_model, teacher_model, batch)
            self._attach_projections(optimizer)  # learned projections join the optimisation
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            values = {k: float(v.detach()) for k, v in terms.items()}
            if not all(math.isfinite(v) for v in values.values()):
                from seetrain import SeeTrainWarning

                warnings.warn(f"seetrain: non-finite distillation loss at step {self._step}: {values}",
                              SeeTrainWarning, stacklevel=2)
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            if self._step % max(int(self.config["log_every"]), 1) == 0:
                self.log({f"distill/{k}": v for k, v in values.items()}, step=self._step)
            self._step += 1
        if n == 0:
            raise ValueError("train_dataloader gave no batches")
        return {k: v / n for k, v in sums.items()}

    def distill(self, teacher_model, student_model, dataloader: Iterable, num_epochs: Optional[int] = None,
                optimizer=None) -> Any:
        """Distil for ``num_epochs`` (Adam at ``learning_rate`` unless an optimizer is given); returns the student."""
        import torch

        if self.config.get("seed") is not None:
            torch.manual_seed(int(self.config["seed"]))
        epochs = int(num_epochs if num_epochs is not None else self.config["num_epochs"])
        if optimizer is None:
            optimizer = torch.optim.Adam(student_model.parameters(), lr=float(self.config["learning_rate"]))
        self.update_config({"distillation": {k: self.config[k] for k in
                                             ("temperature", "alpha", "beta", "distill_method", "feature_weight")}})
        for epoch in range(epochs):
            means = self.distill_model(student_model, teacher_model, dataloader, optimizer)
            self.history.append(means)
            self.log({**{f"distill/epoch_{k}": v for k, v in means.items()}, "distill/epoch": epoch},
                     step=self._step)
        return student_model

    def evaluate_compression(self, teacher_model, student_model, dataloader: Optional[Iterable] = None,
                             example_inputs: Any = None, latency_repeats: int = 20) -> Dict[str, float]:
        """Parameters, safetensors size, CPU latency and speed-up, and (given data) accuracy, perplexity
        for language models, and the share of the teacher's accuracy the student keeps."""
        from ._compression import compare_models

        res = compare_models(teacher_model, student_model, dataloader, example_inputs,
                             ("teacher", "student"), latency_repeats)
        self.log({f"compression/{k}": v for k, v in res.items()}, step=self._step)
        return res

    # --- trainer hooks: distil during a normal training run -----------------------------------------
    def on_training_start(self, context: Dict[str, Any]) -> None:
        self.teacher = context.get("teacher") or self.config.get("teacher_model") or self.teacher
        if self.teacher is not None:
            self.teacher.eval()

    def distillation_loss(self, student_model, batch):
        """Loss to optimise in a trainer's step when a teacher is set (``plugin.teacher = model``)."""
        if self.teacher is None:
            raise ValueError("no teacher: set plugin.teacher or pass context['teacher'] at training start")
        return self.compute_loss(student_model, self.teacher, batch)["loss"]

    def check_training_setup(self) -> None:
        """Raise ``ValueError`` when :meth:`setup_training` could find no teacher (checked by the trainer
        before its run exists)."""
        if not any(self.config.get(k) is not None for k in ("teacher_model", "teacher_checkpoint", "teacher_config")):
            raise ValueError("model-distillation needs teacher_checkpoint (a saved model directory) or teacher_config "
                             "(a model config such as vft_small, trained first for teacher_steps)")

    def setup_training(self, context: Dict[str, Any]) -> None:
        """``seetrain apt train``: load the teacher (``teacher_checkpoint``) or build it from ``teacher_config``
        and train it for ``teacher_steps`` on the training data; it must share the student's vocabulary."""
        from ._teacher import load_or_train_teacher

        teacher = self.config.get("teacher_model")
        if teacher is None:
            teacher = load_or_train_teacher(self, context)
        student = context["model"]
        s_vocab = getattr(getattr(student, "config", None), "vocab_size", None)
        t_vocab = getattr(getattr(teacher, "config", None), "vocab_size", None)
        if s_vocab is not None and t_vocab is not None and s_vocab != t_vocab:
            raise ValueError(f"the teacher's vocabulary ({t_vocab}) differs from the student's ({s_vocab}); "
                             "distillation needs the same output space")
        device = next(student.parameters()).device
        self.teacher = teacher.to(device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        from ._compression import count_parameters

        self.update_config({"distillation": {
            **{k: self.config[k] for k in ("temperature", "alpha", "beta", "distill_method", "feature_weight")},
            "teacher": str(self.config.get("teacher_checkpoint") or self.config.get("teacher_config") or "module"),
            "teacher_params": count_parameters(self.teacher), "student_params": count_parameters(student)}})

    def training_loss(self, student_model, batch, outputs, step: int) -> Dict[str, Any]:
        """The trainer's loss: ``alpha * distill_term + beta * cross-entropy`` against the teacher on ``batch``
        (the student's forward output is reused for the response term); logged under ``distill/``."""
        import torch

        from ._compression import split_batch, to_device

        if self.teacher is None:
            raise ValueError("model-distillation has no teacher: set teacher_checkpoint or teacher_config")
        device = outputs.logits.device
        if next(self.teacher.parameters()).device != device:
            self.teacher.to(device)
        if self.method != "response":
            terms = self.compute_loss(student_model, self.teacher, batch)
        else:
            inputs, _ = split_batch(batch)
            inputs = to_device(inputs, outputs.logits.device)
            with torch.no_grad():
                t_logits = self._forward_parts(self.teacher, inputs, "teacher")[0]
            soft = self.response_distillation(outputs.logits, t_logits)
            hard = outputs.loss
            total = float(self.config["alpha"]) * soft
            if hard is not None and float(self.config["beta"]) > 0:
                total = total + float(self.config["beta"]) * hard
            terms = {"loss": total, "soft_loss": soft, **({"hard_loss": hard} if hard is not None else {})}
        return {"loss": terms["loss"], **{f"distill/{k}": v for k, v in terms.items()}}
