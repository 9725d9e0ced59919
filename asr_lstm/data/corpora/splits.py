"""How a corpus of the user's own is cut into train, dev and test: a seeded fraction of its groups
(pages, folders, lines), or a list file per split naming them."""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.text_files import numbered_lines

SPLITS = ("train", "dev", "test")


def check_split_lists(split_lists: dict[str, str] | None) -> dict[str, str] | None:
    """``split_lists`` as a dict, when it names a file for each of :data:`SPLITS` (or is ``None``).

    Raises:
        ValueError: another set of splits.
    """
    if split_lists and set(split_lists) != set(SPLITS):
        raise ValueError(f"data.corpus.split_lists must name a file for each of {SPLITS}, got {sorted(split_lists)}")
    return dict(split_lists) if split_lists else None


def shared_files(files: dict[str, Path], noun: str) -> list[str]:
    """A problem for each file named for more than one split (its items would be in both)."""
    splits_of: dict[Path, list[str]] = {}
    for split, path in files.items():
        splits_of.setdefault(Path(path).resolve(), []).append(split)
    return [f"{path}: the {noun} of both {' and '.join(splits)}; each split needs its own"
            for path, splits in splits_of.items() if len(splits) > 1]  # fmt: skip


def files_to_read(files: dict[str, Path], noun: str, items: str, problems: list[str]) -> list[tuple[str, Path]]:
    """``(split, file)`` of each split's file that is there, each file once; a file named for two
    splits (:func:`shared_files`) and a missing one (``missing <noun> of the <split> <items>``) go to
    ``problems``."""
    problems.extend(shared_files(files, noun))
    to_read, seen = [], set()
    for split, path in files.items():
        if Path(path).resolve() in seen:
            continue
        seen.add(Path(path).resolve())
        if Path(path).is_file():
            to_read.append((split, Path(path)))
        else:
            problems.append(f"{path}: missing {noun} of the {split} {items}")
    return to_read


def split_by_fraction(ids: list[str], fractions: list[float], seed: int, noun: str = "pages") -> dict[str, list[str]]:
    """A seeded shuffle of ``ids`` (of ``noun``) cut into train, dev and test by ``fractions``; dev
    and test get one at least, and a split whose fraction is 0 gets none: ``0 0 1`` puts every one in
    test, a corpus prepared to test a model on (``asr-lstm decode --score``), not to train.

    Raises:
        CorpusError: fractions that are not three non-negative numbers summing to 1, or fewer ids than
            the splits that want some.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise CorpusError(
            f"data.corpus.fractions must be three fractions (train, dev, test) summing to 1, got {fractions}"
        )
    wanted = [split for split, fraction in zip(SPLITS, fractions) if fraction > 0]
    if len(ids) < len(wanted):
        if len(wanted) == 1:
            raise CorpusError(f"{wanted[0]} needs one {noun.removesuffix('s')} at least, and there are none")
        splits = ", ".join(wanted[:-1]) + " and " + wanted[-1]
        raise CorpusError(
            f"{splits} need {'two three'.split()[len(wanted) - 2]} {noun} at least, and there are {len(ids)}"
        )
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    n_dev = max(1, round(fractions[1] * len(shuffled))) if fractions[1] > 0 else 0
    n_test = max(1, round(fractions[2] * len(shuffled))) if fractions[2] > 0 else 0
    if fractions[0] == 0:  # what rounding leaves over goes to test (to dev where test wants none)
        n_test, n_dev = (len(shuffled) - n_dev, n_dev) if fractions[2] > 0 else (0, len(shuffled))
    n_train = len(shuffled) - n_dev - n_test
    if fractions[0] > 0 and n_train < 1:
        raise CorpusError(f"{len(ids)} {noun} leave none for train with fractions {fractions}")
    return {
        "train": sorted(shuffled[:n_train]),
        "dev": sorted(shuffled[n_train : n_train + n_dev]),
        "test": sorted(shuffled[n_train + n_dev :]),
    }


def read_split_lists(
    split_lists: dict[str, str], resolve: Callable[[str], list[str] | None], unknown: str, noun: str
) -> dict[str, list[str]]:
    """The ids of each split from its list file, one entry a line.

    Args:
        split_lists: ``{split: file}`` for each of :data:`SPLITS`.
        resolve: the ids an entry names (several for a group), or ``None`` for an unknown entry.
        unknown: what an unknown entry is not, for its message (``no PAGE or ALTO file below DIR``).
        noun: what an id is, for the message naming one in two splits (``page``).

    Raises:
        CorpusError: naming every missing list, unknown entry and id in two splits, with file and line
            (an id named twice in one list is taken once).
    """
    splits: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    problems: list[str] = []
    for split in SPLITS:
        path = Path(split_lists[split])
        if not path.is_file():
            problems.append(f"{path}: missing list of the {split} {noun}s")
            continue
        splits[split] = []
        for lineno, entry in numbered_lines(path, problems):
            entry = entry.strip()
            if not entry:
                continue
            ids = resolve(entry)
            if ids is None:
                problems.append(f"{path}:{lineno}: {entry!r} is {unknown}")
                continue
            for named in ids:
                if named not in owner:
                    owner[named] = split
                    splits[split].append(named)
                elif owner[named] != split:
                    which = repr(entry) if [named] == ids else f"{named!r} (of {entry!r})"
                    problems.append(f"{path}:{lineno}: {noun} {which} is in both {owner[named]} and {split}")
    CorpusError.raise_all(problems)
    return splits


def add_split_options(parser: argparse.ArgumentParser, named: str) -> None:
    """``--fractions``, ``--split-lists`` (files naming each split's ``named``) and ``--seed`` of a
    preparation command; :func:`split_lists_of` reads the lists back."""
    parser.add_argument("--fractions", nargs=3, type=float, default=[0.8, 0.1, 0.1], metavar=("TRAIN", "DEV", "TEST"))
    parser.add_argument(
        "--split-lists", nargs=3, metavar=("TRAIN", "DEV", "TEST"), help=f"files naming each split's {named} (not --fractions)"
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="the shuffle of a split by --fractions")


def split_lists_of(args: argparse.Namespace) -> dict[str, str] | None:
    """``{split: file}`` of ``--split-lists``, or ``None`` without them."""
    return dict(zip(SPLITS, args.split_lists)) if args.split_lists else None
