"""``scripts/bench_long_lag.py``: every cell trains on the recall task, and options a cell cannot take
are refused for all such cells at once, before any trains."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from asr_lstm import cells

SCRIPT = Path(__file__).parents[2] / "scripts" / "bench_long_lag.py"
TINY = ["--gap", "3", "--max-updates", "25", "--hidden", "4", "--seeds", "0"]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *TINY, *args], capture_output=True, text=True, timeout=300)


def test_every_cell_gets_a_row():
    """Each cell, a projected one's output (P values, not H) included, is read out and trained."""
    run = bench()
    assert run.returncode == 0, run.stderr
    rows = {line.split()[0] for line in run.stdout.splitlines()[2:]}
    assert rows == set(cells.NAMES)


def test_options_a_cell_cannot_take_are_refused_for_every_such_cell():
    run = bench("--cells", "gru", "peephole", "ligru", "--cell-options", "cell_clip=None")
    assert run.returncode == 2
    assert "gru: GRU.__init__() got an unexpected keyword argument 'cell_clip'" in run.stderr
    assert "ligru: LiGRU.__init__() got an unexpected keyword argument 'cell_clip'" in run.stderr
    assert "peephole:" not in run.stderr and "learns" not in run.stdout
