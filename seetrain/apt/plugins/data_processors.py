"""Text data processing: cleaning, EDA augmentation, class balancing and quality checks.

    dp = DataProcessorsPlugin({"seed": 0})
    dp.clean_text("Visit  https://x.org now!!", "basic")         # 'Visit <URL> now!!'
    dp.augment_text("the quick brown fox", ["synonym", "swap"])   # EDA variants
    balanced = dp.balance_dataset(records, label_key="label", method="oversample")
    issues = dp.check_quality(records, min_length=5, max_length=500)
    out = dp.process_pipeline(records, ["clean", "quality_check", "augment", "balance"])

Records are dicts (``{"text": ..., "label": ...}``; the keys are configurable). Everything is
deterministic for a given ``seed``; each pipeline step logs its in/out counts to the active run.
No model is downloaded: back translation calls a ``translate_fn(text, src, tgt)`` that you supply.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._text_augment import (  # noqa: F401 (re-exported)
    _AUGMENT_METHODS, _EDA, _METHOD_ALIASES, CJK_RE, STOPWORDS_EN, TextAugmentMixin)
from ._text_quality import _CONTROL_RE, _MOJIBAKE_RE, TextQualityMixin  # noqa: F401 (re-exported)
from ._text_tables import SYNONYMS_EN, SYNONYMS_ZH, TRAD_TO_SIMP  # noqa: F401 (re-exported)
from .base import APTPlugin, did_you_mean

URL_RE = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"'，。！？、]+", re.IGNORECASE)
EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")

_FULLWIDTH_PUNCT = {",": "，", ".": "。", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}
_STEPS = ("clean", "quality_check", "augment", "balance")


def to_halfwidth(text: str) -> str:
    """Full-width ASCII letters, digits, symbols and the ideographic space to their half-width forms."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


class DataProcessorsPlugin(TextAugmentMixin, TextQualityMixin, APTPlugin):
    """Clean, augment, balance and quality-check text records; reports counts to the active run."""

    name = "data-processors"
    default_config: Dict[str, Any] = {
        "seed": 0,
        "text_key": "text",
        "label_key": "label",
        "clean_strategy": "basic",
        "url_token": "<URL>",      # None keeps URLs, "" removes them
        "email_token": "<EMAIL>",
        "to_simplified": False,
        "augment_methods": ["synonym", "insert", "swap", "delete"],
        "augment_alpha": 0.1,      # EDA: share of words changed by each operation
        "num_augment": 1,          # variants per method and input
        "augment_labels": None,    # pipeline augment step: only these labels (None: the minority classes)
        "balance_method": "oversample",
        "min_length": 1,
        "max_length": 10_000,
        "near_duplicate_threshold": 0.9,
        "synonyms": None,          # extra {word: [synonyms]} merged into the built-in tables
        "translate_fn": None,      # back translation: translate_fn(text, src_lang, tgt_lang) -> text
        "source_lang": "en",
        "pivot_lang": "fr",
        # process_pipeline(data) without steps: clean (enable_cleaning), quality_check, augment
        # (enable_augmentation, a share augmentation_ratio of the eligible records), balance (labelled data)
        "pipeline_steps": None,
        "enable_cleaning": True,
        "enable_augmentation": False,
        "augmentation_ratio": 1.0,
        "normalize_urls": True,    # False keeps URLs and e-mail addresses as they are
        # `seetrain apt train`: the training text is cut into records (lines or paragraphs), processed, rejoined
        "text_unit": "line",       # line | paragraph
        "save_processed": True,    # write the processed training text to <output_dir>/data/train.txt
    }

    def __init__(self, config: Optional[Mapping[str, Any]] = None, run: Any = None, **options: Any) -> None:
        super().__init__(config, run, **options)
        if not self.config["normalize_urls"]:
            self.config["url_token"] = self.config["email_token"] = None
        if self.config["text_unit"] not in ("line", "paragraph"):
            raise ValueError(f"text_unit {self.config['text_unit']!r} is not 'line' or 'paragraph'")
        if not 0.0 <= float(self.config["augmentation_ratio"]) <= 1.0:
            raise ValueError(f"augmentation_ratio must be in [0, 1], got {self.config['augmentation_ratio']}")
        for step in self.config["pipeline_steps"] or []:
            name = step if isinstance(step, str) else (step.get("name") if isinstance(step, Mapping) else step[0])
            if name not in _STEPS:
                raise ValueError(f"unknown pipeline step {name!r}{did_you_mean(name, _STEPS)}; use {', '.join(_STEPS)}")
        self.rng = random.Random(self.config["seed"])
        self.synonyms: Dict[str, List[str]] = {**SYNONYMS_EN, **SYNONYMS_ZH}
        if self.config.get("synonyms"):
            self.add_synonyms(self.config["synonyms"])
        self.last_report: List[Dict[str, Any]] = []
        self._step = 0

    def seed(self, seed: int) -> None:
        """Restart the random stream (augmentation and sampling repeat exactly for the same seed)."""
        self.config["seed"] = seed
        self.rng = random.Random(seed)

    def add_synonyms(self, table: Mapping[str, Sequence[str]]) -> None:
        """Merge ``{word: [synonyms, ...]}`` into the synonym table (English or Chinese)."""
        for word, syns in table.items():
            if isinstance(syns, str):
                raise TypeError(f"synonyms of {word!r} must be a list of strings, not a string")
            merged = self.synonyms.get(word, []) + [s for s in syns if s != word]
            self.synonyms[word] = list(dict.fromkeys(merged))

    # --- cleaning --------------------------------------------------------------------------------------
    def _replace_links(self, text: str) -> str:
        url_tok, mail_tok = self.config["url_token"], self.config["email_token"]
        if mail_tok is not None:
            text = EMAIL_RE.sub(mail_tok, text)
        if url_tok is not None:
            text = URL_RE.sub(url_tok, text)
        return text

    def clean_text(self, text: str, strategy: Optional[str] = None, to_simplified: Optional[bool] = None) -> str:
        """Clean ``text`` with ``basic``, ``aggressive``, ``chinese`` or ``code``.

        * basic: Unicode NFC, control/zero-width characters removed, URLs/e-mails replaced by
          ``url_token``/``email_token``, whitespace collapsed.
        * aggressive: basic + lower case, punctuation and symbols removed (placeholders kept), digits
          kept, whitespace collapsed.
        * chinese: full-width letters/digits to half-width, ASCII punctuation next to Chinese text to
          Chinese punctuation, repeated punctuation collapsed, spaces between Chinese characters
          removed; traditional characters are left alone unless ``to_simplified``.
        * code: line endings normalised, trailing spaces and control characters removed, tabs and
          indentation kept, runs of blank lines collapsed; URLs are not touched.
        """
        if text is None:
            return ""
        if not isinstance(text, str):
            raise TypeError(f"clean_text expects a str, got {type(text).__name__}")
        strategy = strategy or self.config["clean_strategy"]
        if strategy == "code":
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            text = _CONTROL_RE.sub("", text)  # tabs and newlines are not in _CONTROL_RE
            lines = [ln.rstrip() for ln in text.split("\n")]
            text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
            return text.strip("\n")
        text = unicodedata.normalize("NFC", text)
        text = _CONTROL_RE.sub("", text).replace("\ufffd", "")
        if strategy == "chinese":
            text = to_halfwidth(text)
            if to_simplified if to_simplified is not None else self.config["to_simplified"]:
                text = "".join(TRAD_TO_SIMP.get(ch, ch) for ch in text)
        text = self._replace_links(text)
        if strategy == "basic":
            return re.sub(r"\s+", " ", text).strip()
        if strategy == "aggressive":
            text = text.lower()
            keep = {t.lower() for t in (self.config["url_token"], self.config["email_token"]) if t}
            tokens = re.findall(r"<[a-z]+>|[^\W_]+(?:'[^\W_]+)?", text)
            return " ".join(t for t in tokens if not t.startswith("<") or t in keep)
        if strategy == "chinese":
            cjk = r"[\u3400-\u9fff\uf900-\ufaff]"
            punct = re.escape("".join(_FULLWIDTH_PUNCT))
            text = re.sub(rf"(?<={cjk})[{punct}]+|[{punct}]+(?={cjk})",  # ASCII punctuation by Chinese text
                          lambda m: "".join(_FULLWIDTH_PUNCT[c] for c in m.group()), text)
            text = re.sub(r"([，。！？：；、])\1+", r"\1", text)
            text = re.sub(rf"(?<={cjk})\s+(?={cjk})", "", text)
            text = re.sub(r"\s*([，。！？：；、（）])\s*", r"\1", text)
            return re.sub(r"\s+", " ", text).strip()
        raise ValueError(f"unknown cleaning strategy {strategy!r}; use basic, aggressive, chinese or code")

    # --- balancing -----------------------------------------------------------------------------------
    def balance_dataset(self, data: Sequence[Mapping[str, Any]], label_key: Optional[str] = None,
                        method: Optional[str] = None, feature_key: Optional[str] = None,
                        augment: bool = False) -> List[Dict[str, Any]]:
        """Equalise class counts: ``oversample`` (random duplicates, or EDA variants with ``augment``),
        ``undersample``, or ``smote`` (synthetic numeric feature vectors in ``feature_key``)."""
        import numpy as np

        label_key = label_key or self.config["label_key"]
        method = method or self.config["balance_method"]
        data = [dict(r) for r in data]
        if not data:
            return []
        missing = [i for i, r in enumerate(data) if label_key not in r]
        if missing:
            raise ValueError(f"records {missing[:5]} have no {label_key!r} label; set label_key=")
        labels = np.array([r[label_key] for r in data], dtype=object)
        classes = sorted(set(labels.tolist()), key=str)
        code = {c: i for i, c in enumerate(classes)}
        y = np.array([code[v] for v in labels])
        seed = self.rng.randrange(2 ** 31)
        if method == "oversample" or method == "undersample":
            from imblearn.over_sampling import RandomOverSampler
            from imblearn.under_sampling import RandomUnderSampler

            sampler = (RandomOverSampler if method == "oversample" else RandomUnderSampler)(random_state=seed)
            idx, _ = sampler.fit_resample(np.arange(len(data)).reshape(-1, 1), y)
            idx = idx.ravel()
            out: List[Dict[str, Any]] = []
            seen: set = set()
            text_key = self.config["text_key"]
            for i in idx:
                rec = dict(data[i])
                if i in seen and augment and isinstance(rec.get(text_key), str):
                    rec[text_key] = self.augment_text(rec[text_key], [self.rng.choice(["synonym", "insert", "swap", "delete"])])[0]
                    rec["augmented"] = True
                seen.add(int(i))
                out.append(rec)
        elif method == "smote":
            from imblearn.over_sampling import SMOTE

            if feature_key is None:
                raise ValueError("SMOTE needs numeric features: pass feature_key= naming a list/array field")
            X = np.asarray([np.asarray(r[feature_key], dtype=float) for r in data])
            k = max(1, min(5, int(np.bincount(y).min()) - 1))
            Xr, yr = SMOTE(random_state=seed, k_neighbors=k).fit_resample(X, y)
            out = [dict(r) for r in data]
            for vec, lab in zip(Xr[len(data):], yr[len(data):]):
                out.append({feature_key: vec.tolist(), label_key: classes[lab], "synthetic": True})
        else:
            raise ValueError(f"unknown balance method {method!r}; use oversample, undersample or smote")
        counts = Counter(str(r[label_key]) for r in out)
        self.log({f"data/balance/{k}": v for k, v in counts.items()}, step=self._next_step())
        return out

    # --- pipeline -------------------------------------------------------------------------------------
    def default_steps(self, data: Sequence[Any]) -> List[str]:
        """The steps of ``process_pipeline(data)``: ``pipeline_steps`` if set, else ``clean`` (when
        ``enable_cleaning``), ``quality_check``, ``augment`` (when ``enable_augmentation``) and ``balance``
        (when every record has a label and there are at least two classes)."""
        if self.config.get("pipeline_steps"):
            return list(self.config["pipeline_steps"])
        steps = (["clean"] if self.config["enable_cleaning"] else []) + ["quality_check"]
        if self.config["enable_augmentation"]:
            steps.append("augment")
        label_key = self.config["label_key"]
        labels = [r.get(label_key) for r in data if isinstance(r, Mapping)]
        if labels and len(labels) == len(data) and None not in labels and len(set(map(str, labels))) > 1:
            steps.append("balance")
        return steps

    def process_pipeline(self, data: Sequence[Mapping[str, Any]],
                         steps: Optional[Sequence[Union[str, Tuple[str, Dict[str, Any]], Mapping[str, Any]]]] = None
                         ) -> List[Dict[str, Any]]:
        """Run ``steps`` in order (default: :meth:`default_steps`): ``"clean"``, ``"quality_check"`` (drops
        records with errors unless ``drop=False``), ``"augment"`` (adds variants of the minority classes, or
        of ``labels=``, or of all records with ``labels="all"``; a share ``augmentation_ratio`` of them) and
        ``"balance"``. A step is a name, ``(name, kwargs)`` or ``{"name": ..., **kwargs}``. Each step's
        counts go to ``self.last_report`` and the run."""
        records = [dict(r) if isinstance(r, Mapping) else r for r in data]
        steps = self.default_steps(records) if steps is None else steps
        text_key, label_key = self.config["text_key"], self.config["label_key"]
        self.last_report = []
        for n, step in enumerate(steps):
            if isinstance(step, str):
                name, kw = step, {}
            elif isinstance(step, Mapping):
                kw = dict(step)
                name = kw.pop("name")
            else:
                name, kw = step[0], dict(step[1])
            n_in = len(records)
            extra: Dict[str, Any] = {}
            if name == "clean":
                strategy = kw.get("strategy")
                for r in records:
                    if isinstance(r, dict) and isinstance(r.get(text_key), str):
                        r[text_key] = self.clean_text(r[text_key], strategy)
            elif name == "quality_check":
                issues = self.check_quality(records, kw.get("min_length"), kw.get("max_length"))
                extra["issues"] = len(issues)
                if kw.get("drop", True):
                    bad = {x["index"] for x in issues if x["severity"] == "error"}
                    records = [r for i, r in enumerate(records) if i not in bad]
            elif name == "augment":
                labels = kw.get("labels", self.config["augment_labels"])
                counts = Counter(r.get(label_key) for r in records if isinstance(r, dict))
                if labels is None and set(counts) <= {None}:
                    labels = "all"  # unlabelled records: augment every one
                if labels is None:
                    top = max(counts.values()) if counts else 0
                    labels = {k for k, v in counts.items() if v < top}
                elif labels != "all":
                    labels = set(labels)
                new = []
                eligible = [r for r in records if isinstance(r, dict) and isinstance(r.get(text_key), str)
                            and (labels == "all" or r.get(label_key) in labels)]
                ratio = float(kw.get("ratio", self.config["augmentation_ratio"]))
                if ratio < 1.0:
                    eligible = self.rng.sample(eligible, int(round(ratio * len(eligible))))
                for r in eligible:
                    for variant in self.augment_text(r[text_key], kw.get("methods"), kw.get("num_augment")):
                        new.append({**r, text_key: variant, "augmented": True})
                records = records + new
            elif name == "balance":
                records = self.balance_dataset(records, kw.get("label_key"), kw.get("method"),
                                               kw.get("feature_key"), kw.get("augment", False))
            else:
                raise ValueError(f"unknown pipeline step {name!r}{did_you_mean(name, _STEPS)}; "
                                 f"use {', '.join(_STEPS)}")
            entry = {"step": n, "name": name, "in": n_in, "out": len(records), **extra}
            self.last_report.append(entry)
            self.log({f"data/pipeline/{n}_{name}/in": n_in, f"data/pipeline/{n}_{name}/out": len(records),
                      **{f"data/pipeline/{n}_{name}/{k}": v for k, v in extra.items()}}, step=self._next_step())
        return records

    # --- in `seetrain apt train` ----------------------------------------------------------------------
    def process_training_text(self, text: str, context: Optional[Dict[str, Any]] = None) -> str:
        """The trainer's training split, processed: cut into records (``text_unit``: lines or paragraphs),
        run through :meth:`process_pipeline` (default steps; labels="all" for augmentation, since a corpus
        has no classes) and joined again. Counts go to the run under ``data/...``; with ``save_processed``
        the result is written to ``<output_dir>/data/train.txt``."""
        sep = "\n\n" if self.config["text_unit"] == "paragraph" else "\n"
        pieces = [p for p in text.split(sep) if p.strip()]
        records = [{self.config["text_key"]: p} for p in pieces]
        steps = [("augment", {"labels": "all"}) if s == "augment" else s for s in self.default_steps(records)]
        out = self.process_pipeline(records, steps)
        processed = sep.join(r[self.config["text_key"]] for r in out)
        self.last_text_stats = {"records_in": len(records), "records_out": len(out), "chars_in": len(text),
                                "chars_out": len(processed), "steps": [s if isinstance(s, str) else s[0] for s in steps]}
        self.log({f"data/train_text/{k}": v for k, v in self.last_text_stats.items() if k != "steps"},
                 step=self._next_step())
        self.update_config({"data_processors": self.last_text_stats})
        if not processed.strip():
            raise ValueError("data-processors removed the whole training text; check min_length/max_length "
                             "and the pipeline steps")
        self._unsaved = processed if self.config["save_processed"] else None
        self._save_processed((context or {}).get("output_dir"))
        return processed

    def _save_processed(self, out_dir: Optional[str]) -> None:
        """``save_processed``: the processed training text in ``<out_dir>/data/train.txt``, once a folder is known."""
        text = getattr(self, "_unsaved", None)
        if text is None or not out_dir:
            return
        import os

        os.makedirs(os.path.join(out_dir, "data"), exist_ok=True)
        with open(os.path.join(out_dir, "data", "train.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        self._unsaved = None

    def on_training_start(self, context: Dict[str, Any]) -> None:
        """In the trainer: the text was processed before the run existed; its folder is known now."""
        self._save_processed(context.get("output_dir"))

    def _next_step(self) -> int:
        s = self._step
        self._step += 1
        return s
