"""SpeechBrain's data manifests, one per split: what its corpus preparation scripts write (the CSV or
JSON files of its TIMIT, LibriSpeech, Common Voice ... recipes) feeds this toolkit as it is.

A CSV has a header line with an ``ID`` column, one utterance a line (SpeechBrain's
``load_data_csv``); a JSON file is an object of utterances, each an object of fields, keyed by ID
(``load_data_json``). In a CSV, ``$name`` stands for a value of ``replacements``
(``$data_root/LibriSpeech/...``); in a JSON file, ``{name}``, as SpeechBrain formats them. The audio
is the ``audio_key`` field (``wav``): a file, or, in JSON, ``{"file": ..., "start": ..., "stop":
...}`` with the segment in samples. The transcription is the ``text_key`` field (``wrd``), the
speaker the ``speaker_key`` field (``spk_id``; without it, each utterance is its own speaker).

A manifest that is missing, not UTF-8, not a table with an ``ID`` column (or an object of objects),
that lacks the audio or text field, or uses a ``$name`` no replacement gives, and an ID in two
places, stop preparation, every one named with its file and line (or ID). A missing or unreadable
audio file, and an empty transcription or one with ``|``, are bad items (``data.on_error``). Labels
as for Kaldi data directories: characters, ``|`` between words, CER and WER.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path

import soundfile as sf

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.speech import CharacterSpeechCorpus, speech_row, transcription_problem
from asr_lstm.data.corpora.splits import files_to_read
from asr_lstm.text_files import numbered_lines

log = logging.getLogger(__name__)

CSV_VARIABLE = re.compile(r"\$([\w.]+)")  # SpeechBrain's load_data_csv
JSON_VARIABLE = re.compile(r"\{([\w.]+)\}")  # str.format_map, as load_data_json


def replaced(value: str, pattern: re.Pattern, replacements: dict[str, str], missing: set[str]) -> str:
    """``value`` with each variable of ``pattern`` replaced; names without a replacement go to ``missing``."""

    def substitute(match: re.Match) -> str:
        if match[1] not in replacements:
            missing.add(match[1])
            return match[0]
        return str(replacements[match[1]])

    return pattern.sub(substitute, value)


def text_of(path: Path, problems: list[str]) -> str | None:
    """The text of a manifest, or ``None`` when it is not UTF-8 (named in ``problems``)."""
    before = len(problems)
    lines = numbered_lines(path, problems)
    return None if len(problems) > before else "\n".join(line for _, line in lines)


def read_csv(path: Path, problems: list[str]) -> list[tuple[str, str, dict]]:
    """``(ID, where, fields)`` of each line of a SpeechBrain CSV (``where``: ``file:line``)."""
    text = text_of(path, problems)
    if text is None:
        return []
    reader = csv.DictReader(text.splitlines(), skipinitialspace=True)
    if reader.fieldnames is None or "ID" not in reader.fieldnames:
        problems.append(
            f"{path}:1: no ID column in the header {reader.fieldnames} (SpeechBrain's CSV: ID,duration,...)"
        )
        return []
    return [(row.pop("ID"), f"{path}:{reader.line_num}", row) for row in reader]


def read_json(path: Path, problems: list[str]) -> list[tuple[str, str, dict]]:
    """``(ID, where, fields)`` of each utterance of a SpeechBrain JSON manifest (``where``: ``file: ID``)."""
    text = text_of(path, problems)
    if text is None:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        problems.append(f"{path}:{err.lineno}: not JSON ({err.msg})")
        return []
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        problems.append(f"{path}: not an object of utterances, each an object of fields (SpeechBrain's JSON)")
        return []
    return [(utt, f"{path}: {utt}", dict(fields)) for utt, fields in data.items()]


class SpeechBrainManifests(CharacterSpeechCorpus):
    """A speech corpus given as SpeechBrain CSV or JSON manifests per split.

    Args:
        train, dev, test: a ``.csv`` or ``.json`` manifest per split.
        replacements: the values of the manifests' variables (``{data_root: /corpora/LibriSpeech}``).
        audio_key, text_key, speaker_key: the fields of the audio, the transcription and the speaker.
    """

    def __init__(
        self,
        train: str,
        dev: str,
        test: str,
        replacements: dict[str, str] | None = None,
        audio_key: str = "wav",
        text_key: str = "wrd",
        speaker_key: str = "spk_id",
    ):
        self.manifests = {"train": Path(train), "dev": Path(dev), "test": Path(test)}
        self.replacements = {str(k): str(v) for k, v in (replacements or {}).items()}
        self.audio_key, self.text_key, self.speaker_key = audio_key, text_key, speaker_key

    def params(self) -> dict:
        stamps = {split: [str(path.resolve()), path.stat().st_mtime_ns if path.is_file() else None]
                  for split, path in self.manifests.items()}  # fmt: skip
        return {"corpus": "speechbrain", "manifests": stamps, "replacements": self.replacements,
                "keys": [self.audio_key, self.text_key, self.speaker_key]}  # fmt: skip

    def describe_root(self) -> str:
        return ", ".join(str(path) for path in self.manifests.values())

    def split_rows(self) -> dict[str, list[dict]]:
        problems: list[str] = []
        seen: dict[str, str] = {}
        entries: dict[str, list[tuple[str, str, dict]]] = {split: [] for split in self.manifests}
        for split, path in files_to_read(self.manifests, "manifest", "utterances", problems):
            json_file = path.suffix.lower() == ".json"
            pattern = JSON_VARIABLE if json_file else CSV_VARIABLE
            missing: set[str] = set()
            for utt, where, fields in (read_json if json_file else read_csv)(path, problems):
                absent = [key for key in (self.audio_key, self.text_key) if fields.get(key) is None]
                if absent:
                    present = sorted(key for key, value in fields.items() if value is not None)
                    problems.append(f"{where}: no {' or '.join(absent)} field (it has {present}; "
                                    "data.corpus.audio_key and text_key name the fields)")  # fmt: skip
                    continue
                if (first := seen.setdefault(utt, where)) != where:
                    problems.append(f"{where}: {utt!r} is also at {first}")
                    continue
                fields = {key: self.replace(value, pattern, missing) for key, value in fields.items()}
                entries[split].append((utt, where, fields))
            if missing:
                names = ", ".join(sorted(missing))
                problems.append(f"{path}: no value for the variables {names}: give them as "
                                f"'data.corpus.replacements={{{sorted(missing)[0]}: ...}}'")  # fmt: skip
        CorpusError.raise_all(problems)
        return {split: [row for entry in rows if (row := self.row(split, *entry)) is not None]
                for split, rows in entries.items()}  # fmt: skip

    def replace(self, value, pattern: re.Pattern, missing: set[str]):
        """A field's value with its variables replaced (strings, and the strings of a JSON object)."""
        if isinstance(value, str):
            return replaced(value, pattern, self.replacements, missing)
        if isinstance(value, dict):
            return {key: self.replace(v, pattern, missing) for key, v in value.items()}
        return value

    def row(self, split: str, utt: str, where: str, fields: dict) -> dict | None:
        """The manifest row of an utterance, or ``None`` with the reason in :attr:`bad_items`."""
        audio, words = fields[self.audio_key], str(fields[self.text_key]).split()
        path = Path(audio["file"] if isinstance(audio, dict) else audio)
        reason = transcription_problem(words)
        segment, duration = None, None
        if reason is None:
            try:
                info = sf.info(str(path))
                duration = info.frames / info.samplerate
                if isinstance(audio, dict) and "start" in audio and "stop" in audio:
                    segment = (int(audio["start"]) / info.samplerate, int(audio["stop"]) / info.samplerate)
            except (sf.LibsndfileError, RuntimeError) as err:
                reason = f"{path}: no such file" if not path.exists() else f"{path}: cannot read audio ({err})"
        if reason is not None:
            self.bad_items.append(BadItem(split, utt, str(path), f"{where}: {reason}"))
            return None
        speaker = str(fields.get(self.speaker_key, utt))
        return speech_row(utt, words, str(path.resolve()), segment, speaker, str(path), duration)
