"""``asr-lstm score REF HYP``: error rate with S/D/I, per-utterance alignments and metrics.json.

With ``--word-separator |`` (character transcripts of a handwriting model) the WER is scored as well,
into ``OUT/wer/``. ``--same-as METRICS.json`` scores with that file's metric and folding and exits
with an error unless the counts equal its counts (the recipes' check that an exported model reproduces
its training checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr_lstm.arguments import missing_files
from asr_lstm.data.units import Characters
from asr_lstm.metrics import ErrorCounts
from asr_lstm.scoring import score, score_words

COUNTS = ("sub", "dels", "ins", "ref_len", "num_utts")


def check_same_counts(expected: dict, expected_path: str, actual: ErrorCounts) -> None:
    """Raises ``ValueError`` naming both sets of counts unless ``actual`` has the counts ``expected``
    (the metrics.json read from ``expected_path``)."""
    got = actual.as_dict()
    if any(expected[k] != got[k] for k in COUNTS):
        raise ValueError(
            f"counts {[got[k] for k in COUNTS]} differ from {[expected[k] for k in COUNTS]} "
            f"of {expected_path} ({', '.join(COUNTS)})"
        )


def scoring_of(args: argparse.Namespace, expected: dict) -> tuple[str, str]:
    """``(folding, metric)``: as given, else those of ``expected`` (the ``--same-as`` metrics.json, ``{}``
    without one), else TIMIT's ``39`` and ``per``.

    Raises ``ValueError`` when one given differs from the ``--same-as`` file's: its counts could not match.
    """
    folding = args.folding or expected.get("folding", "39") or "none"
    metric = args.metric or expected.get("metric", "per")
    for name, value in (("folding", folding), ("metric", metric)):
        theirs = expected.get(name, value) or "none"
        if value != theirs:
            raise ValueError(
                f"--{name} {value} differs from {args.same_as}'s {theirs}: the counts would not be comparable"
            )
    return folding, metric


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="asr-lstm score", description=__doc__)
    parser.add_argument("ref", help="reference transcripts, id<TAB>tokens per line")
    parser.add_argument("hyp", help="hypothesis transcripts, id<TAB>tokens per line")
    parser.add_argument(
        "--folding", choices=("39", "48", "none"), help="TIMIT phone folding (default: the --same-as file's, else 39)"
    )
    parser.add_argument(
        "--metric", help="name of the error rate: per, cer, wer (default: the --same-as file's, else per)"
    )
    parser.add_argument("--out", default=".", help="directory for errs.txt and metrics.json")
    parser.add_argument(
        "--word-separator", default=None, help="the word-separator token of character transcripts: score WER too"
    )
    parser.add_argument(
        "--same-as", metavar="METRICS_JSON", help="fail unless S/D/I, reference length and utterances equal this file's"
    )
    args = parser.parse_args(argv)
    absent = missing_files([args.ref, args.hyp, args.same_as])
    if absent:
        parser.error("; ".join(absent))
    try:
        expected = json.loads(Path(args.same_as).read_text(encoding="utf-8")) if args.same_as else {}
        folding, metric = scoring_of(args, expected)
    except (OSError, ValueError) as err:
        parser.error(str(err))
    try:
        totals = {metric: score(args.ref, args.hyp, args.out, None if folding == "none" else folding, metric)}
        if args.word_separator is not None:
            words_of = Characters(args.word_separator).words
            totals["wer"] = score_words(args.ref, args.hyp, Path(args.out) / "wer", words_of)
    except ValueError as err:  # hypotheses without references, malformed lines: named by file
        print(f"asr-lstm score: {err}", file=sys.stderr)
        sys.exit(2)
    for name, total in totals.items():
        print(total.kaldi_line(name))
    if args.same_as:
        try:
            check_same_counts(expected, args.same_as, totals[metric])
        except ValueError as err:
            print(f"asr-lstm score: {err}", file=sys.stderr)
            sys.exit(1)
        print(f"same error counts as {args.same_as}")


if __name__ == "__main__":
    main()
