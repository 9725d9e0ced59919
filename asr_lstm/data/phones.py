"""The TIMIT phone sets and the Lee & Hon (1989) folding used for scoring.

Training uses the 61 TIMIT labels; hypotheses and references are folded to 48 or 39 phones only when
scoring, as Kaldi does, with ``q`` deleted. The table is ``resources/timit/phones.60-48-39.map``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from asr_lstm.resources import resource_path

FOLDINGS = ("61", "48", "39")


@dataclass(frozen=True)
class PhoneMap:
    """The 61 TIMIT labels and their images in the 48 and 39 phone sets (``None`` = deleted)."""

    to48: dict[str, str | None]
    to39: dict[str, str | None]

    @property
    def phones61(self) -> list[str]:
        return sorted(self.to48)

    def fold(self, phones: list[str], folding: str) -> list[str]:
        """Maps a sequence of 61-set labels to ``folding`` ("61", "48" or "39"), dropping deleted ones.

        Raises:
            KeyError: a label that is not one of the 61 TIMIT labels.
        """
        if folding == "61":
            for p in phones:
                if p not in self.to48:
                    raise KeyError(f"unknown TIMIT phone {p!r}")
            return list(phones)
        if folding not in FOLDINGS:
            raise ValueError(f"folding must be one of {FOLDINGS}, got {folding!r}")
        table = self.to48 if folding == "48" else self.to39
        out = []
        for p in phones:
            if p not in table:
                raise KeyError(f"unknown TIMIT phone {p!r}")
            if table[p] is not None:
                out.append(table[p])
        return out


@cache
def timit_phone_map() -> PhoneMap:
    """Reads ``phones.60-48-39.map``: ``label<TAB>48<TAB>39`` per line; a lone label is deleted."""
    path = resource_path("timit", "phones.60-48-39.map")
    to48: dict[str, str | None] = {}
    to39: dict[str, str | None] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        cols = line.split()
        if len(cols) == 1:
            to48[cols[0]] = to39[cols[0]] = None
        elif len(cols) == 3:
            to48[cols[0]], to39[cols[0]] = cols[1], cols[2]
        else:
            raise ValueError(f"{path}:{lineno}: expected 1 or 3 columns, got {line!r}")
    return PhoneMap(to48=to48, to39=to39)
