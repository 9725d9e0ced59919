"""Generated ``RESULTS.md``: environment, protocol, error table, most frequent errors, model facts,
pictures (copied into ``pictures/`` beside it), commands and config.

Reads experiment folders written by ``asr-lstm train`` and ``asr-lstm decode`` (``summary.json``,
``config.yaml``, ``command.txt``, ``decode_<split>/metrics.json``) and the manifests of the data
directory. Never edit the output by hand: rerun the recipe's last stage.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytorch_lightning as pl
import torch
import torchaudio
from omegaconf import OmegaConf

from asr_lstm.atomic import atomic_path, write_text
from asr_lstm.data.inputs import kind_of_row
from asr_lstm.data.manifest import read_manifest, source_of
from asr_lstm.pictures.confusion import read_confusions, top_errors
from asr_lstm.pictures.curves import draw_curves, has_run_log
from asr_lstm.sweeps import read_sweep


def git_commit(where: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        )
        # the RESULTS.md files being rewritten are output, not a change to what produced them
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ":(top)",
                ":(top,exclude,glob)**/RESULTS.md",
            ],
            cwd=where,
            capture_output=True,
            text=True,
        ).stdout
        return out.stdout.strip() + (" (modified)" if dirty.strip() else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def environment_block(where: Path, wall_time: str | None) -> list[str]:
    return [
        "## Environment",
        "",
        f"- date: {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- git commit: {git_commit(where)}",
        f"- python {platform.python_version()}, torch {torch.__version__}, torchaudio {torchaudio.__version__}, pytorch-lightning {pl.__version__}",
        f"- device: {device_name()}",
        *([f"- recipe wall time: {wall_time}"] if wall_time else []),
        "",
    ]


def protocol_block(data_dir: Path, corpus_note: str, notes: list[str] | None = None) -> list[str]:
    """Corpus, split sizes (utterances, speakers and hours; or lines and writers) and the recipe's ``notes``."""
    lines = ["## Protocol", "", f"- corpus: {corpus_note}"]
    for split in ("train", "dev", "test"):
        manifest = data_dir / f"{split}.jsonl"
        if manifest.is_file():
            rows = read_manifest(manifest)
            kind = kind_of_row(rows[0]) if rows else None
            items, makers = kind.nouns if kind else ("lines", "writers")  # rows of text alone are lines
            sources = {source_of(r) for r in rows} - {None}  # none where the corpus records none
            line = f"- {split}: {len(rows)} {items}" + (f", {len(sources)} {makers}" if sources else "")
            if kind and kind.report_hours:
                line += f", {sum(r.get('duration', 0.0) for r in rows) / 3600:.2f} h"
            lines.append(line)
    return lines + [f"- {note}" for note in notes or []] + [""]


def table_head(title: str, *columns: str) -> list[str]:
    """A section heading and the header of its markdown table."""
    return [f"## {title}", "", f"| {' | '.join(columns)} |", "|" + "---|" * len(columns)]


def results_table(exp_dirs: list[Path]) -> list[str]:
    lines = table_head("Results", "exp", "cell", "split", "#utt", "#tokens", "Sub", "Del", "Ins", "error rate")
    for exp in exp_dirs:
        cfg = OmegaConf.load(exp / "config.yaml")
        folders = [*sorted(exp.glob("decode_*")), exp / "export_check"]
        found = [
            folder / sub / "metrics.json"
            for folder in folders
            for sub in ("", "wer")
            if (folder / sub / "metrics.json").is_file()
        ]
        for metrics_path in found:
            m = json.loads(metrics_path.read_text(encoding="utf-8"))
            folder = metrics_path.parent.parent if metrics_path.parent.name == "wer" else metrics_path.parent
            split = folder.name.removeprefix("decode_").replace("export_check", "test, exported file")
            split = split.replace("_beam", ", beam + LM").replace("_lexicon", ", lexicon + word LM")
            n = m["ref_len"]
            skipped = (
                f" ({len(m['skipped'])} skipped, not scored: {', '.join(m['skipped'])})" if m.get("skipped") else ""
            )
            lines.append(
                f"| {exp.name} | {cfg.cell.name} | {split} | {m['num_utts']}{skipped} | {n} | "
                f"{100 * m['sub'] / n:.1f} | {100 * m['dels'] / n:.1f} | {100 * m['ins'] / n:.1f} | **{m['rate']:.1f}** {m['metric'].upper()} |"
            )
    lines += ["", "Sub/Del/Ins are percentages of the reference tokens; error rate = Sub + Del + Ins.", ""]
    return lines


def unfinished_runs(exp_dirs: list[Path]) -> list[str]:
    """What keeps each of ``exp_dirs`` from the report: a missing folder, or the ``config.yaml`` and
    ``summary.json`` that a finished training leaves, one line a run."""
    problems = []
    for exp in exp_dirs:
        missing = [name for name in ("config.yaml", "summary.json") if not (exp / name).is_file()]
        if not exp.is_dir():
            problems.append(f"{exp}: no such run directory")
        elif missing:
            problems.append(f"{exp}: not a finished training run (no {' or '.join(missing)})")
    return problems


def skipped_notes(exp_dirs: list[Path]) -> list[str]:
    """A protocol line per run that skipped bad items (``data.on_error=skip``): how many per split."""
    notes = []
    for exp in exp_dirs:
        skipped = json.loads((exp / "summary.json").read_text(encoding="utf-8")).get("skipped", {})
        if any(skipped.values()):
            counts = ", ".join(f"{split} {n}" for split, n in skipped.items())
            notes.append(f"skipped by {exp.name} (data.on_error=skip; listed in its skipped.tsv): {counts}")
    return notes


def grid_block(exp_dirs: list[Path]) -> list[str]:
    """The dev error rate of every point of each tuned search (``decode_<dev>*/grid.json``), the chosen
    one in bold: the point the test rows above were decoded with."""
    lines = []
    for exp in exp_dirs:
        for grid_path in sorted(exp.glob("decode_*/grid.json")):
            grid = json.loads(grid_path.read_text(encoding="utf-8"))
            search = grid_path.parent.name.removeprefix(f"decode_{grid['split']}").removeprefix("_") or "greedy"
            if not lines:
                lines += table_head(
                    "Search parameters tuned on dev", "exp", "search", "grid point", f"{grid['split']} error rate"
                )
            for k, point in enumerate(grid["points"]):
                rate = f"**{point['rate']:.2f}** (chosen)" if k == grid["chosen"] else f"{point['rate']:.2f}"
                lines.append(
                    f"| {exp.name} | {search} | {' '.join(point['overrides'])} | {rate} {grid['metric'].upper()} |"
                )
    return lines + [""] if lines else []


def metric_of(summary: dict) -> str:
    """The error-rate name of a run's ``summary.json``."""
    return summary["metric"]


def model_block(exp_dirs: list[Path]) -> list[str]:
    lines = table_head(
        "Models", "exp", "layers x units", "parameters", "epochs", "training time", "best dev error rate"
    )
    for exp in exp_dirs:
        cfg = OmegaConf.load(exp / "config.yaml")
        s = json.loads((exp / "summary.json").read_text(encoding="utf-8"))
        minutes = (s["train_time_s"] or 0) / 60
        metric = metric_of(s)
        bidirectional = cfg.model.get("bidirectional", True)  # a run from before the option was
        layers = "bidirectional" if bidirectional else "forward-only"
        if cfg.model.get("chunk_frames") is not None:
            layers += f", latency-controlled {cfg.model.chunk_frames}+{cfg.model.right_context_frames}"
        lines.append(
            f"| {exp.name} | {cfg.model.num_layers} x {cfg.model.hidden_size} ({layers}) | "
            f"{s['parameters']:,} | {s['epochs']} | {minutes:.1f} min | {s[f'val_{metric}_best']:.1f} {metric.upper()} |"
        )
    return lines + [""]


def commands_block(exp_dirs: list[Path], recipe_command: str | None) -> list[str]:
    lines = ["## Commands", "", "```sh"]
    if recipe_command:
        lines.append(recipe_command)
    for exp in exp_dirs:
        lines.append((exp / "command.txt").read_text(encoding="utf-8").strip())
        evaluations = [
            json.loads(m.read_text(encoding="utf-8")).get("command") for m in sorted(exp.glob("decode_*/metrics.json"))
        ]
        lines += list(dict.fromkeys(c for c in evaluations if c)) or [f"asr-lstm evaluate {exp} --splits dev test"]
        if (exp / "model.asrlstm").is_file():
            lines.append(f"asr-lstm export {exp} -o {exp / 'model.asrlstm'}")
        if (exp / "model.onnx").is_file():
            lines.append(f"asr-lstm export {exp / 'model.asrlstm'} --onnx {exp / 'model.onnx'}")
    lines += ["```", ""]
    for exp in exp_dirs:
        lines += [
            f"<details><summary>Resolved config of {exp.name}</summary>",
            "",
            "```yaml",
            (exp / "config.yaml").read_text(encoding="utf-8").rstrip(),
            "```",
            "</details>",
            "",
        ]
    return lines


def sweep_table(sweep_dir: Path) -> list[str]:
    """A markdown comparison of every finished run under ``sweep_dir`` (e.g. a Hydra multirun).

    One row per run: cell, seed, dev error rate (PER or CER) of the best checkpoint, test error rate,
    parameters, epochs and training seconds per epoch, sorted by dev error rate.
    """
    runs = read_sweep(sweep_dir)
    name = runs[0].metric.upper()
    header = [
        f"| cell | seed | dev {name} | test {name} | parameters | epochs | s/epoch | run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return header + [
        f"| {r.cell} | {r.seed} | {r.dev:.1f} | {r.test:.1f} | {r.parameters:,} | {r.epochs} | "
        f"{r.seconds_per_epoch:.1f} | {r.name} |"
        for r in sorted(runs, key=lambda r: r.dev)
    ]


def pictures_block(exp_dirs: list[Path], folder: Path) -> list[str]:
    """Each run's training curves (drawn anew from its CSV logs, where it has them) and its test
    confusion matrix, copied into ``folder`` (beside RESULTS.md, so that the links render where the
    repository is browsed)."""
    lines = []
    for exp in exp_dirs:
        pictures = {"training curves": (draw_curves(exp), "curves.png")} if has_run_log(exp) else {}
        if (exp / "decode_test/confusion.png").is_file():
            pictures["test confusions (greedy)"] = (exp / "decode_test/confusion.png", "test_confusion.png")
        for what, (source, name) in pictures.items():
            target = folder / f"{exp.name}_{name}"
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
            lines += [f"{exp.name}, {what}:", "", f"![{exp.name} {what}]({folder.name}/{target.name})", ""]
    return ["## Pictures", "", *lines] if lines else []


def errors_block(exp_dirs: list[Path], n: int = 20) -> list[str]:
    """The ``n`` most frequent substitutions, deletions and insertions of each run's greedy test decode."""
    lines = []
    for exp in exp_dirs:
        path = exp / "decode_test/confusions.json"
        if not path.is_file():
            continue
        top = top_errors(read_confusions(path), n)
        lines += table_head(f"Most frequent errors of {exp.name} (test, greedy)", "#", "substitution", "n",
                            "deletion", "n", "insertion", "n")  # fmt: skip
        for k in range(max(map(len, top.values()), default=0)):
            cells = [top[kind][k] if k < len(top[kind]) else ("", "") for kind in top]
            lines.append(
                f"| {k + 1} | "
                + " | ".join(f"`{label}` | {count}" if label else " | " for label, count in cells)
                + " |"
            )
        lines.append("")
    return lines


def confidence_block(exp_dirs: list[Path]) -> list[str]:
    """Each greedy decode's confidence temperature (calibrated on dev), mean confidence, mean
    accuracy and their correlation over the utterances or lines (see :mod:`asr_lstm.confidence`)."""
    lines = []
    for exp in exp_dirs:
        for split in ("dev", "test"):
            path = exp / f"decode_{split}/metrics.json"
            confidence = json.loads(path.read_text(encoding="utf-8")).get("confidence") if path.is_file() else None
            if confidence is None:
                continue
            if not lines:
                lines = table_head("Confidence (greedy)", "exp", "split", "temperature", "mean confidence",
                                   "mean accuracy", "Pearson r")  # fmt: skip
            r = confidence["pearson_with_accuracy"]
            lines.append(f"| {exp.name} | {split} | {confidence['temperature']:.3f} | {confidence['mean']:.3f} | "
                         f"{confidence['mean_accuracy']:.3f} | {'-' if r is None else f'{r:.3f}'} |")  # fmt: skip
    if lines:
        lines += ["", "Accuracy of an utterance or line = 1 - min(1, its errors / its reference length); the "
                  "temperature is chosen on dev to minimise the cross-entropy between the two.", ""]  # fmt: skip
    return lines


def write_results(
    out: Path,
    title: str,
    data_dir: Path,
    exp_dirs: list[Path],
    corpus_note: str,
    recipe_command: str | None = None,
    wall_time: str | None = None,
    notes: list[str] | None = None,
) -> None:
    """Writes ``out`` (RESULTS.md) from the experiment folders ``exp_dirs``; ``notes`` are protocol lines (labels, LMs, ...)."""
    lines = [f"# {title}", "", "Generated by `asr-lstm report`; do not edit by hand.", ""]
    lines += environment_block(out.resolve().parent, wall_time)
    lines += protocol_block(data_dir, corpus_note, [*(notes or []), *skipped_notes(exp_dirs)])
    lines += results_table(exp_dirs)
    lines += grid_block(exp_dirs)
    lines += confidence_block(exp_dirs)
    lines += errors_block(exp_dirs)
    lines += model_block(exp_dirs)
    lines += pictures_block(exp_dirs, out.parent / "pictures")
    lines += commands_block(exp_dirs, recipe_command)
    write_text(out, "\n".join(lines))
