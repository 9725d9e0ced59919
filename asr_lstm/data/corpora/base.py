"""What the data module needs from a corpus, whatever its layout."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path

from asr_lstm.data.bad_items import BadItem, check_policy, refuse_or_keep, write_bad_items
from asr_lstm.data.done import is_done, mark_done
from asr_lstm.data.manifest import write_manifest
from asr_lstm.data.tokens import Vocabulary

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """Bad input in a corpus: the message names the file, the line or utterance, and the problem."""

    @classmethod
    def raise_all(cls, problems: list[str]) -> None:
        """Raises one error naming every problem (each ``file:line: what``), when there is any."""
        if len(problems) == 1:
            raise cls(problems[0])
        if problems:
            raise cls(f"{len(problems)} problems in the corpus layout:\n  " + "\n  ".join(problems))


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
    item_noun: str = "utterances"
    reference_key: str = "phones"
    scoring_folding: str | None = None
    metric: str = "per"
    word_separator: str | None = None

    @abstractmethod
    def split_rows(self) -> dict[str, list[dict]]:
        """Validates the corpus and returns the manifest rows of each split; an item that is bad on
        its own (an unreadable file, an unknown label) goes to :attr:`bad_items` instead of raising,
        so that the data policy can name them all or skip them."""

    @property
    def bad_items(self) -> list[BadItem]:
        """The bad items the last :meth:`split_rows` found."""
        return self.__dict__.setdefault("_bad_items", [])

    @abstractmethod
    def vocabulary(self) -> Vocabulary:
        """The output vocabulary (CTC blank at 0)."""

    def vocabulary_of(self, splits: dict[str, list[dict]]) -> Vocabulary:
        """The vocabulary, given the rows :meth:`split_rows` returned (a corpus whose labels are
        found in its transcriptions saves reading it twice)."""
        return self.vocabulary()

    def describe(self, split: str, rows: list[dict]) -> str:
        """One log line on a prepared split."""
        return f"{split}: {len(rows)} rows"

    def prepared(self, out_dir: str | Path, on_error: str = "raise") -> bool:
        """Whether :meth:`prepare` has finished in ``out_dir`` with these parameters."""
        return is_done(Path(out_dir) / ".prepare.done", {**self.params(), "on_error": on_error})

    def prepare(self, out_dir: str | Path, on_error: str = "raise") -> None:
        """Writes ``<split>.jsonl``, ``tokens.txt`` and ``skipped.tsv`` (the bad items, which
        ``on_error=raise`` refuses instead, all named in one error) under ``out_dir``; skipped when a
        ``.done`` marker with the same :meth:`params` is there."""
        out_dir = Path(out_dir)
        marker, params = out_dir / ".prepare.done", {**self.params(), "on_error": check_policy(on_error)}
        if is_done(marker, params):
            log.info("%s: manifests already prepared, skipping", out_dir)
            return
        self.bad_items.clear()
        splits = self.split_rows()
        refuse_or_keep(self.bad_items, on_error, f"{self.item_noun} in {self.describe_root()}", CorpusError)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_bad_items(self.bad_items, out_dir / "skipped.tsv")
        for item in self.bad_items:
            log.warning("skipped %s", item)
        for split, rows in splits.items():
            write_manifest(rows, out_dir / f"{split}.jsonl")
            log.info("%s", self.describe(split, rows))
        self.vocabulary_of(splits).save(out_dir / "tokens.txt")
        mark_done(marker, params)

    def describe_root(self) -> str:
        """Where the corpus is, for messages."""
        return str(getattr(self, "root", type(self).__name__))

    @abstractmethod
    def params(self) -> dict:
        """What identifies this preparation (stored in the ``.done`` marker)."""
