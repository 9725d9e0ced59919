"""mini-IAM-OnDB: the embedded default online handwriting corpus, pen strokes in the IAM-OnDB layout.

The writers, hands and texts are planned as for mini-IAM (:mod:`asr_lstm.data.generators.mini_iam`),
and each line is written with the same pen trajectories; instead of rendering them, the pen is
sampled as a whiteboard tablet would: ``SAMPLE_RATE`` points a second at the writer's own speed,
with pauses while the pen is lifted. Written in the true layout: ``lineStrokes/<a>/<form>/<line>.xml``
(``WhiteboardCaptureSession`` / ``StrokeSet`` / ``Stroke`` / ``Point x y time``),
``ascii/<a>/<form>/<form>.txt`` (``OCR:`` and ``CSR:`` sections), and the IAM-OnDB-t2 lists
``trainset.txt``, ``testset_v.txt``, ``testset_t.txt``, ``testset_f.txt`` of form ids.

Usage: ``python -m asr_lstm.data.generators.mini_iam_ondb --out data/mini_iam_ondb``.
"""

from __future__ import annotations

import logging
import random
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

import numpy as np

from asr_lstm.atomic import atomic_path
from asr_lstm.data.done import is_done, mark_done
from asr_lstm.data.generators.mini_iam import (
    MiniIamConfig,
    pen_strokes,
    plan_forms,
    run_generator,
    write_lists,
)

log = logging.getLogger(__name__)

LISTS = ("trainset", "testset_v", "testset_t", "testset_f")
SAMPLE_RATE = 100.0  # points per second, about the eBeam whiteboard system's rate
UNITS_PER_PIXEL = 4  # whiteboard coordinates are finer than the rendered pixels of mini-IAM


def sample_pen(strokes: list[np.ndarray], speed: float, start: float, rng: random.Random) -> list[np.ndarray]:
    """Tablet samples of pen trajectories: ``(n, 3)`` arrays of ``x, y, time``.

    The pen moves at ``speed`` pixels a second (varying by 20 % from stroke to stroke) and is
    sampled ``SAMPLE_RATE`` times a second; between strokes it is up for 0.05 to 0.3 s.
    """
    sampled, now = [], start
    for stroke in strokes:
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(stroke, axis=0), axis=1))])
        duration = arc[-1] / (speed * rng.uniform(0.8, 1.2))
        times = np.arange(0.0, duration, 1 / SAMPLE_RATE) if duration > 0 else np.zeros(1)
        along = times / duration * arc[-1] if duration > 0 else times
        xy = np.stack([np.interp(along, arc, stroke[:, c]) for c in range(2)], axis=1)
        sampled.append(np.column_stack([xy * UNITS_PER_PIXEL, now + times]))
        now += times[-1] + rng.uniform(0.05, 0.3)
    return sampled


def stroke_xml(strokes: list[np.ndarray]) -> ET.ElementTree:
    """An IAM-OnDB ``lineStrokes`` document of tablet samples."""
    session = ET.Element("WhiteboardCaptureSession")
    description = ET.SubElement(session, "WhiteboardDescription")
    ET.SubElement(description, "SensorLocation", corner="top_left")
    stroke_set = ET.SubElement(session, "StrokeSet")
    for stroke in strokes:
        element = ET.SubElement(
            stroke_set, "Stroke", colour="black", start_time=f"{stroke[0, 2]:.3f}", end_time=f"{stroke[-1, 2]:.3f}"
        )
        for x, y, t in stroke:
            ET.SubElement(element, "Point", x=str(round(x)), y=str(round(y)), time=f"{t:.3f}")
    ET.indent(session)
    return ET.ElementTree(session)


def generate(out: str | Path, cfg: MiniIamConfig = MiniIamConfig()) -> Path:
    """Writes mini-IAM-OnDB under ``out`` (skips when a finished corpus with the same config is there)."""
    out = Path(out)
    if is_done(out / ".generate.done", asdict(cfg)):
        log.info("%s: mini-IAM-OnDB already generated, skipping", out)
        return out
    forms, pen = plan_forms(LISTS, cfg, random.Random(cfg.seed)), random.Random(cfg.seed + 1)
    with atomic_path(out) as tmp:
        lists: dict[str, list[str]] = {name: [] for name in LISTS}
        clock = 1000.0
        for form in forms:
            folder = f"h{form.writer // 10:02d}-{form.writer:03d}"
            form_id = folder + "uvwxyz"[form.writer % 6]  # IAM-OnDB form ids end in a letter their folder lacks
            speed = pen.uniform(150.0, 400.0)
            for k, sentence in enumerate(form.texts, 1):
                written = pen_strokes(sentence, form.hand, pen)
                # line k of the board, top left at (100, 60)
                origin = np.concatenate(written).min(axis=0) - (100.0, 60.0 + 120.0 * k)
                strokes = sample_pen([s - origin for s in written], speed, clock, pen)
                clock = strokes[-1][-1, 2] + pen.uniform(1.0, 3.0)
                path = tmp / "lineStrokes" / folder[:3] / folder / f"{form_id}-{k:02d}.xml"
                path.parent.mkdir(parents=True, exist_ok=True)
                stroke_xml(strokes).write(path, encoding="ISO-8859-1", xml_declaration=True)
            text = tmp / "ascii" / folder[:3] / folder / f"{form_id}.txt"
            text.parent.mkdir(parents=True, exist_ok=True)
            text.write_text(
                "OCR:\n\n" + " ".join(form.texts) + "\n\nCSR:\n\n" + "\n".join(form.texts) + "\n", encoding="utf-8"
            )
            lists[form.task_list].append(form_id)
        write_lists(tmp, lists)
    mark_done(out / ".generate.done", asdict(cfg))
    log.info("%s: mini-IAM-OnDB with %d lines by %d writers", out, sum(len(f.texts) for f in forms), len(forms))
    return out


def main(argv: list[str] | None = None) -> None:
    run_generator(generate, "Generate mini-IAM-OnDB, an online handwriting corpus in the IAM-OnDB layout.", argv)


if __name__ == "__main__":
    main()
