"""lhotse manifests, one per split, read with the ``lhotse`` library itself: what lhotse's corpus
recipes (LibriSpeech, Common Voice, TED-LIUM, ...) write feeds this toolkit.

A split is a CutSet manifest (``cuts_train.jsonl.gz``), or a RecordingSet and a SupervisionSet
(``[recordings.jsonl.gz, supervisions.jsonl.gz]``), from which one cut per supervision is made
(``CutSet.from_manifests(...).trim_to_supervisions()``). Each cut is an utterance: the ``segment``
of its recording from the cut's start to its end, the texts of its supervisions (in time order) as
the transcription, the first supervision's speaker. A recording's audio is its one ``file`` source,
or its ``command`` source with ``allow_pipes`` (it runs in a shell); sources held in memory, at a
URL or in shards, and recordings with one source per channel, are refused (write them as files,
e.g. with ``lhotse copy``). Every such problem is named with the manifest and the cut, all at once;
a missing audio file is a bad item of its cuts (``data.on_error``).

lhotse is an optional extra (``pip install 'asr-lstm[lhotse]'``); without it this corpus says so.
Labels as for Kaldi data directories: characters, ``|`` between words, CER and WER.
"""

from __future__ import annotations

import logging
from pathlib import Path

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.speech import CharacterSpeechCorpus, speech_row, transcription_problem
from asr_lstm.data.corpora.splits import shared_files

log = logging.getLogger(__name__)

INSTALL = "pip install 'asr-lstm[lhotse]'"
WHOLE_RECORDING_TOLERANCE_S = 1e-3  # a cut this close to its recording's bounds reads the whole file


def import_lhotse():
    """The ``lhotse`` module, or a :class:`CorpusError` with the install line."""
    try:
        import lhotse
    except ImportError as err:
        raise CorpusError(f"data=lhotse reads lhotse manifests with the lhotse library, which is not installed "
                          f"({err}): {INSTALL}") from None  # fmt: skip
    return lhotse


SplitSpec = str | Path | list | tuple


class LhotseManifests(CharacterSpeechCorpus):
    """A speech corpus given as lhotse manifests per split.

    Args:
        train, dev, test: a CutSet manifest, or ``[recordings, supervisions]`` manifests, per split.
        allow_pipes: accept ``command`` audio sources; they run in a shell.
    """

    def __init__(self, train: SplitSpec, dev: SplitSpec, test: SplitSpec, allow_pipes: bool = False):
        self.lhotse = import_lhotse()
        self.specs = {"train": self.paths(train), "dev": self.paths(dev), "test": self.paths(test)}
        self.allow_pipes = allow_pipes

    @staticmethod
    def paths(spec: SplitSpec) -> tuple[Path, ...]:
        paths = (spec,) if isinstance(spec, (str, Path)) else tuple(spec)
        if len(paths) not in (1, 2):
            raise ValueError(f"a split is a CutSet manifest or [recordings, supervisions], got {list(paths)}")
        return tuple(Path(p) for p in paths)

    def describe_root(self) -> str:
        return ", ".join(str(p) for paths in self.specs.values() for p in paths)

    def params(self) -> dict:
        """The manifests and their size and time: an edited manifest prepares again."""
        files = {
            split: [
                [str(p.resolve()), *([p.stat().st_size, p.stat().st_mtime_ns] if p.is_file() else [])] for p in paths
            ]
            for split, paths in self.specs.items()
        }
        return {"corpus": "lhotse", "manifests": files, "allow_pipes": self.allow_pipes}

    def cuts(self, paths: tuple[Path, ...], problems: list[str]):
        """The CutSet of a split (``None`` when its manifests cannot be read: the problem is added)."""
        lhotse = self.lhotse
        missing = [p for p in paths if not p.is_file()]
        if missing:
            problems.extend(f"{p}: no such lhotse manifest" for p in missing)
            return None
        try:
            manifests = [lhotse.load_manifest(p) for p in paths]
        except Exception as err:  # lhotse raises what its deserialisers raise (ValueError, KeyError, JSON errors)
            problems.append(f"{', '.join(map(str, paths))}: not a lhotse manifest ({type(err).__name__}: {err})")
            return None
        if len(manifests) == 1:
            if not isinstance(manifests[0], lhotse.CutSet):
                problems.append(f"{paths[0]}: a {type(manifests[0]).__name__}, not a CutSet "
                                "(give [recordings, supervisions] for those)")  # fmt: skip
                return None
            return manifests[0]
        by_type = {type(m): m for m in manifests}
        recordings, supervisions = by_type.get(lhotse.RecordingSet), by_type.get(lhotse.SupervisionSet)
        if recordings is None or supervisions is None:
            problems.append(f"{paths[0]}, {paths[1]}: expected a RecordingSet and a SupervisionSet, got "
                            f"{', '.join(type(m).__name__ for m in manifests)}")  # fmt: skip
            return None
        return lhotse.CutSet.from_manifests(recordings=recordings, supervisions=supervisions).trim_to_supervisions(
            keep_overlapping=False
        )

    def source(self, cut, where: str, problems: list[str]) -> str | None:
        """The audio source of a cut's recording, or ``None`` (and a problem) when it cannot be one."""
        sources = cut.recording.sources
        if len(sources) != 1:
            problems.append(f"{where}: recording {cut.recording_id} has {len(sources)} audio sources (one per "
                            "channel); write it as one file")  # fmt: skip
            return None
        source = sources[0]
        if source.type == "file":
            return str(Path(source.source).resolve())
        if source.type == "command":
            if self.allow_pipes:
                return f"{source.source} |"
            problems.append(f"{where}: recording {cut.recording_id} is a command ({source.source!r}), which would "
                            "run in a shell; set data.corpus.allow_pipes=true to run it")  # fmt: skip
            return None
        problems.append(f"{where}: recording {cut.recording_id} has a {source.type!r} audio source; "
                        "write the audio as files (lhotse copy) first")  # fmt: skip
        return None

    def split_rows(self) -> dict[str, list[dict]]:
        problems = shared_files({split: paths[0] for split, paths in self.specs.items()}, "manifest")
        splits = {}
        for split, paths in self.specs.items():
            cuts = self.cuts(paths, problems)
            rows = []
            for cut in [] if cuts is None else sorted(cuts, key=lambda c: c.id):
                where = f"{paths[0]}: cut {cut.id}"
                supervisions = sorted(cut.supervisions, key=lambda s: s.start)
                words = " ".join(s.text or "" for s in supervisions).split()
                if why := transcription_problem(words):
                    problems.append(f"{where}: {why}")
                    continue
                source = self.source(cut, where, problems) if cut.has_recording else None
                if source is None:
                    if not cut.has_recording:
                        problems.append(f"{where}: no recording")
                    continue
                if not source.endswith("|") and not Path(source).is_file():
                    self.bad_items.append(BadItem(split, cut.id, source, f"{source}: no such file ({where})"))
                    continue
                whole = cut.start <= WHOLE_RECORDING_TOLERANCE_S and (
                    cut.end >= cut.recording.duration - WHOLE_RECORDING_TOLERANCE_S
                )
                segment = None if whole else (cut.start, cut.end)
                speaker = next((s.speaker for s in supervisions if s.speaker), cut.id)
                rows.append(speech_row(cut.id, words, source, segment, speaker, cut.recording_id, cut.duration))
            splits[split] = rows
        CorpusError.raise_all(problems)
        return splits
