"""The embedded demo of the line-folder recipe: mini-IAM's lines as a folder of line images with
``.gt.txt`` files, the layout kraken, OCRopus and tesstrain train from.

Each line of an IAM-layout corpus (the generated mini-IAM by default) is copied to
``lines/<form>/<line id>.png`` with its transcription's words in ``<line id>.gt.txt`` beside it. The
split lists ``splits/{train,dev,test}.lst`` name the form folders by the task list their lines are
in (mini-IAM's LWITLRT lists: no writer in two splits).

Usage: ``python -m asr_lstm.data.generators.line_folder_demo --iam data/mini_iam --out data/lines_demo``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from asr_lstm.atomic import atomic_path, write_text
from asr_lstm.data.corpora.iam import IamLines
from asr_lstm.data.done import is_done, mark_done

log = logging.getLogger(__name__)


def generate(iam: str | Path, out: str | Path) -> Path:
    """Writes the line folder of the corpus at ``iam`` and its split lists under ``out``; skipped when done."""
    out = Path(out)
    params = {"iam": str(Path(iam).resolve())}
    if is_done(out / ".done", params):
        log.info("%s: line folder already written, skipping", out)
        return out
    lists: dict[str, list[str]] = {}
    for split, rows in IamLines(iam).split_rows().items():
        for row in rows:
            folder = out / "lines" / row["form"]
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / f"{row['id']}.png") as tmp:
                shutil.copyfile(row["image"], tmp)
            write_text(folder / f"{row['id']}.gt.txt", row["text"] + "\n")
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    generate(args.iam, args.out)


if __name__ == "__main__":
    main()
