"""recipes/timit/run.sh end to end on the generated mini-TIMIT (one epoch), then a rerun that skips."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "timit" / "run.sh"


def run_recipe(work: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", str(RECIPE), "--work", str(work), "--results", str(work / "RESULTS.md"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
def test_recipe_end_to_end_and_idempotent(tmp_path):
    overrides = "trainer.max_epochs=1 trainer.enable_progress_bar=false model.num_layers=1 model.hidden_size=32"
    out = run_recipe(tmp_path, "--overrides", overrides)
    for stage in (
        "Stage 0: corpus",
        "Stage 1: manifests",
        "Stage 2: features",
        "Stage 3: train",
        "Stage 4: greedy",
        "Stage 5: export",
        "Stage 6:",
    ):
        assert stage in out
    exp = tmp_path / "exp" / "blstm_mini_timit"
    for split in ("dev", "test"):
        metrics = json.loads((exp / f"decode_{split}" / "metrics.json").read_text())
        assert metrics["folding"] == "39" and metrics["num_utts"] == {"dev": 128, "test": 192}[split]
        assert {"hyp.txt", "ref.txt", "errs.txt"} <= {p.name for p in (exp / f"decode_{split}").iterdir()}
    results = (tmp_path / "RESULTS.md").read_text()
    assert "| exp | cell | split | #utt | #tokens | Sub | Del | Ins | error rate |" in results
    assert "| blstm_mini_timit | lstm | test | 192 |" in results
    assert "| blstm_mini_timit | lstm | test, exported file | 192 |" in results
    assert "| blstm_mini_timit | lstm | test, beam + LM | 192 |" in results
    beam = json.loads((exp / "decode_test_beam" / "metrics.json").read_text())
    assert beam["search"].startswith("beam 16, LM") and beam["num_utts"] == 192
    assert "\\2-grams:" in (tmp_path / "data/timit/lm/phone_bigram.arpa").read_text()
    assert f"same error counts as {exp / 'decode_test' / 'metrics.json'}" in out
    assert (exp / "model.asrlstm").is_file() and (exp / "model.onnx").is_file()
    assert "onnxruntime matches torch" in out
    assert (
        f"decode=beam decode.beam_size=16 decode.lm={tmp_path / 'data/timit/lm/phone_bigram.arpa'} decode.lm_weight=0.8"
        in results
    )
    assert "--onnx" in results
    assert "## Environment" in results and "## Protocol" in results and "asr-lstm train" in results

    again = run_recipe(tmp_path, "--overrides", overrides, "--stop-stage", "5")
    assert "mini-TIMIT already generated, skipping" in again
    assert "manifests already prepared, skipping" in again
    assert "train features cached, skipping" in again
    assert "already trained, skipping" in again and "already decoded, skipping" in again
    assert "already exported and checked, skipping" in again
