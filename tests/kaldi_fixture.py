"""Tiny Kaldi data directories (wav.scp, text, utt2spk, optional segments) over generated WAV files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
SENTENCES = ("the cat sat", "a dog ran far", "we met at noon", "the sun is up")


def write_recording(path: Path, seconds: float, seed: int) -> Path:
    """A noise recording of ``seconds`` (16 kHz, 16-bit WAV)."""
    audio = (np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE)) * 3000).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")
    return path


def write_data_dir(root: Path, name: str, speakers=("spk1", "spk2"), segments: bool = False, seed: int = 0) -> Path:
    """``root/name``: per speaker either one recording per utterance (1 s each), or with ``segments``
    one 4.5 s recording cut into 1 s utterances; ids sorted in the C locale, as Kaldi wants them."""
    data = root / name
    data.mkdir(parents=True, exist_ok=True)
    wav, text, utt2spk, segs = [], [], [], []
    for k, spk in enumerate(speakers):
        if segments:
            rec = f"{spk}-rec"
            audio = write_recording(root / "audio" / name / f"{rec}.wav", 4.5, seed + k)
            wav.append(f"{rec} {audio}")
        for j, sentence in enumerate(SENTENCES):
            utt = f"{spk}-u{j}"
            if segments:
                segs.append(f"{utt} {spk}-rec {j + 0.1:.2f} {j + 1.1:.2f}")
            else:
                wav.append(f"{utt} {write_recording(root / 'audio' / name / f'{utt}.wav', 1.0, seed + 10 * k + j)}")
            text.append(f"{utt} {sentence}")
            utt2spk.append(f"{utt} {spk}")
    (data / "wav.scp").write_text("\n".join(sorted(wav)) + "\n")
    (data / "text").write_text("\n".join(text) + "\n")
    (data / "utt2spk").write_text("\n".join(utt2spk) + "\n")
    if segments:
        (data / "segments").write_text("\n".join(segs) + "\n")
    return data


def write_speechbrain_csv(root: Path, name: str, seed: int = 0) -> Path:
    """``root/name.csv``: a SpeechBrain manifest of one 1 s recording per utterance under
    ``root/audio/name/``, its ``wav`` paths written with ``$data_root`` (= ``root``)."""
    lines = ["ID,duration,wav,spk_id,wrd"]
    for k, spk in enumerate(("spk1", "spk2")):
        for j, sentence in enumerate(SENTENCES):
            utt = f"{name}-{spk}-u{j}"
            write_recording(root / "audio" / name / f"{utt}.wav", 1.0, seed + 10 * k + j)
            lines.append(f"{utt},1.0,$data_root/audio/{name}/{utt}.wav,{spk},{sentence}")
    path = root / f"{name}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
