"""What the IAM handwriting corpora share: text lines of forms, task split lists, character labels.

A handwriting corpus knows its lines (id -> what the manifest row needs) and a task's split lists
(files of line ids or form ids, one a line); the lists name the lines of ``train``, ``dev`` and
``test``. Labels are the characters of a line with ``|`` between words (IAM's own word separator in
``lines.txt``), so a CTC output reads as a transcription and words are recovered by splitting at
``|``. Scoring: CER over these tokens (spaces included), WER over the words.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from pathlib import Path

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.corpora.base import Corpus, CorpusError
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.units import WORD_SEPARATOR
from asr_lstm.text_files import numbered_lines

log = logging.getLogger(__name__)


def form_of(line_id: str) -> str:
    """``a01-000u-00`` -> ``a01-000u``."""
    return line_id.rsplit("-", 1)[0]


def character_vocabulary(splits: dict[str, list[dict]]) -> Vocabulary:
    """The characters of every line of every split, sorted; ``|`` (the space) among them."""
    return Vocabulary(sorted({c for rows in splits.values() for row in rows for c in row["chars"]}))


def read_split_list(path: Path, line_ids: set[str], task: str, problems: list[str] | None = None) -> list[str]:
    """Line ids of a task list; an entry naming a form selects every line of that form, in order.

    A missing list, and entries that are neither a line nor a form, go to ``problems`` when it is
    given (so that every list's are named at once), else they raise.

    Raises:
        CorpusError: without ``problems``, the list is missing, or naming every unknown entry.
    """
    if not path.is_file():
        missing = f"{path}: missing split list (from the task '{task}')"
        if problems is None:
            raise CorpusError(missing)
        problems.append(missing)
        return []
    by_form: dict[str, list[str]] = {}
    for line_id in line_ids:
        by_form.setdefault(form_of(line_id), []).append(line_id)
    selected, unknown = [], []
    for lineno, entry in numbered_lines(path, unknown):
        entry = entry.strip()
        if not entry:
            continue
        if entry in line_ids:
            selected.append(entry)
        elif entry in by_form:
            selected.extend(sorted(by_form[entry]))
        else:
            unknown.append(f"{path}:{lineno}: {entry!r} is neither a line nor a form of the corpus")
    if problems is None:
        CorpusError.raise_all(unknown)
    else:
        problems.extend(unknown)
    return selected


class LineCorpus(Corpus):
    """Text lines labelled by their characters, ``|`` between words: scored by CER, and WER."""

    reference_key = "chars"
    item_noun = "lines"
    word_separator = WORD_SEPARATOR
    metric = "cer"

    def vocabulary(self) -> Vocabulary:
        return character_vocabulary(self.split_rows())

    def vocabulary_of(self, splits: dict[str, list[dict]]) -> Vocabulary:
        return character_vocabulary(splits)


class HandwritingCorpus(LineCorpus):
    """Text lines with task split lists; subclasses read their corpus's layout.

    Args:
        root: the corpus directory.
        split_dir: directory of the task's split lists.
        lists: the list names (file stems) that make each of ``train``, ``dev`` and ``test``.

    Class attributes of a subclass: ``name`` (in logs and the ``.done`` marker), ``task`` (the split
    lists' task, for messages) and ``standard_sizes`` (lines per list in the real corpus, logged).
    """

    name: str
    task: str
    standard_sizes: dict[str, int]

    def __init__(self, root: str | Path, split_dir: str | Path, lists: dict[str, tuple[str, ...]]):
        self.root = Path(root)
        self.split_dir = Path(split_dir)
        self.lists = lists

    @abstractmethod
    def line_ids(self) -> set[str]:
        """Every line the corpus holds (validating its index files)."""

    @abstractmethod
    def row(self, line_id: str) -> dict:
        """The manifest row of a line: ``id``, the input path, ``chars``, ``text``, ``writer``, ``form``, size."""

    def params(self) -> dict:
        lists = {split: list(names) for split, names in self.lists.items()}
        return {
            "corpus": self.name,
            "root": str(self.root.resolve()),
            "split_dir": str(self.split_dir.resolve()),
            "lists": lists,
        }

    def split_rows(self) -> dict[str, list[dict]]:
        """The ``train``, ``dev`` and ``test`` rows; refuses a writer shared between them."""
        known = self.line_ids()
        splits: dict[str, list[dict]] = {}
        problems: list[str] = []  # of the layout: named all at once, never skipped
        for split, names in self.lists.items():
            rows = []
            for name in names:
                ids = read_split_list(self.split_dir / f"{name}.txt", known, self.task, problems)
                log.info("%s: %d lines (%s: %d)", name, len(ids), self.task, self.standard_sizes.get(name, 0))
                for line_id in ids:
                    try:
                        rows.append(self.row(line_id))
                    except CorpusError as err:  # a missing or unreadable file of this line alone
                        self.bad_items.append(BadItem(split, line_id, str(err).split(": ")[0], str(err)))
            splits[split] = rows
        owner: dict[str, str] = {}
        shared: dict[str, str] = {}  # writer -> the first line that puts it in a second split
        for split, rows in splits.items():
            for row in rows:
                if owner.setdefault(row["writer"], split) != split and row["writer"] not in shared:
                    shared[row["writer"]] = (
                        f"{self.split_dir}: writer {row['writer']} (line {row['id']}) is in both {owner[row['writer']]} and {split}"
                    )
        CorpusError.raise_all(problems + list(shared.values()))
        return splits

    def describe(self, split: str, rows: list[dict]) -> str:
        return f"{split}: {len(rows)} lines, {len({r['writer'] for r in rows})} writers"
