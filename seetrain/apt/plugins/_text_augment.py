"""EDA augmentation and back translation of the data-processors plugin (a mixin of
:class:`~seetrain.apt.plugins.data_processors.DataProcessorsPlugin`)."""

from __future__ import annotations

import re
from typing import Callable, List, Optional, Sequence, Tuple, Union

from .base import did_you_mean

CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
STOPWORDS_EN = frozenset("a an the of to in on at for and or but is are was were be been it this that with as by".split())
_AUGMENT_METHODS = ("synonym", "insert", "swap", "delete", "back_translation", "eda")
_EDA = ("synonym", "insert", "swap", "delete")   # "eda": one variant by each of EDA's four operations
_METHOD_ALIASES = {"synonym_replacement": "synonym", "sr": "synonym", "random_insertion": "insert", "ri": "insert",
                   "random_swap": "swap", "rs": "swap", "random_deletion": "delete", "rd": "delete",
                   "back_translate": "back_translation", "bt": "back_translation",
                   "easy_data_augmentation": "eda"}


class TextAugmentMixin:
    """``synonym_replacement``, ``random_insertion``, ``random_swap``, ``random_deletion``, ``back_translate``
    and ``augment_text``; uses ``self.synonyms``, ``self.rng`` and ``self.config``."""

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
