"""Length-bucketed batches of utterance indices, shuffled per epoch, sharded per DDP process and
resumable in the middle of an epoch."""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochOrder(Sampler[int]):
    """The utterance order of an epoch: a permutation of ``0..n-1`` drawn from ``seed + epoch``, or
    ``0..n-1`` itself without ``shuffle``.

    Lightning calls ``set_epoch`` on a DataLoader's ``batch_sampler.sampler`` at the start of every
    epoch, which is how :class:`BucketBatchSampler` learns the epoch.
    """

    def __init__(self, n: int, shuffle: bool, seed: int):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        order = list(range(self.n))
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        return iter(order)

    def __len__(self) -> int:
        return self.n


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of utterances of similar length, in a new random order every epoch.

    Indices in the order of ``sampler`` (:class:`EpochOrder`) are cut into windows of ``sort_window``
    batches, sorted by length inside each window and split into batches of at most ``batch_size``
    utterances and ``max_frames`` padded frames; the batch order is then shuffled (from
    ``seed + epoch + 1``). Padding stays small without a fixed curriculum. Without ``shuffle`` the
    batches are simply consecutive in length order (deterministic evaluation).

    Under DDP (``num_replicas`` > 1) every process computes the same batches from seed and epoch and
    takes every ``num_replicas``-th from its ``rank``: the shares are disjoint. Training batches are
    first cut to a multiple of ``num_replicas`` (the few left out change from epoch to epoch with the
    order), so that every process makes the same number of steps; evaluation keeps every batch, so that
    each utterance is scored exactly once, and the processes' counts are summed (fewer batches than
    processes are split into single utterances, so that every process has one).

    ``resume_at(epoch, position)`` makes the next iteration start at batch ``position`` of that epoch's
    share (a run resumed from a checkpoint written inside an epoch); ``len`` stays the whole share's.
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
        self.sampler = EpochOrder(len(lengths), shuffle, seed)
        self.start = 0  # batches of the next iteration's share to leave out (resume_at)

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def resume_at(self, epoch: int, position: int) -> None:
        """The next iteration serves batches ``position:`` of ``epoch``; a position at the end of the
        share (a checkpoint of a finished epoch) means the start of the next epoch."""
        self.set_epoch(epoch)
        self.start = position
        if position >= len(self):
            self.set_epoch(epoch + 1)
            self.start = 0

    def _batches(self) -> list[list[int]]:
        order = list(self.sampler)
        window = self.sort_window * self.batch_size if self.shuffle else len(order)
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
        start, self.start = self.start, 0
        return iter(self._share()[start:])

    def __len__(self) -> int:
        return len(self._share())


class ResumableLoader(DataLoader):
    """The training DataLoader, whose place in the epoch travels in Lightning's checkpoints.

    Lightning stores ``state_dict()`` (epoch, batches handed out) in every checkpoint of the fit loop
    and gives it to ``load_state_dict`` before a resumed run's first ``iter``: the run continues with
    the next batch of the same epoch, neither replaying nor skipping data. Batches are counted where
    they are handed out, in the main process, so worker prefetching does not move the position.
    The loader's own generator, seeded from seed + epoch, gives the workers their seeds, so that
    making an iterator draws nothing from the global RNG whose state the checkpoint restores.
    """

    def __init__(self, dataset: Dataset, batch_sampler: BucketBatchSampler, **kwargs):
        super().__init__(dataset, batch_sampler=batch_sampler, generator=torch.Generator(), **kwargs)
        self.handed_out = 0

    def __iter__(self) -> Iterator:
        sampler: BucketBatchSampler = self.batch_sampler
        self.generator.manual_seed(sampler.seed + sampler.epoch)
        self.handed_out = sampler.start
        for batch in super().__iter__():
            self.handed_out += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.batch_sampler.epoch, "position": self.handed_out}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.resume_at(state["epoch"], state["position"])
