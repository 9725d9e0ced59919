"""``asr-lstm evaluate RUN_DIR``: decode prepared splits with a trained run and score them.

Greedy by default; ``--beam-size N [--lm ARPA --lm-weight W]`` runs beam search and writes to
``decode_<split>_beam/``. Writes ``RUN_DIR/decode_<split>/{hyp,ref}.txt`` (61-phone labels), then ``errs.txt`` and
``metrics.json`` on the scoring label set of the corpus (39 folded phones for TIMIT).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
from omegaconf import OmegaConf

from asr_lstm.cli.build import build_datamodule, build_module
from asr_lstm.decoding import greedy_decode
from asr_lstm.decoding.options import add_search_options, describe_search, make_search
from asr_lstm.lit_module import CTCLitModule
from asr_lstm.scoring import score, write_transcripts

log = logging.getLogger(__name__)


def resolve_checkpoint(run_dir: Path, checkpoint: str) -> Path:
    """``best`` / ``last`` name files in ``RUN_DIR/checkpoints``; anything else is a path."""
    path = run_dir / "checkpoints" / f"{checkpoint}.ckpt" if checkpoint in ("best", "last") else Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    return path


@torch.no_grad()
def decode_split(module: CTCLitModule, loader, device: torch.device, search=greedy_decode) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Hypotheses and references (label strings) of every utterance served by ``loader``.

    ``search(log_probs, lens)`` turns ``(B, T, V)`` log-probabilities into label ids: greedy by default.
    """
    hyps, refs = {}, {}
    for batch in loader:
        log_probs, out_lens = module.net(batch["x"].to(device), batch["x_lens"].to(device))
        for utt, hyp, y, n in zip(batch["ids"], search(log_probs, out_lens), batch["y"].tolist(), batch["y_lens"].tolist()):
            hyps[utt] = [module.labels[i] for i in hyp]
            refs[utt] = [module.labels[i] for i in y[:n]]
    return hyps, refs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="asr-lstm evaluate", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="a training run directory (holds config.yaml and checkpoints/)")
    parser.add_argument("--checkpoint", default="best", help="best, last, or a .ckpt path (default best)")
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    add_search_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    cfg = OmegaConf.load(args.run_dir / "config.yaml")
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup()
    module = build_module(cfg, datamodule)
    ckpt = resolve_checkpoint(args.run_dir, args.checkpoint)
    module.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"])
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else "cpu" if args.device == "auto" else args.device)
    module.to(device).eval()
    search = make_search(args, module.labels)
    suffix = "" if search is greedy_decode else "_beam"
    for split in args.splits:
        out = args.run_dir / f"decode_{split}{suffix}"
        out.mkdir(parents=True, exist_ok=True)
        hyps, refs = decode_split(module, datamodule.dataloader(split), device, search)
        write_transcripts(hyps, out / "hyp.txt")
        write_transcripts(refs, out / "ref.txt")
        total = score(out / "ref.txt", out / "hyp.txt", out, datamodule.corpus.scoring_folding, "per", {"split": split, "checkpoint": str(ckpt), "search": describe_search(args)})
        print(f"{split}: %PER {total.rate:.2f} [ {total.errors} / {total.ref_len}, {total.ins} ins, {total.dels} del, {total.sub} sub ] -> {out}")


if __name__ == "__main__":
    main()
