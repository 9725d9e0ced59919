"""What the readers of line tables share: kraken's Arrow datasets and Hugging Face's Parquet files hold
each line's image as an image file's bytes beside its transcription, read with pyarrow (the optional
``arrow`` extra). A line's image is written out unchanged at preparation, so that everything after the
manifest (features, decode, the export check) sees an ordinary line image."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from asr_lstm.atomic import atomic_path
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.units import WORD_SEPARATOR

INSTALL = "pip install 'asr-lstm[arrow]'"


class UndecodableImage(ValueError):
    """A line's image bytes that Pillow cannot decode; the message says why."""


def import_pyarrow(reader: str):
    """The ``pyarrow`` module (with ``pyarrow.parquet``), or a :class:`CorpusError` naming ``reader``
    (``data=kraken reads kraken's Arrow datasets``) and the install line."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401  (a submodule that ``import pyarrow`` leaves out)
    except ImportError as err:
        raise CorpusError(f"{reader} with pyarrow, which is not installed ({err}): {INSTALL}") from None
    return pyarrow


def file_ids(paths: list[Path]) -> dict[Path, str]:
    """``{file: id}``: each file's path below the folder common to all, ``/`` as ``_``, without its
    suffix (``books/a/dataset.arrow`` and ``books/b/dataset.arrow`` -> ``a_dataset``, ``b_dataset``)."""
    resolved = [p.resolve() for p in paths]
    common = Path(os.path.commonpath([p.parent for p in resolved]))
    return {p: "_".join(r.relative_to(common).with_suffix("").parts).replace(" ", "_") for p, r in zip(paths, resolved)}


def file_stamps(paths: list[Path]) -> list[list]:
    """``[path, modification time]`` of each file, for a preparation's ``.done`` parameters, so that a
    file written again is prepared again."""
    return [[str(p.resolve()), p.stat().st_mtime_ns if p.is_file() else None] for p in paths]


def damaged(path: Path, err: Exception) -> str:
    """The problem of a file whose header pyarrow read but whose rows it cannot (``err``)."""
    return f"{path}: damaged, its rows cannot be read ({err})"


def is_text(types, kind) -> bool:
    """Whether an Arrow type is a string (``types``: ``pyarrow.types``; ``kind`` may be ``None``)."""
    return kind is not None and (types.is_string(kind) or types.is_large_string(kind))


def is_bytes(types, kind) -> bool:
    """Whether an Arrow type is binary (``types``: ``pyarrow.types``; ``kind`` may be ``None``)."""
    return kind is not None and (types.is_binary(kind) or types.is_large_binary(kind))


def write_line_image(data: bytes, stem: Path) -> tuple[Path, int, int]:
    """Writes an image file's bytes unchanged to ``stem`` with its format's suffix (``.png``),
    atomically, once Pillow has decoded them; returns the file, its width and its height.

    Raises:
        UndecodableImage: the bytes are not an image Pillow decodes.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            suffix, (width, height) = (image.format or "png").lower(), image.size
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UndecodableImage(f"the line image cannot be decoded ({err})") from None
    out = stem.with_name(f"{stem.name}.{suffix}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out, width, height


def line_row(line_id: str, words: list[str], image: tuple[Path, int, int], **more) -> dict:
    """The manifest row of a line: its characters with ``|`` between words, its image file and size
    (as :func:`write_line_image` returns them) and ``more`` (the file and row it came from). Such a
    table records no writer, so the row has none."""
    path, width, height = image
    return {
        "id": line_id,
        "image": str(path.resolve()),
        "chars": list(WORD_SEPARATOR.join(words)),
        "text": " ".join(words),
        **more,
        "width": width,
        "height": height,
    }
