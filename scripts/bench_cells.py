"""Training speed of every cell variant relative to ``torch.nn.LSTM``, measured in one run.

Shapes (issue: T=300, B=16, D=123, H=256, 2 bidirectional layers, forward + backward). Each variant
runs inside ``StackedBiRNN``; the reference is one fused ``torch.nn.LSTM(num_layers=2,
bidirectional=True)``. Prints seconds per step, the ratio to the reference, frames/s, and the memory
held for backward (bytes of tensors autograd saves: the activation memory of BPTT) or, on CUDA, the
peak allocated memory. Where the fused Triton step kernels run (dense LSTM variants on CUDA), the last
column is their time over the eager loop's, measured in the same run.

    python scripts/bench_cells.py [--device cuda] [--repeats 3] [--cells lstm peephole_diag ...]
"""

from __future__ import annotations

import argparse
import functools
import time

import torch

from asr_lstm import cells
from asr_lstm.cells import recurrence
from asr_lstm.cells.conv_peephole import ConvPeepholeLSTM
from asr_lstm.cells.lstm import LSTM, LSTMCellBase
from asr_lstm.models import StackedBiRNN


def saved_bytes(run) -> int:
    """Bytes of the tensors autograd saves for backward while ``run()`` builds its graph."""
    total = 0

    def pack(t: torch.Tensor):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    out.sum().backward()
    return total


def time_step(run, repeats: int, device: torch.device) -> float:
    """Median seconds of forward + backward."""
    times = []
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]  # first run is warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--input", type=int, default=123)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cells", nargs="+", default=list(cells.NAMES))
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = torch.randn(args.steps, args.batch, args.input, device=device)
    lens = torch.full((args.batch,), args.steps, device=device)
    frames = args.steps * args.batch

    reference = torch.nn.LSTM(args.input, args.hidden, num_layers=args.layers, bidirectional=True).to(device)
    runs = {"torch.nn.LSTM": lambda: reference(x)[0]}
    fusable = set()  # cells whose time loop the fused kernels run here
    for name in args.cells:
        cls = cells.NAMES[name]
        shared_loop = issubclass(cls, (LSTMCellBase, ConvPeepholeLSTM)) and cls is not LSTM  # lstm runs on cuDNN
        if shared_loop and recurrence.runs_fused(x):
            fusable.add(name)
        options = {"frequency_bins": 41} if name == "conv_peephole" else {}
        hidden = 41 * round(args.hidden / 41) if name == "conv_peephole" else args.hidden
        stack = StackedBiRNN(functools.partial(cells.build, name, **options), args.input, hidden, args.layers).to(
            device
        )
        runs[name] = functools.partial(lambda s: s(x, lens), stack)

    print(
        f"device={device} T={args.steps} B={args.batch} D={args.input} H={args.hidden} layers={args.layers} (bidirectional), forward+backward"
    )
    print(f"{'cell':<15} {'s/step':>8} {'x nn.LSTM':>10} {'frames/s':>10} {'memory MiB':>11} {'x eager loop':>13}")
    base = None
    for name, run in runs.items():
        seconds = time_step(run, args.repeats, device)
        base = base or seconds
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            run().sum().backward()
            memory = torch.cuda.max_memory_allocated()
        else:
            memory = saved_bytes(run)
        versus_eager = "-"
        if name in fusable:
            with recurrence.fused.switched_off():
                versus_eager = f"{seconds / time_step(run, args.repeats, device):.2f}"
        print(
            f"{name:<15} {seconds:>8.3f} {seconds / base:>10.2f} {frames / seconds:>10.0f} {memory / 2**20:>11.1f} {versus_eager:>13}"
        )


if __name__ == "__main__":
    main()
