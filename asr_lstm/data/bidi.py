"""Right-to-left scripts in line images: labels in the order the image shows them.

A line model reads its image left to right, one frame per column, and CTC emits labels in frame
order: an alignment never goes back. Transcriptions are stored in logical order, the order in which
text is read and typed (Unicode Standard Annex #9, UAX #9). In Arabic, Hebrew or Syriac that order
runs right to left across the image; a line that mixes such a script with digits or Latin words runs
both ways. CTC cannot learn those labels. They must be in display order: the line's characters from
its left edge to its right, as the Unicode Bidirectional Algorithm lays them out. kraken trains this
way (its default ``bidi_reordering``).

``data.bidi`` gives the algorithm's paragraph direction. python-bidi's Python implementation
(``bidi.algorithm``, the one kraken reorders with) lays the line out. It also mirrors brackets in
right-to-left runs (rule L4), so that each label is the glyph the image shows:

- ``null``: labels in logical order (left-to-right scripts; the default);
- ``R`` / ``L``: every line laid out right-to-left / left-to-right;
- ``auto``: each line's own direction, from its first strong character (UAX #9 rules P2-P3), for a
  corpus that mixes the two.

The order is changed when the manifests are prepared. A hypothesis comes out in display order, and
the same algorithm run on it with the same direction gives the logical order back. It does so
exactly for right-to-left text with numbers, punctuation, brackets (mirrored twice) and embedded
Latin words. Where the layout is ambiguous it may not: a number next to a Latin word inside
right-to-left text is one example. This is kraken's inverse too. The error rates are not affected:
labels are scored in display order, and words are read back from hypotheses and references alike.

Directional formatting characters have no glyph, so they are not labels. These are the marks
(LRM, RLM, ALM), the embeddings and overrides (U+202A-U+202E) and the isolates (U+2066-U+2069). A
line is laid out with their help and they are then dropped. ``bidi.algorithm`` implements the
algorithm as it was before isolates (Unicode 6.3), so each isolate is laid out as the embedding it
extends: LRI as LRE, RLI as RLE, FSI as either by the first strong character it holds, PDI as PDF.

With ``auto`` a hypothesis's direction is unknown. :func:`logical_order` reads it back both ways and
keeps the reading whose own layout reproduces the hypothesis. Where both or neither do, it keeps the
direction that most of the line's strong characters have.
"""

from __future__ import annotations

import argparse
import unicodedata

from bidi.algorithm import get_display

BASES = ("L", "R", "auto")
_RIGHT_TO_LEFT = frozenset({"R", "AL"})
_LRE, _RLE, _PDF = "\u202a", "\u202b", "\u202c"
_LRI, _RLI, _FSI, _PDI = "\u2066", "\u2067", "\u2068", "\u2069"
FORMATTING = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def base_problem(base: str | None) -> str | None:
    """What is wrong with ``base`` as ``data.bidi``, or ``None`` when it is a choice."""
    if base is None or base in BASES:
        return None
    return f"data.bidi={base} must be one of {', '.join(BASES)} or null (labels in logical order)"


def base_argument(value: str) -> str | None:
    """A command line's ``--bidi``: one of :data:`BASES`, or ``none`` for logical order."""
    if value == "none":
        return None
    if value not in BASES:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(BASES)}, none")
    return value


def add_bidi_option(parser: argparse.ArgumentParser) -> None:
    """``--bidi`` on the preparation command of a line-image corpus; ``none`` unless given."""
    parser.add_argument(
        "--bidi", type=base_argument, default=None, metavar="{" + ",".join(BASES) + ",none}",
        help="labels in display order for right-to-left scripts, with this paragraph direction "
             "(auto: each line's own); default none: logical order",
    )  # fmt: skip


def display_order(text: str, base: str) -> str:
    """``text`` (logical order) in display order, left to right, with the paragraph direction ``base``
    (``L``, ``R``, or ``auto`` for the text's own); right-to-left runs are reversed and their
    brackets mirrored, and directional formatting characters dropped once they have placed the rest."""
    laid_out = get_display(isolates_as_embeddings(text), base_dir=None if base == "auto" else base)
    return "".join(c for c in laid_out if c not in FORMATTING)


def isolates_as_embeddings(text: str) -> str:
    """``text`` with each isolate initiator replaced by the embedding it extends (FSI by RLE when the
    first strong character after it is right-to-left, else LRE) and each PDI by PDF."""
    out = []
    for i, c in enumerate(text):
        if c == _FSI:
            strong = next((unicodedata.bidirectional(d) for d in text[i + 1 :]
                           if d == _PDI or unicodedata.bidirectional(d) in {"L", "R", "AL"}), "L")  # fmt: skip
            out.append(_RLE if strong in _RIGHT_TO_LEFT else _LRE)
        else:
            out.append({_LRI: _LRE, _RLI: _RLE, _PDI: _PDF}.get(c, c))
    return "".join(out)


def logical_order(text: str, base: str) -> str:
    """The logical order of ``text`` in display order: :func:`display_order`'s inverse where the layout
    is not ambiguous (see the module's notes)."""
    if base != "auto":
        return get_display(text, base_dir=base)
    readings = {direction: get_display(text, base_dir=direction) for direction in ("L", "R")}
    faithful = [d for d, reading in readings.items() if display_order(reading, "auto") == text]
    if len(faithful) == 1:
        return readings[faithful[0]]
    return readings[majority_direction(text)]


def holds_right_to_left(text: str) -> bool:
    """Whether ``text`` holds a right-to-left letter (bidirectional class R or AL: Hebrew, Arabic, Syriac, ...)."""
    return any(unicodedata.bidirectional(c) in _RIGHT_TO_LEFT for c in text)


def majority_direction(text: str) -> str:
    """``R`` when more of ``text``'s strong characters are right-to-left than left-to-right, else ``L``."""
    classes = [unicodedata.bidirectional(c) for c in text]
    right = sum(c in _RIGHT_TO_LEFT for c in classes)
    return "R" if right > classes.count("L") else "L"


def display_words(words: list[str], base: str) -> list[str]:
    """The words of a line in display order: the line laid out, split at its spaces."""
    return display_order(" ".join(words), base).split()


def logical_words(words: list[str], base: str) -> list[str]:
    """The words of a line in display order read back in logical order."""
    return logical_order(" ".join(words), base).split()
