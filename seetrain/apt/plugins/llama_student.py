"""APT to llama.cpp / Ollama, the route that works: distil the APT model into a Llama-architecture student.

llama.cpp (and so Ollama) has no ``apt`` architecture: an APT GGUF file cannot run there. A Transformers
``LlamaForCausalLM`` with the APT model's vocabulary (the byte tokenizer) can. :func:`distill_to_llama` trains
such a student on text with the model-distillation plugin's loss (``alpha * T^2 KL(teacher || student)`` +
``beta * next-token cross-entropy``), so the student learns the APT model's next-token distribution; the
student is then written as a ``llama`` GGUF with the byte vocabulary, which llama.cpp runs
(``OllamaExportPlugin.export_to_ollama`` does all of this for an APT model).

    student, report = distill_to_llama(apt_model, text, steps=300)
    write_gguf(student, "out/apt-as-llama-q8_0.gguf", "Q8_0")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union


@dataclass
class DistillReport:
    """What :func:`distill_to_llama` did: losses before/after and agreement with the teacher on held-out text."""

    steps: int
    seconds: float
    student_parameters: int
    teacher_parameters: int
    kd_loss_start: float
    kd_loss_end: float
    top1_agreement: float          # share of held-out positions where student and teacher pick the same token
    history: List[Dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "history"}


def llama_student_config(apt_config: Any, hidden_size: Optional[int] = None, num_layers: Optional[int] = None,
                         num_heads: Optional[int] = None, intermediate_size: Optional[int] = None) -> Any:
    """A ``LlamaConfig`` for a student of an APT model: same vocabulary, special ids and context; by default
    the same width, depth and heads, and a SwiGLU width of ``2 * d_model`` (about the APT block's size)."""
    from transformers import LlamaConfig

    d = int(hidden_size or apt_config.d_model)
    heads = int(num_heads or apt_config.n_heads)
    if d % heads or (d // heads) % 2:
        raise ValueError(f"the student's hidden_size {d} must split into {heads} heads of an even width (rotary)")
    return LlamaConfig(vocab_size=int(apt_config.vocab_size), hidden_size=d,
                       intermediate_size=int(intermediate_size or 2 * d),
                       num_hidden_layers=int(num_layers or apt_config.n_layers), num_attention_heads=heads,
                       num_key_value_heads=heads, max_position_embeddings=int(apt_config.max_seq_len),
                       rms_norm_eps=1e-5, pad_token_id=apt_config.pad_token_id, bos_token_id=apt_config.bos_token_id,
                       eos_token_id=apt_config.eos_token_id, tie_word_embeddings=False)


def _ids(data: Union[str, Sequence[int]], tokenizer: Any) -> List[int]:
    if isinstance(data, str):
        if tokenizer is None:
            from seetrain.apt.data.tokenizer import ByteTokenizer

            tokenizer = ByteTokenizer()
        return list(tokenizer.encode(data))
    return [int(i) for i in data]


def distill_to_llama(teacher: Any, data: Union[str, Sequence[int]], steps: int = 300, batch_size: int = 8,
                     seq_len: int = 64, lr: float = 3e-3, temperature: float = 2.0, alpha: float = 0.9,
                     beta: float = 0.1, student: Any = None, tokenizer: Any = None, seed: int = 0,
                     val_fraction: float = 0.1, log: Any = None, **student_sizes: Any) -> Any:
    """Train a Llama student of the APT ``teacher`` on ``data`` (text or token ids); ``(student, DistillReport)``.

    The loss is :class:`ModelDistillationPlugin`'s (response distillation, ``temperature``, ``alpha``, ``beta``).
    ``student``: a ``LlamaForCausalLM`` to train instead of a fresh one (``student_sizes`` go to
    :func:`llama_student_config`). ``log``: a callable taking a metrics dict (e.g. a plugin's ``log``).
    """
    import torch
    from transformers import LlamaForCausalLM

    from .model_distillation import ModelDistillationPlugin

    teacher = getattr(teacher, "apt_model", None) or teacher
    cfg = getattr(teacher, "config", None)
    if type(cfg).__name__ != "APTConfig":
        raise TypeError(f"distill_to_llama distils an APT model; got {type(teacher).__name__}")
    ids = _ids(data, tokenizer)
    cut = int(len(ids) * (1 - val_fraction))
    train, val = torch.tensor(ids[:cut]), torch.tensor(ids[cut:])
    seq_len = min(seq_len, int(cfg.max_seq_len))
    if len(train) < seq_len + 2 or len(val) < seq_len + 1:
        raise ValueError(f"distill_to_llama needs more text: {len(ids)} tokens for windows of {seq_len}")
    torch.manual_seed(seed)
    if student is None:
        student = LlamaForCausalLM(llama_student_config(cfg, **student_sizes))
    device = next(teacher.parameters()).device
    student = student.to(device).train()
    was_training = teacher.training
    teacher.eval()
    kd = ModelDistillationPlugin({"temperature": temperature, "alpha": alpha, "beta": beta,
                                  "distill_method": "response"})
    opt = torch.optim.AdamW(student.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps), pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    history: List[Dict[str, float]] = []
    t0 = time.perf_counter()
    for step in range(steps):
        starts = torch.randint(0, len(train) - seq_len - 1, (batch_size,), generator=gen).tolist()
        x = torch.stack([train[s:s + seq_len] for s in starts]).to(device)
        terms = kd.compute_loss(student, teacher, {"input_ids": x, "labels": x})
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        row = {k: float(v.detach()) for k, v in terms.items()}
        history.append(row)
        if log is not None and (step % 10 == 0 or step == steps - 1):
            log({f"distill_llama/{k}": v for k, v in row.items()})
    student.eval()
    teacher.train(was_training)
    agree = top1_agreement(student, teacher, val, seq_len)
    head = history[: max(1, min(10, len(history)))]
    tail = history[-max(1, min(10, len(history))):]
    n_params = lambda m: sum(p.numel() for p in {id(p): p for p in m.parameters()}.values())  # noqa: E731
    report = DistillReport(steps, time.perf_counter() - t0, n_params(student), n_params(teacher),
                           sum(h["soft_loss"] for h in head) / len(head), sum(h["soft_loss"] for h in tail) / len(tail),
                           agree, history)
    if log is not None:
        log({"distill_llama/top1_agreement": agree, "distill_llama/seconds": report.seconds})
    return student, report


def top1_agreement(student: Any, teacher: Any, ids: Any, seq_len: int) -> float:
    """Share of positions of ``ids`` (windows of ``seq_len``) where student and teacher predict the same next token."""
    import torch

    device = next(student.parameters()).device
    n = (len(ids) // seq_len) * seq_len
    if n == 0:
        return float("nan")
    x = torch.as_tensor(ids[:n]).view(-1, seq_len).to(device)
    with torch.no_grad():
        s = student(input_ids=x).logits.argmax(-1)
        t = teacher(x).logits.argmax(-1)
    return float((s == t).float().mean())


__all__ = ["distill_to_llama", "llama_student_config", "top1_agreement", "DistillReport"]
