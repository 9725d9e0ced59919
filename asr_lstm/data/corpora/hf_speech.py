"""A speech corpus of your own as a Hugging Face dataset: the Parquet files of its splits.

The speech datasets of the Hugging Face Hub in Parquet (what the ``datasets`` library's
``to_parquet`` and ``push_to_hub`` write, and the Hub's conversion of other datasets) hold an
utterance's audio in an ``audio`` column (the ``Audio`` feature: the file's bytes, or its path) and
its transcription in a text column (``text``; Common Voice's is ``sentence``), often with a speaker
column (LibriSpeech's ``speaker_id``, Common Voice's ``client_id``). A folder downloaded from the
Hub or saved by the ``datasets`` library (``save_to_disk``: Arrow files), or the files of each
split, train as they are (:mod:`~asr_lstm.data.corpora.hf_tables`: the
split rule, the columns, audio as bytes or paths).

An utterance's audio is written unchanged to ``audio_dir/<file>/<row>.flac`` (its format's suffix;
the row of its file, counted from 0), whence the features read it. Its speaker (per-speaker CMVN)
is the speaker column's value, or the utterance itself without one. Labels as for Kaldi data
directories: characters with ``|`` between words, CER and WER (or the ``units`` chosen). An
utterance whose transcription is empty or holds ``|``, and one whose audio is missing or not audio
soundfile reads, is a bad item (``data.on_error``). A file that is missing or not Parquet (or Arrow), one
without a column read, a file of the folder that names no split or two, and a split without files
stop preparation, every one named.

Usage: ``python -m asr_lstm.data.corpora.hf_speech --dataset DIR --out data/hf_speech``.
"""

from __future__ import annotations

import argparse
import io
import logging
from collections.abc import Mapping
from pathlib import Path

import soundfile as sf

from asr_lstm.atomic import atomic_path
from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.corpora.base import prepare_from_command_line
from asr_lstm.data.corpora.hf_tables import HfTables, add_table_options, table_files_of
from asr_lstm.data.corpora.speech import CharacterSpeechCorpus, speech_row
from asr_lstm.data.unicode_forms import add_form_option


def write_audio(data: bytes, stem: Path) -> tuple[Path, float]:
    """Writes an audio file's bytes unchanged to ``stem`` with its format's suffix (``.flac``),
    atomically, once soundfile has read its header; returns the file and its duration in seconds.

    Raises:
        ValueError: the bytes are not audio soundfile reads, saying why.
    """
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise ValueError(f"the audio cannot be read ({err})") from None
    out = stem.with_name(f"{stem.name}.{info.format.lower()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out, info.duration


class HfSpeech(CharacterSpeechCorpus):
    """The utterances of a Hugging Face dataset's Parquet or Arrow files.

    Args:
        audio_dir: where each utterance's audio is written.
        dataset: a folder of Parquet or Arrow files, assigned to splits by their names (or ``None``).
        files: ``{split: file or files}`` for each of train, dev and test (when ``dataset`` is ``None``).
        audio_column: the column of the audio (an ``Audio`` feature, or audio file bytes).
        text_column: the column of the transcriptions.
        speaker_column: the column of the speakers, or ``None``: each utterance its own.
        id_column: the column of the utterances' ids (LibriSpeech's ``id``), or ``None``: ``<file>-<row>``.
    """

    def __init__(
        self,
        audio_dir: str | Path,
        dataset: str | Path | None = None,
        files: Mapping | None = None,
        audio_column: str = "audio",
        text_column: str = "text",
        speaker_column: str | None = None,
        id_column: str | None = None,
    ):
        reader = "data=hf_speech reads Hugging Face datasets' Parquet and Arrow files"
        columns = {"audio_column": audio_column, "text_column": text_column}
        if speaker_column is not None:
            columns["speaker_column"] = speaker_column
        self.parquet = HfTables(reader, dataset, files, "audio", columns, id_column)
        self.audio_dir = Path(audio_dir)

    def params(self) -> dict:
        return {"corpus": "hf_speech", **self.parquet.params(), "audio_dir": str(self.audio_dir.resolve())}

    def describe_root(self) -> str:
        return self.parquet.describe()

    def split_rows(self) -> dict[str, list[dict]]:
        return self.parquet.manifest_rows(self.row)

    def row(self, split: str, path: Path, file_id: str, r: int, utt: str, cells: tuple) -> dict | None:
        """The manifest row of row ``r`` of ``path`` (``cells``: audio, text, and speaker if read),
        its audio written under ``audio_dir``; or ``None`` with the reason in :attr:`bad_items`."""
        audio, text, *speaker = cells
        words, data = self.parquet.words_and_bytes(audio, text, path)
        reason = data if isinstance(data, str) else None
        if reason is None:
            try:
                written, duration = write_audio(data, self.audio_dir / file_id / f"{r:06d}")
            except ValueError as err:
                reason = str(err)
        if reason is not None:
            self.bad_items.append(BadItem(split, utt, str(path), f"{path}: row {r}: {reason}"))
            return None
        who = str(speaker[0]) if speaker and speaker[0] is not None else utt
        row = speech_row(utt, words, str(written.resolve()), None, who, utt, duration)
        return {**row, "parquet": str(path.resolve()), "row": r}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Prepare speech manifests from a Hugging Face dataset's Parquet or Arrow files."
    )
    add_table_options(parser)
    parser.add_argument("--audio-column", default="audio", help="the column of the audio (default audio)")
    parser.add_argument("--text-column", default="text", help="the column of the transcriptions (default text)")
    parser.add_argument("--speaker-column", help="the column of the speakers (default: none, each utterance its own)")
    parser.add_argument("--id-column", help="the column of the utterances' ids (default: none, <file>-<row>)")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl, tokens.txt and audio/")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="skip")
    add_form_option(parser)
    args = parser.parse_args(argv)
    files = table_files_of(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def prepare() -> None:
        corpus = HfSpeech(Path(args.out) / "audio", args.dataset, files, args.audio_column, args.text_column,
                          args.speaker_column, args.id_column)  # fmt: skip
        corpus.prepare(args.out, args.on_error, normalization=args.normalization)

    prepare_from_command_line("hf_speech data", prepare)


if __name__ == "__main__":
    main()
