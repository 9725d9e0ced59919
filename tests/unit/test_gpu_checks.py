"""``scripts/gpu_checks.sh``: what it refuses before writing anything, its time budget, its exit status.

The steps themselves need a GPU; here they run only the ``device`` step (which prints "no CUDA device"),
or a Python that fails it, to check the script's own logic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_checks.sh"


def gpu_checks(out: Path, *steps: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), str(out), *steps],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable, **env},
        timeout=120,
    )


@pytest.mark.parametrize(
    ("steps", "env", "message"),
    [
        (("device", "tset", "bench_b61"), {}, "unknown steps: tset bench_b61"),
        (("device",), {"BUDGET": "5m"}, "BUDGET=5m is not a number of seconds"),
        (("device",), {"EPOCHS": "0"}, "EPOCHS=0 is not a number of epochs"),
        (("device",), {"PYTHON": "no-such-python"}, "no Python at PYTHON=no-such-python"),
    ],
)
def test_refuses_bad_arguments_before_writing_anything(tmp_path, steps, env, message):
    out = tmp_path / "out"
    result = gpu_checks(out, *steps, **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists()


def test_a_step_runs_into_its_file_and_is_recorded(tmp_path):
    result = gpu_checks(tmp_path, "device", BUDGET="600")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no CUDA device" in (tmp_path / "device.txt").read_text()
    assert (tmp_path / "steps.txt").read_text().startswith("device: exit 0 after ")
    assert not (tmp_path / "tests.txt").exists()


def test_a_step_left_under_30_seconds_of_the_budget_is_not_started(tmp_path):
    result = gpu_checks(tmp_path, "device", BUDGET="29")
    assert result.returncode == 0
    assert not (tmp_path / "device.txt").exists()
    assert "device: not run, " in (tmp_path / "steps.txt").read_text()
    assert "of BUDGET=29 left" in result.stdout


def test_a_failing_step_makes_the_script_exit_1_and_is_named(tmp_path):
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\ncase "$*" in *"import torch, triton"*) exit 3;; esac\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    result = gpu_checks(tmp_path / "out", "device", PYTHON=str(python))
    assert result.returncode == 1
    assert "device: exit 3 after " in (tmp_path / "out" / "steps.txt").read_text()
    assert result.stdout.rstrip().endswith("failed: device")
