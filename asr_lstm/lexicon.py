"""Character lexicons for word search: every word of a text, spelled in a character model's tokens.

A handwriting model's tokens are characters, so a word's spelling is its letters; the lexicon file is
flashlight's (``word c h a r s`` per line), read by ``decode.lexicon`` / ``asr-lstm decode --lexicon``
together with a word LM over the same words (``python -m asr_lstm.lm --lexicon``). The word separator
is not part of any spelling: the search puts it between words.

Usage: ``python -m asr_lstm.lexicon --manifest data/iam/train.jsonl --tokens data/iam/tokens.txt -o lexicon.txt``
(words of the ``text`` field; ``--text FILE`` adds the words of a plain text file, one sentence a line;
words of a model of right-to-left lines (``data.bidi``) are taken in display order, as its labels spell them;
``--oov-of dev.jsonl test.jsonl`` prints the share of those manifests' running words the lexicon lacks,
which no lexicon search can recognise).
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

from asr_lstm.arguments import missing_files
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.units import label_order_of
from asr_lstm.text_files import numbered_lines


def character_lexicon(words: Counter, tokens: list[str], separator: str | None = None) -> tuple[list[str], list[str]]:
    """Lexicon lines of the spellable words, most frequent first, and the words left out.

    A word is left out when one of its characters is not a token of the model, or is the separator.
    """
    known = set(tokens[1:]) - {separator}
    lines, left_out = [], []
    for word, _ in sorted(words.items(), key=lambda item: (-item[1], item[0])):
        if all(c in known for c in word):
            lines.append(f"{word} {' '.join(word)}")
        else:
            left_out.append(word)
    return lines, left_out


def oov_rate(manifest: str | Path, lexicon_words: set[str], in_label_order=list) -> tuple[int, int]:
    """``(running words not in the lexicon, running words)`` of a manifest's ``text`` fields, their
    words put ``in_label_order`` as the lexicon's are."""
    running = [w for row in read_manifest(manifest) for w in in_label_order(row["text"].split())]
    return sum(w not in lexicon_words for w in running), len(running)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write a character lexicon (word c h a r s) of the words of a manifest."
    )
    parser.add_argument("--manifest", required=True, nargs="+", help="manifests whose `text` words make the lexicon")
    parser.add_argument("--tokens", required=True, help="tokens.txt of the model: the characters a word may use")
    parser.add_argument(
        "--separator", default="|", help="the model's word-separator token, never inside a word (default |)"
    )
    parser.add_argument(
        "--text", nargs="*", default=[], help="plain text files (one sentence a line) whose words are added"
    )
    parser.add_argument(
        "--oov-of", nargs="*", default=[], metavar="MANIFEST", help="print the out-of-lexicon rate of these manifests"
    )
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    absent = missing_files([*args.manifest, args.tokens, *args.text, *args.oov_of])
    if absent:
        parser.error("; ".join(absent))
    in_label_order = label_order_of(Path(args.tokens).parent)
    words: Counter = Counter()
    for manifest in args.manifest:
        for row in read_manifest(manifest):
            if "text" not in row:
                parser.error(f"{manifest}: row {row.get('id', '?')} has no 'text' field")
            words.update(in_label_order(row["text"].split()))
    problems: list[str] = []
    for path in args.text:
        words.update(word for _, line in numbered_lines(path, problems) for word in in_label_order(line.split()))
    if problems:
        parser.error("; ".join(problems))
    lines, left_out = character_lexicon(words, Vocabulary.load(args.tokens).tokens, args.separator)
    if not lines:
        parser.error(f"no word of {args.manifest + args.text} can be spelled with the tokens of {args.tokens}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    os.replace(tmp, out)
    skipped = f"; left out {len(left_out)} with characters outside the model: {left_out[:5]}" if left_out else ""
    print(f"wrote {out}: {len(lines)} words{skipped}")
    in_lexicon = {line.split()[0] for line in lines}
    for manifest in args.oov_of:
        missing, running = oov_rate(manifest, in_lexicon, in_label_order)
        print(
            f"{Path(manifest).stem}: {100 * missing / max(running, 1):.1f}% of {running} running words are not in the lexicon"
        )


if __name__ == "__main__":
    main()
