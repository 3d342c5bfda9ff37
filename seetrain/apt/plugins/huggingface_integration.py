"""The ``huggingface-integration`` APT plugin: APT models in and out of the Hugging Face ecosystem.

    plugin = HuggingFaceIntegrationPlugin()
    path = plugin.export_to_huggingface(model, ByteTokenizer(), "out/apt-hf")   # Transformers format
    AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True)            # loads it back
    model, tok = plugin.import_from_huggingface("some/dir-or-cached-repo")
    ds = plugin.load_hf_dataset(["train.jsonl"], split="train")
    trainer = plugin.train_with_hf_trainer(model, ds, tok, max_steps=20)         # logs to SeeTrain
    plugin.upload_to_hub(model, "me/apt-tiny", private=True, token=...)           # needs a network

Everything it does is reported to the active SeeTrain run (``hf/*`` keys): bytes written, seconds taken,
parameter counts, training metrics.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from ._hf_card import _CARD_TEMPLATE, _ModelCardMixin  # noqa: F401  (re-exported)
from ._hf_trainer import (_cuda, _is_apt_model, _LogForwardingCallback,  # noqa: F401
                          _make_forwarding_callback_class, _TrainerMixin)
from .base import APTPlugin

PathLike = Union[str, os.PathLike]

_DATA_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".txt": "text", ".text": "text",
                  ".parquet": "parquet", ".tsv": "csv"}


class HubUnavailableError(RuntimeError):
    """The Hugging Face Hub could not be used (no token, offline mode, or no connection)."""


def _dir_size(path: PathLike) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


class HuggingFaceIntegrationPlugin(_ModelCardMixin, _TrainerMixin, APTPlugin):
    """Export/import Transformers checkpoints, push/pull the Hub, load datasets, train with ``Trainer``.

    Options (``default_config``): ``export_dir`` (export at the end of training when set),
    ``push_to_hub`` and ``repo_name`` (push at the end of training), ``private``, ``token``, ``endpoint``
    (a Hub mirror), ``model_name`` and ``description`` for the model card.
    """

    name = "huggingface-integration"
    default_config: Dict[str, Any] = {
        "export_dir": None,
        "push_to_hub": False,
        "repo_name": None,
        "private": True,
        "token": None,
        "endpoint": None,
        "model_name": None,
        "description": None,
        "license": "apache-2.0",
    }
    extra_options = ("auto_upload",)  # the APT documents' name for push_to_hub

    def __init__(self, config: Optional[Mapping[str, Any]] = None, run: Any = None, **options: Any) -> None:
        super().__init__(config, run, **options)
        if self.config.pop("auto_upload", False):
            self.config["push_to_hub"] = True

    # --- export ------------------------------------------------------------------------------
    def to_transformers(self, model: Any) -> Any:
        """A Transformers ``PreTrainedModel`` for ``model`` (APT models are wrapped in APTForCausalLM)."""
        from transformers import PreTrainedModel

        if isinstance(model, PreTrainedModel):
            return model
        if _is_apt_model(model):
            from .hf_apt import APTForCausalLM

            return APTForCausalLM.from_apt_model(model)
        raise TypeError(f"cannot export {type(model).__name__}: pass an APT model (APTLanguageModel / "
                        "StandardLanguageModel) or a transformers PreTrainedModel")

    def hf_tokenizer(self, tokenizer: Any) -> Any:
        """A Transformers tokenizer for ``tokenizer`` (a ByteTokenizer becomes a byte-level fast tokenizer)."""
        if tokenizer is None or type(tokenizer).__name__ == "ByteTokenizer":
            from .hf_apt import byte_tokenizer_hf

            return byte_tokenizer_hf(tokenizer)
        if hasattr(tokenizer, "save_pretrained"):
            return tokenizer
        raise TypeError(f"cannot save tokenizer {type(tokenizer).__name__}: pass a seetrain ByteTokenizer or a "
                        "transformers tokenizer")

    def export_to_huggingface(self, model: Any, tokenizer: Any = None, repo_name_or_dir: PathLike = "hf_export",
                              metrics: Optional[Mapping[str, float]] = None, description: Optional[str] = None,
                              model_name: Optional[str] = None, repo_id: Optional[str] = None) -> str:
        """Write ``model`` (+ tokenizer, model card) in Transformers format into a directory; return its path.

        For APT models the directory also holds ``configuration_apt.py`` / ``modeling_apt.py`` and an
        ``auto_map``, so ``AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True)`` loads it;
        after :func:`register_apt_with_transformers` it loads without remote code. ``tokenizer=None`` writes
        the byte tokenizer for APT models. ``repo_id`` (``user/name``) is what the model card's usage lines load;
        by default the directory itself.
        """
        t0 = time.perf_counter()
        out = Path(repo_name_or_dir)
        out.mkdir(parents=True, exist_ok=True)
        hf_model = self.to_transformers(model)
        is_apt = getattr(hf_model.config, "model_type", None) == "apt_vft"
        hf_model.save_pretrained(str(out))
        if is_apt:
            from .hf_apt import write_remote_code

            write_remote_code(out)
        if tokenizer is not None or is_apt:
            self.hf_tokenizer(tokenizer).save_pretrained(str(out))
        name = model_name or self.config.get("model_name") or out.name
        card = self.create_model_card(name, description or self.config.get("description") or
                                      f"{name}: a {type(hf_model).__name__} exported by SeeTrain.",
                                      metrics=metrics, repo_id=repo_id or str(out))
        card.save(str(out / "README.md"))
        n_params = sum(p.numel() for p in {id(p): p for p in hf_model.parameters()}.values())
        self.log({"hf/export_bytes": _dir_size(out), "hf/export_seconds": time.perf_counter() - t0,
                  "hf/num_parameters": n_params})
        return str(out)

    # --- the Hub -----------------------------------------------------------------------------
    def _token(self, token: Optional[str]) -> Optional[str]:
        token = token or self.config.get("token") or os.environ.get("HF_TOKEN")
        if token:
            return token
        try:
            from huggingface_hub import get_token

            return get_token()
        except Exception:
            return None

    @staticmethod
    def _offline() -> bool:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)

    def upload_to_hub(self, model: Any, repo_name: str, private: bool = True, token: Optional[str] = None,
                      tokenizer: Any = None, commit_message: str = "Upload model with SeeTrain",
                      endpoint: Optional[str] = None, metrics: Optional[Mapping[str, float]] = None) -> str:
        """Export ``model`` and push it to the Hub repository ``repo_name`` (created if missing).

        Returns the repository URL. Raises :class:`HubUnavailableError` at once when there is no token,
        offline mode is on, or the Hub cannot be reached; the message names what to do.
        """
        token = self._token(token)
        endpoint = endpoint or self.config.get("endpoint")
        if not token:
            raise HubUnavailableError(
                f"cannot push {repo_name!r} to the Hugging Face Hub: no token. Pass token=..., set HF_TOKEN, or run "
                "`hf auth login`; export_to_huggingface(model, tok, dir) writes the files without pushing.")
        if self._offline():
            raise HubUnavailableError(
                f"cannot push {repo_name!r} to the Hugging Face Hub: offline mode is on (HF_HUB_OFFLINE/"
                "TRANSFORMERS_OFFLINE). Unset it on a machine with network access, or use export_to_huggingface().")
        from huggingface_hub import HfApi

        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="seetrain-hf-") as tmp:
            path = self.export_to_huggingface(model, tokenizer, Path(tmp) / "model", metrics=metrics,
                                              model_name=repo_name.split("/")[-1], repo_id=repo_name)
            api = HfApi(endpoint=endpoint, token=token)
            where = endpoint or "the Hugging Face Hub"
            try:
                url = api.create_repo(repo_name, private=private, exist_ok=True, repo_type="model")
                api.upload_folder(repo_id=repo_name, folder_path=path, commit_message=commit_message,
                                  repo_type="model")
            except Exception as exc:
                raise HubUnavailableError(
                    f"could not push {repo_name!r} to {where}: {type(exc).__name__}: {exc}. Check the network, "
                    "the token's write permission and the repository name (user/name).") from exc
            size = _dir_size(path)
        self.log({"hf/upload_bytes": size, "hf/upload_seconds": time.perf_counter() - t0})
        return str(url)

    def download_from_hub(self, repo_id: str, revision: Optional[str] = None, token: Optional[str] = None,
                          cache_dir: Optional[PathLike] = None, local_files_only: Optional[bool] = None,
                          allow_patterns: Optional[Sequence[str]] = None) -> str:
        """The local snapshot directory of ``repo_id`` (from the cache when offline, else downloaded)."""
        from huggingface_hub import snapshot_download

        offline = self._offline() if local_files_only is None else bool(local_files_only)
        t0 = time.perf_counter()
        try:
            path = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=offline,
                                     token=None if offline else self._token(token),
                                     allow_patterns=list(allow_patterns) if allow_patterns else None)
        except Exception as exc:
            where = "the local cache" + (f" ({cache_dir})" if cache_dir else "")
            hint = ("offline mode is on, so only cached repositories can be used: download it once with network "
                    "access or pass a local directory" if offline else "check the name, the network and the token")
            raise HubUnavailableError(f"could not get {repo_id!r} from {where if offline else 'the Hub'}: "
                                      f"{type(exc).__name__}: {exc}. {hint}") from exc
        self.log({"hf/download_seconds": time.perf_counter() - t0, "hf/download_bytes": _dir_size(path)})
        return str(path)

    def import_from_huggingface(self, repo_or_path: PathLike, revision: Optional[str] = None,
                                token: Optional[str] = None, cache_dir: Optional[PathLike] = None,
                                local_files_only: Optional[bool] = None, load_tokenizer: bool = True,
                                **model_kwargs: Any) -> Tuple[Any, Any]:
        """``(model, tokenizer)`` from a local Transformers causal-LM directory or a (cached) Hub repo.

        APT checkpoints load without ``trust_remote_code`` (the classes are registered first);
        ``tokenizer`` is None when the directory has no tokenizer files.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .hf_apt import register_apt_with_transformers

        t0 = time.perf_counter()
        path = Path(repo_or_path)
        if not path.is_dir():
            path = Path(self.download_from_hub(str(repo_or_path), revision=revision, token=token,
                                               cache_dir=cache_dir, local_files_only=local_files_only))
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a Transformers model directory")
        register_apt_with_transformers()
        model = AutoModelForCausalLM.from_pretrained(str(path), **model_kwargs)
        tokenizer = None
        if load_tokenizer and any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json",
                                                                 "vocab.json", "tokenizer.model")):
            tokenizer = AutoTokenizer.from_pretrained(str(path))
        n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        self.log({"hf/import_seconds": time.perf_counter() - t0, "hf/import_num_parameters": n_params})
        return model, tokenizer

    # --- datasets ----------------------------------------------------------------------------
    def load_hf_dataset(self, name_or_files: Union[str, PathLike, Sequence[PathLike], Mapping[str, Any]],
                        config: Optional[str] = None, split: Optional[str] = "train", **kwargs: Any) -> Any:
        """A ``datasets`` Dataset from local files (json/jsonl/csv/txt/parquet), a ``save_to_disk``
        directory, a local dataset directory (data files, with ``configs`` in its README) or a Hub dataset
        name (needs a network or the datasets cache). ``config`` is the dataset configuration
        (``load_hf_dataset("wikitext", "wikitext-2-raw-v1", split="train")``, as the APT documents write it)."""
        import datasets

        if config is not None:
            kwargs["name"] = config

        t0 = time.perf_counter()
        files: Any = None
        if isinstance(name_or_files, Mapping):
            files = {k: [str(p) for p in ([v] if isinstance(v, (str, os.PathLike)) else v)]
                     for k, v in name_or_files.items()}
            first = next(iter(files.values()))[0]
        elif isinstance(name_or_files, (list, tuple)):
            files = [str(p) for p in name_or_files]
            first = files[0]
        elif Path(name_or_files).is_file():
            files = [str(name_or_files)]
            first = files[0]
        if files is not None:
            missing = [f for fs in (files.values() if isinstance(files, dict) else [files]) for f in fs
                       if not Path(f).is_file()]
            if missing:
                raise FileNotFoundError(f"dataset file(s) not found: {missing}")
            ext = Path(first).suffix.lower()
            builder = _DATA_BUILDERS.get(ext)
            if builder is None:
                raise ValueError(f"don't know how to read {ext!r} files; use one of {sorted(_DATA_BUILDERS)}")
            if ext == ".tsv":
                kwargs.setdefault("delimiter", "\t")
            ds = datasets.load_dataset(builder, data_files=files, split=split, **kwargs)
        elif Path(name_or_files).is_dir() and any((Path(name_or_files) / f).is_file()
                                                   for f in ("dataset_info.json", "dataset_dict.json", "state.json")):
            ds = datasets.load_from_disk(str(name_or_files))
            if split and isinstance(ds, datasets.DatasetDict):
                ds = ds[split]
        else:
            try:
                ds = datasets.load_dataset(str(name_or_files), split=split, **kwargs)
            except Exception as exc:
                raise HubUnavailableError(
                    f"could not load dataset {str(name_or_files)!r}: {type(exc).__name__}: {exc}. It is neither a "
                    "local file nor a saved dataset directory; a Hub dataset needs network access (or the "
                    "datasets cache) and HF_DATASETS_OFFLINE unset.") from exc
        rows = len(ds) if hasattr(ds, "__len__") else -1
        self.log({"hf/dataset_rows": rows, "hf/dataset_load_seconds": time.perf_counter() - t0})
        return ds

    # --- hooks -------------------------------------------------------------------------------
    def on_training_end(self, context: Dict[str, Any]) -> None:
        """Export (``export_dir``) and/or push (``push_to_hub`` + ``repo_name``) the trained model."""
        model = context.get("model")
        if model is None:
            return
        tokenizer = context.get("tokenizer")
        metrics = {k: v for k, v in (("loss", context.get("loss")),) if isinstance(v, (int, float))}
        if self.config.get("export_dir"):
            self.export_to_huggingface(model, tokenizer, self.config["export_dir"], metrics=metrics)
        if self.config.get("push_to_hub"):
            if not self.config.get("repo_name"):
                raise ValueError("huggingface-integration: push_to_hub=True needs repo_name='user/name'")
            self.upload_to_hub(model, self.config["repo_name"], private=bool(self.config.get("private", True)),
                               tokenizer=tokenizer, metrics=metrics)


def register_apt_with_transformers() -> None:
    """Register the APT classes with AutoConfig / AutoModelForCausalLM (see :mod:`.hf_apt`)."""
    from .hf_apt import register_apt_with_transformers as _register

    _register()


__all__ = ["HuggingFaceIntegrationPlugin", "HubUnavailableError", "register_apt_with_transformers"]
