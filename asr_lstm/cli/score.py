"""``asr-lstm score REF HYP``: error rate with S/D/I, per-utterance alignments and metrics.json."""

from __future__ import annotations

import argparse

from asr_lstm.scoring import score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="asr-lstm score", description=__doc__)
    parser.add_argument("ref", help="reference transcripts, id<TAB>tokens per line")
    parser.add_argument("hyp", help="hypothesis transcripts, id<TAB>tokens per line")
    parser.add_argument("--folding", choices=("39", "48", "none"), default="39", help="TIMIT phone folding (default 39)")
    parser.add_argument("--metric", default="per", help="name of the error rate (per, cer, wer)")
    parser.add_argument("--out", default=".", help="directory for errs.txt and metrics.json")
    args = parser.parse_args(argv)
    total = score(args.ref, args.hyp, args.out, None if args.folding == "none" else args.folding, args.metric)
    print(f"%{args.metric.upper()} {total.rate:.2f} [ {total.errors} / {total.ref_len}, {total.ins} ins, {total.dels} del, {total.sub} sub ]")


if __name__ == "__main__":
    main()
