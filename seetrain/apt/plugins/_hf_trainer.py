"""Training with ``transformers.Trainer`` for huggingface-integration: text tokenised into LM blocks, and
the Trainer's logs sent to the plugin's SeeTrain run."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Dict, List, Optional, Union

PathLike = Union[str, os.PathLike]


def _is_apt_model(model: Any) -> bool:
    return type(getattr(model, "config", None)).__name__ == "APTConfig"


class _TrainerMixin:
    """The training methods of :class:`~.huggingface_integration.HuggingFaceIntegrationPlugin` (needs
    ``to_transformers``, ``hf_tokenizer``, ``log`` and ``run``)."""

    def _tokenize_for_lm(self, dataset: Any, tokenizer: Any, block_size: int, text_column: str) -> Any:
        """Token blocks of ``block_size`` with ``labels`` (the model shifts them), from a text column."""
        if "input_ids" in dataset.column_names:
            return dataset
        if text_column not in dataset.column_names:
            raise ValueError(f"dataset has no {text_column!r} column (columns: {dataset.column_names}); "
                             "pass text_column=")

        def encode(batch: Dict[str, List[str]]) -> Dict[str, List[List[int]]]:
            ids: List[int] = []
            for row in tokenizer(list(batch[text_column]), add_special_tokens=False)["input_ids"]:
                ids.extend(row)
            n = (len(ids) // block_size) * block_size
            blocks = [ids[i:i + block_size] for i in range(0, n, block_size)]
            return {"input_ids": blocks, "labels": [list(b) for b in blocks]}

        return dataset.map(encode, batched=True, remove_columns=dataset.column_names)

    def _seetrain_callback(self) -> Any:
        """SeeTrain's Transformers callback, logging into this plugin's run when there is one."""
        run = self.run
        try:
            from seetrain.integration.callbacks.transformers import SeeTrainCallback
        except ImportError:  # the adapter is not installed: forward the Trainer's logs ourselves
            return _LogForwardingCallback(self)
        callback = SeeTrainCallback()
        if run is not None:
            callback._run = run  # reuse the open run instead of starting a second one
        return callback

    def train_with_hf_trainer(self, model: Any, dataset: Any, tokenizer: Any = None,
                              output_dir: Optional[PathLike] = None, max_steps: int = -1,
                              num_train_epochs: float = 1.0, learning_rate: float = 5e-4,
                              per_device_train_batch_size: int = 8, block_size: int = 64,
                              text_column: str = "text", eval_dataset: Any = None,
                              callbacks: Optional[List[Any]] = None, **training_args: Any) -> Any:
        """Train ``model`` on ``dataset`` with ``transformers.Trainer``; SeeTrain logs the run. Returns the trainer.

        ``dataset`` may hold raw text (``text_column``, tokenised into blocks of ``block_size``) or
        ``input_ids``. APT models are wrapped in APTForCausalLM (the trained weights are copied back).
        """
        from transformers import Trainer, TrainingArguments, default_data_collator

        hf_model = self.to_transformers(model)
        if tokenizer is None or type(tokenizer).__name__ == "ByteTokenizer":
            tokenizer = self.hf_tokenizer(tokenizer)
        block_size = min(block_size, int(getattr(hf_model.config, "max_position_embeddings", block_size) or block_size))
        train = self._tokenize_for_lm(dataset, tokenizer, block_size, text_column)
        if len(train) == 0:
            raise ValueError(f"the dataset yields no block of {block_size} tokens; give more text or a smaller block_size")
        evals = self._tokenize_for_lm(eval_dataset, tokenizer, block_size, text_column) if eval_dataset is not None else None
        out = str(output_dir or tempfile.mkdtemp(prefix="seetrain-hf-trainer-"))
        defaults = dict(output_dir=out, max_steps=max_steps, num_train_epochs=num_train_epochs,
                        learning_rate=learning_rate, per_device_train_batch_size=per_device_train_batch_size,
                        logging_steps=1, save_strategy="no", report_to=[], use_cpu=not _cuda(),
                        disable_tqdm=True, dataloader_num_workers=0, seed=0)
        defaults.update(training_args)
        args = TrainingArguments(**defaults)
        trainer = Trainer(model=hf_model, args=args, train_dataset=train, eval_dataset=evals,
                          data_collator=default_data_collator,
                          callbacks=[self._seetrain_callback(), *(callbacks or [])])
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
        summary = {"hf/train_seconds": seconds, "hf/train_loss": float(result.training_loss),
                   "hf/train_steps": int(result.global_step)}
        if evals is not None:
            metrics = trainer.evaluate()
            if "eval_loss" in metrics:
                summary["hf/eval_loss"] = float(metrics["eval_loss"])
        self.log(summary)
        if hf_model is not model and _is_apt_model(model):
            model.load_state_dict(hf_model.model.state_dict())
        return trainer


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def _make_forwarding_callback_class() -> Any:
    from transformers import TrainerCallback

    class _Forward(TrainerCallback):
        """Forwards Trainer logs to the plugin's run (used when SeeTrain's Transformers callback is absent)."""

        def __init__(self, plugin: Any) -> None:
            self.plugin = plugin

        def on_log(self, args: Any, state: Any, control: Any, logs: Optional[Dict[str, Any]] = None, **kw: Any) -> None:
            nums = {f"train/{k}": v for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            if nums:
                self.plugin.log(nums, step=int(state.global_step))

    return _Forward


def _LogForwardingCallback(plugin: Any) -> Any:
    return _make_forwarding_callback_class()(plugin)
