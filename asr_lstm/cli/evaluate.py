"""``asr-lstm evaluate RUN_DIR [decode=beam decode.lm=LM.arpa decode.lm_weight=W ...]``: decode
prepared splits with a trained run and score them.

The search is the run's ``decode`` config (greedy unless it was trained with ``decode=beam``),
changed by Hydra-style overrides of the ``decode`` group: ``decode=greedy|beam`` picks an option of
``conf/decode/``, ``decode.<key>=<value>`` sets one of its keys. Writes
``RUN_DIR/decode_<split>/{hyp,ref}.txt`` (``decode_<split>_beam/`` for beam search; 61-phone labels
for TIMIT, characters for IAM), then ``errs.txt`` and ``metrics.json`` on the scoring label set of the
corpus (PER on 39 folded phones for TIMIT, CER for IAM); a character corpus also gets its WER in
``decode_<split>/wer/``.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from importlib import resources
from pathlib import Path

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from asr_lstm.checkpoints import checkpoint_state
from asr_lstm.cli.build import build_datamodule, build_module
from asr_lstm.decoding import greedy_decode
from asr_lstm.decoding.options import SearchConfig
from asr_lstm.devices import resolve_device
from asr_lstm.lit_module import CTCLitModule
from asr_lstm.scoring import score, score_words, write_transcripts

log = logging.getLogger(__name__)


def resolve_checkpoint(run_dir: Path, checkpoint: str) -> Path:
    """``best`` / ``last`` name files in ``RUN_DIR/checkpoints``; anything else is a path."""
    path = run_dir / "checkpoints" / f"{checkpoint}.ckpt" if checkpoint in ("best", "last") else Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    return path


def decode_config(run_cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The run's ``decode`` node (greedy for runs that predate the group) with ``overrides`` applied.

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
    return OmegaConf.create(path.read_text())


@torch.no_grad()
def decode_split(
    module: CTCLitModule, loader, device: torch.device, search=greedy_decode
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Hypotheses and references (label strings) of every utterance served by ``loader``.

    ``search(log_probs, lens)`` turns ``(B, T, V)`` log-probabilities into label ids: greedy by default.
    """
    hyps, refs = {}, {}
    for batch in loader:
        log_probs, out_lens = module.net(batch["x"].to(device), batch["x_lens"].to(device))
        for utt, hyp, y, n in zip(
            batch["ids"], search(log_probs, out_lens), batch["y"].tolist(), batch["y_lens"].tolist()
        ):
            hyps[utt] = [module.labels[i] for i in hyp]
            refs[utt] = [module.labels[i] for i in y[:n]]
    return hyps, refs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="asr-lstm evaluate", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="a training run directory (holds config.yaml and checkpoints/)")
    parser.add_argument("--checkpoint", default="best", help="best, last, or a .ckpt path (default best)")
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
    parser.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda or cuda:N")
    parser.add_argument("overrides", nargs="*", help="decode=greedy|beam, decode.<key>=<value>")
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["asr-lstm", "evaluate", *argv])
    args = parser.parse_args(argv)
    # `--splits dev test decode=beam` hands the overrides to --splits; split names never hold "="
    args.overrides += [s for s in args.splits if "=" in s]
    args.splits = [s for s in args.splits if "=" not in s]
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    cfg = OmegaConf.load(args.run_dir / "config.yaml")
    try:
        search_config: SearchConfig = instantiate(decode_config(cfg, args.overrides))
    except (ValueError, InstantiationException) as err:
        parser.error(str(err))
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup()
    module = build_module(cfg, datamodule)
    ckpt = resolve_checkpoint(args.run_dir, args.checkpoint)
    module.load_state_dict(checkpoint_state(ckpt))
    module.to(device).eval()
    try:
        search = search_config.build(module.labels, datamodule.corpus.word_separator)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    for split in args.splits:
        out = args.run_dir / f"decode_{split}{search_config.output_suffix}"
        out.mkdir(parents=True, exist_ok=True)
        hyps, refs = decode_split(module, datamodule.dataloader(split), device, search)
        write_transcripts(hyps, out / "hyp.txt")
        write_transcripts(refs, out / "ref.txt")
        corpus = datamodule.corpus
        extra = {"split": split, "checkpoint": str(ckpt), "search": search_config.describe(), "command": command}
        totals = {
            corpus.metric: (
                score(out / "ref.txt", out / "hyp.txt", out, corpus.scoring_folding, corpus.metric, extra),
                out,
            )
        }
        if corpus.word_separator is not None:
            totals["wer"] = (
                score_words(out / "ref.txt", out / "hyp.txt", out / "wer", corpus.word_separator, extra),
                out / "wer",
            )
        for metric, (total, where) in totals.items():
            print(
                f"{split}: %{metric.upper()} {total.rate:.2f} [ {total.errors} / {total.ref_len}, {total.ins} ins, {total.dels} del, {total.sub} sub ] -> {where}"
            )


if __name__ == "__main__":
    main()
