"""Host time per step of the fused kernels' time loops, measured in one run.

On a GPU a step of a recurrent layer is bound by what the host spends launching it, not by the GPU's
arithmetic (issue 13), so this is the number the fused path (:mod:`asr_lstm.cells.fused`,
``fused_gru``) has to keep small beside the launches themselves. On CPU the kernels' launches are
stubbed out, nothing runs, and what is timed is the Python of the loops around them (the launches'
arguments, the buffers, the steps' bookkeeping) at a small hidden size, where the operators of a pass
outside the loop (input projections, weight gradients; for the paired layer also the concatenations)
cost little but still run and are counted, divided by T; on CUDA the launches are real (and asynchronous: the host time, with the GPU's work
overlapping it). Columns, per step: forward, and forward + backward, of one layer in one direction; the
same for one bidirectional layer, its two directions as one batch (``paired``); each over the host
time of one ``torch.addmm`` of a step's size in the same run (``x op``: how many eager operators'
worth a step costs the host).

    python scripts/bench_host.py [--device cuda] [--cells peephole_diag fgr gru ligru]
        [--steps 300] [--batch 16] [--hidden 16 (CPU) / 256 (CUDA)] [--repeats 7]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from unittest import mock

import torch

from asr_lstm import cells
from asr_lstm.arguments import positive_int
from asr_lstm.cells import fused, fused_gru

KERNELS = [(fused, "_forward_steps"), (fused, "_backward_steps")] + [
    (fused_gru, name)
    for name in (
        "_gru_forward_steps",
        "_gru_backward_steps",
        "_ligru_forward_steps",
        "_ligru_backward_steps",
    )
]


class NoLaunch:
    """A kernel whose launches do nothing."""

    def __getitem__(self, grid):
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def stubbed_launches() -> Iterator[None]:
    """The fused path taken on CPU tensors, every launch of its kernels doing nothing."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(fused, "applies", return_value=True))
        for module, name in KERNELS:
            stack.enter_context(mock.patch.object(module, name, NoLaunch()))
        yield


def fastest(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    """The fastest of ``repeats`` timed runs (after two untimed), in seconds of host time."""
    for _ in range(2):
        run()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def passes(name: str, args, device: torch.device) -> dict[str, Callable[[], object]]:
    """One layer's forward pass, its forward and backward pass, and a paired bidirectional layer's."""
    first, second = (cells.build(name, args.input, args.hidden).to(device) for _ in "ab")
    x = torch.randn(args.steps, args.batch, args.input, device=device)

    def forward() -> None:
        with torch.no_grad():
            first(x)

    def forward_backward() -> None:
        y = first(x)[0]
        y.backward(torch.ones_like(y))

    def paired() -> None:
        y, y_other = first.forward_pair(second, x, x)
        (y.sum() + y_other.sum()).backward()

    if not first.pairs_with(second, x):
        raise SystemExit(f"{name}: its directions do not run paired here")
    return {"forward": forward, "forward+backward": forward_backward, "paired": paired}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cells", nargs="+", default=["peephole_diag", "fgr", "gru", "ligru"])
    parser.add_argument("--steps", type=positive_int, default=300)
    parser.add_argument("--batch", type=positive_int, default=16)
    parser.add_argument("--input", type=positive_int, default=8)
    parser.add_argument("--hidden", type=positive_int, help="default 16 on CPU, 256 on CUDA")
    parser.add_argument("--repeats", type=positive_int, default=7)
    args = parser.parse_args()
    device = torch.device(args.device)
    args.hidden = args.hidden or (256 if device.type == "cuda" else 16)
    launches = "real launches" if device.type == "cuda" else "launches stubbed out"
    print(
        f"host time per step: device={device} ({launches}) T={args.steps} B={args.batch} H={args.hidden}, "
        f"threads={torch.get_num_threads()}"
    )
    with contextlib.nullcontext() if device.type == "cuda" else stubbed_launches():
        h = torch.randn(args.batch, args.hidden, device=device)
        weight = torch.randn(4 * args.hidden, args.hidden, device=device)
        xw_t = torch.randn(args.batch, 4 * args.hidden, device=device)
        repeats = 1000
        op = fastest(lambda: [torch.addmm(xw_t, h, weight.t()) for _ in range(repeats)], device, 3) / repeats
        print(f"one torch.addmm: {op * 1e6:.1f} us")
        print(
            f"{'cell':<15} {'forward us':>11} {'x op':>6} {'fwd+bwd us':>11} {'x op':>6} {'paired us':>10} {'x op':>6}"
        )
        for name in args.cells:
            seconds = {
                kind: fastest(run, device, args.repeats) / args.steps
                for kind, run in passes(name, args, device).items()
            }
            columns = " ".join(f"{s * 1e6:>{w}.1f} {s / op:>6.1f}" for s, w in zip(seconds.values(), (11, 11, 10)))
            print(f"{name:<15} {columns}")


if __name__ == "__main__":
    main()
