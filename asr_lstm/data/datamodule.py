"""The Lightning data module: manifests + cached features -> length-bucketed padded batches.

A batch is a dict: ``ids`` (list of B utterance ids), ``x`` ``(B, T, D)`` features zero-padded,
``x_lens`` ``(B,)``, ``y`` ``(B, L)`` label ids padded with 0 (the blank, never a target), ``y_lens`` ``(B,)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from asr_lstm.data.bad_items import BadItem, check_policy, read_bad_items, refuse_or_keep
from asr_lstm.data.bidi import base_problem
from asr_lstm.data.cmvn import Normalizer
from asr_lstm.data.corpora.base import Corpus, CorpusError
from asr_lstm.data.feature_store import (
    ChainedFeatures,
    SplitFeatures,
    features_ready,
    load_global_stats,
    load_split,
    prepare_features,
    prepare_speed_copies,
    speed_copies_ready,
)
from asr_lstm.data.features import FeatureConfig
from asr_lstm.data.manifest import has_rows, input_of, read_manifest, source_of
from asr_lstm.data.sampler import BucketBatchSampler, ResumableLoader
from asr_lstm.data.speech_perturb import NoiseSource, SpeechPerturbation, copy_name, perturbed_features, speed_copy
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.unicode_forms import form_problem
from asr_lstm.data.units import Labelling, Units
from asr_lstm.distributed import PREPARE_ON, prepares, wait_until
from asr_lstm.errors import ConfigError

log = logging.getLogger(__name__)


class UtteranceDataset(Dataset):
    """Normalised features and encoded labels of one split.

    Args:
        rows: manifest rows (need ``id``, the reference field, and ``speaker`` or ``writer`` for per-speaker CMVN).
        feats: utterance id -> ``(T, D)`` raw features (a memory-mapped :class:`~asr_lstm.data.feature_store.SplitFeatures`,
            or a :class:`~asr_lstm.data.feature_store.ChainedFeatures` of several).
        labels: utterance id -> label ids.
        normalizer: CMVN applied on access.
    """

    def __init__(
        self,
        rows: list[dict],
        feats: SplitFeatures | ChainedFeatures,
        labels: dict[str, list[int]],
        normalizer: Normalizer,
    ):
        missing = [r["id"] for r in rows if r["id"] not in feats]
        if missing:
            raise CorpusError(
                f"no cached features for {len(missing)} utterances, e.g. {missing[:3]}; rerun feature extraction"
            )
        self.rows = rows
        self.feats = feats
        self.labels = labels
        self.normalizer = normalizer

    def __len__(self) -> int:
        return len(self.rows)

    def num_frames(self, index: int) -> int:
        return self.feats.length(self.rows[index]["id"])

    def raw_features(self, row: dict) -> torch.Tensor:
        """The row's ``(T, D)`` features before CMVN."""
        return self.feats[row["id"]]

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor, torch.Tensor]:
        row = self.rows[index]
        x = self.normalizer(self.raw_features(row), Normalizer.speaker_of(row["id"], source_of(row)))
        return row["id"], x, torch.tensor(self.labels[row["id"]], dtype=torch.long)


class NoisyUtteranceDataset(UtteranceDataset):
    """A training set (with its speed copies: rows with a ``speed``) whose utterances get additive noise
    on the fly (:mod:`asr_lstm.data.speech_perturb`): at each draw, with probability ``noise_prob``, an
    utterance's features are computed afresh from its audio, perturbed for its copy and mixed with
    noise; otherwise they are read from the cache. Both have the same number of frames.

    Args:
        dataset: the training set, its rows, features, labels and CMVN.
        features: how the features are computed.
        perturbation: the noise settings.
    """

    def __init__(self, dataset: UtteranceDataset, features: FeatureConfig, perturbation: SpeechPerturbation):
        super().__init__(dataset.rows, dataset.feats, dataset.labels, dataset.normalizer)
        self.features, self.perturbation = features, perturbation
        self.noise = NoiseSource(perturbation, features.sample_rate)

    def raw_features(self, row: dict) -> torch.Tensor:
        if not torch.rand(()) < self.perturbation.noise_prob:
            return super().raw_features(row)
        return perturbed_features(row, self.features, self.noise, self.perturbation.snr_db)


def collate(items: list[tuple[str, torch.Tensor, torch.Tensor]]) -> dict:
    """Pads a list of ``(id, (T, D), (L,))`` items into a batch dict (see module docstring)."""
    ids, xs, ys = zip(*items)
    return {
        "ids": list(ids),
        "x": pad_sequence(xs, batch_first=True),
        "x_lens": torch.tensor([x.shape[0] for x in xs]),
        "y": pad_sequence(ys, batch_first=True),
        "y_lens": torch.tensor([y.shape[0] for y in ys]),
    }


def ctc_min_frames(labels: list[int]) -> int:
    """Fewest output frames a CTC alignment of ``labels`` needs: one per label, plus a blank between repeats."""
    return len(labels) + sum(a == b for a, b in zip(labels, labels[1:]))


class CTCDataModule(pl.LightningDataModule):
    """Prepares a corpus and its features once, then serves ``train`` / ``dev`` / ``test`` batches.

    Args:
        corpus: the corpus to prepare (e.g. :class:`asr_lstm.data.corpora.timit.Timit`).
        features: feature extraction and CMVN settings.
        work_dir: where manifests and the feature cache live.
        batch_size: most utterances per batch.
        max_frames: most padded input frames per batch (``None``: no limit).
        num_workers: DataLoader worker processes.
        seed: seed of the batch order.
        prepare_on: under DDP, which processes prepare manifests and features while the others wait:
            ``global`` the first of all (one file system shared by every node), ``node`` the first of
            each node (a file system per node).
        prepare_timeout_s: how long the other processes wait for the preparation.
        on_error: the bad-data policy (:mod:`asr_lstm.data.bad_items`): ``raise`` names every bad
            item before training; ``skip`` drops them and lists them in :attr:`bad_items`.
        units: the token units of the corpus's words (:mod:`asr_lstm.data.units`, the ``units``
            config group), or ``None`` for the corpus's own labels.
        normalization: the Unicode form of every transcription (:mod:`asr_lstm.data.unicode_forms`:
            ``NFC``, ``NFD``, ``NFKC``, ``NFKD``), or ``None`` for the text as the corpus holds it.
        bidi: the paragraph direction (``L``, ``R``, ``auto``) that lays out the labels of line images
            in display order for right-to-left scripts (:mod:`asr_lstm.data.bidi`), or ``None`` for
            logical order.
        perturb: speed perturbation and noise of the training audio (``augment=speech``,
            :mod:`asr_lstm.data.speech_perturb`), or ``None``.
        kept_labels: an earlier model's labels, first in the vocabulary (``init_labels=union``,
            :func:`asr_lstm.cli.build.keep_initial_labels`), or ``None``.

    After :meth:`setup`, :attr:`labelling` says what the labels are and how they are scored.
    """

    def __init__(
        self,
        corpus: Corpus,
        features: FeatureConfig,
        work_dir: str,
        batch_size: int = 16,
        max_frames: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        prepare_on: str = "global",
        prepare_timeout_s: float = 7200.0,
        on_error: str = "raise",
        units: Units | None = None,
        normalization: str | None = "NFC",
        bidi: str | None = None,
        perturb: SpeechPerturbation | None = None,
        kept_labels: list[str] | None = None,
    ):
        super().__init__()
        if perturb is not None and features.input_key != "audio":
            raise ConfigError(
                f"augment=speech perturbs audio; features.kind={features.kind} is not audio "
                "(use features=fbank or mfcc, or augment=lines for line images)"
            )
        self.perturb = perturb
        self.on_error = check_policy(on_error)
        self.bad_items: list[BadItem] = []
        problems = [f"data.{name}={value} must be at least 1" for name, value in
                    (("batch_size", batch_size), ("max_frames", max_frames)) if value is not None and value < 1]  # fmt: skip
        if num_workers < 0:
            problems.append(f"data.num_workers={num_workers} must be at least 0")
        if prepare_on not in PREPARE_ON:
            problems.append(f"data.prepare_on must be one of {PREPARE_ON}, got {prepare_on!r}")
        if (problem := form_problem(normalization)) is not None:
            problems.append(problem)
        if (problem := base_problem(bidi)) is not None:
            problems.append(problem)
        if problems:
            raise ValueError("; ".join(problems))
        if bidi is not None and features.input_key != "image":
            raise ConfigError(
                f"data.bidi={bidi} lays out the labels of line images, which are read left to right; "
                f"features.kind={features.kind} inputs are in time order, which is the logical order already"
            )
        self.prepare_on, self.prepare_timeout_s = prepare_on, prepare_timeout_s
        self.corpus = corpus
        self.features = features
        self.work_dir = Path(work_dir)
        self.batch_size = batch_size
        self.max_frames = max_frames
        self.num_workers = num_workers
        self.seed = seed
        self.units = units
        self.normalization = normalization
        self.bidi = bidi
        self.kept_labels = None if kept_labels is None else list(kept_labels)
        self.vocab: Vocabulary | None = None
        self.labelling: Labelling | None = None
        self.datasets: dict[str, UtteranceDataset] = {}

    @property
    def feature_dir(self) -> Path:
        return self.work_dir / self.features.cache_name()

    def prepare_data(self) -> None:
        """Writes manifests and the feature cache (both steps skip what is already done); under DDP only
        the preparing process does (``prepare_on``), and the others wait until it has finished."""
        if not prepares(self.prepare_on):
            wait_until(self.prepared, f"{self.work_dir} to be prepared", self.prepare_timeout_s)
            return
        self.corpus.prepare(self.work_dir, self.on_error, self.units, self.normalization, self.bidi, self.kept_labels)
        self.refuse_empty_training_splits()
        prepare_features(self.work_dir, self.corpus.splits, self.features, self.on_error)
        if self.perturb is not None:
            prepare_speed_copies(self.work_dir, self.features, self.perturb, self.on_error)

    def refuse_empty_training_splits(self) -> None:
        """Refuses, before any feature is computed, manifests that leave train (whose features give the
        normalisation statistics) or dev (which validates) without an item: a corpus prepared with
        ``fractions 0 0 1`` to test a model on, or one whose every item of a split was skipped as bad.

        Raises:
            CorpusError: naming each empty manifest.
        """
        empty = [self.work_dir / f"{split}.jsonl" for split in ("train", "dev")
                 if split in self.corpus.splits and not has_rows(self.work_dir / f"{split}.jsonl")]  # fmt: skip
        if empty:
            raise CorpusError(
                f"{' and '.join(map(str, empty))}: no {self.corpus.item_noun} to train on or validate with "
                f"(skipped.tsv lists those skipped as bad); a corpus prepared only to test a model on (fractions "
                f"0 0 1) is scored with asr-lstm decode MODEL {self.work_dir / 'test.jsonl'} --score DIR"
            )

    def prepared(self) -> bool:
        """Whether the manifests and every split's features are prepared for this configuration."""
        splits, features = self.corpus.splits, self.features
        return (
            self.corpus.prepared(
                self.work_dir, self.on_error, self.units, self.normalization, self.bidi, self.kept_labels
            )
            and features_ready(self.work_dir, splits, features, self.on_error)
            and (self.perturb is None or speed_copies_ready(self.work_dir, features, self.perturb, self.on_error))
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.vocab = Vocabulary.load(self.work_dir / "tokens.txt")
        self.labelling = Labelling.load(self.work_dir)
        self.global_stats = stats = load_global_stats(self.feature_dir)  # (mean, std), each (D,)
        self.bad_items = read_bad_items(self.work_dir / "skipped.tsv")
        for split in [*self.corpus.splits, *self.copy_splits]:
            self.bad_items += read_bad_items(self.feature_dir / f"{split}.skipped.tsv")
        labelled = [self.load_dataset(split, stats) for split in self.corpus.splits]
        problems = [item for _, bad in labelled for item in bad]
        refuse_or_keep(problems, self.on_error, f"{self.corpus.item_noun} in {self.work_dir}", CorpusError)
        self.bad_items += problems
        self.datasets = {split: ds for split, (ds, _) in zip(self.corpus.splits, labelled)}

    def load_dataset(
        self, split: str, global_stats: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[UtteranceDataset, list[BadItem]]:
        """The split's dataset and its rows that cannot be trained on (unknown labels, no labels);
        rows skipped at feature extraction are left out."""
        manifest = self.work_dir / f"{split}.jsonl"
        feats = load_split(self.feature_dir / split)
        skipped = {item.id for item in self.bad_items if item.split == split}
        rows, labels, bad = [], {}, []
        for row in read_manifest(manifest):
            if row["id"] in skipped and row["id"] not in feats:
                continue
            try:
                labels[row["id"]] = self.vocab.encode(row[self.labelling.reference_key])
                if not labels[row["id"]]:
                    raise KeyError("an empty reference")
                rows.append(row)
            except KeyError as err:
                reason = f"{manifest}: utterance {row['id']} ({input_of(row)}): {err.args[0]}"
                bad.append(BadItem(split, row["id"], str(input_of(row)), reason))
        if split == "train" and self.perturb is not None:
            rows, feats = self.with_speed_copies(rows, labels, feats)
        normalizer = Normalizer(self.features.cmvn, global_stats)
        if self.features.cmvn == "speaker":
            normalizer.fit_speakers(feats, {r["id"]: source_of(r) for r in rows})
        dataset = UtteranceDataset(rows, feats, labels, normalizer)
        if split == "train" and self.perturb is not None and self.perturb.noise_prob > 0:
            dataset = NoisyUtteranceDataset(dataset, self.features, self.perturb)
        return dataset, bad

    @property
    def copy_splits(self) -> list[str]:
        """The feature-store splits of the training set's speed copies (``train.sp0.9``, ...)."""
        return [f"train.{copy_name(speed)}" for speed in (self.perturb.copies if self.perturb else ())]

    def with_speed_copies(
        self, rows: list[dict], labels: dict[str, list[int]], feats: SplitFeatures
    ) -> tuple[list[dict], ChainedFeatures]:
        """The training rows of every speed of ``perturb`` (the original's when 1.0 is one of them) and
        their features; each copy's labels are added to ``labels``."""
        keep_original = 1.0 in self.perturb.speeds
        parts, all_rows = ([feats], list(rows)) if keep_original else ([], [])
        for speed, split in zip(self.perturb.copies, self.copy_splits):
            parts.append(part := load_split(self.feature_dir / split))
            for row in rows:
                copy = speed_copy(row, speed)
                if copy["id"] in part:  # not when its extraction failed under on_error=skip
                    labels[copy["id"]] = labels[row["id"]]
                    all_rows.append(copy)
        return all_rows, ChainedFeatures(parts)

    def check_ctc_lengths(self, output_length: Callable[[int], int]) -> None:
        """Refuses (or, under ``on_error=skip``, drops) utterances whose labels cannot fit the model's
        output frames under CTC.

        Args:
            output_length: input frames -> output frames of the model (after subsampling).

        Raises:
            CorpusError: naming each offending utterance and its input file.
        """
        bad = []
        for split, ds in self.datasets.items():
            for i, row in enumerate(ds.rows):
                need = ctc_min_frames(ds.labels[row["id"]])
                have = output_length(ds.num_frames(i))
                where = f"{split}/{row['id']} ({input_of(row)})"
                if have < 1:
                    reason = f"{where}: {ds.num_frames(i)} input frames give the model no output frame"
                elif need > have:
                    reason = f"{where}: {need} CTC frames needed for {len(ds.labels[row['id']])} labels, the model outputs {have}"
                else:
                    continue
                bad.append(BadItem(split, row["id"], str(input_of(row)), reason))
        if bad and self.on_error == "raise":
            raise CorpusError(
                f"{len(bad)} utterances are too short for their labels under CTC:\n  "
                + "\n  ".join(b.reason for b in bad)
            )
        dropped = {(b.split, b.id) for b in bad}
        for split, ds in self.datasets.items():
            ds.rows = [r for r in ds.rows if (split, r["id"]) not in dropped]
        self.bad_items += bad

    def dataloader(self, split: str, shuffle: bool = False) -> DataLoader:
        ds = self.datasets[split]
        sampler = BucketBatchSampler(
            [ds.num_frames(i) for i in range(len(ds))],
            self.batch_size,
            self.max_frames,
            shuffle=shuffle,
            seed=self.seed,
            # a data module attached to a (DDP) Trainer serves this process's share
            num_replicas=self.trainer.world_size if self.trainer else 1,
            rank=self.trainer.global_rank if self.trainer else 0,
        )
        loader = ResumableLoader if shuffle else DataLoader  # training resumes inside an epoch
        return loader(
            ds,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("dev")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")
