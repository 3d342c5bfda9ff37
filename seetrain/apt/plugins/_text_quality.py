"""Record quality checks of the data-processors plugin (a mixin of
:class:`~seetrain.apt.plugins.data_processors.DataProcessorsPlugin`): format, length, duplicates, encoding."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

_CONTROL_RE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u2028\u2029\ufeff]")
_MOJIBAKE_RE = re.compile(r"(?:Ã[\u0080-\u00bf]|Â[\u0080-\u00bf\s]|â€[\u0080-\u00bf™œ\u009d˜”“¦¢]|"
                          r"å[\u0080-\u00bf]{1,2}|æ[\u0080-\u00bf]{1,2}|ä¸|ï¼)")


class TextQualityMixin:
    """``check_quality`` (and its near-duplicate search); uses ``self.config``, ``self.log`` and ``self._next_step``."""

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
