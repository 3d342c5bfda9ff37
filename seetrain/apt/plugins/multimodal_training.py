"""multimodal-training: train the APT language model together with image and audio encoders.

    plugin = MultimodalTrainingPlugin({"vision_encoder": "clip", "audio_encoder": "wav2vec2",
                                       "fusion_method": "attention"})
    loader = plugin.create_multimodal_dataloader("data/manifest.jsonl")   # or lists of text/images/audio
    model = plugin.create_multimodal_model(APTLanguageModel(cfg), num_classes=4)
    plugin.train_multimodal(model, loader, num_epochs=3)
    plugin.inference_multimodal(model, text="...", image="cat.png", audio_path="meow.wav")

Losses, accuracy, throughput and epoch times go to the active SeeTrain run under ``multimodal/...``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .base import APTPlugin


class MultimodalTrainingPlugin(APTPlugin):
    """Builds multimodal data loaders and models, trains and evaluates them, and reports progress."""

    name = "multimodal-training"
    default_config = {
        "modalities": ["text", "image", "audio"],
        "vision_encoder": "clip",        # clip | vit | custom | an nn.Module
        "audio_encoder": "wav2vec2",     # wav2vec2 | custom | an nn.Module
        "vision_pretrained": None,       # a local directory saved with save_pretrained (never downloaded)
        "audio_pretrained": None,
        "fusion_method": "concatenate",  # concatenate | add | attention
        "fusion_dim": 64,
        "encoder_dim": 32,               # hidden size of the tiny encoders built from configs
        "fusion_heads": 4,
        "fusion_layers": 1,
        "dropout": 0.0,
        "modality_dropout": 0.0,
        "image_size": 32,
        "sample_rate": 8000,
        "audio_seconds": 0.25,
        "max_text_len": 64,
        "batch_size": 16,
        "learning_rate": 1e-3,
        "grad_clip": 1.0,
        "vision_config": None,           # extra config of the tiny Transformers encoders
        "audio_config": None,
        # `seetrain apt train`: after the language model, train a multimodal classifier on its own data
        # with the trained APT model (a copy) as the text backbone
        "train_manifest": None,          # JSON lines {"text", "image", "audio", "label"}, paths relative to it
        "eval_manifest": None,
        "synthetic_samples": 0,          # or the shipped synthetic task: this many training samples (+ half held out)
        "num_classes": None,             # default: 1 + the largest label
        "num_epochs": 3,
        "seed": 0,
        "save_model": True,              # <output_dir>/multimodal/model.safetensors + multimodal.json
    }

    def __init__(self, config: Optional[Mapping[str, Any]] = None, run: Any = None, **options: Any) -> None:
        super().__init__(config, run, **options)
        self._step = 0

    # --- data --------------------------------------------------------------------------------
    def processor(self, tokenizer: Any = None):
        from .multimodal.data import MultimodalProcessor

        c = self.config
        return MultimodalProcessor(image_size=int(c["image_size"]), sample_rate=int(c["sample_rate"]),
                                   audio_seconds=float(c["audio_seconds"]), max_text_len=int(c["max_text_len"]),
                                   tokenizer=tokenizer)

    def create_multimodal_dataloader(self, text_data: Union[None, str, Sequence[Any]] = None,
                                     image_data: Optional[Sequence[Any]] = None,
                                     audio_data: Optional[Sequence[Any]] = None,
                                     labels: Optional[Sequence[Any]] = None, batch_size: Optional[int] = None,
                                     shuffle: bool = True, processor: Any = None, seed: Optional[int] = None,
                                     num_workers: int = 0):
        """A DataLoader of batches (see :meth:`MultimodalProcessor.collate`).

        ``text_data`` may be a JSON-lines manifest path (rows ``{"text", "image", "audio", "label"}``,
        files relative to the manifest); otherwise give equal-length lists where images are file paths,
        PIL images, arrays or tensors, audio entries are WAV paths, arrays at ``sample_rate`` or
        ``(array, rate)``, and ``None`` marks a missing modality.
        """
        import torch

        from .multimodal.data import MultimodalDataset, read_manifest

        processor = processor or self.processor()
        base_dir = ""
        if isinstance(text_data, (str, os.PathLike)):
            path = os.fspath(text_data)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"manifest {path!r} does not exist; pass a .jsonl path or lists of samples")
            rows = read_manifest(path)
            base_dir = os.path.dirname(os.path.abspath(path))
            column = lambda k: [r.get(k) for r in rows] if any(r.get(k) is not None for r in rows) else None  # noqa: E731
            text_data, image_data, audio_data, labels = column("text"), column("image"), column("audio"), column("label")
        dataset = MultimodalDataset(text_data, image_data, audio_data, labels, processor, base_dir)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.utils.data.DataLoader(dataset, batch_size=int(batch_size or self.config["batch_size"]),
                                           shuffle=shuffle, collate_fn=processor.collate, generator=gen,
                                           num_workers=num_workers)

    # --- model -------------------------------------------------------------------------------
    def create_multimodal_model(self, base_model: Any = None, fusion_method: Optional[str] = None,
                                num_classes: Optional[int] = None, **options: Any):
        """A :class:`MultimodalModel` with ``base_model`` as the text backbone: an APTLanguageModel (or any
        model returning ``hidden_states``), a directory saved with ``save_pretrained``, or None for a
        fresh tiny APT model. ``options`` override the plugin config (vision_encoder, audio_encoder, ...)."""
        from .multimodal.encoders import TextEncoder, build_audio_encoder, build_vision_encoder
        from .multimodal.model import MultimodalModel

        c = {**self.config, **options}
        if fusion_method is not None:
            c["fusion_method"] = fusion_method
        processor = options.get("processor") or self.processor()
        modalities = list(c["modalities"])
        encoders = {}
        if "text" in modalities:
            encoders["text"] = TextEncoder(self._text_backbone(base_model, int(c["max_text_len"])))
        if "image" in modalities:
            encoders["image"] = build_vision_encoder(c["vision_encoder"], processor.image_size, int(c["encoder_dim"]),
                                                     c.get("vision_pretrained"), c.get("vision_config"))
            processor.image_size = getattr(encoders["image"], "image_size", processor.image_size)
        if "audio" in modalities:
            encoders["audio"] = build_audio_encoder(c["audio_encoder"], processor.audio_length, int(c["encoder_dim"]),
                                                    c.get("audio_pretrained"), c.get("audio_config"))
        model = MultimodalModel(encoders, c["fusion_method"], int(c["fusion_dim"]), num_classes, processor,
                                int(c["fusion_heads"]), int(c["fusion_layers"]), float(c["dropout"]),
                                float(c["modality_dropout"]))
        params = sum(p.numel() for p in model.parameters())
        self.update_config({"multimodal": {
            "modalities": modalities, "fusion_method": c["fusion_method"], "num_classes": num_classes,
            "vision_encoder": c["vision_encoder"] if isinstance(c["vision_encoder"], str) else "module",
            "audio_encoder": c["audio_encoder"] if isinstance(c["audio_encoder"], str) else "module",
            "fusion_dim": int(c["fusion_dim"]), "parameters": params}})
        return model

    @staticmethod
    def _text_backbone(base_model: Any, max_text_len: int):
        from seetrain.apt.model import APTConfig, APTLanguageModel

        if base_model is None:
            return APTLanguageModel(APTConfig(d_model=32, n_heads=2, n_layers=1, rank=8,
                                              max_seq_len=max(max_text_len, 8)))
        if isinstance(base_model, (str, os.PathLike)):
            return APTLanguageModel.from_pretrained(os.fspath(base_model))
        return base_model

    # --- training ----------------------------------------------------------------------------
    @staticmethod
    def _to(batch: Dict[str, Any], device: Any) -> Dict[str, Any]:
        return {k: v.to(device) for k, v in batch.items()}

    def train_multimodal(self, model: Any, dataloader: Any, optimizer: Any = None, num_epochs: int = 1,
                         eval_dataloader: Any = None, device: Optional[str] = None,
                         log_every: int = 1) -> Dict[str, List[float]]:
        """Train ``model`` for ``num_epochs``; log the loss every ``log_every`` steps and accuracy, epoch
        time and samples/s each epoch (and eval loss/accuracy when ``eval_dataloader`` is given).
        Returns the per-epoch history ``{"loss", "accuracy", "eval_loss", "eval_accuracy"}``."""
        import torch

        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model.to(device)
        if optimizer is None:
            optimizer = torch.optim.AdamW(model.parameters(), lr=float(self.config["learning_rate"]))
        history: Dict[str, List[float]] = {"loss": [], "accuracy": [], "eval_loss": [], "eval_accuracy": []}
        for epoch in range(int(num_epochs)):
            model.train()
            t0, seen, correct, total_loss = time.perf_counter(), 0, 0, 0.0
            for batch in dataloader:
                batch = self._to(batch, device)
                if "labels" not in batch:
                    raise ValueError("train_multimodal needs labels in the data (pass labels= or a 'label' column)")
                out = model(**batch)
                if out.loss is None:
                    raise ValueError("the model has no classification head: create it with num_classes=")
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                if self.config.get("grad_clip"):
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(self.config["grad_clip"]))
                optimizer.step()
                n = batch["labels"].shape[0]
                seen += n
                total_loss += float(out.loss.detach()) * n
                correct += int((out.logits.argmax(-1) == batch["labels"]).sum())
                self._step += 1
                if self._step % max(1, log_every) == 0:
                    self.log({"multimodal/train/loss": float(out.loss.detach())}, step=self._step)
            seconds = time.perf_counter() - t0
            history["loss"].append(total_loss / max(seen, 1))
            history["accuracy"].append(correct / max(seen, 1))
            record = {"multimodal/train/epoch_loss": history["loss"][-1],
                      "multimodal/train/accuracy": history["accuracy"][-1], "multimodal/epoch": epoch,
                      "multimodal/epoch_seconds": seconds, "multimodal/samples_per_s": seen / max(seconds, 1e-9)}
            if eval_dataloader is not None:
                ev = self.evaluate_multimodal(model, eval_dataloader, device=str(device), log=False)
                history["eval_loss"].append(ev["loss"])
                history["eval_accuracy"].append(ev["accuracy"])
                record.update({"multimodal/eval/loss": ev["loss"], "multimodal/eval/accuracy": ev["accuracy"]})
            self.log(record, step=self._step)
        return history

    def evaluate_multimodal(self, model: Any, dataloader: Any, device: Optional[str] = None,
                            log: bool = True) -> Dict[str, float]:
        """Mean loss and accuracy of ``model`` over ``dataloader``."""
        import torch

        device = torch.device(device or next(model.parameters()).device)
        model.eval()
        seen, correct, total = 0, 0, 0.0
        with torch.no_grad():
            for batch in dataloader:
                batch = self._to(batch, device)
                out = model(**batch)
                n = batch["labels"].shape[0]
                seen += n
                total += float(out.loss) * n
                correct += int((out.logits.argmax(-1) == batch["labels"]).sum())
        result = {"loss": total / max(seen, 1), "accuracy": correct / max(seen, 1), "samples": seen}
        if log:
            self.log({"multimodal/eval/loss": result["loss"], "multimodal/eval/accuracy": result["accuracy"]},
                     step=self._step)
        return result

    def inference_multimodal(self, model: Any, text: Optional[str] = None, image: Any = None,
                             audio_path: Optional[str] = None, audio: Any = None) -> Dict[str, Any]:
        """Predict for one sample; any modality may be left out (it is treated as missing).
        Returns ``{"prediction", "probabilities", "embedding", "modalities"}``."""
        import torch

        if text is None and image is None and audio_path is None and audio is None:
            raise ValueError("inference_multimodal needs at least one of text, image, audio_path, audio")
        proc = model.processor
        sample = proc.sample(text=text, image=image, audio=audio_path if audio_path is not None else audio)
        batch = self._to(proc.collate([sample]), next(model.parameters()).device)
        model.eval()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model(**batch)
        result: Dict[str, Any] = {"embedding": out.fused[0].cpu(),
                                  "modalities": [m for m, k in zip(("text", "image", "audio"),
                                                                   batch["modality_mask"][0].tolist()) if k]}
        if out.logits is not None:
            probs = out.logits.softmax(-1)[0].cpu()
            result.update({"prediction": int(probs.argmax()), "probabilities": probs.tolist()})
        self.log({"multimodal/inference/ms": (time.perf_counter() - t0) * 1000.0})
        return result

    # --- hooks -------------------------------------------------------------------------------
    def on_training_start(self, context: Dict[str, Any]) -> None:
        c = self.config
        setup = {k: c[k] for k in ("modalities", "fusion_method", "fusion_dim", "image_size", "sample_rate",
                                   "audio_seconds")}
        for k in ("vision_encoder", "audio_encoder"):  # a user module is recorded as "module"
            setup[k] = c[k] if isinstance(c[k], str) else "module"
        self.update_config({"multimodal_plugin": setup})

    def on_training_end(self, context: Dict[str, Any]) -> None:
        if context.get("exception") is None and not context.get("will_save_model"):
            self.train_from_config(context.get("model"), context.get("output_dir"))

    def on_model_saved(self, context: Dict[str, Any]) -> None:
        self.train_from_config(context.get("model"), context.get("output_dir"))

    def _datasets(self):
        from .multimodal.synthetic import make_synthetic_multimodal

        c = self.config
        if c.get("train_manifest"):
            return c["train_manifest"], c.get("eval_manifest")
        n = int(c.get("synthetic_samples") or 0)
        if n <= 0:
            return None, None
        size, rate, secs = int(c["image_size"]), int(c["sample_rate"]), float(c["audio_seconds"])
        train = make_synthetic_multimodal(n, seed=int(c["seed"]) + 1, image_size=size, sample_rate=rate, seconds=secs)
        held = make_synthetic_multimodal(max(n // 2, 1), seed=int(c["seed"]) + 2, image_size=size, sample_rate=rate,
                                         seconds=secs)
        return train, held

    def _loader(self, data: Any, shuffle: bool, seed: int):
        if data is None:
            return None
        if isinstance(data, dict):
            return self.create_multimodal_dataloader(data["text"], data["image"], data["audio"], data["label"],
                                                     shuffle=shuffle, seed=seed)
        return self.create_multimodal_dataloader(str(data), shuffle=shuffle, seed=seed)

    def train_from_config(self, language_model: Any, output_dir: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """The trainer's multimodal phase, driven by this plugin's own options: data from ``train_manifest``
        / ``eval_manifest`` or ``synthetic_samples``, a copy of ``language_model`` as the text backbone,
        ``num_epochs`` of :meth:`train_multimodal`, and the model saved under ``<output_dir>/multimodal``."""
        import copy
        import json

        import torch

        train_data, eval_data = self._datasets()
        if train_data is None:
            from seetrain import SeeTrainWarning
            import warnings

            warnings.warn("seetrain multimodal-training: enabled without data; set train_manifest (JSON lines) or "
                          "synthetic_samples", SeeTrainWarning, stacklevel=2)
            return None
        seed = int(self.config["seed"])
        torch.manual_seed(seed)
        backbone = copy.deepcopy(language_model) if language_model is not None else None
        if backbone is not None and hasattr(backbone, "config"):  # text windows must fit the backbone
            self.config["max_text_len"] = min(int(self.config["max_text_len"]), int(backbone.config.max_seq_len))
        loader = self._loader(train_data, True, seed)
        eval_loader = self._loader(eval_data, False, seed)
        labels = [int(b) for batch in loader for b in batch["labels"].tolist()] if self.config["num_classes"] is None else []
        num_classes = int(self.config["num_classes"] or (max(labels) + 1))
        model = self.create_multimodal_model(backbone, num_classes=num_classes)
        history = self.train_multimodal(model, loader, num_epochs=int(self.config["num_epochs"]),
                                        eval_dataloader=eval_loader)
        self.model = model
        result = {"history": history, "num_classes": num_classes}
        if output_dir and self.config.get("save_model", True):
            from safetensors.torch import save_model

            path = os.path.join(output_dir, "multimodal")
            os.makedirs(path, exist_ok=True)
            save_model(model, os.path.join(path, "model.safetensors"))
            with open(os.path.join(path, "multimodal.json"), "w", encoding="utf-8") as f:
                json.dump({k: v for k, v in self.config.items() if isinstance(v, (str, int, float, bool, list, type(None)))}
                          | {"num_classes": num_classes}, f, indent=1)
            result["model_dir"] = path
        self.last_result = result
        return result
