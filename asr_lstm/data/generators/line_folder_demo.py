"""The embedded demo of the line-folder recipe: mini-IAM's lines as a folder of line images with
``.gt.txt`` files, the layout kraken, OCRopus and tesstrain train from.

Each line of an IAM-layout corpus (the generated mini-IAM by default) is copied to
``lines/<form>/<line id>.png`` with its transcription's words in ``<line id>.gt.txt`` beside it. The
split lists ``splits/{train,dev,test}.lst`` name the form folders by the task list their lines are
in (mini-IAM's LWITLRT lists: no writer in two splits).

``--right-to-left`` writes a right-to-left script instead, for ``data.bidi``
(:mod:`asr_lstm.data.bidi`). Each image is mirrored, so that its line reads from right to left.
Each transcription has its letters and digits enciphered, one Arabic letter for each
(:func:`cipher`). Spaces and punctuation are kept, so a line holds the neutral characters that the
Unicode Bidirectional Algorithm places, brackets included. The logical order of a transcription is
the order of the original line; its display order, left to right, is the mirrored image's.

Usage: ``python -m asr_lstm.data.generators.line_folder_demo --iam data/mini_iam --out data/lines_demo
[--right-to-left]``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import string
import unicodedata
from pathlib import Path

from PIL import Image, ImageOps

from asr_lstm.atomic import atomic_path, write_text
from asr_lstm.data.corpora.iam import IamLines
from asr_lstm.data.done import is_done, mark_done

log = logging.getLogger(__name__)
ENCIPHERED = string.ascii_letters + string.digits


def cipher() -> dict[str, str]:
    """Each ASCII letter and digit -> an Arabic letter, in code point order: the letters of U+0620 to
    U+06D3 that are right-to-left (bidirectional class AL) and have no decomposition, so that every
    Unicode normalization form keeps them."""
    letters = [c for c in map(chr, range(0x0620, 0x06D4)) if unicodedata.category(c) == "Lo"
               and unicodedata.bidirectional(c) == "AL" and not unicodedata.decomposition(c)]  # fmt: skip
    return dict(zip(ENCIPHERED, letters, strict=False))


def generate(iam: str | Path, out: str | Path, right_to_left: bool = False) -> Path:
    """Writes the line folder of the corpus at ``iam`` and its split lists under ``out`` (a mirrored,
    enciphered right-to-left script with ``right_to_left``); skipped when done."""
    out = Path(out)
    params = {"iam": str(Path(iam).resolve()), "right_to_left": right_to_left}
    table = str.maketrans(cipher())
    if is_done(out / ".done", params):
        log.info("%s: line folder already written, skipping", out)
        return out
    lists: dict[str, list[str]] = {}
    for split, rows in IamLines(iam).split_rows().items():
        for row in rows:
            folder = out / "lines" / row["form"]
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / f"{row['id']}.png") as tmp:
                if right_to_left:
                    with Image.open(row["image"]) as image:
                        ImageOps.mirror(image).save(tmp, format="PNG")
                else:
                    shutil.copyfile(row["image"], tmp)
            text = row["text"].translate(table) if right_to_left else row["text"]
            write_text(folder / f"{row['id']}.gt.txt", text + "\n")
        lists[split] = sorted({row["form"] for row in rows})
        log.info("%s: %d lines of %d forms in %s", out / "lines", len(rows), len(lists[split]), split)
    for split, forms in lists.items():
        (out / "splits").mkdir(parents=True, exist_ok=True)
        write_text(out / "splits" / f"{split}.lst", "".join(f"{form}\n" for form in forms))
    mark_done(out / ".done", params)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write an IAM-layout corpus's lines as line images with .gt.txt files."
    )
    parser.add_argument("--iam", required=True, help="the corpus (ascii/, lines/ and the LWITLRT split lists)")
    parser.add_argument("--out", required=True, help="where lines/ and splits/ go")
    parser.add_argument(
        "--right-to-left", action="store_true",
        help="mirror the images and encipher the letters and digits in Arabic letters: a right-to-left script",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    generate(args.iam, args.out, args.right_to_left)


if __name__ == "__main__":
    main()
