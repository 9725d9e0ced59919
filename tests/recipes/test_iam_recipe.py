"""recipes/iam/run.sh (line images) and recipes/iam_ondb/run.sh (pen strokes) end to end on the
generated corpora (one epoch of a small model), then a rerun that skips every stage."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
OVERRIDES = "trainer.max_epochs=1 trainer.enable_progress_bar=false model.num_layers=1 model.hidden_size=32"


def run_recipe(recipe: str, work: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [
            "bash",
            str(RECIPES / recipe / "run.sh"),
            "--work",
            str(work),
            "--results",
            str(work / "RESULTS.md"),
            "--overrides",
            OVERRIDES,
            # the fixed LM weights this test checks; the TIMIT recipe's test runs a weight grid
            *("--char-grid", "", "--word-grid", "", "--score-grid", ""),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe, corpus, exp_name", [("iam", "iam", "blstm_mini_iam"), ("iam_ondb", "iam_ondb", "blstm_mini_iam_ondb")]
)
def test_handwriting_recipe_end_to_end_and_idempotent(tmp_path, recipe, corpus, exp_name):
    out = run_recipe(recipe, tmp_path)
    for stage in (
        "Stage 0: corpus",
        "Stage 1: manifests",
        "Stage 2:",
        "Stage 3: train",
        "Stage 4: greedy",
        "Stage 5: export",
        "Stage 6:",
    ):
        assert stage in out
    exp = tmp_path / "exp" / exp_name
    data = tmp_path / "data" / corpus
    for folder in ("decode_dev", "decode_test", "decode_dev_beam", "decode_test_lexicon"):
        cer = json.loads((exp / folder / "metrics.json").read_text())
        wer = json.loads((exp / folder / "wer" / "metrics.json").read_text())
        assert (
            cer["metric"] == "cer"
            and wer["metric"] == "wer"
            and cer["num_utts"] == wer["num_utts"] == {"dev": 64, "test": 96}[folder.split("_")[1]]
        )
    assert json.loads((exp / "decode_test_beam/metrics.json").read_text())["search"].startswith(
        f"beam 16, LM {data / 'lm/char_4gram.arpa'} weight 0.8"
    )
    assert "lexicon" in json.loads((exp / "decode_test_lexicon/metrics.json").read_text())["search"]
    assert (
        "\\4-grams:" in (data / "lm/char_4gram.arpa").read_text()
        and "\\2-grams:" in (data / "lm/word_2gram.arpa").read_text()
    )
    assert f"same error counts as {exp / 'decode_test' / 'metrics.json'}" in out and "onnxruntime matches torch" in out
    results = (tmp_path / "RESULTS.md").read_text()
    assert (
        f"| {exp_name} | lstm | test | 96 |" in results
        and f"| {exp_name} | lstm | test, exported file | 96 |" in results
    )
    assert (
        f"| {exp_name} | lstm | dev, lexicon + word LM | 64 |" in results
        and "** WER |" in results
        and "** CER |" in results
    )
    assert "- train: 384 lines, 48 writers" in results and "running words are not in the lexicon" in results

    again = run_recipe(recipe, tmp_path, "--stop-stage", "5")
    assert "already generated, skipping" in again and "manifests already prepared, skipping" in again
    assert "train features cached, skipping" in again and "already trained, skipping" in again
    assert "already decoded, skipping" in again and "already exported and checked, skipping" in again
