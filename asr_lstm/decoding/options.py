"""The search a decoder runs: greedy, or beam search with an optional token n-gram LM.

One :class:`SearchConfig` is built either by Hydra from the ``decode`` config group
(``conf/decode/{greedy,beam}.yaml``; ``asr-lstm evaluate RUN decode=beam decode.lm_weight=0.3``) or
from the ``--beam-size/--lm/--lm-weight`` flags of ``asr-lstm decode``, which runs without Hydra.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from asr_lstm.arguments import positive_int
from asr_lstm.decoding.greedy import greedy_decode

KINDS = ("greedy", "beam")


@dataclass(frozen=True)
class SearchConfig:
    """Attributes:
    kind: ``greedy`` or ``beam``.
    beam_size: hypotheses kept per frame (beam).
    lm: a token ARPA LM (``python -m asr_lstm.lm``), or ``None`` for beam search without an LM.
    lm_weight: weight of the LM log-probability.
    beam_threshold: prune hypotheses this far (in log score) below the best.
    lexicon: ``word token token ...`` per line: search over these words (then ``lm`` is a word LM).
    separator: the model's own word-separator token (a character model's space), if any; a lexicon
        search over a model that declares one (IAM's ``|``) uses that by default.
    word_score: added per word of a lexicon search.
    """

    kind: str = "greedy"
    beam_size: int = 16
    lm: str | None = None
    lm_weight: float = 0.5
    beam_threshold: float = 25.0
    lexicon: str | None = None
    separator: str | None = None
    word_score: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"decode.kind must be one of {KINDS}, got {self.kind!r}")
        if self.beam_size < 1:
            raise ValueError(f"decode.beam_size must be at least 1, got {self.beam_size}")
        if self.kind == "greedy" and (self.lm is not None or self.lexicon is not None):
            raise ValueError(
                "an LM or a lexicon needs beam search: use decode=beam (or --beam-size) with decode.lm / decode.lexicon"
            )
        if self.word_score and self.lexicon is None:
            raise ValueError("decode.word_score applies to lexicon search only: give decode.lexicon")

    def build(self, tokens: list[str], word_separator: str | None = None) -> Callable:
        """``search(log_probs (B, T, V), lens (B,)) -> B lists of label ids`` over ``tokens`` (blank first).

        ``word_separator`` is the model's own (from its corpus), the lexicon search's separator unless
        ``separator`` names another.
        """
        if self.kind == "greedy":
            return greedy_decode
        from asr_lstm.decoding.beam import BeamSearch  # flashlight-text is only loaded when asked for

        separator = self.separator if self.separator is not None else word_separator if self.lexicon else None
        spell_words = self.lexicon is not None and separator is not None and separator == word_separator
        return BeamSearch(
            tokens,
            self.lm,
            self.beam_size,
            self.lm_weight,
            self.beam_threshold,
            self.lexicon,
            separator,
            self.word_score,
            spell_words,
        )

    def describe(self) -> str:
        if self.kind == "greedy":
            return "greedy"
        lexicon = (
            f", lexicon {self.lexicon}" + (f" word score {self.word_score}" if self.word_score else "")
            if self.lexicon
            else ""
        )
        return f"beam {self.beam_size}" + (f", LM {self.lm} weight {self.lm_weight}" if self.lm else "") + lexicon

    @property
    def output_suffix(self) -> str:
        """Decode folders are ``decode_<split>`` for greedy search, ``decode_<split>_beam`` for beam search
        over tokens and ``decode_<split>_lexicon`` for beam search over lexicon words."""
        return "" if self.kind == "greedy" else "_lexicon" if self.lexicon else "_beam"


def add_search_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("search (greedy unless --beam-size, --lm or --lexicon is given)")
    group.add_argument(
        "--beam-size",
        type=positive_int,
        default=None,
        help="beam search with this many hypotheses (default 16 with --lm)",
    )
    group.add_argument("--lm", default=None, help="token n-gram LM in ARPA format (python -m asr_lstm.lm)")
    group.add_argument("--lm-weight", type=float, default=SearchConfig.lm_weight)
    group.add_argument(
        "--lexicon", default=None, help="'word token token ...' per line: decode words (--lm is then a word LM)"
    )
    group.add_argument("--separator", default=None, help="the model's word-separator token, if it has one")
    group.add_argument("--word-score", type=float, default=0.0, help="added per word (with --lexicon)")


def search_from_args(args: argparse.Namespace) -> SearchConfig:
    """The :class:`SearchConfig` of the flags added by :func:`add_search_options`."""
    if args.beam_size is None and args.lm is None and args.lexicon is None:
        return SearchConfig()
    return SearchConfig(
        "beam",
        SearchConfig.beam_size if args.beam_size is None else args.beam_size,
        args.lm,
        args.lm_weight,
        lexicon=args.lexicon,
        separator=args.separator,
        word_score=args.word_score,
    )
