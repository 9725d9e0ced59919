"""``scripts/gpu_checks.sh``: what it refuses before writing anything, its time budget, its exit status.

The steps themselves need a GPU; here they run only the ``device`` step (which prints "no CUDA device"),
or a Python that fails it, to check the script's own logic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

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
    assert (tmp_path / "steps.txt").read_text().splitlines()[-1].startswith("device: exit 0 after ")
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


def test_unmet_requirements_are_reported_and_fail_the_run(tmp_path):
    """A distribution of asr-lstm first on the path whose requirements this environment does not meet."""
    write_distribution(tmp_path / "site", "no-such-package>=1", "torch==0.0.1")
    result = gpu_checks(tmp_path / "out", "device", PYTHONPATH=str(tmp_path / "site"))
    assert result.returncode == 1
    report = (tmp_path / "out" / "steps.txt").read_text()
    assert "  no-such-package>=1 (installed: None), required by asr-lstm\n  torch==0.0.1 (installed: 2." in report
    assert "device: exit 0 after " in report
    assert result.stdout.rstrip().endswith("failed: requirements")


def write_distribution(site: Path, *requires: str, name: str = "asr-lstm") -> Path:
    """A dist-info of ``name`` 0.1.0 under ``site`` with these ``Requires-Dist`` lines."""
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 0.1.0", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    return info


def test_check_requirements_counts_the_extras_asked_for_and_this_platforms_markers(tmp_path):
    from scripts.check_requirements import unmet

    info = write_distribution(
        tmp_path,
        "torch>=2",
        "no-such-package",
        "no-such-test-tool; extra == 'test'",
        "no-such-onnx-tool>=1; extra == 'onnx'",
        "no-such-windows-package; platform_system == 'Windows'",
        "pytest>=999; extra == 'onnx'",
    )
    distribution = metadata.PathDistribution(info)
    assert unmet(distribution, []) == ["no-such-package (installed: None), required by asr-lstm"]
    found = unmet(distribution, ["onnx"])
    assert found[:2] == [
        "no-such-package (installed: None), required by asr-lstm",
        "no-such-onnx-tool>=1 (installed: None), required by asr-lstm",
    ]
    assert found[2].startswith("pytest>=999 (installed: ") and len(found) == 3


def test_check_requirements_follows_what_the_requirements_require(tmp_path, monkeypatch):
    """soundfile installed without cffi: the gap is one level down, and an extra asked for counts there."""
    from scripts.check_requirements import unmet

    monkeypatch.syspath_prepend(str(tmp_path))
    write_distribution(tmp_path, "no-such-leaf>=2", "fake-c[more]", name="fake-a")
    write_distribution(tmp_path, "no-such-extra-leaf; extra == 'more'", "fake-a", name="fake-c")
    top = write_distribution(tmp_path / "top", "fake-a", "fake-c")
    assert unmet(metadata.PathDistribution(top), []) == [
        "no-such-leaf>=2 (installed: None), required by fake-a",
        "no-such-extra-leaf (installed: None), required by fake-c",
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the step would run the whole benchmark")
def test_the_graph_benchmark_refuses_a_machine_without_cuda(tmp_path):
    result = gpu_checks(tmp_path, "bench_graphs")
    assert result.returncode == 1
    assert "--graphs captures CUDA graphs; --device is cpu" in (tmp_path / "bench_graphs.txt").read_text()
    assert result.stdout.rstrip().endswith("failed: bench_graphs")
