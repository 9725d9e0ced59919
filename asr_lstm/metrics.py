"""Error rates (PER / CER / WER) with substitution, deletion and insertion counts.

Totals during training come from ``editdistance`` (Levenshtein in C). Scoring also needs the S/D/I
split and the aligned tokens, which :func:`align` recovers with the same minimum total cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import editdistance

Pair = tuple  # (reference token or None, hypothesis token or None)


@dataclass
class ErrorCounts:
    """Edit operations between references and hypotheses, summed over utterances."""

    sub: int = 0
    dels: int = 0
    ins: int = 0
    ref_len: int = 0
    num_utts: int = 0

    @property
    def errors(self) -> int:
        return self.sub + self.dels + self.ins

    @property
    def rate(self) -> float:
        """Error rate in percent: 100 * (S + D + I) / N."""
        return 100.0 * self.errors / max(self.ref_len, 1)

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.sub + other.sub,
            self.dels + other.dels,
            self.ins + other.ins,
            self.ref_len + other.ref_len,
            self.num_utts + other.num_utts,
        )

    def kaldi_line(self, metric: str) -> str:
        """Kaldi's ``compute-wer`` summary: ``%PER 8.30 [ 600 / 7232, 188 ins, 137 del, 275 sub ]``."""
        return (
            f"%{metric.upper()} {self.rate:.2f} [ {self.errors} / {self.ref_len}, "
            f"{self.ins} ins, {self.dels} del, {self.sub} sub ]"
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "errors": self.errors, "rate": self.rate}


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance between two token sequences."""
    return editdistance.eval(list(ref), list(hyp))


def align(ref: Sequence, hyp: Sequence) -> list[Pair]:
    """One minimum-cost alignment as ``(ref_token, hyp_token)`` pairs; ``None`` marks a gap.

    Among alignments of equal total cost, substitutions are preferred over a deletion plus an
    insertion (the sclite / Kaldi ``compute-wer`` convention).
    """
    n, m = len(ref), len(hyp)
    # cost[i][j] = (edits, deletions + insertions) for ref[:i] vs hyp[:j], compared lexicographically
    cost = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = (i, i)
    for j in range(1, m + 1):
        cost[0][j] = (j, j)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            e, g = cost[i - 1][j - 1]
            diag = (e + (ref[i - 1] != hyp[j - 1]), g)
            e, g = cost[i - 1][j]
            up = (e + 1, g + 1)
            e, g = cost[i][j - 1]
            left = (e + 1, g + 1)
            cost[i][j] = min(diag, up, left)
    pairs: list[Pair] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            e, g = cost[i - 1][j - 1]
            if cost[i][j] == (e + (ref[i - 1] != hyp[j - 1]), g):
                pairs.append((ref[i - 1], hyp[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i][j] == (cost[i - 1][j][0] + 1, cost[i - 1][j][1] + 1):
            pairs.append((ref[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hyp[j - 1]))
            j -= 1
    return pairs[::-1]


def count_errors(pairs: list[Pair]) -> ErrorCounts:
    """S, D, I and the reference length of one alignment from :func:`align`."""
    sub = sum(r is not None and h is not None and r != h for r, h in pairs)
    dels = sum(h is None for _, h in pairs)
    ins = sum(r is None for r, _ in pairs)
    return ErrorCounts(sub=sub, dels=dels, ins=ins, ref_len=sum(r is not None for r, _ in pairs), num_utts=1)
