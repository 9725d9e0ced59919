"""TIMIT (LDC93S1) preparation for the standard phone-recognition protocol.

Layout read: ``<root>/TRAIN|TEST/DR1..DR8/<speaker>/<utt>.WAV`` with ``.PHN``, ``.WRD`` and ``.TXT``
beside each ``.WAV`` (NIST SPHERE, 16 kHz); directory and file names may be upper or lower case.
``.PHN`` lines are ``start_sample end_sample label`` with the 61 TIMIT labels.

Protocol (Lee & Hon 1989; Halberstadt 1998): SA utterances are excluded; ``train`` = every TRAIN
speaker (3696 utterances); ``dev`` = the 50 standard dev speakers of TEST (400); ``test`` = the 24
core-test speakers (192), or with ``test_set="complete"`` all 168 TEST speakers (1344, which include
the dev speakers, as the "complete test set" of the literature does). Labels stay the 61 TIMIT phones;
folding to 39 (or 48) happens only when scoring.

Usage: ``python -m asr_lstm.data.corpora.timit --root /corpora/TIMIT --out data/timit``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import soundfile as sf

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.corpora.base import Corpus, CorpusError, prepare_from_command_line
from asr_lstm.data.phones import timit_phone_map
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.resources import resource_path

log = logging.getLogger(__name__)

TEST_SETS = ("core", "complete")
SAMPLE_RATE = 16000  # every TIMIT recording
STANDARD_SIZES = {"train": 3696, "dev": 400, "core": 192, "complete": 1344}


def read_speaker_list(name: str) -> set[str]:
    """Lower-case speaker ids from ``resources/timit/<name>``."""
    return {s.strip().lower() for s in resource_path("timit", name).read_text(encoding="utf-8").split()}


def find_child(parent: Path, name: str) -> Path | None:
    """The entry of ``parent`` called ``name`` in any letter case, or ``None``."""
    exact = parent / name
    if exact.exists():
        return exact
    for child in parent.iterdir():
        if child.name.lower() == name.lower():
            return child
    return None


def sibling(wav: Path, ext: str) -> Path | None:
    """The file next to ``wav`` with the same stem and extension ``ext`` in either case."""
    for candidate in (wav.with_suffix(ext.upper()), wav.with_suffix(ext.lower())):
        if candidate.is_file():
            return candidate
    return None


def read_text(path: Path) -> str:
    """A TIMIT text file (``.PHN``, ``.TXT``); bytes that are not UTF-8 are an error naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path}: not a text file (byte {err.start} is not UTF-8: {err.reason})") from None


def read_phn(path: Path, num_samples: int, known: set[str]) -> list[tuple[int, int, str]]:
    """Parses a ``.PHN`` file into ``(start, end, label)`` segments, validating every line."""
    segments = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        cols = line.split()
        if len(cols) != 3 or not cols[0].isdigit() or not cols[1].isdigit():
            raise CorpusError(f"{path}:{lineno}: expected 'start_sample end_sample phone', got {line!r}")
        start, end, label = int(cols[0]), int(cols[1]), cols[2].lower()
        if label not in known:
            raise CorpusError(f"{path}:{lineno}: unknown phone label {cols[2]!r} (not one of the 61 TIMIT labels)")
        if end <= start:
            raise CorpusError(f"{path}:{lineno}: segment end {end} is not after its start {start}")
        segments.append((start, end, label))
    if not segments:
        raise CorpusError(f"{path}: no phone segments")
    if segments[-1][1] > num_samples:
        raise CorpusError(
            f"{path}: last segment ends at sample {segments[-1][1]} but the audio has only "
            f"{num_samples} samples (truncated .WAV?)"
        )
    return segments


def read_audio_length(path: Path) -> tuple[int, int]:
    """``(num_samples, sample_rate)`` of a readable, non-empty audio file from its header (the samples
    are not decoded); raises naming the file."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise CorpusError(f"{path}: cannot read audio ({err})") from None
    if info.frames == 0:
        raise CorpusError(f"{path}: empty audio (0 samples)")
    return info.frames, info.samplerate


def read_txt(path: Path | None) -> str:
    """The sentence of a ``.TXT`` file (``start end text``), or ``""`` if there is none."""
    if path is None:
        return ""
    parts = read_text(path).strip().split(maxsplit=2)
    return parts[2] if len(parts) == 3 else ""


class Timit(Corpus):
    """The TIMIT corpus at ``root``, prepared with the standard dev and test speakers.

    Args:
        root: directory holding ``TRAIN`` and ``TEST`` (any case).
        test_set: ``core`` (24 speakers, 192 utterances) or ``complete`` (168 speakers, 1344).
    """

    reference_key = "phones"
    scoring_folding = "39"

    def __init__(self, root: str | Path, test_set: str = "core"):
        if test_set not in TEST_SETS:
            raise ValueError(f"test_set must be one of {TEST_SETS}, got {test_set!r}")
        self.root = Path(root)
        self.test_set = test_set

    def params(self) -> dict:
        return {"corpus": "timit", "root": str(self.root.resolve()), "test_set": self.test_set}

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(timit_phone_map().phones61)

    def utterances(self, part: str, problems: list[tuple[str, BadItem]]) -> list[dict]:
        """Manifest rows of every non-SA utterance under ``TRAIN`` or ``TEST``, sorted by id; each bad
        utterance is added to ``problems`` as ``(speaker, item)`` instead (its split is the speaker's)."""
        part_dir = find_child(self.root, part)
        if part_dir is None or not part_dir.is_dir():
            raise CorpusError(
                f"{self.root}: no {part} directory (expected the LDC93S1 layout {part}/DR1..DR8/<speaker>/)"
            )
        known = set(timit_phone_map().phones61)
        rows = []
        for wav in sorted(p for p in part_dir.glob("*/*/*") if p.suffix.lower() == ".wav"):
            if wav.stem.lower().startswith("sa"):
                continue
            try:
                rows.append(self.row(wav, known))
            except CorpusError as err:
                speaker = wav.parent.name.lower()
                problems.append((speaker, BadItem(part.lower(), f"{speaker}_{wav.stem.lower()}", str(wav), str(err))))
        if not rows and not problems:
            raise CorpusError(f"{part_dir}: no .WAV files under DR*/<speaker>/")
        return rows

    @staticmethod
    def row(wav: Path, known: set[str]) -> dict:
        """The manifest row of one utterance, validating its audio and transcriptions."""
        phn = sibling(wav, ".phn")
        if phn is None:
            raise CorpusError(f"{wav}: missing transcription {wav.with_suffix('.PHN').name}")
        num_samples, rate = read_audio_length(wav)
        if rate != SAMPLE_RATE:
            raise CorpusError(f"{wav}: sampled at {rate} Hz; TIMIT's audio is {SAMPLE_RATE} Hz")
        segments = read_phn(phn, num_samples, known)
        speaker = wav.parent.name.lower()
        return {
            "id": f"{speaker}_{wav.stem.lower()}",
            "audio": str(wav.resolve()),
            "phones": [label for _, _, label in segments],
            "text": read_txt(sibling(wav, ".txt")),
            "speaker": speaker,
            "dialect": wav.parent.parent.name.lower(),
            "num_samples": num_samples,
            "sample_rate": rate,
            "duration": num_samples / rate,
        }

    def split_rows(self) -> dict[str, list[dict]]:
        """The protocol's ``train``, ``dev`` and ``test`` rows."""
        if not self.root.is_dir():
            raise CorpusError(f"{self.root}: no such directory (the TIMIT root, holding TRAIN/ and TEST/)")
        problems: list[tuple[str, BadItem]] = []
        test_rows, train_rows = self.utterances("TEST", problems), self.utterances("TRAIN", problems)
        dev_speakers = read_speaker_list("dev_spk.list")
        core_speakers = read_speaker_list("core_test_spk.list")
        for speaker, item in problems:  # in the split its speaker belongs to, or in none
            split = "train" if item.split == "train" else "dev" if speaker in dev_speakers else "test"
            if split != "test" or self.test_set == "complete" or speaker in core_speakers:
                self.bad_items.append(BadItem(split, item.id, item.file, item.reason))
        splits = {
            "train": train_rows,
            "dev": [r for r in test_rows if r["speaker"] in dev_speakers],
            "test": test_rows
            if self.test_set == "complete"
            else [r for r in test_rows if r["speaker"] in core_speakers],
        }
        for name in ("dev", "test"):
            if not splits[name]:
                raise CorpusError(
                    f"{self.root}: none of the standard {name} speakers "
                    f"({'dev_spk.list' if name == 'dev' else 'core_test_spk.list'}) is under TEST"
                )
        train_speakers = {r["speaker"] for r in splits["train"]}
        overlap = train_speakers & {r["speaker"] for r in test_rows}
        if overlap:
            raise CorpusError(f"{self.root}: speakers in both TRAIN and TEST: {sorted(overlap)[:5]}")
        return splits

    def describe(self, split: str, rows: list[dict]) -> str:
        expected = STANDARD_SIZES[self.test_set if split == "test" else split]
        return f"{split}: {len(rows)} utterances, {len({r['speaker'] for r in rows})} speakers (standard TIMIT: {expected} utterances)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prepare TIMIT manifests (train/dev/test).")
    parser.add_argument("--root", required=True, help="directory holding TRAIN and TEST")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl")
    parser.add_argument("--test-set", choices=TEST_SETS, default="core")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare_from_command_line("timit", lambda: Timit(args.root, args.test_set).prepare(args.out))


if __name__ == "__main__":
    main()
