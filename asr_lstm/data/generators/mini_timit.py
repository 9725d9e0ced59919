"""mini-TIMIT: the embedded default corpus, synthesised with espeak-ng in the true TIMIT layout.

It exists so that every recipe runs out of the box and exercises the real TIMIT code path: the files
are NIST SPHERE ``.WAV`` at 16 kHz with ``.PHN`` / ``.WRD`` / ``.TXT`` beside them, under
``TRAIN|TEST/DR1..DR8/<speaker>/``. Each dialect region is one espeak-ng English accent; a speaker is
an accent, a voice variant of the speaker's sex, and its own pitch, pitch range and speaking rate.

Speakers: TRAIN has ``train_speakers_per_region`` fabricated speakers per region; TEST has the 24
official core-test speakers, the first ``dev_speakers`` of the official dev list and
``extra_test_speakers_per_region`` others, so that the standard speaker lists select dev and core test
exactly as on the real corpus. TRAIN and TEST speakers and sentences are disjoint.
Sentences: the Harvard sentences; everyone reads SA1/SA2 (excluded by the protocol), then five SX and
three SI sentences, as in TIMIT.

Labels: espeak phonemes are mapped to TIMIT-61 with ``resources/mini_timit/espeak_to_timit61.tsv``;
leading and trailing silence is ``h#``, pauses inside an utterance ``pau``.

Usage: ``python -m asr_lstm.data.generators.mini_timit --out data/mini_timit [--lowercase]``.
"""

from __future__ import annotations

import argparse
import logging
import random
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from asr_lstm.atomic import atomic_path
from asr_lstm.data.corpora.timit import read_speaker_list
from asr_lstm.data.done import is_done, mark_done
from asr_lstm.data.generators.espeak import Espeak, Synthesis
from asr_lstm.resources import resource_path

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
REGION_ACCENTS = (
    "en-us",
    "en-us-nyc",
    "en",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)
VOICE_VARIANTS = {"m": ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"), "f": ("f1", "f2", "f3", "f4", "f5")}
PAUSES = frozenset({"_", "_:", "_!", "_|"})
SA_SENTENCES = 2  # the first two Harvard sentences are SA1 and SA2, read by every speaker
SX_PER_SPEAKER, SI_PER_SPEAKER = 5, 3
CLOSURE_SHARE = 0.6  # share of an espeak stop segment given to the TIMIT closure before the release


@dataclass(frozen=True)
class MiniTimitConfig:
    """Size and seed of a generated corpus (defaults: 64 TRAIN, 48 TEST speakers)."""

    train_speakers_per_region: int = 8
    dev_speakers: int = 16
    extra_test_speakers_per_region: int = 1
    seed: int = 0
    lowercase: bool = False


@dataclass
class Speaker:
    id: str
    region: int
    sex: str
    voice: str
    pitch: int
    pitch_range: int
    rate: int
    word_gap: int


def load_phone_table() -> dict[str, list[str]]:
    """espeak mnemonic -> TIMIT-61 labels, from ``espeak_to_timit61.tsv``."""
    table = {}
    for line in resource_path("mini_timit", "espeak_to_timit61.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, _, labels = line.partition("\t")
        table[key] = labels.split()
    return table


def timit_segments(
    synth: Synthesis, table: dict[str, list[str]], lead_ms: int, tail_ms: int
) -> list[tuple[float, float, str]]:
    """TIMIT-61 segments ``(start_ms, end_ms, label)`` of a synthesis padded by ``lead_ms``/``tail_ms``.

    Raises:
        KeyError: an espeak phoneme missing from the table, by name.
    """
    starts = [ms for ms, _ in synth.phonemes] + [synth.duration_ms]
    raw: list[list] = []
    for (start, name), end in zip(synth.phonemes, starts[1:]):
        start, end = start + lead_ms, end + lead_ms
        mnemonic = name.replace("'", "").replace(",", "")
        if mnemonic in PAUSES:
            labels = ["pau"]
        elif mnemonic in table:
            labels = table[mnemonic]
        else:
            raise KeyError(f"espeak phoneme {name!r} has no TIMIT mapping in espeak_to_timit61.tsv")
        if not labels:  # a modifier: lengthens the previous segment
            if raw:
                raw[-1][1] = end
            continue
        if end <= start:
            continue
        shares = (
            [CLOSURE_SHARE, 1 - CLOSURE_SHARE]
            if len(labels) == 2 and labels[0].endswith("cl")
            else [1 / len(labels)] * len(labels)
        )
        t = start
        for label, share in zip(labels, shares):
            raw.append([t, t + share * (end - start), label])
            t += share * (end - start)
    merged: list[list] = []
    for seg in raw:
        if merged and seg[2] == "pau" and merged[-1][2] == "pau":
            merged[-1][1] = seg[1]
        else:
            merged.append(seg)
    while merged and merged[0][2] == "pau":
        merged.pop(0)
    while merged and merged[-1][2] == "pau":
        merged.pop()
    first = merged[0][0] if merged else lead_ms
    last = merged[-1][1] if merged else lead_ms
    total = synth.duration_ms + lead_ms + tail_ms
    return [(0.0, first, "h#"), *[tuple(s) for s in merged], (last, float(total), "h#")]


def word_segments(synth: Synthesis, text: str, lead_ms: int) -> list[tuple[float, float, str]]:
    """``(start_ms, end_ms, word)`` from WORD events; a word ends where the next one (or a pause) starts."""
    pause_starts = [ms for ms, name in synth.phonemes if name in PAUSES]
    out = []
    for k, (start, pos, length) in enumerate(synth.words):
        word = "".join(c for c in text[pos - 1 : pos - 1 + length].lower() if c.isalpha() or c == "'")
        if not word:
            continue
        nxt = synth.words[k + 1][0] if k + 1 < len(synth.words) else synth.duration_ms
        end = min([nxt, *[p for p in pause_starts if start < p < nxt]])
        if end > start:
            out.append((start + lead_ms, end + lead_ms, word))
    return out


def make_speakers(cfg: MiniTimitConfig, rng: random.Random) -> dict[str, list[Speaker]]:
    """TRAIN and TEST speakers with TIMIT-style ids (sex letter, three initials, a digit)."""
    core = [s.strip() for s in resource_path("timit", "core_test_spk.list").read_text(encoding="utf-8").split()]
    dev = [s.strip() for s in resource_path("timit", "dev_spk.list").read_text(encoding="utf-8").split()][
        : cfg.dev_speakers
    ]
    taken = read_speaker_list("core_test_spk.list") | read_speaker_list("dev_spk.list")

    def voice(spk_id: str, region: int) -> Speaker:
        sex = spk_id[0]
        return Speaker(
            id=spk_id,
            region=region,
            sex=sex,
            voice=f"{REGION_ACCENTS[region - 1]}+{rng.choice(VOICE_VARIANTS[sex])}",
            pitch=rng.randint(25, 75),
            pitch_range=rng.randint(30, 90),
            rate=rng.randint(145, 200),
            word_gap=rng.randint(0, 2),
        )

    def fabricated(region: int) -> Speaker:
        while True:
            spk_id = rng.choice("mf") + "".join(rng.choice("abcdefghijklmnoprstvw") for _ in range(3)) + "0"
            if spk_id not in taken:
                taken.add(spk_id)
                return voice(spk_id, region)

    train = [fabricated(r) for r in range(1, 9) for _ in range(cfg.train_speakers_per_region)]
    test = [voice(s, i // 3 + 1) for i, s in enumerate(core)]  # core list: 3 speakers per region, DR1 first
    test += [voice(s, i % 8 + 1) for i, s in enumerate(dev)]
    test += [fabricated(r) for r in range(1, 9) for _ in range(cfg.extra_test_speakers_per_region)]
    return {"TRAIN": train, "TEST": test}


def assign_sentences(
    speakers: dict[str, list[Speaker]], sentences: list[str], rng: random.Random
) -> dict[str, list[tuple[str, int]]]:
    """Per speaker, ``(utterance name, sentence index)``: SA1, SA2, then SX and SI sentences.

    TRAIN and TEST read disjoint sentence pools, in proportion to their number of speakers.
    """
    pool = list(range(SA_SENTENCES, len(sentences)))
    rng.shuffle(pool)
    n_train = len(speakers["TRAIN"])
    cut = len(pool) * n_train // (n_train + len(speakers["TEST"]))
    pools = {"TRAIN": pool[:cut], "TEST": pool[cut:]}
    plan = {}
    for part, spks in speakers.items():
        cursor = 0
        for spk in spks:
            chosen = [pools[part][(cursor + k) % len(pools[part])] for k in range(SX_PER_SPEAKER + SI_PER_SPEAKER)]
            cursor += SX_PER_SPEAKER + SI_PER_SPEAKER
            names = [(f"sa{k + 1}", k) for k in range(SA_SENTENCES)]
            names += [(f"sx{idx + 1}", idx) for idx in chosen[:SX_PER_SPEAKER]]
            names += [(f"si{1000 + idx}", idx) for idx in chosen[SX_PER_SPEAKER:]]
            plan[spk.id] = names
    return plan


def write_utterance(
    stem: Path, synth: Synthesis, text: str, table: dict[str, list[str]], rng: random.Random, upper: bool
) -> None:
    """Writes ``stem.WAV`` (NIST SPHERE, 16 kHz), ``.PHN``, ``.WRD`` and ``.TXT``."""
    lead_ms, tail_ms = rng.randint(80, 250), rng.randint(80, 250)
    audio = torch.from_numpy(synth.audio.astype(np.float32) / 32768.0)
    audio = AF.resample(audio, synth.sample_rate, SAMPLE_RATE)
    audio = torch.cat([torch.zeros(lead_ms * SAMPLE_RATE // 1000), audio, torch.zeros(tail_ms * SAMPLE_RATE // 1000)])
    gain = 10 ** (rng.uniform(-6.0, 0.0) / 20)
    noise_level = 10 ** (rng.uniform(-60.0, -45.0) / 20)  # a quiet recording booth, not digital silence
    generator = torch.Generator().manual_seed(rng.getrandbits(31))
    audio = gain * audio + noise_level * torch.randn(audio.shape, generator=generator)
    samples = (audio.clamp(-1, 1) * 32767).round().to(torch.int16).numpy()
    n = len(samples)

    def sample(ms: float) -> int:
        return min(n, int(round(ms * SAMPLE_RATE / 1000)))

    ext = (lambda e: e.upper()) if upper else (lambda e: e.lower())
    sf.write(str(stem.with_suffix(ext(".wav"))), samples, SAMPLE_RATE, format="NIST", subtype="PCM_16")
    phones = [(sample(a), sample(b), label) for a, b, label in timit_segments(synth, table, lead_ms, tail_ms)]
    stem.with_suffix(ext(".phn")).write_text(
        "".join(f"{a} {b} {label}\n" for a, b, label in phones if b > a), encoding="utf-8"
    )
    words = [(sample(a), sample(b), w) for a, b, w in word_segments(synth, text, lead_ms)]
    stem.with_suffix(ext(".wrd")).write_text("".join(f"{a} {b} {w}\n" for a, b, w in words), encoding="utf-8")
    stem.with_suffix(ext(".txt")).write_text(f"0 {n} {text}\n", encoding="utf-8")


def generate(out_dir: str | Path, cfg: MiniTimitConfig = MiniTimitConfig()) -> Path:
    """Generates mini-TIMIT under ``out_dir`` (skipped when already generated with the same config)."""
    out_dir = Path(out_dir)
    marker = out_dir / ".generate.done"
    if is_done(marker, asdict(cfg)):
        log.info("%s: mini-TIMIT already generated, skipping", out_dir)
        return out_dir
    rng = random.Random(cfg.seed)
    sentences = resource_path("mini_timit", "harvard_sentences.txt").read_text(encoding="utf-8").splitlines()
    table = load_phone_table()
    speakers = make_speakers(cfg, rng)
    plan = assign_sentences(speakers, sentences, rng)
    engine = Espeak()
    case = str.lower if cfg.lowercase else str.upper
    with atomic_path(out_dir) as tmp:
        count = 0
        for part, spks in speakers.items():
            for spk in spks:
                spk_dir = tmp / case(part) / case(f"dr{spk.region}") / case(spk.id)
                spk_dir.mkdir(parents=True)
                engine.set_voice(spk.voice, spk.pitch, spk.pitch_range, spk.rate, spk.word_gap)
                for name, idx in plan[spk.id]:
                    synth = engine.synthesize(sentences[idx], zlib.crc32(f"{cfg.seed}/{spk.id}/{name}".encode()))
                    write_utterance(spk_dir / case(name), synth, sentences[idx], table, rng, upper=not cfg.lowercase)
                    count += 1
    mark_done(marker, asdict(cfg))
    log.info("%s: generated %d utterances from %d speakers", out_dir, count, sum(len(s) for s in speakers.values()))
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the mini-TIMIT corpus in the TIMIT layout.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--train-speakers-per-region", type=int, default=MiniTimitConfig.train_speakers_per_region)
    parser.add_argument("--dev-speakers", type=int, default=MiniTimitConfig.dev_speakers)
    parser.add_argument(
        "--extra-test-speakers-per-region", type=int, default=MiniTimitConfig.extra_test_speakers_per_region
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lowercase", action="store_true", help="lower-case names, as on some TIMIT copies")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    generate(
        args.out,
        MiniTimitConfig(
            args.train_speakers_per_region,
            args.dev_speakers,
            args.extra_test_speakers_per_region,
            args.seed,
            args.lowercase,
        ),
    )


if __name__ == "__main__":
    main()
