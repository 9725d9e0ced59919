"""What the data module needs from a corpus, whatever its layout."""

from __future__ import annotations

import logging
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from asr_lstm.data.bad_items import BadItem, check_policy, refuse_or_keep, write_bad_items
from asr_lstm.data.bidi import base_problem, holds_right_to_left
from asr_lstm.data.done import is_done, mark_done
from asr_lstm.data.manifest import input_of, write_manifest
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.unicode_forms import check_form, normalized_row
from asr_lstm.data.units import (
    SENTENCEPIECE_TYPES,
    WORD_SEPARATOR,
    Characters,
    DisplayOrder,
    Labelling,
    Units,
    UnitsError,
)

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


def prepare_from_command_line(name: str, prepare: Callable[[], object]) -> None:
    """``prepare()`` for a ``python -m`` preparation entry point: a :class:`CorpusError` is printed as
    ``name: message`` and exits with code 2, without a traceback."""
    try:
        prepare()
    except CorpusError as err:
        print(f"{name}: {err}", file=sys.stderr)
        sys.exit(2)


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

    def own_labelling(self) -> Labelling:
        """The labels of the corpus without a ``units`` choice: its :attr:`reference_key` field, and
        characters with the word separator as units when it has one."""
        units = Characters(self.word_separator) if self.word_separator is not None else None
        return Labelling(self.reference_key, self.metric, self.metric, self.scoring_folding, units)

    def preparation_params(
        self,
        on_error: str,
        units: Units | None,
        normalization: str | None,
        bidi: str | None,
        kept_labels: list[str] | None = None,
    ) -> dict:
        params = {**self.params(), "on_error": on_error, "units": units.params() if units is not None else None,
                  "normalization": normalization, "bidi": bidi}  # fmt: skip
        return params if kept_labels is None else {**params, "kept_labels": list(kept_labels)}

    def prepared(
        self,
        out_dir: str | Path,
        on_error: str = "raise",
        units: Units | None = None,
        normalization: str | None = "NFC",
        bidi: str | None = None,
        kept_labels: list[str] | None = None,
    ) -> bool:
        """Whether :meth:`prepare` has finished in ``out_dir`` with these parameters."""
        params = self.preparation_params(on_error, units, normalization, bidi, kept_labels)
        return is_done(Path(out_dir) / ".prepare.done", params)

    def prepare(
        self,
        out_dir: str | Path,
        on_error: str = "raise",
        units: Units | None = None,
        normalization: str | None = "NFC",
        bidi: str | None = None,
        kept_labels: list[str] | None = None,
    ) -> None:
        """Writes ``<split>.jsonl``, ``tokens.txt``, ``labelling.json`` and ``skipped.tsv`` (the bad
        items, which ``on_error=raise`` refuses instead, all named in one error) under ``out_dir``;
        skipped when a ``.done`` marker with the same parameters is there.

        Every row's ``text`` and ``chars`` are first brought to the Unicode ``normalization`` form
        (:mod:`asr_lstm.data.unicode_forms`; ``None``: as the corpus holds them). With ``units``,
        every row's words (its ``text``) are then labelled by them into its ``units`` field, after
        :meth:`Units.fit` on the training split; a row they cannot label is a bad item. With a
        ``bidi`` paragraph direction (:mod:`asr_lstm.data.bidi`) the labels follow the display order
        of each line: the units (characters when none are given) label its words as laid out.
        ``kept_labels`` (an earlier model's, ``init_labels=union``) come first in ``tokens.txt``, in their
        order, and the corpus's labels that they lack follow.
        """
        out_dir = Path(out_dir)
        params = self.preparation_params(check_policy(on_error), units, check_form(normalization), bidi, kept_labels)
        if kept_labels is not None and units is not None and units.kind in SENTENCEPIECE_TYPES:
            raise CorpusError(
                f"units={units.kind}: an earlier model's labels cannot be kept (init_labels=union), since "
                "subword pieces are those of this corpus's own sentencepiece model; use init_labels=new"
            )
        marker = out_dir / ".prepare.done"
        if is_done(marker, params):
            log.info("%s: manifests already prepared, skipping", out_dir)
            return
        units = self.display_ordered(units, bidi)
        self.bad_items.clear()
        splits = self.normalize(self.split_rows(), normalization)
        if bidi is None:
            self.warn_of_right_to_left(splits)
        if units is not None:
            splits = self.label_with(units, splits, normalization)
        refuse_or_keep(self.bad_items, on_error, f"{self.item_noun} in {self.describe_root()}", CorpusError)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_bad_items(self.bad_items, out_dir / "skipped.tsv")
        for item in self.bad_items:
            log.warning("skipped %s", item)
        for split, rows in splits.items():
            write_manifest(rows, out_dir / f"{split}.jsonl")
            log.info("%s", self.describe(split, rows))
        if units is None:
            labelling, vocabulary = self.own_labelling(), self.vocabulary_of(splits)
        else:
            labelling = Labelling("units", units.metric, units.token_metric, None, units)
            used = sorted({label for rows in splits.values() for row in rows for label in row["units"]})
            vocabulary = Vocabulary(units.inventory() or used)
        if kept_labels is not None:
            kept = set(kept_labels)
            vocabulary = Vocabulary([*kept_labels, *(t for t in vocabulary.tokens[1:] if t not in kept)])
        vocabulary.save(out_dir / "tokens.txt")
        labelling.save(out_dir)
        mark_done(marker, params)

    def display_ordered(self, units: Units | None, bidi: str | None) -> Units | None:
        """``units`` (or the corpus's characters) in :class:`DisplayOrder` when ``bidi`` is a paragraph
        direction; ``units`` unchanged when it is ``None``.

        Raises:
            CorpusError: ``bidi`` is not a direction, or the corpus's labels are not characters of words.
        """
        if bidi is None:
            return units
        if (problem := base_problem(bidi)) is not None:
            raise CorpusError(problem)
        if units is None and self.word_separator is None:
            raise CorpusError(
                f"{self.describe_root()}: data.bidi={bidi} lays out the characters of transcribed lines; "
                f"the labels of {type(self).__name__} are its {self.reference_key}"
            )
        return DisplayOrder(units if units is not None else Characters(self.word_separator), bidi)

    def warn_of_right_to_left(self, splits: dict[str, list[dict]]) -> None:
        """Logs a warning when line images are transcribed in a right-to-left script but their labels
        stay in logical order (no ``data.bidi``): CTC cannot learn labels that run against the image."""
        lines = [row for rows in splits.values() for row in rows if "image" in row and "text" in row]
        right_to_left = sum(holds_right_to_left(row["text"]) for row in lines)
        if right_to_left:
            log.warning(
                "%s: %d of %d lines hold right-to-left letters (Arabic, Hebrew, ...), whose labels stay in logical "
                "order, the reverse of how the images show them; set data.bidi=R (or auto; --bidi on the recipes) "
                "unless the transcriptions are in display order already",
                self.describe_root(),
                right_to_left,
                len(lines),
            )

    def normalize(self, splits: dict[str, list[dict]], form: str | None) -> dict[str, list[dict]]:
        """The rows with their transcriptions in Unicode ``form``. A row whose ``chars`` gain a word
        separator by it (compatibility folding turns the full-width U+FF5C into ``|``) goes to
        :attr:`bad_items`, as a ``|`` in the text would."""
        out: dict[str, list[dict]] = {}
        changed = 0
        for split, rows in splits.items():
            out[split] = []
            for row in rows:
                new = normalized_row(row, form)
                changed += int(new != row)
                if "chars" in row and new["chars"].count(WORD_SEPARATOR) != row["chars"].count(WORD_SEPARATOR):
                    reason = (f"{input_of(row)}: data.normalization={form} turns a character of {row['text']!r} "
                              f"into the word separator {WORD_SEPARATOR!r}")  # fmt: skip
                    self.bad_items.append(BadItem(split, row["id"], str(input_of(row)), reason))
                else:
                    out[split].append(new)
        if changed:
            log.info(
                "%s: %d transcriptions changed by their normalization to Unicode %s",
                self.describe_root(),
                changed,
                form,
            )
        return out

    def label_with(self, units: Units, splits: dict[str, list[dict]], form: str | None) -> dict[str, list[dict]]:
        """The rows with a ``units`` field each: their words' labels (units fitted on ``train``, whose
        text is in Unicode ``form``); the rows the units cannot label go to :attr:`bad_items`.

        Raises:
            CorpusError: the corpus has no word transcriptions (TIMIT's labels are its phones).
        """
        if any("text" not in row for rows in splits.values() for row in rows):
            raise CorpusError(
                f"{self.describe_root()}: {type(self).__name__} items have no word transcription (a 'text' "
                f"field) for units={units.kind}; units apply to corpora transcribed in words"
            )
        units.fit([row["text"].split() for row in splits.get("train", [])], form)
        labelled: dict[str, list[dict]] = {}
        for split, rows in splits.items():
            labelled[split] = []
            for row in rows:
                try:
                    labelled[split].append({**row, "units": units.labels(row["text"].split())})
                except UnitsError as err:
                    self.bad_items.append(BadItem(split, row["id"], str(input_of(row)), f"{input_of(row)}: {err}"))
        return labelled

    def describe_root(self) -> str:
        """Where the corpus is, for messages."""
        return str(getattr(self, "root", type(self).__name__))

    @abstractmethod
    def params(self) -> dict:
        """What identifies this preparation (stored in the ``.done`` marker)."""
