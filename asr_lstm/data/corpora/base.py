"""What the data module needs from a corpus, whatever its layout."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from asr_lstm.data.tokens import Vocabulary


class CorpusError(ValueError):
    """Bad input in a corpus: the message names the file, the line or utterance, and the problem."""


class Corpus(ABC):
    """A corpus on disk that can be turned into ``train`` / ``dev`` / ``test`` manifests.

    Attributes:
        splits: the manifest names :meth:`prepare` writes.
        reference_key: the manifest field holding the label sequence (``phones`` or ``text``).
        scoring_folding: the label folding applied before scoring, ``None`` for none.
        metric: the name of the token error rate (``per`` for phones, ``cer`` for characters).
        word_separator: the token between words of a character corpus (then WER is scored too), or ``None``.
    """

    splits: tuple[str, ...] = ("train", "dev", "test")
    reference_key: str = "phones"
    scoring_folding: str | None = None
    metric: str = "per"
    word_separator: str | None = None

    @abstractmethod
    def prepare(self, out_dir: str | Path) -> None:
        """Validates the corpus and writes ``<split>.jsonl`` and ``tokens.txt`` under ``out_dir``."""

    @abstractmethod
    def vocabulary(self) -> Vocabulary:
        """The output vocabulary (CTC blank at 0)."""

    @abstractmethod
    def params(self) -> dict:
        """What identifies this preparation (stored in the ``.done`` marker)."""
