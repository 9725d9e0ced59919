"""``asr-lstm evaluate RUN_DIR [decode=beam decode.lm=LM.arpa decode.lm_weight=W ...]``: decode
prepared splits with a trained run and score them.

The search is the run's ``decode`` config (greedy unless it was trained with ``decode=beam``),
changed by Hydra-style overrides of the ``decode`` group: ``decode=greedy|beam`` picks an option of
``conf/decode/``, ``decode.<key>=<value>`` sets one of its keys. Writes
``RUN_DIR/decode_<split>/{hyp,ref}.txt`` (``decode_<split>_beam/`` for beam search; 61-phone labels
for TIMIT, characters for IAM), then ``errs.txt``, ``metrics.json``, ``confusions.json`` and
``confusion.png`` on the scoring label set of the corpus (PER on 39 folded phones for TIMIT, CER for
IAM); a character corpus also gets its WER in ``decode_<split>/wer/``.

``--grid decode.lm_weight=0.3,0.5,0.8`` (repeatable: every combination is a grid point) tunes the
search as Kaldi's scoring does: the first split (``dev``) is decoded at every point, the point with
the lowest error rate is chosen (the first such in grid order), and the other splits are decoded at
it. ``decode_<dev>*/grid.json`` lists each point's dev error rate; the network runs once per split.
A grid whose first split is ``test`` is refused: its choice would be made on the figure it reports.

When the first split is ``dev``, the confidence temperature is calibrated there first (on greedy
hypotheses, whatever the search: a property of the checkpoint) and written to ``RUN_DIR/calibration.json``,
which ``asr-lstm export`` puts into the model file; every split's hypotheses get confidences at it
(``decode_<split>/confidence.tsv``, and their correlation with the accuracies in ``metrics.json``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import shlex
import sys
from importlib import resources
from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from asr_lstm.arguments import positive_int
from asr_lstm.atomic import write_text
from asr_lstm.cli.build import build_datamodule
from asr_lstm.cli.config_check import type_errors
from asr_lstm.confidence import AlignedFrames, Calibration, calibrate, forced_path, pearson
from asr_lstm.data.bad_items import read_bad_items
from asr_lstm.data.feature_store import load_split
from asr_lstm.data.manifest import read_manifest, source_of
from asr_lstm.decoding.options import SearchConfig
from asr_lstm.devices import resolve_device
from asr_lstm.labelled_scoring import score_hypotheses
from asr_lstm.metrics import ErrorCounts
from asr_lstm.pictures.confusion import draw_confusion, read_confusions
from asr_lstm.recognizer import Recognizer, Transcript, Utterance
from asr_lstm.runs import TrainingRun
from asr_lstm.scoring import folder, utterance_accuracy

log = logging.getLogger(__name__)


def decode_config(run_cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The run's ``decode`` node (greedy where its config has none) with ``overrides`` applied.

    Raises:
        ValueError: an override outside the ``decode`` group, an unknown option, or an unknown key.
    """
    decode = run_cfg.get("decode") or group_option("greedy")
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not (key == "decode" or key.startswith("decode.")):
            raise ValueError(
                f"{override!r}: evaluate takes only decode overrides (decode=beam, decode.lm_weight=0.3); the rest comes from the run"
            )
        if key == "decode":
            decode = group_option(value)
            continue
        if key.removeprefix("decode.") not in decode:
            hint = " (beam-search keys need decode=beam before them)" if decode.get("kind") == "greedy" else ""
            raise ValueError(
                f"{override!r}: decode={decode.get('kind')} has no key {key.removeprefix('decode.')!r}{hint}; it has {sorted(decode)}"
            )
        decode = OmegaConf.merge(decode, OmegaConf.from_dotlist([override])["decode"])
    return decode


def group_option(name: str) -> DictConfig:
    """``conf/decode/<name>.yaml`` from the installed config tree."""
    files = resources.files("asr_lstm.conf") / "decode"
    path = files / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.name.removesuffix(".yaml") for p in files.iterdir() if p.name.endswith(".yaml"))
        raise ValueError(f"decode={name}: no such option; conf/decode has {options}")
    return OmegaConf.create(path.read_text(encoding="utf-8"))


def grid_points(grid: list[str]) -> list[list[str]]:
    """``["decode.a=1,2", "decode.b=x"]`` -> every combination as override lists, in grid order;
    ``[[]]`` for no grid."""
    axes = []
    for entry in grid:
        key, sep, values = entry.partition("=")
        if not sep or not values:
            raise ValueError(f"--grid {entry!r}: expected decode.<key>=v1,v2,...")
        axes.append([f"{key}={value}" for value in values.split(",")])
    return [list(point) for point in itertools.product(*axes)]


class SplitScorer:
    """Decodes one split's posteriors with a search and scores the hypotheses into a folder."""

    def __init__(self, recognizer: Recognizer, run: TrainingRun, split: str, batch_size: int, extra: dict):
        skipped = {b.id: b for b in read_bad_items(run.run_dir / "skipped.tsv") if b.split == split}
        rows = [r for r in read_manifest(run.work_dir / f"{split}.jsonl") if r["id"] not in skipped]
        feats = load_split(run.feature_dir / split)
        self.recognizer, self.labelling, self.split = recognizer, run.labelling, split
        self.utterances = [Utterance(r["id"], feats[r["id"]], speaker=source_of(r)) for r in rows]
        self.refs = {r["id"]: r[self.labelling.reference_key] for r in rows}
        self.posteriors = recognizer.posteriors(self.utterances, batch_size)
        # the split's items the run skipped (data.on_error=skip): not scored, and listed with the scores
        self.extra = {"split": split, "skipped": sorted(skipped), **extra}

    def accuracies(self, transcripts: list[Transcript]) -> list[float]:
        """Each hypothesis's accuracy on the scoring label set (1 - its error rate, at least 0)."""
        fold = folder(self.labelling.folding)
        return [utterance_accuracy(fold(self.refs[t.id]), fold(t.tokens)) for t in transcripts]

    def calibrate(self) -> Calibration:
        """The confidence temperature for which greedy hypotheses' confidences best match their
        accuracies on this split (see :mod:`asr_lstm.confidence`)."""
        transcripts = self.recognizer.transcribe(self.utterances, self.posteriors)
        aligned = [AlignedFrames.of(lp, forced_path(lp, t.ids)) for lp, t in zip(self.posteriors, transcripts)]
        return calibrate(aligned, self.accuracies(transcripts))

    def __call__(self, config: SearchConfig, search, out: Path) -> dict[str, ErrorCounts]:
        """Writes ``out/{hyp,ref}.txt`` and ``out/confidence.tsv`` (id, confidence, accuracy), scores
        the hypotheses' labels (and their words, where the labels have units) and returns the counts
        of each rate (the label rate's name, ``wer``); ``metrics.json`` gets the confidences' temperature, mean and correlation
        with the accuracies."""
        transcripts = self.recognizer.transcribe(self.utterances, self.posteriors, search)
        confidences, accuracies = [t.confidence for t in transcripts], self.accuracies(transcripts)
        write_text(out / "confidence.tsv", "id\tconfidence\taccuracy\n" + "".join(
            f"{t.id}\t{c:.4f}\t{a:.4f}\n" for t, c, a in zip(transcripts, confidences, accuracies)))  # fmt: skip
        confidence = {
            "temperature": self.recognizer.confidence_temperature,
            "mean": sum(confidences) / max(len(confidences), 1),
            "mean_accuracy": sum(accuracies) / max(len(accuracies), 1),
            "pearson_with_accuracy": pearson(confidences, accuracies),
        }
        extra = {**self.extra, "search": config.describe(), "confidence": confidence}
        totals = score_hypotheses(self.refs, {t.id: t.tokens for t in transcripts}, self.labelling, out, extra)
        for metric, total in totals.items():
            print(f"{self.split}: {total.kaldi_line(metric)} ({config.describe()}) -> {out}")
        return totals


def tune(scorer: SplitScorer, configs: list[SearchConfig], searches: list, points: list[list[str]], out: Path) -> int:
    """Scores every grid point into ``out/grid/NN/``, writes ``out/grid.json`` and returns the index of
    the point with the lowest error rate (the first such)."""
    rates = [
        scorer(config, search, out / "grid" / f"{k:02d}")[scorer.labelling.metric].rate
        for k, (config, search) in enumerate(zip(configs, searches))
    ]
    chosen = rates.index(min(rates))
    grid = {"split": scorer.split, "metric": scorer.labelling.metric, "chosen": chosen,
            "points": [{"overrides": point, "rate": rate} for point, rate in zip(points, rates)]}  # fmt: skip
    write_text(out / "grid.json", json.dumps(grid, indent=2) + "\n")
    print(f"{scorer.split}: chose {' '.join(points[chosen])} of the grid -> {out / 'grid.json'}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="asr-lstm evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="a training run directory (holds config.yaml and checkpoints/)")
    parser.add_argument("--checkpoint", default="best", help="best, last, or a .ckpt path (default best)")
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
    parser.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda or cuda:N")
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, help="utterances per network batch (as decode's)"
    )
    parser.add_argument(
        "--grid", action="append", default=[], metavar="decode.KEY=V1,V2", help="tune KEY on the first split"
    )
    parser.add_argument("overrides", nargs="*", help="decode=greedy|beam, decode.<key>=<value>")
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["asr-lstm", "evaluate", *argv])
    args = parser.parse_intermixed_args(argv)  # overrides after options too: `--grid K=A,B decode=beam`
    # `--splits dev test decode=beam` hands the overrides to --splits; split names never hold "="
    args.overrides += [s for s in args.splits if "=" in s]
    args.splits = [s for s in args.splits if "=" not in s]
    try:
        device = resolve_device(args.device)
        run = TrainingRun.of(args.run_dir)
        unknown = [split for split in args.splits if split not in run.corpus.splits]
        if unknown:
            raise ValueError(
                f"--splits {' '.join(unknown)}: not a split of the run's corpus ({', '.join(run.corpus.splits)})"
            )
        points = grid_points(args.grid)
        if len(points) > 1 and args.splits[0] == "test":
            raise ValueError(
                "--grid tunes the search on the first split, here test: the test error rate would be chosen on "
                "itself; give --splits dev test to tune on dev and apply the choice to test"
            )
        nodes = [decode_config(run.cfg, [*args.overrides, *p]) for p in points]
        wrong = dict.fromkeys(e for node in nodes for e in type_errors(OmegaConf.create({"decode": node})))
        if wrong:
            raise ValueError("decode values of the wrong type: " + "; ".join(wrong))
        configs: list[SearchConfig] = [instantiate(node) for node in nodes]
        checkpoint = run.checkpoint(args.checkpoint)
        recognizer = run.recognizer(args.checkpoint).to(device)
        searches = [config.build(recognizer.tokens, recognizer.separator) for config in configs]
    except (ValueError, FileNotFoundError, InstantiationException) as err:
        parser.error(str(err))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    build_datamodule(run.cfg).prepare_data()  # skips what is prepared
    chosen = 0
    for number, split in enumerate(args.splits):
        scorer = SplitScorer(
            recognizer, run, split, args.batch_size, {"checkpoint": str(checkpoint), "command": command}
        )
        out = args.run_dir / f"decode_{split}{configs[0].output_suffix}"
        if number == 0 and split == "dev":
            calibration = scorer.calibrate()
            recognizer.confidence_temperature = calibration.temperature
            record = {"checkpoint": str(checkpoint.resolve()), "split": split, **vars(calibration)}
            write_text(run.calibration_file, json.dumps(record, indent=2) + "\n")
            print(f"{split}: confidence temperature {calibration.temperature:.3f} (cross-entropy with the "
                  f"accuracies {calibration.loss_at_1:.4f} at 1, {calibration.loss:.4f}) -> {run.calibration_file}")  # fmt: skip
        if number == 0 and len(points) > 1:
            chosen = tune(scorer, configs, searches, points, out)
        totals = scorer(configs[chosen], searches[chosen], out)
        rate = run.labelling.token_metric  # the confusions are of the labels
        title = f"{args.run_dir.resolve().name}, {split}: {totals[rate].kaldi_line(rate)}"
        draw_confusion(read_confusions(out / "confusions.json"), out / "confusion.png", title)


if __name__ == "__main__":
    main()
