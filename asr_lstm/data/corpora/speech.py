"""What the user's own speech corpora share (Kaldi data directories, lhotse manifests): an utterance
is an audio source (a path, or a command ending in ``|``) with an optional time segment of it, and
its labels are the characters of its words with ``|`` between words, so CER and WER are both scored."""

from __future__ import annotations

from asr_lstm.data.corpora.base import Corpus
from asr_lstm.data.corpora.handwriting import WORD_SEPARATOR, character_vocabulary
from asr_lstm.data.tokens import Vocabulary


def transcription_problem(words: list[str]) -> str | None:
    """What keeps words from being character labels (none, or the word separator in a word), or ``None``."""
    if not words:
        return "no transcription"
    inside = [w for w in words if WORD_SEPARATOR in w]
    return f"the word separator {WORD_SEPARATOR!r} inside {inside[0]!r}" if inside else None


def speech_row(
    utt: str,
    words: list[str],
    source: str,
    segment: tuple[float, float] | None,
    speaker: str,
    recording: str,
    recording_duration: float | None,
) -> dict:
    """The manifest row of an utterance of a user's speech corpus: its audio source (a path, or a
    command ending in ``|``), its ``segment`` of it in seconds if any, and character labels."""
    row = {
        "id": utt,
        "audio": source,
        "chars": list(WORD_SEPARATOR.join(words)),
        "text": " ".join(words),
        "speaker": speaker,
        "recording": recording,
    }
    if segment is not None:
        row["segment"] = [segment[0], segment[1]]
        row["duration"] = segment[1] - segment[0]
    elif recording_duration is not None:
        row["duration"] = recording_duration
    return row


class CharacterSpeechCorpus(Corpus):
    """A speech corpus labelled by characters; subclasses read their format in :meth:`split_rows`."""

    reference_key = "chars"
    metric = "cer"
    word_separator = WORD_SEPARATOR

    def vocabulary(self) -> Vocabulary:
        return character_vocabulary(self.split_rows())

    def vocabulary_of(self, splits: dict[str, list[dict]]) -> Vocabulary:
        return character_vocabulary(splits)

    def describe(self, split: str, rows: list[dict]) -> str:
        hours = sum(row.get("duration", 0.0) for row in rows) / 3600
        return f"{split}: {len(rows)} utterances, {hours:.2f} h, {len({r['speaker'] for r in rows})} speakers"
