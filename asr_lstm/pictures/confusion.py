"""The confusion matrix of a scored split (``confusion.png``) and its most frequent errors.

Counts come from the scoring's own alignments (``confusions.json`` beside ``errs.txt``), so the
off-diagonal cells sum to its substitutions, the deletion column to its deletions and the insertion
row to its insertions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.colors import PowerNorm

from asr_lstm.pictures.canvas import figure, save_png

GAP = "<eps>"  # the empty side of a deletion (hypothesis) or an insertion (reference), as in Kaldi
OTHER = "<other>"  # the labels a picture of a large label set pools
MAX_LABELS = 80  # labels a picture shows (subword vocabularies have hundreds)


def read_confusions(path: Path) -> Counter:
    """``Counter`` of ``(reference label, hypothesis label)`` pairs, ``None`` for the gap."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return Counter({(ref, hyp): count for ref, hyp, count in data["pairs"]})


def confusion_matrix(pairs: Counter) -> tuple[list[str], np.ndarray]:
    """Labels (sorted, then the gap) and counts ``(L+1, L+1)``: rows are references, columns
    hypotheses; the last column holds deletions, the last row insertions."""
    labels = sorted({label for pair in pairs for label in pair if label is not None})
    index = {label: k for k, label in enumerate(labels)}
    gap = len(labels)
    counts = np.zeros((gap + 1, gap + 1), dtype=np.int64)
    for (ref, hyp), count in pairs.items():
        counts[index.get(ref, gap), index.get(hyp, gap)] += count
    return labels + [GAP], counts


def pooled(pairs: Counter, keep: int) -> Counter:
    """The pairs with every label but the ``keep`` most frequent (as references, then as
    hypotheses) pooled as :data:`OTHER`; unchanged when there are at most ``keep`` labels."""
    frequency: Counter = Counter()
    for (ref, hyp), count in pairs.items():
        for label in (ref, hyp):
            if label is not None:
                frequency[label] += count
    if len(frequency) <= keep:
        return pairs
    kept = {label for label, _ in frequency.most_common(keep)}
    out: Counter = Counter()
    for (ref, hyp), count in pairs.items():
        out[tuple(OTHER if label is not None and label not in kept else label for label in (ref, hyp))] += count
    return out


def draw_confusion(pairs: Counter, out: Path, title: str) -> Path:
    """Draws the row-normalised confusion matrix (each reference label's row sums to 1; the
    insertion row is normalised by itself) with a square-root colour scale, so that the diagonal
    and the rarer confusions are both visible; of a label set larger than :data:`MAX_LABELS`, the
    most frequent labels, the others pooled as :data:`OTHER`. Returns ``out``."""
    labels, counts = confusion_matrix(pooled(pairs, MAX_LABELS))
    rows = counts.sum(axis=1, keepdims=True)
    normalised = counts / np.maximum(rows, 1)
    size = min(16.0, 3.0 + 0.16 * len(labels))
    fig = figure(size, size)
    ax = fig.subplots()
    image = ax.imshow(normalised, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="nearest")
    ticks = range(len(labels))
    font = 8 if len(labels) <= 50 else 6
    ax.set_xticks(ticks, labels, rotation=90, fontsize=font)
    ax.set_yticks(ticks, labels, fontsize=font)
    ax.set_xlabel(f"hypothesis ({GAP}: deletion)")
    ax.set_ylabel(f"reference ({GAP}: insertion)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.6, label="share of the reference label's row")
    return save_png(fig, out)


def top_errors(pairs: Counter, n: int = 20) -> dict[str, list[tuple[str, int]]]:
    """The ``n`` most frequent substitutions (``ref -> hyp``), deletions and insertions, with counts."""
    kinds: dict[str, Counter] = {"substitution": Counter(), "deletion": Counter(), "insertion": Counter()}
    for (ref, hyp), count in pairs.items():
        if ref is None:
            kinds["insertion"][hyp] += count
        elif hyp is None:
            kinds["deletion"][ref] += count
        elif ref != hyp:
            kinds["substitution"][f"{ref} -> {hyp}"] += count
    return {kind: counter.most_common(n) for kind, counter in kinds.items()}
