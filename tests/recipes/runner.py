"""Runs a recipe's run.sh as a user would, with this interpreter's environment first on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def run_recipe(recipe: str, work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``recipes/<recipe>/run.sh --work WORK --results WORK/RESULTS.md ARGS``; with ``check`` it must succeed."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = ["bash", str(RECIPES / recipe / "run.sh"), "--work", str(work), "--results", str(work / "RESULTS.md")]
    done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=900)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done
