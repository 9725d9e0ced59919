"""The embedded demo of the Kaldi recipe: a TIMIT-layout corpus (the generated mini-TIMIT by default)
written as three Kaldi data directories with word transcriptions.

``train/`` has one recording per utterance (``wav.scp`` pointing at the corpus's SPHERE files);
``dev/`` and ``test/`` have one recording per speaker, the speaker's utterances one after the other
with 0.3 s of silence between them, cut back into utterances by ``segments``, the way long
recordings usually reach Kaldi. Splits are TIMIT's protocol (dev = the 50 dev speakers, test = the
core test set). ``text`` holds the sentence of each utterance's ``.TXT``, lower-cased, without
punctuation; ``utt2spk`` the speakers. Every file is sorted in the C locale.

``lexicon.txt`` beside them is the pronunciation lexicon of the corpus's own word and phone
alignments (``.WRD`` and ``.PHN``): each word's phones (silences left out) in every utterance, its
pronunciations most frequent first, as TIMIT's ``TIMITDIC.TXT`` would serve (``units=phone``).

Usage: ``python -m asr_lstm.data.generators.kaldi_demo --timit data/mini_timit --out data/kaldi_demo``.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from asr_lstm.atomic import atomic_path
from asr_lstm.data.corpora.base import prepare_from_command_line
from asr_lstm.data.corpora.timit import Timit, read_text, sibling
from asr_lstm.data.done import is_done, mark_done

log = logging.getLogger(__name__)

GAP_S = 0.3  # silence between the utterances of a speaker's recording
SILENCES = {"h#", "pau", "epi"}


def words_of(sentence: str) -> list[str]:
    """``"Don't ask me, Sir."`` -> ``["don't", "ask", "me", "sir"]``."""
    return re.sub(r"[^a-z0-9' ]", " ", sentence.lower()).split()


def write_table(path: Path, lines: dict[str, str]) -> None:
    """``<id> <value>`` lines sorted by id in the C locale, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(
            "".join(f"{key} {lines[key]}\n" for key in sorted(lines, key=lambda k: k.encode())), encoding="utf-8"
        )


def write_split(rows: list[dict], out: Path, audio_dir: Path, segmented: bool) -> None:
    """One data directory for the rows of a split."""
    out.mkdir(parents=True, exist_ok=True)
    text = {r["id"]: " ".join(words_of(r["text"])) for r in rows}
    utt2spk = {r["id"]: r["speaker"] for r in rows}
    if not segmented:
        write_table(out / "wav.scp", {r["id"]: r["audio"] for r in rows})
    else:
        wav_scp, segments = {}, {}
        audio_dir.mkdir(parents=True, exist_ok=True)
        for speaker in sorted({r["speaker"] for r in rows}):
            pieces, start = [], 0.0
            for row in sorted((r for r in rows if r["speaker"] == speaker), key=lambda r: r["id"]):
                samples, rate = sf.read(row["audio"], dtype="int16")
                gap = np.zeros(int(GAP_S * rate), dtype=np.int16)
                segments[row["id"]] = f"{speaker} {start:.3f} {start + len(samples) / rate:.3f}"
                pieces += [samples, gap]
                start += (len(samples) + len(gap)) / rate
            recording = audio_dir / f"{speaker}.wav"
            sf.write(str(recording), np.concatenate(pieces), rate, subtype="PCM_16")
            wav_scp[speaker] = str(recording.resolve())
        write_table(out / "wav.scp", wav_scp)
        write_table(out / "segments", segments)
    write_table(out / "text", text)
    write_table(out / "utt2spk", utt2spk)


def aligned_pronunciations(row: dict) -> list[tuple[str, tuple[str, ...]]]:
    """``(word, phones)`` of each word of an utterance's ``.WRD``: the ``.PHN`` phones (silences
    left out) whose midpoint lies inside the word's samples. Each aligned word is named by the next
    word of ``text`` that it begins (``.WRD`` may lose what follows an apostrophe, ``king`` for
    ``king's``, or a word run into the next); one that begins none is left out."""
    wav = Path(row["audio"])
    phones = [line.split() for line in read_text(sibling(wav, ".phn")).splitlines() if line.strip()]
    aligned = [line.split() for line in read_text(sibling(wav, ".wrd")).splitlines() if line.strip()]
    words, j, out = words_of(row["text"]), 0, []
    for start, end, fragment in aligned:
        k = next((k for k in range(j, len(words)) if words[k].replace("'", "").startswith(fragment)), None)
        if k is None:
            continue
        inside = [p for a, b, p in phones if int(start) <= (int(a) + int(b)) / 2 < int(end) and p not in SILENCES]
        out.append((words[k], tuple(inside)))
        j = k + 1
    return out


def write_lexicon(rows: list[dict], path: Path) -> int:
    """Writes ``word p1 p2 ...`` lines of every aligned word of the rows (pronunciations of a word
    most frequent first), sorted by word; returns the number of words."""
    counts: dict[str, Counter] = {}
    for row in rows:
        for word, phones in aligned_pronunciations(row):
            if phones:
                counts.setdefault(word, Counter())[phones] += 1
    lines = [f"{word} {' '.join(phones)}\n" for word in sorted(counts)
             for phones, _ in sorted(counts[word].items(), key=lambda kv: (-kv[1], kv[0]))]  # fmt: skip
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    return len(counts)


def convert(timit: str | Path, out: str | Path) -> Path:
    """Writes ``out/{train,dev,test}`` from the TIMIT-layout corpus at ``timit``; skipped when done."""
    out = Path(out)
    params = {"timit": str(Path(timit).resolve()), "gap_s": GAP_S, "lexicon": sorted(SILENCES)}
    if is_done(out / ".done", params):
        log.info("%s: Kaldi data directories already written, skipping", out)
        return out
    splits = Timit(timit).split_rows()
    for split, rows in splits.items():
        write_split(rows, out / split, out / "audio" / split, segmented=split != "train")
        log.info("%s: %d utterances", out / split, len(rows))
    words = write_lexicon([r for rows in splits.values() for r in rows], out / "lexicon.txt")
    log.info("%s: %d words", out / "lexicon.txt", words)
    mark_done(out / ".done", params)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a TIMIT-layout corpus as Kaldi data directories.")
    parser.add_argument("--timit", required=True, help="the corpus (TRAIN/ and TEST/ inside)")
    parser.add_argument("--out", required=True, help="where train/, dev/ and test/ go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare_from_command_line("kaldi demo", lambda: convert(args.timit, args.out))


if __name__ == "__main__":
    main()
