"""Shared helpers of the compression plugins: batches, model calls, and size/speed/accuracy measurement.

A batch may be ``(inputs, labels)``, a dict (``input_ids``/``attention_mask``/``labels`` or ``x``/``y``),
or a single ``LongTensor`` of token ids (a language-model batch whose labels are the ids themselves).
A model's output may be a tensor, a tuple (logits first) or an object with ``.logits``.
"""

from __future__ import annotations

import inspect
import os
import statistics
import tempfile
import time
from typing import Any, Dict, Iterable, Optional, Tuple

import torch
from torch import nn
import torch.nn.functional as F

_INPUT_KEYS = ("input_ids", "attention_mask", "pixel_values", "x", "inputs")
_LABEL_KEYS = ("labels", "label", "y", "targets")


def split_batch(batch: Any) -> Tuple[Any, Optional[torch.Tensor]]:
    """``(inputs, labels)`` of a batch; ``inputs`` is a tensor or a dict of keyword arguments."""
    if isinstance(batch, torch.Tensor):
        return batch, (batch if batch.dtype == torch.long else None)
    if isinstance(batch, dict):
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "pixel_values")}
        if not inputs:
            for k in ("x", "inputs"):
                if k in batch:
                    inputs = batch[k]
                    break
        if isinstance(inputs, dict) and not inputs:
            raise ValueError(f"batch dict has none of the input keys {_INPUT_KEYS}; got {sorted(batch)}")
        labels = next((batch[k] for k in _LABEL_KEYS if k in batch), None)
        if labels is None and isinstance(inputs, dict) and "input_ids" in inputs:
            labels = inputs["input_ids"]
        return inputs, labels
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return split_batch(batch[0])
        return batch[0], batch[1]
    raise TypeError(f"cannot read a batch of type {type(batch).__name__}: use (inputs, labels), a dict "
                    "with input_ids/labels or x/y, or a LongTensor of token ids")


def to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


def model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def accepts(model: nn.Module, arg: str) -> bool:
    """Whether ``model.forward`` takes the keyword ``arg``."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False
    return arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def call_model(model: nn.Module, inputs: Any, **extra: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs, **extra)
    return model(inputs, **extra)


def logits_of(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, dict) and "logits" in output:
        return output["logits"]
    if isinstance(output, (tuple, list)):
        return output[0]
    raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}")


def attention_mask_of(inputs: Any) -> Optional[torch.Tensor]:
    return inputs.get("attention_mask") if isinstance(inputs, dict) else None


def task_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy: next-token (shifted, -100 ignored) for ``(B,T,V)`` logits, plain for ``(B,C)``."""
    if logits.dim() == 3:
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                               ignore_index=-100)
    if labels.dtype.is_floating_point and labels.shape == logits.shape:
        return F.mse_loss(logits, labels)
    return F.cross_entropy(logits, labels)


def count_parameters(model: nn.Module, nonzero: bool = False) -> int:
    """Unique parameters (tied weights counted once); ``nonzero`` counts non-zero entries of the
    effective weights (pruning masks applied)."""
    if not nonzero:
        seen, total = set(), 0
        for p in model.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
        return total
    total, seen = 0, set()
    for module in model.modules():
        for name, p in list(module.named_parameters(recurse=False)):
            key = name[:-5] if name.endswith("_orig") else name
            t = getattr(module, key) if name.endswith("_orig") else p
            if id(p) in seen:
                continue
            seen.add(id(p))
            total += int(torch.count_nonzero(t.detach()))
    return total


def export_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The model's effective tensors (pruning masks applied, tied weights once), contiguous, on CPU."""
    state: Dict[str, torch.Tensor] = {}
    seen = set()
    for mod_name, module in model.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if name.endswith("_orig"):
                name = name[:-5]
                p = getattr(module, name)
            state[prefix + name] = p.detach().cpu().contiguous().clone()
        for name, b in module.named_buffers(recurse=False):
            if b is not None and not name.endswith("_mask") and id(b) not in seen:
                seen.add(id(b))
                state[prefix + name] = b.detach().cpu().contiguous().clone()
    return state


def size_on_disk_mb(model: nn.Module) -> float:
    """Size of the model's effective tensors as a safetensors file (tied weights stored once), in MB."""
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.safetensors")
        save_file(export_state(model), path)
        return os.path.getsize(path) / 1e6


def example_inputs_for(model: nn.Module, dataloader: Optional[Iterable] = None, batch_size: int = 8,
                       seq_len: int = 32) -> Any:
    """An input for timing: the first batch of ``dataloader``, else a guess from the first layer."""
    if dataloader is not None:
        for batch in dataloader:
            return split_batch(batch)[0]
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return torch.randint(0, m.num_embeddings, (batch_size, seq_len))
        if isinstance(m, nn.Linear):
            return torch.randn(batch_size, m.in_features)
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            break
    raise ValueError("cannot guess an input for this model: pass example_inputs= or a dataloader")


@torch.no_grad()
def cpu_latency_ms(model: nn.Module, inputs: Any, repeats: int = 20, warmup: int = 3) -> float:
    """Median forward time of ``model(inputs)`` on CPU in milliseconds (model copied to CPU if needed)."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    if device.type != "cpu":
        import copy

        model = copy.deepcopy(model).cpu()
    inputs = to_device(inputs, torch.device("cpu"))
    for _ in range(warmup):
        call_model(model, inputs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call_model(model, inputs)
        times.append((time.perf_counter() - t0) * 1000)
    if was_training:
        model.train()
    return float(statistics.median(times))


@torch.no_grad()
def evaluate_model(model: nn.Module, dataloader: Iterable, max_batches: Optional[int] = None) -> Dict[str, float]:
    """Accuracy (next-token accuracy for language models), mean loss and, for LMs, perplexity."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    correct = total = 0
    loss_sum = 0.0
    n_loss = 0
    is_lm = False
    for i, batch in enumerate(dataloader):
        if max_batches is not None and i >= max_batches:
            break
        inputs, labels = split_batch(batch)
        inputs = to_device(inputs, device)
        logits = logits_of(call_model(model, inputs))
        if labels is None:
            continue
        labels = labels.to(device)
        if logits.dim() == 3:
            is_lm = True
            pred, gold = logits[:, :-1].argmax(-1), labels[:, 1:]
            keep = gold != -100
            correct += int((pred[keep] == gold[keep]).sum())
            count = int(keep.sum())
        else:
            correct += int((logits.argmax(-1) == labels).sum())
            count = labels.numel()
        total += count
        loss_sum += float(task_loss(logits, labels)) * count
        n_loss += count
    if was_training:
        model.train()
    out = {"accuracy": correct / total if total else float("nan"),
           "loss": loss_sum / n_loss if n_loss else float("nan")}
    if is_lm:
        import math

        out["perplexity"] = math.exp(min(out["loss"], 50.0))
    return out


def compare_models(reference: nn.Module, candidate: nn.Module, dataloader: Optional[Iterable] = None,
                   example_inputs: Any = None, prefix: Tuple[str, str] = ("teacher", "student"),
                   latency_repeats: int = 20) -> Dict[str, float]:
    """Parameters, safetensors size, CPU latency and speed-up, and (given data) accuracy retained."""
    a, b = prefix
    res: Dict[str, float] = {}
    res[f"{a}_params"] = count_parameters(reference)
    res[f"{b}_params"] = count_parameters(candidate)
    res[f"{a}_nonzero_params"] = count_parameters(reference, nonzero=True)
    res[f"{b}_nonzero_params"] = count_parameters(candidate, nonzero=True)
    res["param_ratio"] = res[f"{b}_params"] / max(res[f"{a}_params"], 1)
    res[f"{a}_size_mb"] = size_on_disk_mb(reference)
    res[f"{b}_size_mb"] = size_on_disk_mb(candidate)
    res["size_ratio"] = res[f"{b}_size_mb"] / max(res[f"{a}_size_mb"], 1e-12)
    if example_inputs is None:
        example_inputs = example_inputs_for(reference, dataloader)
    for model in (reference, candidate):  # warm both before timing either
        cpu_latency_ms(model, example_inputs, repeats=1, warmup=5)
    la, lb = [], []
    for _ in range(max(latency_repeats // 5, 1)):  # interleaved rounds: drift hits both alike
        la.append(cpu_latency_ms(reference, example_inputs, repeats=5, warmup=1))
        lb.append(cpu_latency_ms(candidate, example_inputs, repeats=5, warmup=1))
    res[f"{a}_latency_ms"] = float(statistics.median(la))
    res[f"{b}_latency_ms"] = float(statistics.median(lb))
    res["speedup"] = res[f"{a}_latency_ms"] / max(res[f"{b}_latency_ms"], 1e-9)
    if dataloader is not None:
        ra, rb = evaluate_model(reference, dataloader), evaluate_model(candidate, dataloader)
        for key in ra:
            res[f"{a}_{key}"] = ra[key]
            res[f"{b}_{key}"] = rb[key]
        res["accuracy_retained"] = rb["accuracy"] / ra["accuracy"] if ra["accuracy"] else float("nan")
        res["accuracy_drop"] = ra["accuracy"] - rb["accuracy"]
    return res
