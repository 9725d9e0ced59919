"""``scripts/bench_cells.py`` on CPU at a tiny shape: a row for every cell asked for, the reference
first, and the machine the ratios belong to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
