"""Guards of a training run directory: one training at a time, and no resume with other options."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

# Options a resumed run may change: how long it trains, how it reports and how often it checkpoints,
# not what it trains.
RESUMABLE = {"trainer.max_epochs", "trainer.max_steps", "trainer.max_time", "trainer.enable_progress_bar",
             "trainer.log_every_n_steps", "callbacks.in_epoch_checkpoint.every_minutes",
             "callbacks.in_epoch_checkpoint.every_n_train_steps"}  # fmt: skip


class RunDirError(RuntimeError):
    """The run directory is in use, or holds a run made with other options; nothing was written."""


@contextlib.contextmanager
def exclusive(run_dir: Path) -> Iterator[None]:
    """Holds ``run_dir/.lock`` (an advisory ``flock``, released when the process ends, killed or not)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise RunDirError(
                f"{run_dir}: another training runs in this directory (pid {lock.read().strip() or '?'})"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def flat(node: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def has_trained(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds what a training made: a checkpoint to resume from (its own, or the one
    Lightning's SLURM requeue writes) or the summary of a finished run. A start that failed before its
    first checkpoint (an option refused while the model was built, a missing corpus, a kill early in
    the first epoch) leaves neither, and nothing a rerun with corrected options would lose."""
    checkpoints = [*(run_dir / "checkpoints").glob("*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")]
    return bool(checkpoints) or (run_dir / "summary.json").is_file()


def check_same_options(run_dir: Path, cfg: DictConfig) -> None:
    """Refuses to resume a run whose ``config.yaml`` differs from ``cfg`` in any key but those of
    ``RESUMABLE`` (training longer is a resume), naming every key that differs, where the run has
    trained (:func:`has_trained`); a run that has not starts over with ``cfg``.

    Raises:
        RunDirError: before anything is written.
    """
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file() or not has_trained(run_dir):
        return
    saved = flat(OmegaConf.to_container(OmegaConf.load(saved_path), resolve=True))
    new = flat(OmegaConf.to_container(cfg, resolve=True))
    changed = [f"{k}: {saved.get(k, '(absent)')!r} -> {new.get(k, '(absent)')!r}"
               for k in sorted(set(saved) | set(new)) if saved.get(k) != new.get(k) and k not in RESUMABLE]  # fmt: skip
    if changed:
        raise RunDirError(
            f"{run_dir} holds a run made with other options ({len(changed)} differ: {'; '.join(changed)}); "
            "rerun it with its own options to resume, or train into another hydra.run.dir"
        )
