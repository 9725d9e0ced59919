"""Token n-gram language models written as ARPA, estimated from training transcriptions.

Interpolated Witten-Bell smoothing over an add-one unigram (no external tools), written in ARPA's
back-off form. For a history h (k tokens) seen c(h) times followed by N1+(h) distinct tokens, and h'
the history without its oldest token:

    P(w)     = (c(w) + 1) / (N + |V|)                         over every token and </s> (never <s>)
    alpha(h) = N1+(h) / (c(h) + N1+(h))
    P(w | h) = (c(h, w) + N1+(h) P(w | h')) / (c(h) + N1+(h))   if the n-gram (h, w) was seen
    P(w | h) = alpha(h) P(w | h')                                otherwise (and alpha = 1 for unseen h)

so that for every history of every order the probabilities over the vocabulary sum to one (Witten &
Bell 1991). Sentences are padded with one <s> and one </s>; histories are cut at <s>, as ARPA expects.
A phone bigram suits TIMIT; character models want higher orders (``--order``).

Usage: ``python -m asr_lstm.lm --manifest data/timit/train.jsonl --tokens data/timit/tokens.txt [--order 3] -o lm.arpa``.
"""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path

from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.tokens import Vocabulary

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
NEVER = -99.0  # ARPA's conventional log10 probability of <s>, which is never predicted


def ngram_arpa(sentences: list[list[str]], vocabulary: list[str], order: int = 2) -> str:
    """The ARPA text of a Witten-Bell back-off n-gram of ``order`` over ``vocabulary`` (tokens, without blank)."""
    if order < 1:
        raise ValueError(f"LM order must be at least 1, got {order}")
    counts: Counter = Counter()  # n-gram tuple (h..., w) -> count, every order 1..N
    for sentence in sentences:
        padded = [BOS, *sentence, EOS]
        for end in range(1, len(padded)):
            for k in range(1, order + 1):
                if end - k + 1 < 0:
                    break
                counts[tuple(padded[end - k + 1 : end + 1])] += 1
    predicted = [*vocabulary, EOS]
    total = sum(c for gram, c in counts.items() if len(gram) == 1)
    followers: dict[tuple, dict[str, int]] = {}
    for gram, count in counts.items():
        if len(gram) > 1:
            followers.setdefault(gram[:-1], {})[gram[-1]] = count
    backoff = {h: len(after) / (sum(after.values()) + len(after)) for h, after in followers.items()}

    @lru_cache(maxsize=None)
    def prob(history: tuple, w: str) -> float:
        if not history:
            return (counts[(w,)] + 1) / (total + len(predicted))
        after = followers.get(history)
        lower = prob(history[1:], w)
        if after is None:
            return lower
        return (after.get(w, 0) + len(after) * lower) / (sum(after.values()) + len(after))

    grams = {k: {} for k in range(2, order + 1)}
    for history, after in followers.items():
        for w in after:
            grams[len(history) + 1][(*history, w)] = prob(history, w)

    def bow(gram: tuple) -> str:
        return f"\t{math.log10(backoff[gram]):.6f}" if gram in backoff else ""

    sizes = [len(predicted) + 2] + [len(grams[k]) for k in range(2, order + 1)]
    lines = ["\\data\\", *(f"ngram {k}={n}" for k, n in enumerate(sizes, start=1)), "", "\\1-grams:"]
    lines.append(f"{NEVER}\t{BOS}\t{math.log10(backoff.get((BOS,), 1.0)):.6f}")
    lines.append(f"{NEVER}\t{UNK}")  # closed vocabulary: listed so that KenLM does not invent one
    lines += [f"{math.log10(prob((), w)):.6f}\t{w}{bow((w,))}" for w in predicted]
    for k in range(2, order + 1):
        lines += ["", f"\\{k}-grams:"]
        lines += [f"{math.log10(p):.6f}\t{' '.join(gram)}{bow(gram)}" for gram, p in sorted(grams[k].items())]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Estimate a token n-gram LM (ARPA) from a manifest.")
    parser.add_argument("--manifest", required=True, help="training manifest (.jsonl)")
    parser.add_argument("--tokens", required=True, help="tokens.txt of the model")
    parser.add_argument("--field", default="phones", help="manifest field with the token sequence")
    parser.add_argument("--order", type=int, default=2, help="n-gram order (default 2, a bigram)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    sentences = [row[args.field] for row in read_manifest(args.manifest)]
    vocabulary = Vocabulary.load(args.tokens).tokens[1:]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(ngram_arpa(sentences, vocabulary, args.order))
    os.replace(tmp, out)
    print(f"wrote {out}: {args.order}-gram over {len(vocabulary)} tokens from {len(sentences)} sentences")


if __name__ == "__main__":
    main()
