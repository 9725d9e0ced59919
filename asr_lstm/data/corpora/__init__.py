"""Corpus preparers: each reads a corpus's true on-disk layout and writes manifests."""

from asr_lstm.data.corpora.base import Corpus, CorpusError

__all__ = ["Corpus", "CorpusError"]
