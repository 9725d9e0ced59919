"""Tiny corpora in the true TIMIT layout (NIST SPHERE .WAV, .PHN, .WRD, .TXT), built in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
# Utterance: (name, phones). Audio is 1 s of noise; phones are spread evenly over it.
UTTERANCES = (
    ("sa1", ["h#", "sh", "iy", "hv", "ae", "dcl", "d", "h#"]),
    ("sx17", ["h#", "dh", "ax", "bcl", "b", "er", "tcl", "ch", "h#"]),
    ("si943", ["h#", "k", "ae", "n", "ux", "q", "ao", "l", "h#"]),
)
# Speakers: (part, region, speaker). faks0 is a dev speaker, mdab0 a core-test speaker.
SPEAKERS = (
    ("train", "dr1", "fcjf0"),
    ("train", "dr2", "mrab0"),
    ("test", "dr1", "faks0"),
    ("test", "dr1", "mdab0"),
    ("test", "dr3", "mzzz0"),
)


def write_utterance(stem: Path, phones: list[str], upper: bool, seconds: float = 1.0, seed: int = 0) -> None:
    """Writes one utterance's four files next to each other (extensions in the tree's case)."""
    ext = str.upper if upper else str.lower
    n = int(seconds * SAMPLE_RATE)
    audio = (np.random.default_rng(seed).standard_normal(n) * 3000).astype(np.int16)
    sf.write(str(stem.with_suffix(ext(".wav"))), audio, SAMPLE_RATE, format="NIST", subtype="PCM_16")
    bounds = np.linspace(0, n, len(phones) + 1).astype(int)
    stem.with_suffix(ext(".phn")).write_text("".join(f"{a} {b} {p}\n" for a, b, p in zip(bounds, bounds[1:], phones)))
    stem.with_suffix(ext(".wrd")).write_text(f"{bounds[1]} {bounds[-2]} word\n")
    stem.with_suffix(ext(".txt")).write_text(f"0 {n} A sentence.\n")


def write_timit_tree(root: Path, upper: bool = True, speakers=SPEAKERS, utterances=UTTERANCES) -> Path:
    """A TIMIT-layout corpus under ``root``: ``TRAIN|TEST/DRn/SPEAKER/UTT.{WAV,PHN,WRD,TXT}``."""
    case = str.upper if upper else str.lower
    for k, (part, region, speaker) in enumerate(speakers):
        spk_dir = root / case(part) / case(region) / case(speaker)
        spk_dir.mkdir(parents=True, exist_ok=True)
        for j, (name, phones) in enumerate(utterances):
            write_utterance(spk_dir / case(name), phones, upper, seed=10 * k + j)
    return root


def utterance_path(root: Path, part: str, region: str, speaker: str, name: str, ext: str) -> Path:
    """Path of one file of an upper-case tree."""
    return root / part.upper() / region.upper() / speaker.upper() / f"{name.upper()}{ext.upper()}"
