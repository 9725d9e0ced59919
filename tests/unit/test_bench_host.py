"""``scripts/bench_host.py`` on CPU, its launches stubbed out: a row for every cell asked for, so that a
kernel renamed in ``fused`` or ``fused_gru`` cannot leave the GPU check broken until a GPU runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton", reason="Triton ships for Linux only")

SCRIPT = Path(__file__).parents[2] / "scripts" / "bench_host.py"


def test_the_host_time_of_every_cell_is_measured_with_its_launches_stubbed_out():
    cells = ["peephole_diag", "fgr", "gru", "ligru"]
    tiny = ["--device", "cpu", "--steps", "4", "--batch", "2", "--hidden", "8", "--repeats", "1"]
    run = subprocess.run(
        [sys.executable, str(SCRIPT), *tiny, "--cells", *cells], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith("host time per step: device=cpu (launches stubbed out) T=4 B=2 H=8")
    assert lines[1].startswith("one torch.addmm: ")
    assert [line.split()[0] for line in lines[3:]] == cells
    assert all(len(line.split()) == 7 and float(line.split()[1]) > 0 for line in lines[3:])
