"""Language modelling with the APT model: byte-level next-token prediction on a text corpus,
built from APT's public API (:mod:`seetrain.apt.model`, :mod:`seetrain.apt.data`); metric ``val/loss``.
The APT plugins of the ``plugins`` section join the loop as its hooks (:mod:`seetrain.train.apt_plugins`).

    seetrain train experiment=apt_lm plugins.advanced-debugging.enabled=true
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Sequence

import numpy as np

from ..errors import TrainConfigError, did_you_mean
from ..job import Job
from ..registry import MODELS

DATA_KEYS = ("name", "corpus", "max_chars", "seq_len", "val_split", "train_windows", "batch_size", "num_workers")


class TokenSet:
    """Windows of ``seq_len`` tokens from one stream, as NumPy batches ``(x, x)`` (labels are shifted by the model).

    ``num_samples`` set: windows at random offsets (seeded per index); otherwise non-overlapping tiles.
    """

    def __init__(self, ids: Sequence[int], seq_len: int, num_samples: Optional[int] = None, seed: int = 0) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.seq_len, self.seed = int(seq_len), int(seed)
        self.num_samples = num_samples
        self.n_tiles = (len(self.ids) - 1) // self.seq_len
        self.sample_weights = None

    def __len__(self) -> int:
        return int(self.num_samples) if self.num_samples else self.n_tiles

    def batch(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        if self.num_samples:
            starts = np.array([np.random.default_rng([self.seed, int(i)]).integers(0, len(self.ids) - self.seq_len)
                               for i in idx], dtype=np.int64)
        else:
            starts = idx * self.seq_len
        x = self.ids[starts[:, None] + np.arange(self.seq_len)[None, :]]
        return x, x.copy()


class TextData(NamedTuple):
    """The token windows a language model trains and validates on, and the APT plugins that shaped them."""

    train: TokenSet
    val: TokenSet
    info: Dict[str, Any]
    plugins: Any = None                # the PluginManager of the config's enabled plugins (None: none)


def load_data(config: Dict[str, Any]) -> TextData:
    """The corpus, tokenised and cut into windows, and sized against the batch (framework-free: called
    before the backend is imported)."""
    from seetrain.apt.data import ByteTokenizer, load_corpus, split_ids

    mcfg, dcfg = dict(config["model"]), dict(config["data"])
    for k in dcfg:
        if k not in DATA_KEYS:
            raise TrainConfigError(f"unknown key data.{k} for the language-model data{did_you_mean(k, DATA_KEYS)} "
                                   f"(it takes: {', '.join(DATA_KEYS)})", key=f"data.{k}")
    if dcfg.get("name") != "apt_corpus":
        raise TrainConfigError(f"task=language_model reads text: use data=apt_corpus (got {dcfg.get('name')!r})", key="data.name")
    seq_len, bs = int(dcfg.get("seq_len", 128)), int(dcfg.get("batch_size", 16))
    if seq_len > int(mcfg.get("max_seq_len", 128)):
        raise TrainConfigError(f"data.seq_len={seq_len} exceeds model.max_seq_len={mcfg.get('max_seq_len', 128)}",
                               key="data.seq_len")
    from ..apt_plugins import plugin_manager, process_training_text

    plugins = plugin_manager(config)  # checked here: a bad plugin option leaves no run behind
    tok = ByteTokenizer()
    try:
        ids = tok.encode(load_corpus(dcfg.get("corpus") or "default", dcfg.get("max_chars")))
        train_ids, val_ids = split_ids(ids, float(dcfg.get("val_split", 0.1)))
    except ValueError as exc:
        raise TrainConfigError(f"data: {exc}", key="data") from None
    if plugins is not None:  # e.g. data-processors: the training split only, before it is cut into windows
        train_ids = tok.encode(process_training_text(plugins, tok.decode(train_ids), config))
    for part, name in ((train_ids, "training"), (val_ids, "validation")):
        if len(part) < seq_len + 1:
            raise TrainConfigError(f"the {name} text has {len(part)} tokens, fewer than data.seq_len + 1 = {seq_len + 1}; "
                                   "use more text (data.max_chars) or a shorter data.seq_len", key="data.seq_len")
    # windows an epoch: as set, or (null) one pass's worth of the training text, at least one batch
    windows = int(dcfg.get("train_windows") or max((len(train_ids) - 1) // seq_len, bs))
    train = TokenSet(train_ids, seq_len, windows, seed=int(config["seed"]))
    val = TokenSet(val_ids, seq_len)
    for s, name in ((train, "training"), (val, "validation")):
        if bs > len(s):
            raise TrainConfigError(f"data.batch_size={bs} is larger than the {name} set ({len(s)} windows of "
                                   f"{seq_len} tokens); use a smaller batch or more text", key="data.batch_size")
    return TextData(train, val, {"train_tokens": len(train_ids), "val_tokens": len(val_ids),
                                 "tokens_per_batch": bs * seq_len}, plugins)


def report(config: Dict[str, Any], data: TextData, after_save: Sequence[Any] = ()) -> Any:
    """The task's own reports (``lr``, ``train/tokens_per_s``, ``vft/*``, ``final/*``, a text sample, the
    saved model), set by the ``language_model`` section: :class:`~seetrain.train.lm_report.LanguageModelReport`."""
    from seetrain.apt.data import ByteTokenizer, unigram_cross_entropy

    from ..lm_report import LanguageModelReport, SampleSettings

    lm = config.get("language_model") or {}
    sample = dict(lm.get("sample") or {})
    tok = ByteTokenizer()
    baseline = unigram_cross_entropy(data.train.ids.tolist(), data.val.ids.tolist(), tok.vocab_size)
    return LanguageModelReport(tok, data.val.ids, data.val.seq_len, baseline,
                               log_every=int(config["trainer"].get("log_every_n_steps") or 10),
                               block_stats=bool(lm.get("block_stats", True)), save_model=bool(lm.get("save_model", True)),
                               sample=SampleSettings(**{k: v for k, v in sample.items() if k in SampleSettings._fields}),
                               output_dir=config.get("output_dir"), after_save=after_save,
                               data_info={k: data.info[k] for k in ("train_tokens", "val_tokens")})


def prepare(config: Dict[str, Any], model_backend: str, data: TextData) -> Job:
    from ..models.apt_lm import apt_fields

    mcfg, dcfg = dict(config["model"]), dict(config["data"])
    entry = MODELS.get(str(mcfg.pop("name")), model_backend)
    if entry.info.get("task") != "language_model":
        raise TrainConfigError(f"model {entry.name!r} is not a language model; task=language_model takes model=apt_vft_tiny "
                               "or another apt_lm config", key="model.name")
    fields = apt_fields()
    for k in mcfg:
        if k not in fields and k not in ("pretrained", "pretrained_md5", "num_classes"):
            raise TrainConfigError(f"unknown key model.{k} for model 'apt_lm'{did_you_mean(k, fields)}", key=f"model.{k}")
    kwargs = {k: v for k, v in mcfg.items() if k in fields}
    from ..apt_plugins import plugin_hooks

    plugins = plugin_hooks(config, data.plugins, data.train, int(dcfg.get("batch_size", 16)))
    return Job(loop_hooks=plugins + [report(config, data, after_save=plugins)], config=config, task="language_model",
               loss_hooks=[h.training_loss for h in plugins if h.replaces_loss()],
               no_weight_decay=("emb",),  # token and position embeddings, as GPT-style training does
               model_name=entry.name, model_kwargs=kwargs, train=data.train,
               val=data.val, batch_size=int(dcfg.get("batch_size", 16)), num_workers=int(dcfg.get("num_workers") or 0),
               metric="val/loss", mode="min", pretrained=mcfg.get("pretrained", False),
               pretrained_md5=mcfg.get("pretrained_md5"), info=dict(data.info),
               run_name=f"apt_lm-{mcfg.get('type', 'apt')}")
