"""The feature cache: raw features of every split, computed once per feature configuration and read
back through a memory map, so that resident memory does not grow with the corpus.

Layout, under ``<work_dir>/<kind>-<hash>/`` (:meth:`FeatureConfig.cache_name`), per split:
``<split>.f32``, every utterance's ``(T, D)`` float32 frames one after the other (row-major, native
byte order), and ``<split>.index`` (a weights-only torch file: ``ids``, ``offsets`` ``(N + 1,)`` into
the rows, ``dim``), written after the frames, so that an index always describes complete frames;
a ``.<split>.done`` marker with the configuration and the manifest it was made from; ``cmvn.pt``
with the training set's global statistics (:mod:`asr_lstm.data.cmvn`), accumulated utterance by
utterance. The training set's speed copies of ``augment=speech`` (:mod:`asr_lstm.data.speech_perturb`)
are splits of their own, ``train.sp0.9`` and ``train.sp1.1``, beside an unchanged ``train``; the CMVN
statistics stay the original's. Reading maps the frames file: DataLoader workers and DDP ranks on a node share its pages
through the page cache, and start-up reads only the index.
"""

from __future__ import annotations

import logging
import mmap
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from asr_lstm.atomic import atomic_path
from asr_lstm.data.bad_items import BadItem, write_bad_items
from asr_lstm.data.cmvn import RunningStats
from asr_lstm.data.done import is_done, mark_done
from asr_lstm.data.features import FeatureConfig, file_features
from asr_lstm.data.inputs import INPUT_KINDS, kind_of_row
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.speech_perturb import SpeechPerturbation, copy_name, perturbed_features, speed_copy
from asr_lstm.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

FAULT_AROUND = 64 * 1024  # Linux's default fault_around_bytes


def split_file(base: Path, suffix: str) -> Path:
    """``<base><suffix>``: a split's frames or index file (the split's name may hold dots: ``train.sp0.9``)."""
    return base.with_name(base.name + suffix)


def write_split(items: Iterable[tuple[str, torch.Tensor]], base: Path) -> None:
    """Writes ``(id, (T, D) features)`` items as ``base.f32`` and ``base.index``, each atomically,
    holding one utterance in memory at a time."""
    ids, offsets, dim = [], [0], None
    with atomic_path(split_file(base, ".f32")) as tmp, tmp.open("wb") as frames:
        for utt, feats in items:
            if dim is not None and feats.shape[1] != dim:
                raise ValueError(f"{utt}: {feats.shape[1]} features a frame, the others have {dim}")
            dim = feats.shape[1]
            frames.write(feats.to(torch.float32).contiguous().numpy().tobytes())
            ids.append(utt)
            offsets.append(offsets[-1] + feats.shape[0])
    with atomic_path(split_file(base, ".index")) as tmp:
        torch.save({"ids": ids, "offsets": torch.tensor(offsets), "dim": dim or 0}, tmp)


class SplitFeatures(Mapping):
    """``{utterance id: (T, D) features}`` of a cached split, read from its memory map on access.

    Each access copies the utterance's frames out of the map and then tells the kernel that this
    process no longer needs those pages (``MADV_DONTNEED``): they stay in the page cache, shared by
    every process that reads the split, but do not pile up in this process's resident memory as an
    epoch touches the whole file.
    """

    def __init__(self, base: str | Path):
        self.base = Path(base)
        index = torch.load(split_file(self.base, ".index"), weights_only=True)
        self.offsets = index["offsets"].tolist()
        self.dim = index["dim"]
        self.rows = {utt: k for k, utt in enumerate(index["ids"])}
        self._map: mmap.mmap | None = None

    def _frames(self) -> mmap.mmap:
        if self._map is None:  # mapped lazily, also in every DataLoader worker
            with open(split_file(self.base, ".f32"), "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_map": None}  # a worker maps the file itself instead of a copy

    def length(self, utt: str) -> int:
        k = self.rows[utt]
        return self.offsets[k + 1] - self.offsets[k]

    def __getitem__(self, utt: str) -> torch.Tensor:
        k = self.rows[utt]
        start, end = self.offsets[k] * self.dim * 4, self.offsets[k + 1] * self.dim * 4  # float32 bytes
        if start == end:
            return torch.zeros(0, self.dim)
        frames = self._frames()
        feats = np.frombuffer(frames, np.float32, (end - start) // 4, start).reshape(-1, self.dim).copy()
        # the kernel maps up to 64 KiB around a faulted page (fault-around): release that margin too
        first = max(0, start - FAULT_AROUND) // mmap.PAGESIZE * mmap.PAGESIZE
        frames.madvise(mmap.MADV_DONTNEED, first, min(len(frames), end + FAULT_AROUND) - first)
        return torch.from_numpy(feats)

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


class ChainedFeatures(Mapping):
    """``{utterance id: (T, D) features}`` of several cached splits with distinct ids (a training set
    and its speed copies), as one mapping."""

    def __init__(self, parts: list[SplitFeatures]):
        self.parts = parts
        self.dim = parts[0].dim
        self.owner = {utt: part for part in parts for utt in part}

    def length(self, utt: str) -> int:
        return self.owner[utt].length(utt)

    def __getitem__(self, utt: str) -> torch.Tensor:
        return self.owner[utt][utt]

    def __iter__(self) -> Iterator[str]:
        return iter(self.owner)

    def __len__(self) -> int:
        return len(self.owner)


def checked_features(path: str, cfg: FeatureConfig, segment: tuple[float, float] | None = None) -> torch.Tensor:
    """The features of one file (or ``segment`` of it); ``InputFileError`` when they are not all finite."""
    feats = file_features(path, cfg, segment)
    if not torch.isfinite(feats).all():
        raise InputFileError(f"{path}: its features hold NaN or infinite values")
    return feats


def extract_split(
    rows: list[dict],
    cfg: FeatureConfig,
    base: Path,
    on_error: str = "raise",
    split: str = "",
    featurize: Callable[[dict], torch.Tensor] | None = None,
) -> list[BadItem]:
    """Computes features for every manifest row and writes them as ``base.f32`` and ``base.index``.

    Args:
        featurize: a row -> its ``(T, D)`` features (raising ``InputFileError``); by default
            :func:`checked_features` of the row's input file and segment.

    Returns:
        The rows whose file could not be read (``on_error=skip``); they have no features.

    Raises:
        InputFileError: under ``on_error=raise``, naming every file that cannot be read (all of
            them, after trying each); then nothing is written.
    """
    bad: list[BadItem] = []
    featurize = featurize or (lambda row: checked_features(row[cfg.input_key], cfg, row.get("segment")))

    def features() -> Iterator[tuple[str, torch.Tensor]]:
        for row in rows:
            try:
                yield row["id"], featurize(row)
            except InputFileError as err:
                bad.append(BadItem(split, row["id"], row[cfg.input_key], str(err)))
        if on_error == "raise" and bad:
            raise InputFileError(
                f"{len(bad)} of {len(rows)} inputs cannot be read:\n  "
                + "\n  ".join(f"{b.id}: {b.reason}" for b in bad)
            )

    write_split(features(), Path(base))
    return bad


def load_split(base: str | Path) -> SplitFeatures:
    """The features of a split written by :func:`extract_split` (or :func:`write_split`)."""
    return SplitFeatures(base)


def load_global_stats(cache: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set's ``(D,)`` mean and standard deviation kept in the cache folder ``cache``."""
    stats = torch.load(Path(cache) / "cmvn.pt", weights_only=True)
    return stats["mean"], stats["std"]


def split_params(manifest_dir: Path, split: str, cfg: FeatureConfig, on_error: str) -> dict:
    """What a split's cached features were made from (its ``.done`` marker)."""
    manifest_mtime = (manifest_dir / f"{split}.jsonl").stat().st_mtime_ns
    return {"config": asdict(cfg), "manifest_mtime": manifest_mtime, "on_error": on_error}


def features_ready(
    manifest_dir: str | Path, splits: tuple[str, ...], cfg: FeatureConfig, on_error: str = "raise"
) -> bool:
    """Whether :func:`prepare_features` has finished for these splits and this configuration."""
    manifest_dir = Path(manifest_dir)
    cache = manifest_dir / cfg.cache_name()
    return (cache / "cmvn.pt").is_file() and all(
        (manifest_dir / f"{s}.jsonl").is_file()
        and is_done(cache / f".{s}.done", split_params(manifest_dir, s, cfg, on_error))
        for s in splits
    )


def check_input_kind(rows: list[dict], cfg: FeatureConfig, manifest: Path) -> None:
    """Raises :class:`ConfigError` when the manifest's rows hold another kind of input than the
    features read (line images with the default ``features=fbank``), naming the features that do."""
    found = kind_of_row(rows[0]) if rows and cfg.input_key not in rows[0] else None
    if found is not None:
        readers = [name for name, kind in INPUT_KINDS.items() if kind.manifest_key == found.manifest_key]
        raise ConfigError(
            f"features.kind={cfg.kind} reads each item's {cfg.input_key}, but {manifest} holds {found.manifest_key} "
            f"inputs: choose {' or '.join(f'features={name}' for name in readers)}"
        )


def prepare_features(
    manifest_dir: str | Path, splits: tuple[str, ...], cfg: FeatureConfig, on_error: str = "raise"
) -> Path:
    """Extracts and caches features for ``splits`` and the training-set CMVN statistics; under
    ``on_error=skip`` the rows whose file cannot be read are listed in ``<split>.skipped.tsv``.

    Returns:
        The cache directory ``<manifest_dir>/<cfg.cache_name()>``.

    Raises:
        ConfigError: a manifest holds another kind of input than ``cfg`` reads; nothing is cached then.
    """
    manifest_dir = Path(manifest_dir)
    cache = manifest_dir / cfg.cache_name()
    for split in splits:
        marker, params = cache / f".{split}.done", split_params(manifest_dir, split, cfg, on_error)
        if is_done(marker, params):
            log.info("%s: %s features cached, skipping", cache, split)
            continue
        rows = read_manifest(manifest_dir / f"{split}.jsonl")
        check_input_kind(rows, cfg, manifest_dir / f"{split}.jsonl")
        cache.mkdir(parents=True, exist_ok=True)
        log.info("%s: computing %s features for %d utterances", cache, split, len(rows))
        bad = extract_split(rows, cfg, cache / split, on_error, split)
        write_bad_items(bad, cache / f"{split}.skipped.tsv")
        mark_done(marker, params)
    stats_path = cache / "cmvn.pt"
    if not stats_path.exists() or (cache / ".train.done").stat().st_mtime > stats_path.stat().st_mtime:
        stats = RunningStats()
        train = load_split(cache / "train")
        for utt in train:
            stats.add(train[utt])
        mean, std = stats.mean_std()
        with atomic_path(stats_path) as tmp:
            torch.save({"mean": mean, "std": std}, tmp)
    return cache


def copy_params(manifest_dir: Path, cfg: FeatureConfig, speed: float, on_error: str) -> dict:
    """What the training-set copy at ``speed`` was made from (its ``.done`` marker)."""
    return {**split_params(manifest_dir, "train", cfg, on_error), "speed": speed}


def speed_copies_ready(manifest_dir: str | Path, cfg: FeatureConfig, perturbation: SpeechPerturbation,
                       on_error: str = "raise") -> bool:  # fmt: skip
    """Whether :func:`prepare_speed_copies` has finished for this configuration."""
    manifest_dir = Path(manifest_dir)
    cache = manifest_dir / cfg.cache_name()
    return all(is_done(cache / f".train.{copy_name(speed)}.done", copy_params(manifest_dir, cfg, speed, on_error))
               for speed in perturbation.copies)  # fmt: skip


def prepare_speed_copies(
    manifest_dir: str | Path, cfg: FeatureConfig, perturbation: SpeechPerturbation, on_error: str = "raise"
) -> None:
    """Caches the features of the training set at each speed of ``perturbation`` but 1, as split
    ``train.sp<f>`` (:mod:`asr_lstm.data.speech_perturb`), from the training utterances that have
    features; after :func:`prepare_features`. Rows that fail are listed in ``train.sp<f>.skipped.tsv``
    under ``on_error=skip``."""
    manifest_dir = Path(manifest_dir)
    cache = manifest_dir / cfg.cache_name()
    for speed in perturbation.copies:
        split = f"train.{copy_name(speed)}"
        marker, params = cache / f".{split}.done", copy_params(manifest_dir, cfg, speed, on_error)
        if is_done(marker, params):
            log.info("%s: %s features cached, skipping", cache, split)
            continue
        have = load_split(cache / "train")
        rows = [speed_copy(row, speed) for row in read_manifest(manifest_dir / "train.jsonl") if row["id"] in have]
        log.info("%s: computing %s features for %d utterances", cache, split, len(rows))
        bad = extract_split(rows, cfg, cache / split, on_error, split, lambda row: perturbed_features(row, cfg))
        write_bad_items(bad, cache / f"{split}.skipped.tsv")
        mark_done(marker, params)
