"""One Unicode form for every transcription, whatever tool wrote it.

The same letter can be written in more than one way. "é" is either one code point (U+00E9, its
composed form) or "e" followed by a combining acute accent (U+0065 U+0301, its decomposed form). A
page exported from Transkribus next to one typed in another editor, or a Kaldi ``text`` assembled
from several sources, can hold both. Characters as labels would then be two tokens for one letter,
and a word written both ways would be two words to a lexicon or a language model.

The transcriptions of every corpus are therefore brought to one of Unicode's normalization forms
(UAX #15) when its manifests are prepared (``data.normalization``):

- ``NFC``: canonical composition, each letter one code point where Unicode has one (the default);
- ``NFD``: canonical decomposition, base letters and combining marks as separate labels (so that
  "é", "è" and "e" share the label "e");
- ``NFKC`` / ``NFKD``: as NFC / NFD after compatibility folding too: ligatures ("ﬁ" to "fi"),
  full-width forms, superscripts and the long s ("ſ" to "s") become their plain letters;
- ``null``: the text as the files hold it.
"""

from __future__ import annotations

import argparse
import unicodedata

FORMS = ("NFC", "NFD", "NFKC", "NFKD")


def form_problem(form: str | None) -> str | None:
    """What is wrong with ``form`` as ``data.normalization``, or ``None`` when it is a choice."""
    if form is None or form in FORMS:
        return None
    return f"data.normalization={form} must be one of {', '.join(FORMS)} or null (the text as it is)"


def check_form(form: str | None) -> str | None:
    """``form``, when it is one of :data:`FORMS` or ``None``.

    Raises:
        ValueError: any other form, naming the choices.
    """
    problem = form_problem(form)
    if problem is not None:
        raise ValueError(problem)
    return form


def form_argument(value: str) -> str | None:
    """A command line's ``--normalization``: one of :data:`FORMS`, or ``none`` for the text as it is."""
    if value == "none":
        return None
    if value not in FORMS:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(FORMS)}, none")
    return value


def add_form_option(parser: argparse.ArgumentParser) -> None:
    """``--normalization`` on a preparation command, ``NFC`` unless given."""
    parser.add_argument(
        "--normalization", type=form_argument, default="NFC", metavar="{" + ",".join(FORMS) + ",none}",
        help="the Unicode form of the transcriptions (default NFC; none: as the files hold them)",
    )  # fmt: skip


def normalized(text: str, form: str | None) -> str:
    """``text`` in Unicode normalization ``form`` (``None``: unchanged)."""
    return text if form is None else unicodedata.normalize(form, text)


def normalized_row(row: dict, form: str | None) -> dict:
    """A manifest row with its ``text`` and its ``chars`` labels in ``form``.

    The characters are normalized as one string, as the text is: a decomposed form may turn one
    label into several, a composed form several into one.
    """
    if form is None:
        return row
    out = dict(row)
    if "text" in row:
        out["text"] = normalized(row["text"], form)
    if "chars" in row:
        out["chars"] = list(normalized("".join(row["chars"]), form))
    return out
