"""Length-bucketed batches of utterance indices, shuffled per epoch and sharded per DDP process."""

from __future__ import annotations

import random
from collections.abc import Iterator

from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of utterances of similar length, in a new random order every epoch.

    Indices are shuffled, cut into windows of ``sort_window`` batches, sorted by length inside each
    window and split into batches of at most ``batch_size`` utterances and ``max_frames`` padded
    frames; the batch order is then shuffled. Padding stays small without a fixed curriculum.
    Without ``shuffle`` the batches are simply consecutive in length order (deterministic evaluation).

    Under DDP (``num_replicas`` > 1) every process computes the same batches from seed and epoch and
    takes every ``num_replicas``-th from its ``rank``: the shares are disjoint. Training batches are
    first cut to a multiple of ``num_replicas`` (the few left out change from epoch to epoch with the
    order), so that every process makes the same number of steps; evaluation keeps every batch, so that
    each utterance is scored exactly once, and the processes' counts are summed (fewer batches than
    processes are split into single utterances, so that every process has one).
    """

    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        max_frames: int | None = None,
        shuffle: bool = True,
        sort_window: int = 50,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not one of the {num_replicas} processes")
        self.num_replicas, self.rank = num_replicas, rank
        self.lengths = lengths
        self.batch_size = batch_size
        self.max_frames = max_frames
        self.shuffle = shuffle
        self.sort_window = sort_window
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of each epoch; makes resumed runs replay the same order."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        window = len(order)
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
            window = self.sort_window * self.batch_size
        batches, batch, longest = [], [], 0
        for start in range(0, len(order), window):
            for i in sorted(order[start : start + window], key=self.lengths.__getitem__):
                longest_if_added = max(longest, self.lengths[i])
                too_many = len(batch) >= self.batch_size
                too_long = (
                    self.max_frames is not None and batch and longest_if_added * (len(batch) + 1) > self.max_frames
                )
                if too_many or too_long:
                    batches.append(batch)
                    batch, longest_if_added = [], self.lengths[i]
                batch.append(i)
                longest = longest_if_added
            if batch:  # a batch never spans two windows
                batches.append(batch)
                batch, longest = [], 0
        if self.shuffle:
            random.Random(self.seed + self.epoch + 1).shuffle(batches)
        return batches

    def _share(self) -> list[list[int]]:
        batches = self._batches()
        if self.shuffle:
            batches = batches[: len(batches) - len(batches) % self.num_replicas]
        elif len(batches) < self.num_replicas:  # Lightning wants a batch in every process
            batches = [[i] for batch in batches for i in batch]
            if len(batches) < self.num_replicas:
                raise ValueError(f"{len(batches)} utterances cannot be shared by {self.num_replicas} processes")
        return batches[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._share())

    def __len__(self) -> int:
        return len(self._share())
