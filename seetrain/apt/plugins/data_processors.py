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
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._text_tables import SYNONYMS_EN, SYNONYMS_ZH, TRAD_TO_SIMP  # noqa: F401 (re-exported)
from .base import APTPlugin, did_you_mean

URL_RE = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"'，。！？、]+", re.IGNORECASE)
EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CONTROL_RE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u2028\u2029\ufeff]")
_MOJIBAKE_RE = re.compile(r"(?:Ã[\u0080-\u00bf]|Â[\u0080-\u00bf\s]|â€[\u0080-\u00bf™œ\u009d˜”“¦¢]|"
                          r"å[\u0080-\u00bf]{1,2}|æ[\u0080-\u00bf]{1,2}|ä¸|ï¼)")

_FULLWIDTH_PUNCT = {",": "，", ".": "。", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}
STOPWORDS_EN = frozenset("a an the of to in on at for and or but is are was were be been it this that with as by".split())
_AUGMENT_METHODS = ("synonym", "insert", "swap", "delete", "back_translation", "eda")
_EDA = ("synonym", "insert", "swap", "delete")   # "eda": one variant by each of EDA's four operations
_STEPS = ("clean", "quality_check", "augment", "balance")
_METHOD_ALIASES = {"synonym_replacement": "synonym", "sr": "synonym", "random_insertion": "insert", "ri": "insert",
                   "random_swap": "swap", "rs": "swap", "random_deletion": "delete", "rd": "delete",
                   "back_translate": "back_translation", "bt": "back_translation",
                   "easy_data_augmentation": "eda"}


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


class DataProcessorsPlugin(APTPlugin):
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

    # --- augmentation (EDA + back translation) ---------------------------------------------------------
    def _tokenize(self, text: str) -> Tuple[List[str], str]:
        """Words and the joiner: Chinese text is cut by longest match against the synonym table, else per character."""
        if not CJK_RE.search(text):
            return text.split(), " "
        words = sorted((w for w in self.synonyms if CJK_RE.search(w)), key=len, reverse=True)
        maxlen = max((len(w) for w in words), default=1)
        vocab = set(words)
        out, i = [], 0
        while i < len(text):
            for n in range(min(maxlen, len(text) - i), 0, -1):
                if text[i:i + n] in vocab or n == 1:
                    out.append(text[i:i + n])
                    i += n
                    break
        return [t for t in out if not t.isspace()], ""

    def _synonyms_of(self, word: str) -> List[str]:
        key = word.lower()
        syns = self.synonyms.get(word) or self.synonyms.get(key) or []
        if word[:1].isupper():
            syns = [s[:1].upper() + s[1:] for s in syns]
        return syns

    def _n_changes(self, words: List[str]) -> int:
        return max(1, int(round(float(self.config["augment_alpha"]) * len(words))))

    def synonym_replacement(self, words: List[str], n: int) -> List[str]:
        words = list(words)
        candidates = [i for i, w in enumerate(words) if w.lower() not in STOPWORDS_EN and self._synonyms_of(w)]
        self.rng.shuffle(candidates)
        for i in candidates[:n]:
            words[i] = self.rng.choice(self._synonyms_of(words[i]))
        return words

    def random_insertion(self, words: List[str], n: int) -> List[str]:
        words = list(words)
        for _ in range(n):
            options = [w for w in words if self._synonyms_of(w)]
            if not options:
                break
            words.insert(self.rng.randint(0, len(words)), self.rng.choice(self._synonyms_of(self.rng.choice(options))))
        return words

    def random_swap(self, words: List[str], n: int) -> List[str]:
        words = list(words)
        if len(words) < 2:
            return words
        for _ in range(n):
            i, j = self.rng.sample(range(len(words)), 2)
            words[i], words[j] = words[j], words[i]
        return words

    def random_deletion(self, words: List[str], p: float) -> List[str]:
        if len(words) <= 1:
            return list(words)
        kept = [w for w in words if self.rng.random() > p]
        return kept or [self.rng.choice(words)]

    def back_translate(self, text: str, translate_fn: Optional[Callable[[str, str, str], str]] = None,
                       src: Optional[str] = None, pivot: Optional[str] = None) -> str:
        """``translate_fn(translate_fn(text, src, pivot), pivot, src)``: a paraphrase through a pivot language."""
        fn = translate_fn or self.config.get("translate_fn")
        if fn is None:
            raise ValueError("back translation needs translate_fn(text, src_lang, tgt_lang) -> str: pass "
                             "translate_fn= in the plugin config (no translation model is downloaded)")
        src = src or self.config["source_lang"]
        pivot = pivot or self.config["pivot_lang"]
        return fn(fn(text, src, pivot), pivot, src)

    def augment_text(self, text: str, methods: Optional[Union[str, Sequence[str]]] = None,
                     num_augment: Optional[int] = None) -> List[str]:
        """Variants of ``text``: ``num_augment`` per method (synonym, insert, swap, delete, back_translation)."""
        methods = [methods] if isinstance(methods, str) else list(methods or self.config["augment_methods"])
        n_aug = int(num_augment if num_augment is not None else self.config["num_augment"])
        words, joiner = self._tokenize(text)
        out: List[str] = []
        expanded: List[str] = []
        for method in methods:
            m = _METHOD_ALIASES.get(method, method)
            if m not in _AUGMENT_METHODS:
                raise ValueError(f"unknown augmentation {method!r}{did_you_mean(method, _AUGMENT_METHODS)}; "
                                 f"use one of {_AUGMENT_METHODS}")
            expanded.extend(_EDA if m == "eda" else [m])
        for m in expanded:
            for _ in range(n_aug):
                if m == "back_translation":
                    out.append(self.back_translate(text))
                    continue
                n = self._n_changes(words)
                new = {"synonym": lambda: self.synonym_replacement(words, n),
                       "insert": lambda: self.random_insertion(words, n),
                       "swap": lambda: self.random_swap(words, n),
                       "delete": lambda: self.random_deletion(words, float(self.config["augment_alpha"]))}[m]()
                out.append(joiner.join(new))
        return out

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

    # --- quality ----------------------------------------------------------------------------------------
    def check_quality(self, data: Sequence[Any], min_length: Optional[int] = None, max_length: Optional[int] = None,
                      text_key: Optional[str] = None) -> List[Dict[str, Any]]:
        """Issues found in ``data``: a list of ``{"index", "type", "field", "detail", "severity"}``.

        Types: ``format`` (not a dict / no text / text not a string), ``empty_field``, ``too_short``,
        ``too_long``, ``exact_duplicate``, ``near_duplicate`` (character 3-gram TF-IDF cosine >=
        ``near_duplicate_threshold``), ``encoding`` (replacement characters, mojibake, control characters).
        """
        text_key = text_key or self.config["text_key"]
        lo = int(self.config["min_length"] if min_length is None else min_length)
        hi = int(self.config["max_length"] if max_length is None else max_length)
        issues: List[Dict[str, Any]] = []

        def add(i, kind, field, detail, severity="error"):
            issues.append({"index": i, "type": kind, "field": field, "detail": detail, "severity": severity})

        texts: Dict[int, str] = {}
        for i, rec in enumerate(data):
            if not isinstance(rec, Mapping):
                add(i, "format", None, f"record is a {type(rec).__name__}, not a dict")
                continue
            for key, value in rec.items():
                if value is None or (isinstance(value, str) and not value.strip()):
                    add(i, "empty_field", key, "empty or missing value")
            if text_key not in rec:
                add(i, "format", text_key, f"no {text_key!r} field")
                continue
            text = rec[text_key]
            if text is None or (isinstance(text, str) and not text.strip()):
                continue  # reported as empty_field
            if not isinstance(text, str):
                add(i, "format", text_key, f"text is a {type(text).__name__}, not a str")
                continue
            n = len(text.strip())
            if n < lo:
                add(i, "too_short", text_key, f"{n} characters < min_length {lo}")
            if n > hi:
                add(i, "too_long", text_key, f"{n} characters > max_length {hi}")
            if "\ufffd" in text:
                add(i, "encoding", text_key, f"{text.count(chr(0xFFFD))} replacement character(s) U+FFFD")
            if _MOJIBAKE_RE.search(text):
                add(i, "encoding", text_key, f"mojibake (UTF-8 read as Latin-1/CP1252): {_MOJIBAKE_RE.search(text).group()!r}")
            if _CONTROL_RE.search(text.replace("\n", "").replace("\t", "")):
                add(i, "encoding", text_key, "control or zero-width characters", "warning")
            texts[i] = text
        first: Dict[str, int] = {}
        unique: Dict[int, str] = {}
        for i, text in texts.items():
            key = re.sub(r"\s+", " ", text.strip())
            if key in first:
                add(i, "exact_duplicate", text_key, f"same text as record {first[key]}")
            else:
                first[key] = i
                unique[i] = key
        for i, j, sim in self._near_duplicates(unique):
            add(j, "near_duplicate", text_key, f"{sim:.2f} similar to record {i}", "warning")
        counts = Counter(x["type"] for x in issues)
        self.log({"data/quality/records": len(data), "data/quality/issues": len(issues),
                  **{f"data/quality/{k}": v for k, v in counts.items()}}, step=self._next_step())
        return issues

    def _near_duplicates(self, texts: Dict[int, str]) -> List[Tuple[int, int, float]]:
        if len(texts) < 2:
            return []
        from sklearn.feature_extraction.text import TfidfVectorizer

        ids = list(texts)
        try:
            X = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3)).fit_transform([texts[i] for i in ids])
        except ValueError:  # no 3-grams at all (very short texts)
            return []
        thr = float(self.config["near_duplicate_threshold"])
        out, flagged = [], set()
        block = 512
        for start in range(0, len(ids), block):
            sims = (X[start:start + block] @ X.T).toarray()
            for r, row in enumerate(sims):
                a = start + r
                for b in (row[a + 1:] >= thr).nonzero()[0] + a + 1:
                    if ids[b] not in flagged:
                        flagged.add(ids[b])
                        out.append((ids[a], ids[b], float(row[b])))
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
        out_dir = (context or {}).get("output_dir")
        if self.config["save_processed"] and out_dir:
            import os

            os.makedirs(os.path.join(out_dir, "data"), exist_ok=True)
            with open(os.path.join(out_dir, "data", "train.txt"), "w", encoding="utf-8") as f:
                f.write(processed)
        if not processed.strip():
            raise ValueError("data-processors removed the whole training text; check min_length/max_length "
                             "and the pipeline steps")
        return processed

    def _next_step(self) -> int:
        s = self._step
        self._step += 1
        return s
