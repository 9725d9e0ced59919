"""The embedded demo of ``data=kraken``: mini-IAM's lines as one of kraken's binary datasets.

Each line of an IAM-layout corpus (the generated mini-IAM by default) becomes a row of
``mini_iam.arrow``, an Arrow IPC file in the layout of kraken 7's ``ketos compile``
(:mod:`asr_lstm.data.corpora.kraken_arrow`): the line's words and its PNG in the ``lines`` column,
its task list (mini-IAM's LWITLRT lists: no writer in two splits) in the ``train``, ``validation``
and ``test`` columns, as ``--random-split`` would have set them, and kraken's metadata record.
:func:`write_dataset` writes any lines so; the tests build damaged datasets with it.

Usage: ``python -m asr_lstm.data.generators.kraken_demo --iam data/mini_iam --out data/kraken_demo``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

from asr_lstm.atomic import atomic_path
from asr_lstm.data.corpora.iam import IamLines
from asr_lstm.data.corpora.kraken_arrow import SPLIT_COLUMNS, import_pyarrow
from asr_lstm.data.done import is_done, mark_done

log = logging.getLogger(__name__)
BATCH_ROWS = 100  # kraken's recordbatch_size


def write_dataset(
    lines: list[dict | None],
    splits: list[str | None],
    out: str | Path,
    kind: str = "kraken_recognition_bbox",
    im_mode: str = "L",
) -> Path:
    """Writes ``lines`` (``{text, im}``, ``im`` an image file's bytes; ``None`` for a null row) with
    each one's split (``train``, ``dev``, ``test`` or ``None``) as a kraken binary dataset, atomically."""
    pa = import_pyarrow()
    line = pa.struct([("text", pa.string()), ("im", pa.binary()), ("language", pa.list_(pa.string()))])
    columns = [("lines", line)] + [(column, pa.bool_()) for column in SPLIT_COLUMNS.values()]
    counts = Counter({"all": len(lines), **{SPLIT_COLUMNS[s]: n for s, n in Counter(splits).items() if s}})
    record = {
        "type": kind,
        "alphabet": Counter(c for row in lines if row for c in row["text"] or ""),
        "text_type": "raw",
        "image_type": "raw",
        "splits": ["train", "eval", "test"],
        "im_mode": im_mode,
        "legacy_polygons": False,
        "languages": {},
        "counts": {key: counts[key] for key in ("all", *SPLIT_COLUMNS.values())},
    }
    schema = pa.schema(columns, metadata={"lines": json.dumps(record)})
    with atomic_path(out) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for start in range(0, len(lines), BATCH_ROWS):
            rows = [None if row is None else {**row, "language": None} for row in lines[start : start + BATCH_ROWS]]
            part = splits[start : start + BATCH_ROWS]
            arrays = [pa.array(rows, type=line)] + [pa.array([s == split for s in part]) for split in SPLIT_COLUMNS]
            writer.write(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return Path(out)


def generate(iam: str | Path, out: str | Path) -> Path:
    """Writes ``out/mini_iam.arrow`` from the corpus at ``iam``; skipped when done."""
    out = Path(out)
    params = {"iam": str(Path(iam).resolve())}
    if is_done(out / ".done", params):
        log.info("%s: kraken dataset already written, skipping", out)
        return out
    lines, splits = [], []
    for split, rows in IamLines(iam).split_rows().items():
        for row in rows:
            lines.append({"text": row["text"], "im": Path(row["image"]).read_bytes()})
            splits.append(split)
        log.info("%s: %d lines", split, len(rows))
    out.mkdir(parents=True, exist_ok=True)
    write_dataset(lines, splits, out / "mini_iam.arrow")
    mark_done(out / ".done", params)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write an IAM-layout corpus's lines as a kraken binary dataset.")
    parser.add_argument("--iam", required=True, help="the corpus (ascii/, lines/ and the LWITLRT split lists)")
    parser.add_argument("--out", required=True, help="where mini_iam.arrow goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    generate(args.iam, args.out)


if __name__ == "__main__":
    main()
