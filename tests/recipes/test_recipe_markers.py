"""Stage markers of recipes/timit/run.sh, in bash against throw-away trees: `asr-lstm` and `python` are
stand-ins that log their calls, so that the test sees exactly which stages a rerun redoes."""

import os
import subprocess
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "timit" / "run.sh"
STAND_IN = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
"""


@pytest.fixture
def recipe(tmp_path):
    """``recipe(*options)``: runs stages 3-5 of the TIMIT recipe in ``tmp_path``; returns (log, calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("asr-lstm", "python"):
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls.log"

    def run(*options: str) -> tuple[str, list[str]]:
        calls.write_text("")
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls)}
        done = subprocess.run(
            ["bash", str(RECIPE), "--work", str(tmp_path), "--stage", "3", "--stop-stage", "5", *options],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout, [line.split()[1] for line in calls.read_text().splitlines()]

    return run


TRAIN, DECODE, EXPORT = ["train"], ["evaluate", "-m", "evaluate"], ["export", "decode", "score", "export"]


def test_an_unchanged_rerun_skips_every_stage(recipe):
    assert recipe()[1] == TRAIN + DECODE + EXPORT
    log, calls = recipe()
    assert calls == [] and "already trained, skipping" in log and "already decoded, skipping" in log
    assert "already exported and checked, skipping" in log


@pytest.mark.parametrize(
    "option, value, redone",
    [
        ("--lm-weight", "0.3", DECODE),
        ("--lm-grid", "0.5 1.0", DECODE),
        ("--beam-size", "4", DECODE),
        ("--overrides", "trainer.max_epochs=5", TRAIN + DECODE + EXPORT),
    ],
)
def test_a_changed_option_redoes_its_stage_and_the_ones_after_it(recipe, tmp_path, option, value, redone):
    recipe()
    (tmp_path / "exp/blstm_mini_timit/checkpoints").mkdir(parents=True)
    (tmp_path / "exp/blstm_mini_timit/checkpoints/last.ckpt").write_text("a run made with the old options")
    log, calls = recipe(option, value)
    assert calls == redone
    assert "its parameters changed, redoing it" in log and "  was: " in log and "  now: " in log
    retrained = (tmp_path / "exp/blstm_mini_timit/checkpoints/last.ckpt").exists() is False
    assert retrained == (redone == TRAIN + DECODE + EXPORT)  # an old run is never resumed with new options
    assert recipe(option, value)[1] == []
