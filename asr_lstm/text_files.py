"""The user's text files (Kaldi tables, lexicons, transcripts, lists of inputs) read as UTF-8, line by
line, with a file in another encoding named as such rather than ending in a ``UnicodeDecodeError``.

Kaldi's own validation (``utils/validate_text.pl``) requires UTF-8 as well; a file in another encoding
is converted with ``iconv -f <encoding> -t UTF-8``.
"""

from __future__ import annotations

from pathlib import Path

from asr_lstm.errors import InputFileError


def numbered_lines(path: str | Path, problems: list[str]) -> list[tuple[int, str]]:
    """Every line of ``path`` with its number (from 1), split at ``\\n`` as Kaldi's tools split them,
    without the line break (``\\r\\n`` included). Lines that are not UTF-8 are named in ``problems``,
    once for the file (how many, and where the first is), and kept with U+FFFD for their bad bytes, so
    that the rest of the file is still checked."""
    chunks = Path(path).read_bytes().split(b"\n")
    if chunks[-1] == b"":
        chunks.pop()
    lines, bad = [], []
    for lineno, chunk in enumerate(chunks, 1):
        chunk = chunk.removesuffix(b"\r")
        try:
            lines.append((lineno, chunk.decode("utf-8")))
        except UnicodeDecodeError as err:
            bad.append(f"line {lineno}, byte {err.start + 1} (0x{chunk[err.start]:02x})")
            lines.append((lineno, chunk.decode("utf-8", errors="replace")))
    if bad:
        which = f"{len(bad)} lines are" if len(bad) > 1 else "1 line is"
        problems.append(
            f"{path}: {which} not UTF-8 (the first: {bad[0]}); convert the file with iconv -f <its encoding> -t UTF-8"
        )
    return lines


def read_utf8(path: str | Path) -> str:
    """The text of ``path``, its lines joined by ``\\n``.

    Raises:
        InputFileError: naming the file and its first line that is not UTF-8.
    """
    problems: list[str] = []
    lines = numbered_lines(path, problems)
    if problems:
        raise InputFileError(problems[0])
    return "\n".join(line for _, line in lines)
