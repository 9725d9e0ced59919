"""Scoring hypothesis files against references: ``errs.txt``, ``metrics.json`` and ``confusions.json``
(every aligned ``[reference, hypothesis, count]``, ``null`` for the gap of a deletion or insertion).

Transcript files hold one utterance per line, ``id<TAB>token token ...`` (Kaldi ``text`` style).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from asr_lstm.atomic import write_text
from asr_lstm.data.phones import timit_phone_map
from asr_lstm.metrics import ErrorCounts, align, count_errors, edit_distance
from asr_lstm.text_files import numbered_lines


def folder(folding: str | None) -> Callable[[list[str]], list[str]]:
    """The TIMIT phone folding ("39", "48") as a function of a label sequence; the identity for ``None``."""
    if folding is None:
        return list
    phone_map = timit_phone_map()
    return lambda labels: phone_map.fold(labels, folding)


def unfoldable(transcripts: dict[str, list[str]], path: str | Path, folding: str | None) -> str | None:
    """What of ``path``'s tokens the TIMIT ``folding`` cannot fold (they are not TIMIT's 61 phones), or
    ``None`` where it folds them all, or there is no folding."""
    if folding is None:
        return None
    known = timit_phone_map().to48
    unknown = sorted({token for tokens in transcripts.values() for token in tokens if token not in known})
    if not unknown:
        return None
    shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
    return (
        f"{path}: {len(unknown)} token{'s' if len(unknown) > 1 else ''} that are not TIMIT phones ({shown}), "
        f"which TIMIT's folding {folding} maps: score other tokens without folding (asr-lstm score --folding none)"
    )


def utterance_accuracy(ref: list[str], hyp: list[str]) -> float:
    """1 - min(1, edit errors / reference length): 1 for a correct hypothesis, 0 for nothing right."""
    return 1.0 - min(1.0, edit_distance(ref, hyp) / max(len(ref), 1))


def read_transcripts(path: str | Path) -> dict[str, list[str]]:
    """``{id: tokens}`` from an ``id<TAB>tokens`` file (or ``id tokens``).

    Raises:
        ValueError: naming every line whose id is empty or repeats an earlier line's.
    """
    out: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    problems = []
    for lineno, line in numbered_lines(path, problems):
        if not line.strip():
            continue
        utt, _, tokens = line.partition("\t") if "\t" in line else line.partition(" ")
        if not utt:
            problems.append(f"{path}:{lineno}: no utterance id before the tab")
        elif utt in out:
            problems.append(f"{path}:{lineno}: utterance {utt!r} appears twice (first on line {first_line[utt]})")
        else:
            out[utt], first_line[utt] = tokens.split(), lineno
    if problems:
        raise ValueError("\n".join(problems))
    return out


def write_transcripts(transcripts: dict[str, list[str]], path: str | Path) -> None:
    write_text(path, "".join(f"{utt}\t{' '.join(tokens)}\n" for utt, tokens in sorted(transcripts.items())))


def format_alignment(utt: str, pairs: list[tuple]) -> str:
    """Four lines per utterance: ref, hyp, op (C/S/D/I) and ``#csid`` counts, columns aligned."""
    cells = []
    for r, h in pairs:
        op = "I" if r is None else "D" if h is None else "C" if r == h else "S"
        r, h = r or "***", h or "***"
        width = max(len(r), len(h))
        cells.append((r.ljust(width), h.ljust(width), op.ljust(width)))
    counts = count_errors(pairs)
    correct = counts.ref_len - counts.sub - counts.dels
    return (
        f"{utt} ref  {' '.join(c[0] for c in cells)}\n"
        f"{utt} hyp  {' '.join(c[1] for c in cells)}\n"
        f"{utt} op   {' '.join(c[2] for c in cells)}\n"
        f"{utt} #csid {correct} {counts.sub} {counts.ins} {counts.dels}\n"
    )


def score(
    ref_path: str | Path,
    hyp_path: str | Path,
    out_dir: str | Path,
    folding: str | None = "39",
    metric: str = "per",
    extra: dict | None = None,
) -> ErrorCounts:
    """Scores every reference utterance (a missing hypothesis counts as empty) and writes the reports.

    Args:
        folding: TIMIT phone folding applied to both sides first ("39", "48"), or ``None``.
        metric: the name written in the reports (``per``, ``cer``, ``wer``).
        extra: more fields for ``metrics.json`` (split, checkpoint, ...).

    Returns:
        The corpus-level counts; ``out_dir`` gets ``errs.txt``, ``metrics.json`` and ``confusions.json``.
    """
    refs, hyps = read_transcripts(ref_path), read_transcripts(hyp_path)
    unmatched = sorted(set(hyps) - set(refs))
    problems = (
        [f"{hyp_path}: {len(unmatched)} hypotheses without a reference, e.g. {unmatched[:3]}"] if unmatched else []
    )
    problems += [why for path, side in ((ref_path, refs), (hyp_path, hyps)) if (why := unfoldable(side, path, folding))]
    if problems:
        raise ValueError("\n".join(problems))
    fold = folder(folding)
    total = ErrorCounts()
    blocks = []
    confusions: Counter = Counter()
    for utt in sorted(refs):
        pairs = align(fold(refs[utt]), fold(hyps.get(utt, [])))
        total = total + count_errors(pairs)
        confusions.update(pairs)
        blocks.append(format_alignment(utt, pairs))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = f"{total.kaldi_line(metric)} folding={folding or 'none'} utterances={total.num_utts}\n\n"
    write_text(out_dir / "errs.txt", header + "\n".join(blocks))
    pairs_by_count = [
        [ref, hyp, n] for (ref, hyp), n in sorted(confusions.items(), key=lambda kv: (-kv[1], str(kv[0])))
    ]
    write_text(
        out_dir / "confusions.json", json.dumps({"metric": metric, "folding": folding, "pairs": pairs_by_count}) + "\n"
    )
    metrics = {
        "metric": metric,
        "folding": folding,
        **total.as_dict(),
        "missing_hypotheses": len(set(refs) - set(hyps)),
        **(extra or {}),
    }
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return total


def score_words(
    ref_path: str | Path,
    hyp_path: str | Path,
    out_dir: str | Path,
    words_of: Callable[[list[str]], list[str]],
    extra: dict | None = None,
) -> ErrorCounts:
    """WER of label transcripts: both sides turned into words by ``words_of`` (a :class:`Units`'
    ``words``), written as ``out_dir/{ref,hyp}.txt`` and scored there (``errs.txt``, ``metrics.json``
    with metric ``wer``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, path in (("ref.txt", ref_path), ("hyp.txt", hyp_path)):
        write_transcripts({utt: words_of(labels) for utt, labels in read_transcripts(path).items()}, out_dir / name)
    return score(out_dir / "ref.txt", out_dir / "hyp.txt", out_dir, None, "wer", extra)
