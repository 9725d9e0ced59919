"""argparse types and checks shared by the commands and the scripts."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path


def positive_int(text: str) -> int:
    """A whole number of at least 1 (a batch size, a beam, a count of steps or repeats)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def missing_files(paths: Iterable[str | Path | None]) -> list[str]:
    """``path: no such file`` for each of the input ``paths`` (``None``: not given) that is not a file:
    every one of them, for a command to refuse before any work."""
    return [f"{path}: no such file" for path in paths if path is not None and not Path(path).is_file()]
