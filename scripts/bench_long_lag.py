"""Long time lags, the property LSTM was invented for: which cells learn to recall over a gap?

Task (a recall-over-a-gap problem in the spirit of Hochreiter & Schmidhuber 1997, experiment 2):
the first step shows one of ``K`` symbols, the next ``gap`` steps show random distractor symbols from
a separate alphabet, and after the last step the network must name the first symbol. Chance is 1/K.
One unidirectional layer per cell, a linear read-out of h_T, Adam; a cell "learns" the task when its
accuracy on fresh sequences reaches ``--target`` within ``--max-updates`` updates. Whether a run gets
there depends on its seed, so each cell trains once per seed of ``--seeds`` (its weights and its data),
and a row gives the seeds that learnt, the updates each needed and the best accuracy of each.

    python scripts/bench_long_lag.py [--gap 100] [--seeds 0 1 2] [--cells lstm nfg gru ...]
        [--cell-options cell_clip=None]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from bench_cells import cell_option  # the script's own folder is on sys.path
from torch import nn

from asr_lstm import cells
from asr_lstm.arguments import positive_int


def batch(
    size: int, gap: int, symbols: int, distractors: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x (1 + gap, B, symbols + distractors)`` one-hot sequences and their targets ``(B,)``."""
    target = torch.randint(symbols, (size,), generator=generator)
    noise = symbols + torch.randint(distractors, (gap, size), generator=generator)
    ids = torch.cat([target.unsqueeze(0), noise])
    return F.one_hot(ids, symbols + distractors).float(), target


class Recaller(nn.Module):
    def __init__(self, cell: str, inputs: int, hidden: int, outputs: int, options: dict):
        super().__init__()
        options = {"frequency_bins": inputs, **options} if cell == "conv_peephole" else options
        self.rnn = cells.build(cell, inputs, hidden * (inputs if cell == "conv_peephole" else 1), **options)
        # what the cell outputs: H, or P (+ N) under a projection
        self.readout = nn.Linear(getattr(self.rnn, "output_size", self.rnn.hidden_size), outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(x)
        return self.readout(y[-1])


def train(cell: str, seed: int, args: argparse.Namespace) -> tuple[float, int | None, float]:
    """Returns (best accuracy, updates to reach the target or None, seconds)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    inputs = args.symbols + args.distractors
    model = Recaller(cell, inputs, args.hidden, args.symbols, args.cell_options)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    x_eval, y_eval = batch(512, args.gap, args.symbols, args.distractors, gen)
    best, start = 0.0, time.perf_counter()
    for update in range(1, args.max_updates + 1):
        x, y = batch(args.batch, args.gap, args.symbols, args.distractors, gen)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if update % 25 == 0:
            with torch.no_grad():
                best = max(best, (model(x_eval).argmax(1) == y_eval).float().mean().item())
            if best >= args.target:
                return best, update, time.perf_counter() - start
    return best, None, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=list(cells.NAMES), choices=list(cells.NAMES))
    parser.add_argument(
        "--cell-options", nargs="+", default=[], metavar="NAME=VALUE", help="options given to every cell"
    )
    parser.add_argument("--gap", type=positive_int, default=100)
    parser.add_argument("--symbols", type=positive_int, default=4)
    parser.add_argument("--distractors", type=int, default=4)
    parser.add_argument("--hidden", type=positive_int, default=32)
    parser.add_argument("--batch", type=positive_int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--max-updates", type=positive_int, default=1500)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    args.cell_options = dict(cell_option(parser, item) for item in args.cell_options)
    refused = []
    for cell in args.cells:  # every cell that cannot take the options, before any trains
        try:
            Recaller(cell, args.symbols + args.distractors, args.hidden, args.symbols, args.cell_options)
        except (TypeError, ValueError) as error:
            refused.append(f"{cell}: {error}")
    if refused:
        parser.error("--cell-options:\n  " + "\n  ".join(refused))
    print(
        f"recall over a gap of {args.gap} steps: {args.symbols} symbols (chance {1 / args.symbols:.2f}), "
        f"{args.distractors} distractors, H={args.hidden}, target accuracy {args.target}"
        + "".join(f", {name}={value}" for name, value in args.cell_options.items())
    )
    print(f"{'cell':<15} {'learnt':>7}  {'updates per seed':<24} {'best accuracy per seed':<28} {'seconds':>8}")
    for cell in args.cells:
        runs = [train(cell, seed, args) for seed in args.seeds]
        learnt = sum(updates is not None for _, updates, _ in runs)
        updates = " ".join(str(u or "-") for _, u, _ in runs)
        best = " ".join(f"{b:.3f}" for b, _, _ in runs)
        seconds = sum(s for _, _, s in runs)
        print(f"{cell:<15} {learnt:>3} / {len(runs):<1}  {updates:<24} {best:<28} {seconds:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
