"""Token bigram language models written as ARPA, estimated from training transcriptions.

Interpolated Witten-Bell smoothing with an add-one unigram (no external tools), written in ARPA's
back-off form. For a history h seen c(h) times followed by N1+(h) distinct tokens:

    P(w)     = (c(w) + 1) / (N + |V|)                        over every token and </s> (never <s>)
    alpha(h) = N1+(h) / (c(h) + N1+(h))
    P(w | h) = (c(h, w) + N1+(h) P(w)) / (c(h) + N1+(h))     if the bigram (h, w) was seen
    P(w | h) = alpha(h) P(w)                                 otherwise

so that for every history the probabilities over the vocabulary sum to one (Witten & Bell 1991).

Usage: ``python -m asr_lstm.lm --manifest data/timit/train.jsonl --tokens data/timit/tokens.txt -o lm.arpa``.
"""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from pathlib import Path

from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.tokens import Vocabulary

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
NEVER = -99.0  # ARPA's conventional log10 probability of <s>, which is never predicted


def bigram_arpa(sentences: list[list[str]], vocabulary: list[str]) -> str:
    """The ARPA text of a Witten-Bell back-off bigram over ``vocabulary`` (tokens, without blank)."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for sentence in sentences:
        padded = [BOS, *sentence, EOS]
        unigrams.update(padded[1:])
        bigrams.update(zip(padded, padded[1:]))
    predicted = [*vocabulary, EOS]
    total = sum(unigrams.values())
    p_uni = {w: (unigrams[w] + 1) / (total + len(predicted)) for w in predicted}
    followers: dict[str, dict[str, int]] = {}
    for (h, w), count in bigrams.items():
        followers.setdefault(h, {})[w] = count
    backoff, p_bi = {}, {}
    for h, after in followers.items():
        c_h, types = sum(after.values()), len(after)
        for w, count in after.items():
            p_bi[(h, w)] = (count + types * p_uni[w]) / (c_h + types)
        backoff[h] = types / (c_h + types)
    histories = [BOS, *vocabulary]
    lines = ["\\data\\", f"ngram 1={len(predicted) + 2}", f"ngram 2={len(p_bi)}", "", "\\1-grams:"]
    lines.append(f"{NEVER}\t{BOS}\t{math.log10(backoff.get(BOS, 1.0)):.6f}")
    lines.append(f"{NEVER}\t{UNK}")  # closed vocabulary: listed so that KenLM does not invent one
    for w in predicted:
        tail = f"\t{math.log10(backoff[w]):.6f}" if w in backoff and w in histories else ""
        lines.append(f"{math.log10(p_uni[w]):.6f}\t{w}{tail}")
    lines += ["", "\\2-grams:"]
    lines += [f"{math.log10(p):.6f}\t{h} {w}" for (h, w), p in sorted(p_bi.items())]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Estimate a token bigram LM (ARPA) from a manifest.")
    parser.add_argument("--manifest", required=True, help="training manifest (.jsonl)")
    parser.add_argument("--tokens", required=True, help="tokens.txt of the model")
    parser.add_argument("--field", default="phones", help="manifest field with the token sequence")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    sentences = [row[args.field] for row in read_manifest(args.manifest)]
    vocabulary = Vocabulary.load(args.tokens).tokens[1:]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(bigram_arpa(sentences, vocabulary))
    os.replace(tmp, out)
    print(f"wrote {out}: bigram over {len(vocabulary)} tokens from {len(sentences)} sentences")


if __name__ == "__main__":
    main()
