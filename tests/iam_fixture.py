"""Tiny corpora in the true IAM layout (ascii/lines.txt, ascii/forms.txt, lines/.../*.png, LWITLRT lists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# The header of the distributed ascii/lines.txt, which preparation must skip.
LINES_HEADER = """#--- lines.txt ---------------------------------------------------------------#
#
# iam database line information
#
# format: a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from
#
#     a01-000u-00  -> line id for form a01-000u
#     ok              -> result of word segmentation
#                            ok: line is correctly segmented
#                            er: segmentation of line has one or more errors
#
#     154             -> graylevel to binarize line
#     19              -> number of components for this line
#     408 746 1661 89 -> bounding box around this line in x,y,w,h format
#
#     A|MOVE|to|stop|Mr.|Gaitskell|from
#                     -> transcription for this line. word tokens are separated
#                        by the character |
#
"""
# (line id, segmentation, transcription): forms a01-000u (writer 000), b02-013 (writer 150), c03-007 (writer 300)
LINES = (
    ("a01-000u-00", "ok", "A|MOVE|to|stop|Mr.|Gaitskell|from"),
    ("a01-000u-01", "er", "nominating|any|more|Labour|life|Peers"),
    ("b02-013-00", "ok", '"|Yes|,|it\'s|a|3|-|2|win|"'),
    ("c03-007-00", "ok", "the|end|."),
    ("c03-007-01", "ok", "of|it|all|#"),
)
FORMS = (("a01-000u", "000"), ("b02-013", "150"), ("c03-007", "300"))
LISTS = {
    "trainset": ["a01-000u-00", "a01-000u-01"],
    "validationset1": ["b02-013"],
    "validationset2": [],
    "testset": ["c03-007-00", "c03-007-01"],
}


def write_line_image(path: Path, width: int = 120, height: int = 30, seed: int = 0) -> None:
    """A grey PNG with a few dark vertical strokes on white paper."""
    rng = np.random.default_rng(seed)
    pixels = np.full((height, width), 255, dtype=np.uint8)
    for x in rng.integers(0, width - 3, size=width // 10):
        pixels[5 : height - 5, x : x + 2] = 20
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="L").save(path)


def write_iam_tree(root: Path, lines=LINES, lists=LISTS, forms=FORMS) -> Path:
    """An IAM-layout corpus under ``root`` with the LWITLRT lists in ``largeWriterIndependentTextLineRecognitionTask/``."""
    (root / "ascii").mkdir(parents=True, exist_ok=True)
    body = "".join(f"{line_id} {seg} 154 19 408 746 1661 89 {text}\n" for line_id, seg, text in lines)
    (root / "ascii" / "lines.txt").write_text(LINES_HEADER + body)
    (root / "ascii" / "forms.txt").write_text(
        "#--- forms.txt ---#\n" + "".join(f"{form} {writer} 2 prt 7 5 52 36\n" for form, writer in forms)
    )
    for k, (line_id, _, _) in enumerate(lines):
        form = line_id.rsplit("-", 1)[0]
        write_line_image(root / "lines" / form.split("-")[0] / form / f"{line_id}.png", width=100 + 20 * k, seed=k)
    split_dir = root / "largeWriterIndependentTextLineRecognitionTask"
    split_dir.mkdir(exist_ok=True)
    for name, ids in lists.items():
        (split_dir / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root
