"""Folders of line images with their ``.gt.txt`` transcriptions, as kraken, OCRopus and tesstrain keep them."""

from __future__ import annotations

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
