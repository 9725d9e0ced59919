"""The feature cache: raw features of every split, computed once per feature configuration.

Layout, under ``<work_dir>/<kind>-<hash>/`` (:meth:`FeatureConfig.cache_name`): ``<split>.pt`` =
``{"ids": [str], "lengths": (N,), "feats": (sum T, D)}`` (weights-only loadable), a ``.<split>.done``
marker with the configuration and the manifest it was made from, and ``cmvn.pt`` with the training
set's global statistics (:mod:`asr_lstm.data.cmvn`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import torch

from asr_lstm.atomic import atomic_path
from asr_lstm.data.cmvn import mean_std
from asr_lstm.data.done import is_done, mark_done
from asr_lstm.data.features import FeatureConfig, file_features
from asr_lstm.data.manifest import read_manifest
from asr_lstm.errors import InputFileError

log = logging.getLogger(__name__)


def extract_split(rows: list[dict], cfg: FeatureConfig, out_path: Path) -> None:
    """Computes features for every manifest row and saves them as one ``.pt`` file, atomically.

    Raises:
        InputFileError: naming every file that cannot be read (all of them, after trying each).
    """
    ids, feats, problems = [], [], []
    for row in rows:
        try:
            feats.append(file_features(row[cfg.input_key], cfg))
            ids.append(row["id"])
        except InputFileError as err:
            problems.append(f"{row['id']}: {err}")
    if problems:
        raise InputFileError(f"{len(problems)} of {len(rows)} inputs cannot be read:\n  " + "\n  ".join(problems))
    with atomic_path(out_path) as tmp:
        torch.save({"ids": ids, "lengths": torch.tensor([f.shape[0] for f in feats]), "feats": torch.cat(feats)}, tmp)


def load_split(path: str | Path) -> dict[str, torch.Tensor]:
    """``{utterance id: (T, D) features}`` from a cache file written by :func:`extract_split`."""
    blob = torch.load(path, weights_only=True)
    chunks = torch.split(blob["feats"], blob["lengths"].tolist())
    return dict(zip(blob["ids"], chunks))


def load_global_stats(cache: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set's ``(D,)`` mean and standard deviation kept in the cache folder ``cache``."""
    stats = torch.load(Path(cache) / "cmvn.pt", weights_only=True)
    return stats["mean"], stats["std"]


def prepare_features(manifest_dir: str | Path, splits: tuple[str, ...], cfg: FeatureConfig) -> Path:
    """Extracts and caches features for ``splits`` and the training-set CMVN statistics.

    Returns:
        The cache directory ``<manifest_dir>/<cfg.cache_name()>``.
    """
    manifest_dir = Path(manifest_dir)
    cache = manifest_dir / cfg.cache_name()
    cache.mkdir(parents=True, exist_ok=True)
    for split in splits:
        marker = cache / f".{split}.done"
        manifest = manifest_dir / f"{split}.jsonl"
        params = {"config": asdict(cfg), "manifest_mtime": manifest.stat().st_mtime_ns}
        if is_done(marker, params):
            log.info("%s: %s features cached, skipping", cache, split)
            continue
        rows = read_manifest(manifest)
        log.info("%s: computing %s features for %d utterances", cache, split, len(rows))
        extract_split(rows, cfg, cache / f"{split}.pt")
        mark_done(marker, params)
    stats_path = cache / "cmvn.pt"
    if not stats_path.exists() or (cache / ".train.done").stat().st_mtime > stats_path.stat().st_mtime:
        mean, std = mean_std(torch.cat(list(load_split(cache / "train.pt").values())))
        with atomic_path(stats_path) as tmp:
            torch.save({"mean": mean, "std": std}, tmp)
    return cache
