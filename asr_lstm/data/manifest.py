"""Manifests: one JSON object per line and utterance, the seam between corpora and training.

Every row carries ``id``, the input path (``audio``, ``image`` or ``strokes``), the reference
(``phones`` or ``chars`` as a list of labels, and ``text``), who produced it (``speaker`` or ``writer``)
and its size (``num_samples``, ``sample_rate``, ``duration`` for audio; ``width``, ``height`` for
images; ``num_points``, ``duration`` for strokes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from asr_lstm.atomic import atomic_path
from asr_lstm.data.inputs import manifest_keys
from asr_lstm.text_files import numbered_lines


def write_manifest(rows: Iterable[dict], path: str | Path) -> None:
    """Writes rows atomically: to ``path.tmp`` first, renamed into place when complete."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def has_rows(path: str | Path) -> bool:
    """Whether the manifest at ``path`` holds a line that is not blank, read no further than that line."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        return any(line.strip() for line in lines)


def read_manifest(path: str | Path) -> list[dict]:
    """Reads a manifest.

    Raises:
        ValueError: naming, by file and line number, every line that is not a JSON object (and the
            file, where it is not UTF-8).
    """
    rows, problems = [], []
    for lineno, line in numbered_lines(path, problems):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"{path}:{lineno}: not a JSON manifest row ({err.msg})")
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            problems.append(f"{path}:{lineno}: not a JSON manifest row (a {type(row).__name__}, not an object)")
    if problems:
        raise ValueError("\n".join(problems))
    return rows


def source_of(row: dict) -> str | None:
    """The speaker or writer of a row."""
    return row.get("speaker", row.get("writer"))


def input_of(row: dict) -> str | None:
    """The input file of a row: its ``audio``, ``image`` or ``strokes`` (any manifest field of :mod:`asr_lstm.data.inputs`)."""
    return next((row[key] for key in manifest_keys() if key in row), None)
