"""``asr-lstm train``: compose the Hydra config, train with Lightning, test the best checkpoint.

The run directory (``hydra.run.dir``) receives ``config.yaml`` (resolved), ``command.txt``,
``checkpoints/{best,last,in_epoch}.ckpt``, TensorBoard and CSV logs, ``summary.json`` and
``curves.png`` (losses, error rates and learning rate, across restarts). Rerunning the same
command resumes from ``checkpoints/last.ckpt``; ``init_from=CKPT`` (or an exported model file) starts a
new run from other weights instead of a fresh initialisation, its output rows matched to the new
vocabulary by label (:mod:`asr_lstm.initial_weights`).
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from asr_lstm.checkpoints import AtomicCheckpointIO, usable_checkpoint
from asr_lstm.cli.build import build_averaging, build_datamodule, build_module, keep_initial_labels, refused_as_config
from asr_lstm.cli.config_check import check_config
from asr_lstm.cli.run_dir import RunDirError, check_same_options, exclusive
from asr_lstm.data.bad_items import write_bad_items
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.distributed import global_zero
from asr_lstm.errors import ConfigError, InputFileError
from asr_lstm.initial_weights import load_initial_weights
from asr_lstm.pictures.curves import draw_curves, has_run_log
from asr_lstm.runs import plain_options

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    """Trains (or resumes) the run described by ``cfg``; returns the summary it writes.

    Raises:
        ConfigError: a config value of the wrong type, before any work.
        RunDirError: another training holds the run directory, or it holds a run made with other
            options, before anything is written.
    """
    check_config(cfg)
    keep_initial_labels(cfg)  # before a resumed run's options are compared with its config.yaml
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    if not global_zero():  # another DDP process: the first one holds the directory and writes its files
        return train_in(out_dir, cfg, first=False)
    with exclusive(out_dir):
        if cfg.resume:
            check_same_options(out_dir, cfg)
        return train_in(out_dir, cfg, first=True)


def train_in(out_dir: Path, cfg: DictConfig, first: bool) -> dict:
    """Trains in ``out_dir``; the ``first`` process of a (DDP) training writes the run's files."""
    if first:
        OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)
        overrides = HydraConfig.get().overrides
        user_hydra = [o for o in overrides.hydra if not o.startswith("hydra.mode=")]  # hydra.mode is Hydra's own
        (out_dir / "command.txt").write_text(
            shlex.join(["asr-lstm", "train", *overrides.task, *user_hydra]) + "\n", encoding="utf-8"
        )
    pl.seed_everything(cfg.seed, workers=True)

    averaging = build_averaging(cfg)  # a value it cannot use is refused before the data are read
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup()
    module = build_module(cfg, datamodule)
    datamodule.check_ctc_lengths(module.net.output_length)
    if first:
        write_bad_items(datamodule.bad_items, out_dir / "skipped.tsv")

    checkpoints = out_dir / "checkpoints"
    resume_from = usable_checkpoint(checkpoints, set_aside=first) if cfg.resume and checkpoints.is_dir() else None
    ckpt_path = str(resume_from) if resume_from else None
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    elif cfg.get("init_from"):
        options = {"model": plain_options(cfg.model), "cell": plain_options(cfg.cell)}
        labels = load_initial_weights(module.net, module.labels, cfg.init_from, options)
        log.info("weights initialised from %s: %s", cfg.init_from, labels)
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    if averaging is not None:
        callbacks.append(averaging)
    loggers = [instantiate(c) for c in cfg.logger.values()]
    # A resumed run skips the sanity check: its validation batches would draw from the restored RNGs.
    resumed = {"num_sanity_val_steps": 0} if ckpt_path else {}
    trainer: pl.Trainer = refused_as_config(
        "trainer",
        lambda: instantiate(
            cfg.trainer, callbacks=callbacks, logger=loggers, plugins=[AtomicCheckpointIO()], **resumed
        ),
        (ValueError, MisconfigurationException),  # Lightning's for an accelerator this machine lacks
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)

    timer = next((c for c in callbacks if isinstance(c, pl.callbacks.Timer)), None)
    summary = {
        "parameters": sum(p.numel() for p in module.net.parameters()),
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "train_time_s": timer.time_elapsed("train") if timer else None,
        "metric": module.metric,
        f"val_{module.metric}_best": module.best_rate,
        "best_checkpoint": trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else None,
        "init_from": cfg.get("init_from"),
        "nonfinite_batches": module.nonfinite_batches,
        "skipped": {split: sum(b.split == split for b in datamodule.bad_items) for split in datamodule.corpus.splits},
        "val_counts": module.counts.get("val"),  # of the last validation
    }
    if cfg.test_after_fit:
        results = trainer.test(module, datamodule=datamodule, ckpt_path="best" if summary["best_checkpoint"] else None)
        rates = [module.token_metric, *(["wer"] if module.units is not None else [])]
        summary.update({f"test_{rate}": results[0][f"test/{rate}"] for rate in rates})
        summary["test_counts"] = module.counts["test"]  # [errors, reference units] of tokens (and words)
    if first:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if has_run_log(out_dir):  # unless the CSV logger was taken out of the config
            draw_curves(out_dir)
    return summary


@hydra.main(version_base="1.3", config_path="pkg://asr_lstm.conf", config_name="train")
def train(cfg: DictConfig) -> float:
    try:
        summary = run(cfg)
    except (
        RunDirError,
        CorpusError,
        InputFileError,
        ConfigError,
    ) as err:  # the user's to fix: the message, not a traceback
        print(f"asr-lstm train: {err}", file=sys.stderr)
        sys.exit(2)
    return summary[f"val_{summary['metric']}_best"]  # the value a Hydra sweeper would minimise


def main() -> None:
    train()


if __name__ == "__main__":
    main()
