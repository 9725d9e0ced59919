"""``scripts/bench_cells.py`` on CPU at a tiny shape: a row for every cell asked for, the reference
first, and the machine the ratios belong to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parents[2] / "scripts" / "bench_cells.py"


def test_a_cpu_table_names_the_machine_and_times_every_cell():
    tiny = ["--device", "cpu", "--steps", "3", "--batch", "2", "--input", "4", "--hidden", "8", "--repeats", "1"]
    run = subprocess.run(
        [sys.executable, str(SCRIPT), *tiny, "--cells", "peephole_diag", "gru", "--layouts", "single"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith("single: device=cpu fp32 T=3 B=2 D=4 H=8")
    assert lines[1].startswith("CPU: ") and lines[1].endswith(
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    assert [line.split()[0] for line in lines[3:]] == ["torch.nn.LSTM", "peephole_diag", "gru"]
    assert lines[3].split()[2] == "1.00"


def test_the_columns_of_the_fused_kernels_run_under_the_interpreter():
    """The CUDA columns (x loop over the eager loop, x torch mm, x unpaired, persistent) run their code
    on CPU under Triton's interpreter, so that a slip in them shows here rather than in the few minutes
    of a lent GPU; the times themselves mean nothing there."""
    pytest.importorskip("triton", reason="Triton ships for Linux only")
    tiny = ["--device", "cpu", "--steps", "3", "--batch", "2", "--input", "4", "--hidden", "8", "--repeats", "1"]
    run = subprocess.run(
        [sys.executable, str(SCRIPT), *tiny, "--cells", "peephole_diag", "gru", "lstmp", "--layouts", "stack"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TRITON_INTERPRET": "1"},
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[2].endswith("x loop x torch mm x unpaired persistent")
    rows = {line.split()[0]: line.split()[5:] for line in lines[3:]}
    numbers = {name: [column != "-" and float(column) > 0 for column in columns] for name, columns in rows.items()}
    # x loop, x torch mm, x unpaired, persistent: U's product is torch's under a projection, and the
    # GRU's kernels always do it
    assert numbers == {
        "torch.nn.LSTM": [False] * 4,
        "peephole_diag": [True] * 4,
        "gru": [True, False, True, True],
        "lstmp": [True, False, False, False],
    }
