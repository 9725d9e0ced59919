"""Kaldi data directories, one per split: a user's own speech corpus in the format Kaldi recipes write.

Files read from each directory (https://kaldi-asr.org/doc/data_prep.html):

    wav.scp   <recording-id> <path>           or   <recording-id> <command> |   (audio on its stdout)
    segments  <utterance-id> <recording-id> <start-s> <end-s>   optional; without it an utterance is a recording
    text      <utterance-id> <word> <word> ...
    utt2spk   <utterance-id> <speaker-id>                       optional; without it each utterance is its own speaker

Validated as Kaldi's ``utils/validate_data_dir.sh`` does, before anything is written: every file
sorted by id in the C locale (``LC_ALL=C sort``) with unique ids; the utterances of ``text``,
``utt2spk`` and ``segments`` (or ``wav.scp``) the same; every segment inside its recording (up to
Kaldi's 0.5 s overshoot of ``extract-segments``, clipped) and on a recording of ``wav.scp``. Every
problem is named with its file and line, all in one error. A ``wav.scp`` command runs a shell
command, so it is refused unless the corpus is built with ``allow_pipes=True``; archive offsets
(``foo.ark:123``) are refused (``wav-copy`` writes files). Relative paths are read from the current
directory, as Kaldi's tools do. An audio file that is missing or unreadable is a bad item of its
utterance (``data.on_error``).

Labels: the characters of the words with ``|`` between words, so CER and WER are both scored.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import soundfile as sf

from asr_lstm.data.audio import is_command
from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.corpora.base import CorpusError, prepare_from_command_line
from asr_lstm.data.corpora.speech import CharacterSpeechCorpus, speech_row, transcription_problem
from asr_lstm.data.corpora.splits import shared_files
from asr_lstm.data.unicode_forms import add_form_option
from asr_lstm.text_files import numbered_lines

log = logging.getLogger(__name__)

DATA_FILES = ("wav.scp", "segments", "text", "utt2spk")
MAX_OVERSHOOT_S = 0.5  # extract-segments' --max-overshoot: a segment may end this far past its recording
ARCHIVE_OFFSET = re.compile(r"\.ark:\d+$")


def c_sort_key(key: str) -> bytes:
    """The order of ``LC_ALL=C sort``: by bytes."""
    return key.encode("utf-8")


def read_table(path: Path, problems: list[str]) -> dict[str, tuple[int, str]]:
    """A Kaldi table file ``<id> <rest>`` a line as ``{id: (line number, rest)}``; lines out of C-locale
    order, repeated ids and lines without a value are added to ``problems``."""
    table: dict[str, tuple[int, str]] = {}
    previous = None
    for lineno, line in numbered_lines(path, problems):
        if not line.strip():
            continue
        key, *value = line.split(maxsplit=1)  # Kaldi separates the id by any white space
        rest = value[0].strip() if value else ""
        if key in table:
            problems.append(f"{path}:{lineno}: id {key!r} repeated (first at line {table[key][0]})")
            continue
        if previous is not None and c_sort_key(key) < c_sort_key(previous):
            problems.append(f"{path}:{lineno}: not sorted: {key!r} after {previous!r} (sort it with LC_ALL=C sort)")
        previous = key
        if path.name != "text" and not rest:
            problems.append(f"{path}:{lineno}: {key!r} has no value")
            continue
        table[key] = (lineno, rest)
    return table


class KaldiDataDir:
    """One Kaldi data directory, validated; :meth:`rows` gives the manifest rows of its utterances.

    Args:
        path: the directory.
        allow_pipes: accept ``wav.scp`` commands (``... |``), which run in a shell when features are made.
    """

    def __init__(self, path: str | Path, allow_pipes: bool = False):
        self.path = Path(path)
        self.allow_pipes = allow_pipes

    def files(self) -> dict[str, Path]:
        """The data files present, by name."""
        return {name: self.path / name for name in DATA_FILES if (self.path / name).is_file()}

    def rows(self, split: str, problems: list[str], bad_items: list[BadItem]) -> list[dict]:
        """The manifest rows (sorted by id); layout problems go to ``problems``, utterances whose audio
        cannot be read to ``bad_items``."""
        if not self.path.is_dir():
            problems.append(f"{self.path}: no such data directory (for {split})")
            return []
        files = self.files()
        missing = [name for name in ("wav.scp", "text") if name not in files]
        if missing:
            problems.append(f"{self.path}: no {' and no '.join(missing)} (a Kaldi data directory has wav.scp and text)")
            return []
        start = len(problems)
        tables = {name: read_table(path, problems) for name, path in files.items()}
        recordings = self.recordings(tables["wav.scp"], files["wav.scp"], problems)
        segments = self.segments(tables, files, recordings, problems) if "segments" in tables else None
        utterances = set(tables["segments" if segments is not None else "wav.scp"])  # bad lines too: named once
        source_name = "segments" if segments is not None else "wav.scp"
        self.same_utterances(files, tables, utterances, source_name, problems)
        for utt, (lineno, text) in tables["text"].items():
            if why := transcription_problem(text.split()):
                problems.append(f"{files['text']}:{lineno}: {utt}: {why}")
        if len(problems) > start:
            return []
        speakers = {utt: value for utt, (_, value) in tables.get("utt2spk", {}).items()}
        rows = []
        for utt in sorted(utterances, key=c_sort_key):
            words = tables["text"][utt][1].split()
            recording, segment = (segments[utt][0], segments[utt][1:]) if segments is not None else (utt, None)
            source, duration = recordings[recording]
            if isinstance(duration, BadItem):
                bad_items.append(BadItem(split, utt, duration.file, duration.reason))
                continue
            if segment is not None and duration is not None:
                segment = (segment[0], min(segment[1], duration))
            rows.append(speech_row(utt, words, source, segment, speakers.get(utt, utt), recording, duration))
        return rows

    def recordings(self, table: dict[str, tuple[int, str]], path: Path, problems: list[str]) -> dict:
        """``{recording: (source, duration s | None | BadItem)}``: a command's duration is unknown
        until it runs; an unreadable file's is the bad item of its utterances."""
        recordings = {}
        for rec, (lineno, value) in table.items():
            if is_command(value):
                if not self.allow_pipes:
                    problems.append(
                        f"{path}:{lineno}: {rec} is a command ({value!r}), which would run in a shell; "
                        "set data.corpus.allow_pipes=true to run the commands of this wav.scp"
                    )
                    continue
                recordings[rec] = (value, None)
                continue
            if ARCHIVE_OFFSET.search(value):
                problems.append(
                    f"{path}:{lineno}: {rec} is an archive offset ({value!r}); write the audio as files "
                    "(wav-copy scp:wav.scp ark,scp:...) and point wav.scp at them"
                )
                continue
            audio = Path(value)
            try:
                info = sf.info(str(audio))
                recordings[rec] = (str(audio.resolve()), info.frames / info.samplerate)
            except (sf.LibsndfileError, RuntimeError) as err:
                why = "no such file" if not audio.exists() else f"cannot read audio ({err})"
                recordings[rec] = (str(audio), BadItem("", rec, str(audio), f"{audio}: {why} ({path}:{lineno})"))
        return recordings

    @staticmethod
    def segments(tables: dict, files: dict[str, Path], recordings: dict, problems: list[str]) -> dict:
        """``{utterance: (recording, start, end)}`` of ``segments``, each checked against its recording."""
        path, wav_scp = files["segments"], tables["wav.scp"]
        segments = {}
        for utt, (lineno, value) in tables["segments"].items():
            fields = value.split()
            try:
                rec, start, end = fields[0], float(fields[1]), float(fields[2])
                if len(fields) != 3:
                    raise ValueError
            except (IndexError, ValueError):
                problems.append(
                    f"{path}:{lineno}: expected '<utterance> <recording> <start> <end>', got {utt} {value!r}"
                )
                continue
            where = f"{path}:{lineno}: {utt}"
            if rec not in wav_scp:
                problems.append(f"{where}: recording {rec!r} is not in {files['wav.scp']}")
                continue
            if start < 0 or end <= start:
                problems.append(f"{where}: segment {start:g}-{end:g} s is empty or starts before 0")
                continue
            duration = recordings.get(rec, (None, None))[1]
            if isinstance(duration, float) and end > duration + MAX_OVERSHOOT_S:
                problems.append(f"{where}: segment ends at {end:g} s, past the end of {rec} ({duration:.3f} s)")
                continue
            segments[utt] = (rec, start, end)
        return segments

    @staticmethod
    def same_utterances(files: dict, tables: dict, utterances: set[str], source: str, problems: list[str]) -> None:
        """Names every utterance that one of ``text``, ``utt2spk`` and the audio source lacks."""
        for name in ("text", "utt2spk"):
            if name not in tables:
                continue
            listed = set(tables[name])
            for utt in sorted(utterances - listed, key=c_sort_key):
                problems.append(f"{files[name]}: no line for utterance {utt!r} (of {files[source].name})")
            for utt in sorted(listed - utterances, key=c_sort_key):
                lineno = tables[name][utt][0]
                problems.append(f"{files[name]}:{lineno}: utterance {utt!r} has no audio in {files[source].name}")


class KaldiDataDirs(CharacterSpeechCorpus):
    """A speech corpus given as three Kaldi data directories.

    Args:
        train, dev, test: the data directories of the splits.
        allow_pipes: accept ``wav.scp`` commands (``sph2pipe -f wav a.sph |``); they run in a shell.
    """

    def __init__(self, train: str | Path, dev: str | Path, test: str | Path, allow_pipes: bool = False):
        self.dirs = {"train": KaldiDataDir(train, allow_pipes), "dev": KaldiDataDir(dev, allow_pipes),
                     "test": KaldiDataDir(test, allow_pipes)}  # fmt: skip
        self.allow_pipes = allow_pipes

    def describe_root(self) -> str:
        return ", ".join(str(d.path) for d in self.dirs.values())

    def params(self) -> dict:
        """The directories and the size and time of each of their files: an edited file prepares again."""
        stamps = {
            split: {name: [p.stat().st_size, p.stat().st_mtime_ns] for name, p in d.files().items()}
            for split, d in self.dirs.items()
        }
        dirs = {split: str(d.path.resolve()) for split, d in self.dirs.items()}
        return {"corpus": "kaldi", "dirs": dirs, "files": stamps, "allow_pipes": self.allow_pipes}

    def split_rows(self) -> dict[str, list[dict]]:
        problems = shared_files({split: d.path for split, d in self.dirs.items()}, "data directory")
        splits = {split: d.rows(split, problems, self.bad_items) for split, d in self.dirs.items()}
        CorpusError.raise_all(problems)
        return splits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Validate Kaldi data directories and write their manifests.")
    for split in ("train", "dev", "test"):
        parser.add_argument(f"--{split}", required=True, help=f"the {split} data directory")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl and tokens.txt")
    parser.add_argument("--allow-pipes", action="store_true", help="run the commands of wav.scp ('... |')")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise", help="unreadable audio")
    add_form_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    dirs = (args.train, args.dev, args.test)
    corpus = KaldiDataDirs(*dirs, args.allow_pipes)
    prepare_from_command_line(
        "kaldi data", lambda: corpus.prepare(args.out, args.on_error, normalization=args.normalization)
    )


if __name__ == "__main__":
    main()
