"""The bad-data policy: ``data.on_error=raise`` stops before training and names every bad item at
once; ``skip`` drops them, counts them and lists them in ``skipped.tsv`` files (split, id, file,
reason) that the run gathers into ``<run>/skipped.tsv``, ``summary.json`` and RESULTS.md."""

from __future__ import annotations

import csv
from dataclasses import astuple, dataclass
from pathlib import Path

from asr_lstm.atomic import atomic_path

POLICIES = ("raise", "skip")
COLUMNS = ("split", "id", "file", "reason")


@dataclass(frozen=True)
class BadItem:
    """An utterance or line that cannot be trained or scored on, and why."""

    split: str
    id: str
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.split}/{self.id}: {self.reason}"


def check_policy(on_error: str) -> str:
    if on_error not in POLICIES:
        raise ValueError(f"data.on_error must be one of {POLICIES}, got {on_error!r}")
    return on_error


def write_bad_items(items: list[BadItem], path: Path) -> None:
    """Writes ``items`` as a tab-separated file with a header line, atomically."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(astuple(item) for item in items)


def read_bad_items(path: Path) -> list[BadItem]:
    """The items of a file written by :func:`write_bad_items`; none when it does not exist."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return [BadItem(**row) for row in csv.DictReader(f, delimiter="\t")]


def refuse_or_keep(items: list[BadItem], on_error: str, what: str, error: type[Exception]) -> None:
    """Under ``raise``, an ``error`` naming every item (``what``: "utterances", "lines"); else nothing."""
    if items and on_error == "raise":
        raise error(f"{len(items)} bad {what}:\n  " + "\n  ".join(map(str, items)))
