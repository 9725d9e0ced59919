"""Which process of a distributed training this is, before Lightning has set anything up.

``asr-lstm train`` prepares data and writes the run directory's files before it builds the Trainer;
under DDP every process runs it, so each must know its place from what its launcher put in the
environment: torchrun (``RANK``, ``LOCAL_RANK``), SLURM's ``srun`` (``SLURM_PROCID``, ``SLURM_LOCALID``)
or Lightning's own launcher, which starts the other processes of a node with ``LOCAL_RANK`` (and
``NODE_RANK`` for the other nodes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

PREPARE_ON = ("global", "node")


def global_zero() -> bool:
    """This process is the first of the whole training (or the only one)."""
    env = os.environ
    if "RANK" in env:
        return int(env["RANK"]) == 0
    if int(env.get("SLURM_NTASKS", "1")) > 1:
        return int(env.get("SLURM_PROCID", "0")) == 0
    return int(env.get("LOCAL_RANK", "0")) == 0 and int(env.get("NODE_RANK", env.get("GROUP_RANK", "0"))) == 0


def local_zero() -> bool:
    """This process is the first of its node."""
    env = os.environ
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "LOCAL_RANK" not in env:
        return int(env.get("SLURM_LOCALID", "0")) == 0
    return int(env.get("LOCAL_RANK", "0")) == 0


def prepares(prepare_on: str) -> bool:
    """Whether this process prepares the data: the first of all (``global``: a file system shared by
    every node) or the first of each node (``node``: a file system per node)."""
    if prepare_on not in PREPARE_ON:
        raise ValueError(f"data.prepare_on must be one of {PREPARE_ON}, got {prepare_on!r}")
    return global_zero() if prepare_on == "global" else local_zero()


def wait_until(ready: Callable[[], bool], what: str, timeout_s: float, poll_s: float = 2.0) -> None:
    """Polls ``ready`` until it holds; raises ``TimeoutError`` naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}; did the preparing process fail?")
        time.sleep(poll_s)
