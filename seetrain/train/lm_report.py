"""What the language-model task reports beyond the loop's own figures, as `seetrain apt train` did: a
loop hook (:mod:`seetrain.train.loop_hooks`) that logs ``lr``, ``train/tokens_per_s`` and the VFT
blocks' statistics (``vft/block<i>/<name>``) with each ``train/loss``, and at the end of training the
``final/val_loss``, ``final/val_ppl`` and ``final/unigram_baseline`` figures, a text sample
(``samples/text``) and the trained model with its tokenizer in the run's ``files/model`` folder, then
the ``after_save`` hooks' ``on_model_saved`` (e.g. the cloud-storage plugin's upload).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from .loop_hooks import LoopHook, LoopState


class SampleSettings(NamedTuple):
    """The text sample written at the end of training (``language_model.sample``)."""

    prompt: str = "The "
    max_new_tokens: int = 64
    temperature: float = 0.8
    top_k: Optional[int] = None


class FinalFigures(NamedTuple):
    """What the report measured at the end of training (rank zero)."""

    val_loss: float                 # mean next-token loss over every validation window (nats)
    val_ppl: float
    unigram_baseline: float
    sample: str                     # the generated text ("" when none was asked for)
    model_dir: Optional[str]        # where the model was saved (None: not saved)


class LanguageModelReport(LoopHook):
    """Reports of the language-model task; ``val_ids``: the validation tokens (the final figure is the
    mean next-token loss over all their windows of ``seq_len``); ``baseline``: the unigram cross-entropy
    the model must beat."""

    def __init__(self, tokenizer: Any, val_ids: Any, seq_len: int, baseline: float, log_every: int,
                 block_stats: bool = True, save_model: bool = True, sample: SampleSettings = SampleSettings(),
                 after_save: Sequence[LoopHook] = (), output_dir: Optional[str] = None,
                 data_info: Optional[Dict[str, Any]] = None) -> None:
        self.tokenizer, self.val_ids, self.seq_len = tokenizer, val_ids, int(seq_len)
        self.baseline, self.log_every = float(baseline), max(int(log_every), 1)
        self.block_stats, self.save_model, self.sample = bool(block_stats), bool(save_model), sample
        self._stats: Optional[List[Dict[str, Any]]] = None
        self._handle: Any = None
        self._tokens = 0
        self._seconds = 0.0
        self._t0: Optional[float] = None
        self.output_dir = output_dir        # the model goes to <output_dir>/model (default: <run dir>/files)
        self.data_info = dict(data_info or {})  # recorded with the run (train_tokens, val_tokens)
        self.model_dir: Optional[str] = None
        self.after_save = list(after_save)  # told where the model was saved (on_model_saved)
        self.final: Optional["FinalFigures"] = None  # set at the end of a training that ended well

    # --- during training -----------------------------------------------------------------------
    def on_train_start(self, state: LoopState) -> None:
        if state.run is None:
            return
        state.run.config.update({"unigram_baseline": self.baseline, **self.data_info})
        if not self.block_stats:
            return

        def keep_stats(module: Any, args: Any, output: Any) -> None:
            if module.training:  # the training forward pass's block statistics
                self._stats = getattr(output, "block_stats", None)

        self._handle = state.model.register_forward_hook(keep_stats)

    def on_batch_start(self, state: LoopState, batch: Any, batch_idx: int) -> None:
        self._t0 = time.perf_counter()

    def on_batch_end(self, state: LoopState, batch: Any, batch_idx: int, loss: float, stepped: bool) -> None:
        if self._t0 is not None:  # the batch's forward, backward and optimizer step (not validation)
            self._seconds += time.perf_counter() - self._t0
            self._tokens += int(batch[0].numel())
            self._t0 = None
        if not stepped or state.run is None or (state.step + 1) % self.log_every:
            return  # the loop logs train/loss at the same steps
        values: Dict[str, float] = {"lr": float(state.optimizer.param_groups[0]["lr"])}
        if self._seconds > 0:
            values["train/tokens_per_s"] = self._tokens / self._seconds
        self._tokens, self._seconds = 0, 0.0
        for i, stats in enumerate(self._stats or []):
            for name, value in stats.items():
                values[f"vft/block{i}/{name}"] = float(value.float().mean()) if hasattr(value, "float") else float(value)
        state.run.log(values, step=state.step)

    # --- at the end ----------------------------------------------------------------------------
    def on_train_end(self, state: LoopState, exception: Optional[BaseException] = None) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if exception is not None or not state.is_global_zero:
            return
        model = state.model
        val_loss = self.evaluate(model)
        ppl = math.exp(min(val_loss, 50.0))
        text = self.generate(model, seed=int(state.config.get("seed") or 0))
        run = state.run
        if run is not None:
            from seetrain.media import Text

            run.log({"final/val_loss": val_loss, "final/val_ppl": ppl, "final/unigram_baseline": self.baseline,
                     **({"samples/text": Text(text, caption=self.sample.prompt)} if text else {})},
                    step=max(state.step - 1, 0))
        out_dir = self.output_dir or (os.path.join(run.dir, "files") if run is not None and getattr(run, "dir", None)
                                      else None)
        if self.save_model and out_dir:
            self.model_dir = os.path.join(out_dir, "model")
            model.save_pretrained(self.model_dir)
            self.tokenizer.save(self.model_dir)
            for hook in self.after_save:
                hook.on_model_saved(state, self.model_dir)
        self.final = FinalFigures(val_loss, ppl, self.baseline, text, self.model_dir)
        beat = "below" if val_loss < self.baseline else "NOT below"
        print(f"val loss {val_loss:.4f} nats/token (ppl {ppl:.2f}); unigram baseline {self.baseline:.4f} "
              f"({beat} the baseline)")
        if text:
            print(f"sample: {text!r}")
        if self.model_dir:
            print(f"model: {self.model_dir}")

    def evaluate(self, model: Any, batch_size: int = 32) -> float:
        """Mean next-token loss (nats) of ``model`` over every non-overlapping window of the validation tokens."""
        import torch

        device = next(model.parameters()).device
        ids = torch.as_tensor(self.val_ids, dtype=torch.long)
        n = (len(ids) - 1) // self.seq_len
        windows = ids[: n * self.seq_len].view(n, self.seq_len)
        was = model.training
        model.eval()
        total, count = 0.0, 0
        try:
            with torch.no_grad():
                for start in range(0, n, batch_size):
                    x = windows[start:start + batch_size].to(device)
                    predicted = x.numel() - x.shape[0]
                    total += float(model(x, labels=x).loss) * predicted
                    count += predicted
        finally:
            model.train(was)
        return total / max(count, 1)

    def generate(self, model: Any, seed: int) -> str:
        """A sample continuing the prompt (seeded: the same run gives the same text)."""
        import torch

        if self.sample.max_new_tokens <= 0:
            return ""
        device = next(model.parameters()).device
        prompt = torch.tensor([self.tokenizer.encode(self.sample.prompt)], device=device)
        gen = torch.Generator(device=device).manual_seed(seed)
        out = model.generate(prompt, max_new_tokens=self.sample.max_new_tokens, do_sample=True,
                             temperature=self.sample.temperature, top_k=self.sample.top_k, generator=gen)
        return self.tokenizer.decode(out[0])
