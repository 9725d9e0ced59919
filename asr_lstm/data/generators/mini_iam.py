"""mini-IAM: the embedded default handwriting corpus, written with pen strokes in the true IAM layout.

It exists so that the handwriting recipe runs out of the box and exercises the real IAM code path:
``ascii/lines.txt`` and ``ascii/forms.txt`` in IAM's formats, grey-level PNG line images under
``lines/<prefix>/<form>/<line>.png``, and the LWITLRT split lists (``trainset.txt``,
``validationset1.txt``, ``validationset2.txt``, ``testset.txt``) with disjoint writers.

Writers: each is one Hershey vector font (mostly the script faces, whose glyphs are pen trajectories)
and its own hand: size, width, slant, letter and word spacing, a wavy and tilted baseline, pen width,
ink and tremor. Every line is drawn stroke by stroke with the writer's hand plus per-glyph variation,
so no two lines of a text look the same. Texts: the Harvard sentences, one a line, split into pools
so that dev and test texts are never seen in training (and so not by the training-text LMs either).
Transcriptions follow IAM's tokenisation: words and punctuation separated by ``|`` (``planks|.``).

Usage: ``python -m asr_lstm.data.generators.mini_iam --out data/mini_iam``.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
from HersheyFonts import HersheyFonts
from PIL import Image, ImageDraw, ImageFilter

from asr_lstm.atomic import atomic_path
from asr_lstm.data.corpora.handwriting import WORD_SEPARATOR
from asr_lstm.data.corpora.iam import SPLIT_DIR
from asr_lstm.data.done import is_done, mark_done
from asr_lstm.resources import resource_path

log = logging.getLogger(__name__)

# Script faces three times as often as the print and italic ones: handwriting is mostly joined.
FONTS = ("cursive", "scripts", "scriptc") * 3 + ("timesi", "futural", "rowmans")
CAP_LINE, BASE_LINE, BOTTOM_LINE = -12, 9, 16  # Hershey font units, y pointing down
LISTS = ("trainset", "validationset1", "validationset2", "testset")
PUNCTUATION = re.compile(r"([.,;:?!]+)$")


@dataclass(frozen=True)
class MiniIamConfig:
    """Size and seed of a generated corpus: writers per LWITLRT list and lines per writer (one form each)."""

    train_writers: int = 48
    validation1_writers: int = 8
    validation2_writers: int = 4
    test_writers: int = 12
    lines_per_writer: int = 8
    seed: int = 0


@dataclass
class Hand:
    """How one writer writes. Lengths in pixels unless said otherwise."""

    font: str
    scale: float  # pixels per font unit (x-height ~ 9 units)
    stretch: float  # horizontal / vertical scale
    slant: float  # shear: x shift per pixel above the baseline
    letter_gap: float  # font units added after every glyph
    word_gap: float  # times the font's own space
    baseline_wave: float  # amplitude of the baseline's undulation
    wave_length: float
    tilt: float  # baseline rise per pixel
    pen_width: int
    ink: int  # grey level of the ink (0 black)
    tremor: float  # standard deviation of the pen position noise


def random_hand(rng: random.Random) -> Hand:
    return Hand(
        font=rng.choice(FONTS),
        scale=rng.uniform(1.6, 2.4),
        stretch=rng.uniform(0.8, 1.2),
        slant=rng.uniform(-0.1, 0.45),
        letter_gap=rng.uniform(-1.0, 2.5),
        word_gap=rng.uniform(0.7, 1.5),
        baseline_wave=rng.uniform(0.0, 4.0),
        wave_length=rng.uniform(250.0, 900.0),
        tilt=rng.uniform(-0.015, 0.015),
        pen_width=rng.choice((2, 3, 3, 4)),
        ink=rng.randint(0, 80),
        tremor=rng.uniform(0.2, 0.6),
    )


def iam_transcription(sentence: str) -> str:
    """IAM's token string of a sentence: words and trailing punctuation separated by ``|``."""
    tokens = []
    for word in sentence.split():
        match = PUNCTUATION.search(word)
        if match and match.start() > 0:
            tokens += [word[: match.start()], match.group(1)]
        else:
            tokens.append(word)
    return WORD_SEPARATOR.join(tokens)


@cache
def hershey_font(name: str) -> HersheyFonts:
    """One of the package's built-in fonts, decompressed once."""
    return HersheyFonts(load_default_font=name)


def pen_strokes(text: str, hand: Hand, rng: random.Random) -> list[np.ndarray]:
    """The pen trajectories of one written line: a list of ``(n, 2)`` arrays of ``(x, y)`` pixels, y down.

    Glyphs are placed one after another with the hand's spacing; each glyph gets its own small
    offset and size change, every point the hand's tremor, and the baseline waves and tilts.
    """
    font = hershey_font(hand.font)
    space = next(iter(font.glyphs_for_text(" "))).char_width
    phase = rng.uniform(0, 2 * np.pi)
    tremor = np.random.default_rng(rng.getrandbits(32))
    strokes, x = [], 0.0  # x in font units along the baseline
    for char in text:
        glyph = next(iter(font.glyphs_for_text(char)))
        if char == " ":
            x += space * hand.word_gap * rng.uniform(0.8, 1.25)
            continue
        size = rng.uniform(0.93, 1.07)
        dx, dy = rng.gauss(0, 0.4), rng.gauss(0, 0.5)
        for stroke in glyph.strokes:
            points = np.array(stroke, dtype=np.float64)
            gx = x + (points[:, 0] - glyph.left_offset) * size + dx
            gy = (points[:, 1] - BASE_LINE) * size + dy  # relative to the baseline, up is negative
            px = gx * hand.scale * hand.stretch - gy * hand.scale * hand.slant
            py = (
                gy * hand.scale
                + hand.baseline_wave * np.sin(2 * np.pi * px / hand.wave_length + phase)
                - hand.tilt * px
            )
            strokes.append(np.stack([px, py], axis=1) + tremor.normal(0, hand.tremor, (len(px), 2)))
        x += glyph.char_width * size + hand.letter_gap
    return strokes


def render_line(strokes: list[np.ndarray], hand: Hand, rng: random.Random) -> Image.Image:
    """A grey-level line image of the strokes, cropped to the ink with a margin, on slightly noisy paper."""
    points = np.concatenate(strokes)
    margin = hand.pen_width + rng.randint(3, 10)
    origin = points.min(axis=0) - margin
    width, height = (np.ceil(points.max(axis=0) - origin) + margin).astype(int)
    paper = rng.randint(225, 255)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 3, (height, width))
    image = Image.fromarray(np.clip(paper + noise, 0, 255).astype(np.uint8), mode="L")
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        path = [tuple(p) for p in stroke - origin]
        if len(path) == 1:
            path = path * 2
        draw.line(path, fill=hand.ink, width=hand.pen_width, joint="curve")
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))


@dataclass
class Form:
    """One writer's form: the task list it belongs to, the writer's number and hand, and its sentences."""

    task_list: str
    writer: int
    hand: Hand
    texts: list[str]


def plan_forms(lists: tuple[str, str, str, str], cfg: MiniIamConfig, rng: random.Random) -> list[Form]:
    """One form per writer of each list (``lists`` in the order train, validation 1, validation 2, test).

    The Harvard sentences are shuffled and cut into disjoint pools: each held-out list gets as many as
    its writers write lines (at most an eighth of all), training the rest. Each writer copies
    ``lines_per_writer`` sentences of its list's pool, so texts repeat across writers of a list (as
    in IAM) but never across lists.
    """
    sentences = [
        s
        for s in resource_path("mini_timit", "harvard_sentences.txt").read_text(encoding="utf-8").splitlines()
        if s.strip()
    ]
    rng.shuffle(sentences)
    writers = dict(zip(lists, (cfg.train_writers, cfg.validation1_writers, cfg.validation2_writers, cfg.test_writers)))
    pools, start = {}, 0
    for name in reversed(lists[1:]):
        need = min(writers[name] * cfg.lines_per_writer, len(sentences) // 8)
        pools[name], start = sentences[start : start + need], start + need
    pools[lists[0]] = sentences[start:]
    forms = []
    for name in lists:
        for _ in range(writers[name]):
            texts = rng.sample(pools[name], min(cfg.lines_per_writer, len(pools[name])))
            forms.append(Form(name, len(forms), random_hand(rng), texts))
    return forms


def generate(out: str | Path, cfg: MiniIamConfig = MiniIamConfig()) -> Path:
    """Writes mini-IAM under ``out`` (skips when a finished corpus with the same config is there)."""
    out = Path(out)
    if is_done(out / ".generate.done", asdict(cfg)):
        log.info("%s: mini-IAM already generated, skipping", out)
        return out
    forms, ink = plan_forms(LISTS, cfg, random.Random(cfg.seed)), random.Random(cfg.seed + 1)
    with atomic_path(out) as tmp:
        lines_txt, forms_txt, lists = [], [], {name: [] for name in LISTS}
        for form in forms:
            form_id = f"g{form.writer // 10:02d}-{form.writer:03d}"
            y = 700  # IAM forms start their handwritten part about this far down the page
            for k, sentence in enumerate(form.texts):
                line_id = f"{form_id}-{k:02d}"
                strokes = pen_strokes(sentence, form.hand, ink)
                image = render_line(strokes, form.hand, ink)
                path = tmp / "lines" / form_id.split("-")[0] / form_id / f"{line_id}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                image.save(path, compress_level=1)  # paper noise does not compress: save time, not bytes
                lines_txt.append(
                    f"{line_id} ok 170 {len(strokes)} 300 {y} {image.width} {image.height} {iam_transcription(sentence)}"
                )
                lists[form.task_list].append(line_id)
                y += image.height + 20
            words = sum(len(iam_transcription(s).split(WORD_SEPARATOR)) for s in form.texts)
            lines = len(form.texts)
            forms_txt.append(f"{form_id} {form.writer:03d} {lines} prt {lines} {lines} {words} {words}")
        (tmp / "ascii").mkdir(parents=True)
        header = "#--- mini-IAM, generated by asr_lstm.data.generators.mini_iam; format of the IAM database ---#\n"
        (tmp / "ascii" / "lines.txt").write_text(header + "\n".join(lines_txt) + "\n", encoding="utf-8")
        (tmp / "ascii" / "forms.txt").write_text(header + "\n".join(forms_txt) + "\n", encoding="utf-8")
        write_lists(tmp / SPLIT_DIR, lists)
    mark_done(out / ".generate.done", asdict(cfg))
    log.info("%s: mini-IAM with %d lines by %d writers", out, len(lines_txt), len(forms))
    return out


def write_lists(folder: Path, lists: dict[str, list[str]]) -> None:
    """The task's split lists, ``<name>.txt`` with one id a line."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, ids in lists.items():
        (folder / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")


def run_generator(
    generate_corpus: Callable[[Path, MiniIamConfig], Path], description: str, argv: list[str] | None
) -> None:
    """The command line of a generator: ``--out`` and one flag per :class:`MiniIamConfig` field."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", required=True)
    for field, default in asdict(MiniIamConfig()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=default)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    generate_corpus(Path(args.out), MiniIamConfig(**{k: getattr(args, k) for k in asdict(MiniIamConfig())}))


def main(argv: list[str] | None = None) -> None:
    run_generator(generate, "Generate mini-IAM, a handwriting corpus in the IAM layout.", argv)


if __name__ == "__main__":
    main()
