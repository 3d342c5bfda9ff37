"""Data for APT: a byte tokenizer and a small English corpus that ships with the package."""

from .corpus import TokenWindows, corpus_path, load_corpus, split_ids, unigram_cross_entropy
from .tokenizer import ByteTokenizer

__all__ = ["ByteTokenizer", "load_corpus", "corpus_path", "split_ids", "unigram_cross_entropy", "TokenWindows"]
