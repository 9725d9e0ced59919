"""PyLaia's inputs from our prepared mini-IAM, and its decoded lines back in our transcript format;
run by ``scripts/peers/pylaia_mini_iam.sh`` with asr-lstm's own environment.

``export``: each line of train/dev/test is written as ``<out>/images/<id>.png``, the pixel columns our
models read (the line scaled to ``features.image_height`` by :mod:`asr_lstm.data.images`, read back
from the feature cache, ink dark on white), so both toolkits see the same pixels. Also written:
``syms.txt`` (``<ctc>`` 0, ``<space>`` for the word separator ``|``, then the other characters of our
``tokens.txt``, so that both models have the same outputs),
``<split>.txt`` (``id c h a r s``, PyLaia's text tables), ``<split>_ids.txt`` and ``<split>.ref``
(our ``id<TAB>tokens``).

``hyps``: PyLaia's decoding (``id c h a r s`` with ``<space>``) -> ``id<TAB>tokens`` with ``|``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from asr_lstm.data.feature_store import load_split
from asr_lstm.data.features import FeatureConfig

SPLITS = ("train", "dev", "test")


def pylaia_tokens(chars: list[str]) -> str:
    return " ".join("<space>" if c == "|" else c for c in chars)


def export(data: Path, out: Path, height: int) -> None:
    cache = data / FeatureConfig(kind="image", image_height=height, delta_order=0).cache_name()
    (out / "images").mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        rows = [
            json.loads(line)
            for line in (data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        frames = load_split(cache / split)
        for row in rows:
            ink = frames[row["id"]].numpy().T  # (height, width), 1 = ink
            Image.fromarray(np.round(255 * (1 - ink)).clip(0, 255).astype(np.uint8)).save(
                out / "images" / f"{row['id']}.png"
            )
        (out / f"{split}.txt").write_text(
            "".join(f"{r['id']} {pylaia_tokens(r['chars'])}\n" for r in rows), encoding="utf-8"
        )
        (out / f"{split}_ids.txt").write_text("".join(f"{r['id']}\n" for r in rows), encoding="utf-8")
        (out / f"{split}.ref").write_text(
            "".join(f"{r['id']}\t{' '.join(r['chars'])}\n" for r in rows), encoding="utf-8"
        )
    ours = [line.split()[0] for line in (data / "tokens.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    names = ["<ctc>", "<space>", *(token for token in ours[1:] if token != "|")]
    (out / "syms.txt").write_text("".join(f"{name} {k}\n" for k, name in enumerate(names)), encoding="utf-8")


def hyps(decoded: Path, out: Path) -> None:
    lines = []
    for line in decoded.read_text(encoding="utf-8").splitlines():
        utt, _, tokens = line.partition(" ")
        lines.append(f"{Path(utt).stem}\t{' '.join('|' if t == '<space>' else t for t in tokens.split())}\n")
    out.write_text("".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export", help="images, syms.txt and text tables for PyLaia")
    out.add_argument("data", type=Path, help="our prepared folder (recipes/iam/data/iam)")
    out.add_argument("out", type=Path)
    out.add_argument("--height", type=int, default=40)
    back = commands.add_parser("hyps", help="PyLaia's decoded lines as our transcripts")
    back.add_argument("decoded", type=Path)
    back.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "export":
        export(args.data, args.out, args.height)
    else:
        hyps(args.decoded, args.out)


if __name__ == "__main__":
    main()
