"""Command-line options choosing the search: greedy, or beam search with an optional LM."""

from __future__ import annotations

import argparse
from typing import Callable

from asr_lstm.decoding.greedy import greedy_decode


def add_search_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("search (greedy unless --beam-size or --lm is given)")
    group.add_argument("--beam-size", type=int, default=None, help="beam search with this many hypotheses")
    group.add_argument("--lm", default=None, help="token n-gram LM in ARPA format (python -m asr_lstm.lm)")
    group.add_argument("--lm-weight", type=float, default=0.5)


def make_search(args: argparse.Namespace, tokens: list[str]) -> Callable:
    """``search(log_probs (B, T, V), lens (B,)) -> list of label-id lists`` for the parsed options."""
    if args.beam_size is None and args.lm is None:
        return greedy_decode
    from asr_lstm.decoding.beam import BeamSearch  # flashlight-text is only loaded when asked for

    return BeamSearch(tokens, args.lm, args.beam_size or 16, args.lm_weight)


def describe_search(args: argparse.Namespace) -> str:
    if args.beam_size is None and args.lm is None:
        return "greedy"
    lm = f", LM {args.lm} weight {args.lm_weight}" if args.lm else ""
    return f"beam {args.beam_size or 16}{lm}"
