"""The finished runs of a sweep (a Hydra multirun: ``asr-lstm train -m cell=a,b seed=1,2,3``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from asr_lstm.atomic import write_text


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its cell and seed, best dev and test error rates, size and speed."""

    name: str
    cell: str
    seed: int | None
    metric: str
    dev: float
    test: float
    parameters: int
    epochs: int
    seconds_per_epoch: float


def read_sweep(sweep_dir: Path) -> list[SweepRun]:
    """Every run under ``sweep_dir`` with a ``summary.json`` (unfinished ones have none).

    Raises:
        FileNotFoundError: no finished run below ``sweep_dir``.
        ValueError: runs scored by different metrics, which cannot be compared.
    """
    runs = []
    for summary_path in sorted(Path(sweep_dir).rglob("summary.json")):
        s = json.loads(summary_path.read_text(encoding="utf-8"))
        cfg = OmegaConf.load(summary_path.parent / "config.yaml")
        metric = s["metric"]
        runs.append(
            SweepRun(
                summary_path.parent.name,
                cfg.cell.name,
                cfg.get("seed"),
                metric,
                s[f"val_{metric}_best"],
                s.get(f"test_{metric}", float("nan")),
                s["parameters"],
                s["epochs"],
                (s["train_time_s"] or 0) / max(s["epochs"], 1),
            )  # fmt: skip
        )
    if not runs:
        raise FileNotFoundError(f"{sweep_dir}: no run with a summary.json below it")
    metrics = {r.metric for r in runs}
    if len(metrics) > 1:
        raise ValueError(f"{sweep_dir}: runs scored by different metrics {sorted(metrics)} cannot share a table")
    return runs


RUN_RECORD = ("summary.json", "config.yaml")


def keep_records(sweep_dir: Path, out_dir: Path) -> list[Path]:
    """Copies each finished run's ``summary.json`` and ``config.yaml`` (all :func:`read_sweep` reads)
    from below ``sweep_dir`` to the same place below ``out_dir``, without checkpoints or logs, so a
    sweep's table and figure can be redrawn from a folder small enough to commit; returns the runs kept.

    Raises:
        FileNotFoundError: no finished run below ``sweep_dir``.
    """
    runs = sorted(path.parent for path in Path(sweep_dir).rglob("summary.json"))
    if not runs:
        raise FileNotFoundError(f"{sweep_dir}: no run with a summary.json below it")
    for run in runs:
        target = Path(out_dir) / run.relative_to(sweep_dir)
        target.mkdir(parents=True, exist_ok=True)
        for name in RUN_RECORD:
            write_text(target / name, (run / name).read_text(encoding="utf-8"))
    return runs
