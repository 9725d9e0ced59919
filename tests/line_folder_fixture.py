"""Folders of line images with their ``.gt.txt`` transcriptions, as kraken, OCRopus and tesstrain keep them,
PyLaia's text tables with their image folders, and the lines of kraken's binary datasets."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

TEXTS = ("a move to stop", "Mr Gaitskell from", "nominating any more", "Labour life peers")


def write_line(folder: Path, name: str, text: str, image_suffixes: tuple[str, ...] = (".png",)) -> Path:
    """``folder/NAME.gt.txt`` holding ``text`` and, for each suffix, ``folder/NAME<suffix>``: the
    text drawn in black on a white line 32 pixels high."""
    folder.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=20)
    image = Image.new("L", (12 * len(text) + 16, 32), 255)
    ImageDraw.Draw(image).text((8, 4), text, fill=0, font=font)
    for suffix in image_suffixes:
        image.save(folder / f"{name}{suffix}")
    gt = folder / f"{name}.gt.txt"
    gt.write_text(text + "\n", encoding="utf-8")
    return gt


def write_line_folder(root: Path, folders: int = 3, per_folder: int = 3, **options) -> list[Path]:
    """``folders`` folders ``book0``, ``book1``, ... of ``per_folder`` lines each (``0000``, ``0001``,
    ...), their texts cycling through :data:`TEXTS`; the ``.gt.txt`` files, in order."""
    return [write_line(root / f"book{f}", f"{k:04d}", TEXTS[(f + k) % len(TEXTS)], **options)
            for f in range(folders) for k in range(per_folder)]  # fmt: skip


PYLAIA_LINES = {
    "train": [("train/im01", "for det"), ("train/im02", "at sende"), ("train/im03", "Fru Inger")],
    "dev": [("val/im01", "mig samme")],
    "test": [("test/im01", "af expl:")],
}


def pylaia_layout(root: Path) -> dict[str, Path]:
    """``root/images/<ID>.png`` (one ``.jpg``) and ``root/<split>.txt`` tables in PyLaia's symbols."""
    tables = {}
    for split, lines in PYLAIA_LINES.items():
        for line_id, text in lines:
            folder, name = line_id.split("/")
            suffix = ".jpg" if line_id == "train/im02" else ".png"
            write_line(root / "images" / folder, name, text, image_suffixes=(suffix,))
        tables[split] = root / f"{split}.txt"
        body = "".join(f"{i} {' '.join('<space>' if c == ' ' else c for c in text)}\n" for i, text in lines)
        tables[split].write_text(body, encoding="utf-8")
    return tables


def line_png(text: str, width: int = 60) -> bytes:
    """A line image 16 pixels high with ``text`` drawn on it, as PNG bytes."""
    image = Image.new("L", (width, 16), 255)
    ImageDraw.Draw(image).text((2, 2), text, fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def kraken_lines(texts: list[str]) -> list[dict]:
    """The ``{text, im}`` rows of a kraken binary dataset, one for each text."""
    return [{"text": text, "im": line_png(text)} for text in texts]
