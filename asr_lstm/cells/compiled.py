"""The time loops of the dense LSTM variants (``csrc/lstm_loop.cpp``), the GRU and the Li-GRU
(``csrc/gru_loop.cpp``) compiled for the CPU, built on first use.

On CPU the Python loop of :mod:`asr_lstm.cells.recurrence` costs, per step and direction, the recurrent
product plus a dozen small element-wise operators each called from the interpreter, forward and
backward; at the benchmark shape that is a third to a half of the vendor LSTM's time again. The two
C++ operators run the same loop, forward and hand-derived backward: the hidden units split into one
block per thread, each thread multiplying by its own rows of U (packed once per sequence) and doing its
units' element-wise work in one vectorised pass (the equations of :mod:`asr_lstm.cells.fused`'s
kernels, with cell clipping, zoneout and layer normalisation), the threads of one team meeting at a
barrier once per step (three times under layer normalisation, whose statistics span all units). They write
the buffers the Python loop writes, so the weight gradients after the loop are shared. The GRU's and
the Li-GRU's operators do the same for the loops of :mod:`asr_lstm.cells.gru` and
:mod:`asr_lstm.cells.ligru`, zoneout included.

The library is compiled by ``torch.utils.cpp_extension`` the first time a CPU float32/float64 loop
runs (a C++ compiler and ninja, some 30-60 s once; cached under ``TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``). Where it cannot be built, one warning says why and the Python loop
runs: nothing else needs a compiler. ``ASR_LSTM_COMPILED_LOOP=0`` in the environment or
``switched_off()`` chooses the Python loop.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from asr_lstm.cells.activations import ACTIVATIONS
from asr_lstm.cells.switch import Switch

if TYPE_CHECKING:
    from asr_lstm.cells.recurrence import LSTMVariant

SOURCES = [Path(__file__).with_name("csrc") / name for name in ("lstm_loop.cpp", "gru_loop.cpp")]
ACTIVATION_CODES = {"sigmoid": 0, "tanh": 1, "identity": 2}
assert set(ACTIVATION_CODES) == set(ACTIVATIONS)
# The instructions of the loops' build for each of torch's x86 CPU capabilities, as torch builds its own
# kernels for them: ATen's Vectorized holds 8 floats under AVX2 and 16 under AVX-512.
VECTOR_FLAGS = {
    "AVX2": ["-mavx2", "-mfma"],
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"],
}
SWITCH = Switch()
switched_off = SWITCH.off


def _compile_flags() -> tuple[list[str], list[str]]:
    """C++ and linker flags: the vector instructions of torch's own CPU kernels on this machine
    (``torch.backends.cpu.get_cpu_capability()``, which ``ATEN_CPU_CAPABILITY`` lowers): AVX2 or AVX-512
    with FMA, Sleef's functions from libtorch; ATen's portable vectors elsewhere. OpenMP on Linux, so that
    one team of threads runs a loop (the libgomp torch loaded)."""
    cflags, ldflags = ["-O3"], []
    capability = torch.backends.cpu.get_cpu_capability()
    if platform.machine() in ("x86_64", "AMD64") and capability in VECTOR_FLAGS:
        cflags += [*VECTOR_FLAGS[capability], f"-DCPU_CAPABILITY_{capability}", f"-DCPU_CAPABILITY={capability}"]
    if platform.system() == "Linux":
        cflags.append("-fopenmp")
        ldflags.append("-fopenmp")
    return cflags, ldflags


@contextlib.contextmanager
def _ninja_on_path() -> Iterator[None]:
    """The ``ninja`` wheel's binary on PATH while building: a virtualenv run without activation has
    its scripts folder off PATH."""
    try:
        import ninja
    except ImportError:
        yield
        return
    before = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([ninja.BIN_DIR, before])
    try:
        yield
    finally:
        os.environ["PATH"] = before


@contextlib.contextmanager
def _quiet_cpp_extension() -> Iterator[None]:
    """Silences the builder's log, which on a machine with a CUDA toolkit but no GPU warns that there is
    no CUDA runtime: this CPU library needs none."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


@functools.cache
def build_error() -> str | None:
    """Builds and loads the operators once per process; ``None`` when they are loaded, else why not."""
    if os.environ.get("ASR_LSTM_COMPILED_LOOP") == "0":
        return "ASR_LSTM_COMPILED_LOOP=0"
    try:
        with _ninja_on_path(), _quiet_cpp_extension():
            from torch.utils import cpp_extension

            cflags, ldflags = _compile_flags()
            cpp_extension.load(
                name="asr_lstm_loops",
                sources=[str(source) for source in SOURCES],
                extra_cflags=cflags,
                extra_ldflags=ldflags,
                is_python_module=False,
                verbose=False,
            )
    except Exception as error:  # a missing compiler or ninja, a failed build: every one means the Python loop
        reason = _first_error_line(str(error)) or type(error).__name__
        warnings.warn(
            f"asr_lstm: the compiled CPU loop of the recurrent cells could not be built ({reason}); the Python loop runs "
            "instead (same results, slower). It needs a C++ compiler and ninja (pip install ninja).",
            RuntimeWarning,
            stacklevel=2,
        )
        return reason
    return None


def _first_error_line(message: str) -> str:
    """The compiler's first ``error:`` line in a build log, else the log's last line."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return next((line for line in lines if "error:" in line), lines[-1] if lines else "")


def applies(x: torch.Tensor) -> bool:
    """Whether the compiled loop runs for tensors like ``x``: float32/float64 on CPU, where it builds."""
    if not SWITCH.on or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    return build_error() is None


def flags(variant: LSTMVariant, acts: tuple[str, str, str]) -> list[int]:
    """The switches of a variant in the order ``csrc/lstm_loop.cpp`` reads them."""
    return [
        int(variant.input_gate),
        int(variant.forget_gate),
        int(variant.output_gate),
        int(variant.coupled),
        int(variant.peepholes),
        int(variant.output_peephole == "current"),
        int(variant.recurrent_input == "c"),
        int(variant.gate_recurrence),
        *(ACTIVATION_CODES[a] for a in acts),
    ]


def clip_value(variant: LSTMVariant) -> float:
    """The cell clip C for the operators; 0 means none."""
    return float(variant.cell_clip or 0.0)
