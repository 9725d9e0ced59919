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
A phone bigram suits TIMIT; character models want higher orders (``--order``). A word LM for lexicon
search (``--lexicon``) is over the lexicon's words plus <unk>, which stands for every other word; a
sentence's words are taken in the order of its labels (display order for a model of right-to-left
lines, ``data.bidi``), the order in which the search puts them.

Usage: ``python -m asr_lstm.lm --manifest data/timit/train.jsonl --tokens data/timit/tokens.txt [--order 3] -o lm.arpa``
or ``python -m asr_lstm.lm --manifest train.jsonl --lexicon lexicon.txt --field text -o words.arpa``.
"""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from functools import cache
from pathlib import Path

from asr_lstm.arguments import missing_files
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.units import label_order_of, prepared_labelling
from asr_lstm.errors import InputFileError
from asr_lstm.text_files import read_utf8

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
NEVER = -99.0  # ARPA's conventional log10 probability of <s>, which is never predicted


def ngram_arpa(sentences: list[list[str]], vocabulary: list[str], order: int = 2) -> str:
    """The ARPA text of a Witten-Bell back-off n-gram of ``order`` over ``vocabulary`` (tokens, without blank)."""
    if order < 1:
        raise ValueError(f"LM order must be at least 1, got {order}")
    unknown = {w for sentence in sentences for w in sentence} - set(vocabulary)
    if unknown:
        raise ValueError(f"sentences hold units outside the vocabulary: {sorted(unknown)[:10]}")
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

    @cache
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

    open_vocabulary = UNK in vocabulary  # a word LM predicts <unk>; a token LM never does
    sizes = [len(predicted) + 1 + (not open_vocabulary)] + [len(grams[k]) for k in range(2, order + 1)]
    lines = ["\\data\\", *(f"ngram {k}={n}" for k, n in enumerate(sizes, start=1)), "", "\\1-grams:"]
    lines.append(f"{NEVER}\t{BOS}\t{math.log10(backoff.get((BOS,), 1.0)):.6f}")
    if not open_vocabulary:
        lines.append(f"{NEVER}\t{UNK}")  # closed vocabulary: listed so that KenLM does not invent one
    lines += [f"{math.log10(prob((), w)):.6f}\t{w}{bow((w,))}" for w in predicted]
    for k in range(2, order + 1):
        lines += ["", f"\\{k}-grams:"]
        lines += [f"{math.log10(p):.6f}\t{' '.join(gram)}{bow(gram)}" for gram, p in sorted(grams[k].items())]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def lexicon_words(path: str | Path) -> list[str]:
    """The words of a lexicon file (``word token token ...`` per line), in file order, once each."""
    lines = read_utf8(path).split("\n")
    return list(dict.fromkeys(line.split()[0] for line in lines if line.strip()))


def words_in_vocabulary(sentences: list[list[str]], vocabulary: list[str]) -> tuple[list[list[str]], int]:
    """Sentences with every word outside ``vocabulary`` replaced by <unk>, and how many were replaced."""
    known = set(vocabulary)
    mapped = [[w if w in known else UNK for w in sentence] for sentence in sentences]
    return mapped, sum(s.count(UNK) for s in mapped)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Estimate a token or word n-gram LM (ARPA) from a manifest.")
    parser.add_argument("--manifest", required=True, help="training manifest (.jsonl)")
    units = parser.add_mutually_exclusive_group(required=True)
    units.add_argument("--tokens", help="tokens.txt of the model: a token LM for lexicon-free search")
    units.add_argument(
        "--lexicon", help="a lexicon ('word token ...' per line): a word LM over its words, others as <unk>"
    )
    parser.add_argument(
        "--field",
        help="manifest field with the sentences (default: with --tokens the labels of the manifest's prepared "
        "directory, phones without one; text with --lexicon); a string is split on whitespace",
    )
    parser.add_argument(
        "--order", type=int, default=2, help="n-gram order (default 2, a bigram; the beam decoder reads up to 6)"
    )
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    absent = missing_files([args.manifest, args.tokens, args.lexicon])
    if absent:
        parser.error("; ".join(absent))
    data_dir = Path(args.manifest).parent
    labelling = prepared_labelling(data_dir)
    field = args.field or ("text" if args.lexicon else labelling.reference_key if labelling else "phones")
    rows = read_manifest(args.manifest)
    missing = [row.get("id", "?") for row in rows if field not in row]
    if missing:
        parser.error(f"{args.manifest}: {len(missing)} rows have no {field!r} field (first: {missing[0]})")
    sentences = [row[field].split() if isinstance(row[field], str) else list(row[field]) for row in rows]
    if args.tokens:
        vocabulary, unit = Vocabulary.load(args.tokens).tokens[1:], "tokens"
    else:
        try:
            vocabulary, unit = [*lexicon_words(args.lexicon), UNK], "words"
        except InputFileError as err:
            parser.error(str(err))
        in_label_order = label_order_of(data_dir)
        sentences, replaced = words_in_vocabulary([in_label_order(s) for s in sentences], vocabulary)
        print(f"{replaced} of {sum(map(len, sentences))} running words are not in {args.lexicon}: counted as {UNK}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        arpa = ngram_arpa(sentences, vocabulary, args.order)
    except ValueError as err:
        parser.error(f"{args.manifest}, field {field!r}, {unit} of {args.tokens or args.lexicon}: {err}")
    tmp.write_text(arpa, encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {out}: {args.order}-gram over {len(vocabulary)} {unit} from {len(sentences)} sentences")


if __name__ == "__main__":
    main()
