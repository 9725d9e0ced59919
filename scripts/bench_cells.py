"""Training speed of every cell variant relative to ``torch.nn.LSTM``, measured in one run.

Shapes (issue: T=300, B=16, D=123, H=256, forward + backward). Two layouts, each with its own reference:
``stack``, each variant inside ``StackedRNN`` (2 bidirectional layers) against one fused
``torch.nn.LSTM(num_layers=2, bidirectional=True)``; ``single``, one layer in one direction against
``torch.nn.LSTM(D, H)``. On CUDA each layout is timed in float32 and under bf16 autocast (the stack
runs its recurrences in float32 inside autocast, as in training).

Every run takes its turn, in a new random order, in each of ``--repeats`` rounds and keeps its fastest
time, so that a slow spell of a shared machine does not fall on one cell. Columns: seconds per step, the ratio to the reference, frames/s, the memory held for backward (bytes of
the tensors autograd saves: the activation memory of BPTT) or, on CUDA, the peak allocated memory, and
``x loop``: where a cell runs a compiled loop (the C++ operators of the dense LSTM variants, the GRU
and the Li-GRU on CPU, their fused Triton step kernels on CUDA), its time over the
Python loop's, measured in the same run; and on CUDA ``x torch mm``: where the fused kernels do U's
product themselves (one launch a step each way), their time over the same kernels with torch's product
beside them (three launches a step), which is ``fused.IN_KERNEL_PRODUCT`` switched off; and in the
stack ``x unpaired``: where a layer's two directions run as one batch of the kernels (half the
launches), its time over the same kernels launched for each direction, ``fused.PAIRED_DIRECTIONS``
switched off; on CUDA ``persistent``: where the kernels do U's product, the time with every loop one
launch (``fused.PERSISTENT`` turned on: a program does all steps and units of its sequences) over
the reference's; with ``--graphs``, ``graphed``: the step captured once as a CUDA graph and replayed, over
the reference's time launched as usual, the floor that removing the host's launches could reach
(a run whose step cannot be captured says why under the table). The float32
line says whether cuDNN and torch's products may use TF32 (the kernels' product follows torch's).
Under ``TRITON_INTERPRET=1`` the CUDA columns run on CPU too, interpreted: what the tests use to run
their code without a GPU (the times mean nothing there).

    python scripts/bench_cells.py [--device cuda] [--layouts stack single] [--precisions fp32 bf16]
        [--repeats 3] [--cells lstm peephole_diag ...] [--batch 64 --hidden 512]
        [--cell-options zoneout_cell=0.1 zoneout_hidden=0.1] [--without loop mm unpaired persistent] [--graphs]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import os
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch

from asr_lstm import cells
from asr_lstm.arguments import positive_int
from asr_lstm.cells import compiled, recurrence
from asr_lstm.cells.conv_peephole import ConvPeepholeLSTM
from asr_lstm.cells.gru import GRU
from asr_lstm.cells.ligru import LiGRU
from asr_lstm.cells.lstm import LSTM, LSTMCellBase
from asr_lstm.models import StackedRNN


def saved_bytes(run: Callable[[], torch.Tensor]) -> int:
    """Bytes of the tensors autograd saves for backward while ``run()`` builds its graph."""
    total = 0

    def pack(t: torch.Tensor):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    out.float().sum().backward()
    return total


def time_round_robin(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` timings of each run, the runs taking turns in a new random order each
    round, so that neither a slow spell of a shared machine nor the state one run leaves to the next
    (the allocator's free memory) falls on one run more than on another."""
    for run in runs.values():
        run()  # warm-up, and builds what is built on first use
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    shuffle = random.Random(0).shuffle
    for _ in range(repeats):
        shuffle(order)
        for name in order:
            times[name].append(runs[name]())
    return {name: min(values) for name, values in times.items()}


def timed(run: Callable[[], torch.Tensor], device: torch.device, switch=contextlib.nullcontext) -> Callable[[], float]:
    """A function that runs forward + backward once, under ``switch()``, and returns its seconds."""

    def once() -> float:
        with switch():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            run().float().sum().backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start

    return once


def graph_replay(run: Callable[[], torch.Tensor], precision: str) -> Callable[[], float]:
    """A function that replays one forward + backward of ``run``, captured once as a CUDA graph, and
    returns its seconds: the step's GPU time without the host's launches in between, the floor that
    capturing the time loops (or a persistent kernel) could bring a cell's step down to. Raises where
    the step cannot be captured. Under bf16, autocast's cast cache is off during the capture (its
    cached casts would outlive the capture's memory pool)."""

    def step() -> None:
        run().float().sum().backward()

    casts = (
        torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    with casts:
        side = torch.cuda.Stream()  # warm-up off the default stream, as capture requires
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()

    def once() -> float:
        torch.cuda.synchronize()
        start = time.perf_counter()
        graph.replay()
        torch.cuda.synchronize()
        return time.perf_counter() - start

    return once


def python_loop(x: torch.Tensor) -> Callable[[], contextlib.AbstractContextManager]:
    """The switch from the compiled loop over tensors like ``x`` (the fused kernels, or the C++ operators
    on CPU) to the Python loop."""
    return recurrence.fused.switched_off if recurrence.runs_fused(x) else compiled.switched_off


def zones_out(cell: torch.nn.Module) -> bool:
    """Whether ``cell`` draws zoneout masks (in training)."""
    return cell.training and (getattr(cell, "zoneout_cell", 0) > 0 or cell.zoneout_hidden > 0)


def runs_compiled_loop(cell: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether ``cell`` runs a compiled loop over tensors like ``x``: the dense variants (``lstm`` where it
    leaves torch's kernel, e.g. under layer normalisation), the GRU and the Li-GRU; on CUDA the fused
    kernels, where they compute the variant (zoneout where they do U's product; on CPU too under
    Triton's interpreter, which is how the tests run the CUDA columns' code)."""
    if isinstance(cell, LSTM) and cell.runs_vendor_kernel(x):
        return False
    if not recurrence.runs_fused(x):
        return isinstance(cell, (LSTMCellBase, ConvPeepholeLSTM, GRU, LiGRU)) and compiled.applies(x)
    if isinstance(cell, (GRU, LiGRU)):
        return True
    if not isinstance(cell, (LSTMCellBase, ConvPeepholeLSTM)) or not cell.variant.fusable:
        return False
    return not zones_out(cell) or recurrence.fused.multiplies_in_kernel(cell.variant, getattr(cell, "weight_hr", None))


def multiplies_in_kernel(cell: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether ``cell``'s fused kernels do U's product themselves for tensors like ``x`` where
    ``IN_KERNEL_PRODUCT`` can leave it to torch: the dense variants on CUDA, without zoneout (which the
    kernels do only with the product; the GRU's and the Li-GRU's kernels always do it)."""
    fused_here = recurrence.runs_fused(x) and runs_compiled_loop(cell, x)
    if not fused_here or isinstance(cell, (GRU, LiGRU)) or zones_out(cell):
        return False
    return recurrence.fused.multiplies_in_kernel(cell.variant, getattr(cell, "weight_hr", None))


def runs_one_launch(cell: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether ``fused.PERSISTENT`` turned on runs ``cell``'s loops over tensors like ``x`` as one
    launch each: on CUDA the GRU, the Li-GRU and the dense variants whose kernels do U's product
    (zoneout included)."""
    if not recurrence.runs_fused(x) or not runs_compiled_loop(cell, x):
        return False
    if isinstance(cell, (GRU, LiGRU)):
        return True
    return recurrence.fused.multiplies_in_kernel(cell.variant, getattr(cell, "weight_hr", None))


def build_runs(
    layout: str, args, x: torch.Tensor, device: torch.device
) -> tuple[dict[str, Callable[[], torch.Tensor]], dict[str, torch.nn.Module], set[str]]:
    """The reference and every cell of ``args.cells`` as functions running one forward pass over ``x``,
    each cell's first layer, and the cells whose stack runs both directions of a layer as one batch."""
    lens = torch.full((args.batch,), args.steps, device=device)
    if layout == "stack":
        reference = torch.nn.LSTM(args.input, args.hidden, num_layers=args.layers, bidirectional=True)
    else:
        reference = torch.nn.LSTM(args.input, args.hidden)
    reference = reference.to(device)
    runs = {"torch.nn.LSTM": lambda: reference(x)[0]}
    first_layers, paired = {}, set()
    for name in args.cells:
        options = {"frequency_bins": 41, **args.cell_options} if name == "conv_peephole" else args.cell_options
        hidden = 41 * round(args.hidden / 41) if name == "conv_peephole" else args.hidden
        factory = functools.partial(cells.build, name, **options)
        if layout == "stack":
            module = StackedRNN(factory, args.input, hidden, args.layers).to(device)
            runs[name] = functools.partial(lambda m: m(x, lens), module)
            first_layers[name] = module.forward_layers[0]
            if both_directions_pair(module.forward_layers[0], module.backward_layers[0], x):
                paired.add(name)
        else:
            module = factory(input_size=args.input, hidden_size=hidden).to(device)
            runs[name] = functools.partial(lambda m: m(x)[0], module)
            first_layers[name] = module
    return runs, first_layers, paired


def both_directions_pair(fwd: torch.nn.Module, bwd: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether a stack's layer of these two directions runs them as one batch over tensors like ``x``."""
    return hasattr(fwd, "pairs_with") and fwd.pairs_with(bwd, x)


def cpu_description() -> str:
    """The processor's name (Linux's ``/proc/cpuinfo``, else ``platform``'s), its cores, and the vector
    instructions torch's CPU kernels, and so the compiled loops, are built for: the ratios depend on
    all three."""
    name = platform.processor() or "unknown processor"
    with contextlib.suppress(OSError):
        models = [
            line
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ]
        name = models[0].split(":", 1)[1].strip() if models else name
    return f"CPU: {name}, {os.cpu_count()} cores, torch's CPU capability {torch.backends.cpu.get_cpu_capability()}"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def table(layout: str, precision: str, args, device: torch.device) -> None:
    torch.manual_seed(0)
    x = torch.randn(args.steps, args.batch, args.input, device=device)
    runs, first_layers, paired = build_runs(layout, args, x, device)
    shape = f"{args.layers} bidirectional layers" if layout == "stack" else "1 layer, 1 direction"
    print(
        f"\n{layout}: device={device} {precision} T={args.steps} B={args.batch} D={args.input} H={args.hidden} "
        f"({shape}), forward+backward, threads={torch.get_num_threads()}"
    )
    if device.type == "cpu":
        print(cpu_description())
    if device.type == "cuda" and precision == "fp32":
        print(
            f"TF32: cuDNN {torch.backends.cudnn.allow_tf32}, "
            f"torch.mm and the kernels' product {torch.backends.cuda.matmul.allow_tf32}"
        )
    memory_name = "peak MiB" if device.type == "cuda" else "saved MiB"
    with autocast(device, precision):
        turns = {name: timed(run, device) for name, run in runs.items()}
        compiled_loop = [name for name, cell in first_layers.items() if runs_compiled_loop(cell, x)]
        with_loop = [] if "loop" in args.without else compiled_loop
        turns.update({f"{name} (Python loop)": timed(runs[name], device, python_loop(x)) for name in with_loop})
        with_product = [name for name in compiled_loop if multiplies_in_kernel(first_layers[name], x)]
        with_product = [] if "mm" in args.without else with_product
        for name in with_product:
            turns[f"{name} (torch mm)"] = timed(runs[name], device, recurrence.fused.IN_KERNEL_PRODUCT.off)
        paired = set() if "unpaired" in args.without else paired
        for name in paired:
            turns[f"{name} (unpaired)"] = timed(runs[name], device, recurrence.fused.PAIRED_DIRECTIONS.off)
        one_launch = [name for name in compiled_loop if runs_one_launch(first_layers[name], x)]
        one_launch = [] if "persistent" in args.without else one_launch
        failures, one_launch_failed = [], set()  # a comparison that cannot run is a finding, not the end of the run
        for name in list(one_launch):
            try:  # the first run compiles the kernels and checks that the programs of a tile met
                with recurrence.fused.PERSISTENT.turned_on():
                    runs[name]().float().sum().backward()
                turns[f"{name} (persistent)"] = timed(runs[name], device, recurrence.fused.PERSISTENT.turned_on)
            except RuntimeError as error:
                failures.append(f"{name}: its loops could not run as one launch each: {error}")
                one_launch.remove(name)
                one_launch_failed.add(name)
        for name in runs if args.graphs else []:
            try:
                turns[f"{name} (graph)"] = graph_replay(runs[name], precision)
            except Exception as error:
                failures.append(
                    f"{name}: its step could not be captured as a CUDA graph: {type(error).__name__}: {error}"
                )
        seconds = time_round_robin(turns, args.repeats)
        print(
            f"{'cell':<15} {'s/step':>8} {'x nn.LSTM':>10} {'frames/s':>10} {memory_name:>10} {'x loop':>7} "
            f"{'x torch mm':>10} {'x unpaired':>10} {'persistent':>10}" + (f" {'graphed':>8}" if args.graphs else "")
        )
        frames = args.steps * args.batch
        base = seconds["torch.nn.LSTM"]
        for name, run in runs.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
                run().float().sum().backward()
                memory = torch.cuda.max_memory_allocated()
            else:
                memory = saved_bytes(run)
            versus_loop = f"{seconds[name] / seconds[f'{name} (Python loop)']:.2f}" if name in with_loop else "-"
            versus_mm = f"{seconds[name] / seconds[f'{name} (torch mm)']:.2f}" if name in with_product else "-"
            versus_apart = f"{seconds[name] / seconds[f'{name} (unpaired)']:.2f}" if name in paired else "-"
            persistent = f"{seconds[f'{name} (persistent)'] / base:.2f}" if name in one_launch else "-"
            persistent = "failed" if name in one_launch_failed else persistent
            graphed = ""
            if args.graphs:
                replayed = seconds.get(f"{name} (graph)")
                graphed = f" {replayed / base:>8.2f}" if replayed is not None else f" {'failed':>8}"
            print(
                f"{name:<15} {seconds[name]:>8.3f} {seconds[name] / base:>10.2f} {frames / seconds[name]:>10.0f} "
                f"{memory / 2**20:>10.1f} {versus_loop:>7} {versus_mm:>10} {versus_apart:>10} {persistent:>10}{graphed}"
            )
        for failure in failures:
            print(failure)


def cell_option(parser: argparse.ArgumentParser, item: str) -> tuple[str, object]:
    """``name=value`` of --cell-options, the value a Python literal where it reads as one (``0.1``,
    ``True``, ``None``), else the string."""
    name, sep, value = item.partition("=")
    if not sep or not name:
        parser.error(f"--cell-options: {item!r} is not NAME=VALUE")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--layouts", nargs="+", choices=["stack", "single"], default=["stack", "single"])
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], help="default: fp32 on CPU, both on CUDA")
    parser.add_argument("--steps", type=positive_int, default=300)
    parser.add_argument("--batch", type=positive_int, default=16)
    parser.add_argument("--input", type=positive_int, default=123)
    parser.add_argument("--hidden", type=positive_int, default=256)
    parser.add_argument("--layers", type=positive_int, default=2, help="of the stack layout")
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--cells", nargs="+", default=list(cells.NAMES), choices=list(cells.NAMES))
    parser.add_argument(
        "--cell-options",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="options every cell of --cells is built with, e.g. zoneout_cell=0.1 cell_clip=3 (values as Python literals)",
    )
    parser.add_argument(
        "--without",
        nargs="+",
        default=[],
        choices=["loop", "mm", "unpaired", "persistent"],
        help="comparisons not to time (their columns print -): x loop, x torch mm, x unpaired, persistent",
    )
    parser.add_argument(
        "--graphs",
        action="store_true",
        help="CUDA: each run's step also captured as one CUDA graph and replayed (column graphed: its time over "
        "nn.LSTM's, launched as usual)",
    )
    args = parser.parse_args()
    if args.graphs and not args.device.startswith("cuda"):
        parser.error(f"--graphs captures CUDA graphs; --device is {args.device}")
    args.cell_options = dict(cell_option(parser, item) for item in args.cell_options)
    device = torch.device(args.device)
    precisions = args.precisions or (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
    for layout in args.layouts:
        for precision in precisions:
            table(layout, precision, args, device)


if __name__ == "__main__":
    main()
