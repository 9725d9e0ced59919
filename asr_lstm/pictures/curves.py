"""``curves.png`` of a training run: losses, validation error rates and learning rate against the
optimiser step, with the epochs on a second axis, from the run's CSV logs across restarts."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from asr_lstm.pictures.canvas import figure, save_png


@dataclass
class RunLog:
    """The metrics a run logged, merged over its starts (``csv/version_N/metrics.csv``, N in order).

    Attributes:
        series: metric name -> ``{step: value}``; a step logged by two starts (a resume from a
            checkpoint older than the last logged step) keeps the later start's value.
        epoch_ends: ``{epoch: step}`` at which each epoch's validation was logged.
        restarts: the first step of every start after the first.
    """

    series: dict[str, dict[int, float]] = field(default_factory=dict)
    epoch_ends: dict[int, int] = field(default_factory=dict)
    restarts: list[int] = field(default_factory=list)


def version_number(folder: Path) -> int:
    match = re.fullmatch(r"version_(\d+)", folder.name)
    return int(match.group(1)) if match else -1


def run_log_files(run_dir: Path) -> list[Path]:
    """``csv/version_N/metrics.csv`` of every start of the run, in order."""
    return sorted(Path(run_dir).glob("csv/version_*/metrics.csv"), key=lambda p: version_number(p.parent))


def has_run_log(run_dir: Path) -> bool:
    return bool(run_log_files(run_dir))


def read_run_log(run_dir: Path) -> RunLog:
    """The merged CSV logs of ``run_dir``.

    Raises:
        FileNotFoundError: naming ``run_dir`` when it holds no ``csv/version_*/metrics.csv``.
    """
    files = run_log_files(run_dir)
    if not files:
        raise FileNotFoundError(f"{run_dir}: no csv/version_*/metrics.csv (CSV logs of a training run)")
    log = RunLog()
    for number, path in enumerate(files):
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        steps = [int(row["step"]) for row in rows if row.get("step")]
        if number and steps:
            log.restarts.append(min(steps))
        for row in rows:
            step = int(row["step"])
            for name, value in row.items():
                if name in ("epoch", "step") or not value or name.startswith("test/"):
                    continue
                log.series.setdefault(name, {})[step] = float(value)
            if row.get("epoch") and any(row.get(k) for k in row if k.startswith("val/")):
                log.epoch_ends[int(row["epoch"])] = step
    return log


def draw_curves(run_dir: Path, out: Path | None = None) -> Path:
    """Draws ``run_dir/curves.png`` (or ``out``): train and validation loss, every validation error
    rate (PER or CER, and WER) and the learning rate, each against the step, epochs marked above the
    first panel and restarts as dotted lines. Returns the path written."""
    log = read_run_log(Path(run_dir))
    fig = figure(8, 7.5)
    loss_ax, rate_ax, lr_ax = fig.subplots(3, 1, sharex=True)
    for name, style in (("train/loss", ".-"), ("val/loss", "o-")):
        if name in log.series:
            steps, values = zip(*sorted(log.series[name].items()))
            loss_ax.plot(steps, values, style, label=name, markersize=3 if len(steps) < 100 else 0)
    loss_ax.set_ylabel("CTC loss")
    rates = [n for n in sorted(log.series) if n.startswith("val/") and n not in ("val/loss",) and "best" not in n]
    for name in rates:
        steps, values = zip(*sorted(log.series[name].items()))
        rate_ax.plot(steps, values, "o-", label=name, markersize=3)
    rate_ax.set_ylabel("error rate (%)")
    for name in sorted(n for n in log.series if n.startswith("lr-")):
        steps, values = zip(*sorted(log.series[name].items()))
        lr_ax.step(steps, values, where="post", label=name)
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_xlabel("optimiser step")
    for ax in (loss_ax, rate_ax, lr_ax):
        for step in log.restarts:
            ax.axvline(step, linestyle=":", color="grey")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize="small")
        ax.grid(alpha=0.3)
    if log.epoch_ends:
        top = loss_ax.secondary_xaxis("top")
        ends = sorted(log.epoch_ends.items())
        every = max(1, len(ends) // 10)
        top.set_xticks([step for _, step in ends[::every]], [str(epoch + 1) for epoch, _ in ends[::every]])
        top.set_xlabel("end of epoch")
    title = Path(run_dir).resolve().name + (f" (resumed {len(log.restarts)}x: dotted lines)" if log.restarts else "")
    fig.suptitle(title)
    return save_png(fig, out or Path(run_dir) / "curves.png")
