"""recipes/kraken/run.sh on a user's kraken datasets: every stage for one epoch on the split the file
holds, a rerun that skips; a file per split and a split by fractions prepared by stage 1 as training
reads them; wrong options refused before any stage."""

import functools
import json

import pytest

from tests.line_folder_fixture import TEXTS, kraken_lines
from tests.recipes.runner import run_recipe as run

pytest.importorskip("pyarrow")
from asr_lstm.data.generators.kraken_demo import write_dataset  # noqa: E402

run_recipe = functools.partial(run, "kraken")

TINY = "trainer.max_epochs=1 trainer.enable_progress_bar=false model.num_layers=1 model.hidden_size=16"


def dataset(path, splits):
    texts = [TEXTS[k % len(TEXTS)] for k in range(len(splits))]
    return write_dataset(kraken_lines(texts), splits, path)


def test_a_users_dataset_runs_every_stage_on_its_stored_split_and_a_rerun_skips(tmp_path):
    path = dataset(tmp_path / "gt" / "dataset.arrow", ["train"] * 4 + ["dev", "test", "test", None])
    done = run_recipe(tmp_path / "work", "--datasets", str(path), "--overrides", TINY)
    out = done.stdout + done.stderr
    for stage in ("Stage 0: corpus: using", "Stage 1: manifests and line images (the datasets' own train, "
                  "validation (dev) and test columns)", "Stage 2:", "Stage 3: train", "Stage 4: greedy",
                  "Stage 5: export", "Stage 6:"):  # fmt: skip
        assert stage in out
    assert "1 lines are in none of the stored splits, left out" in out
    assert "manifests already prepared, skipping" in out  # stage 1's options are the configuration's
    results = (tmp_path / "work" / "RESULTS.md").read_text()
    assert "| blstm_mini_kraken | lstm | test | 2 |" in results
    assert "| blstm_mini_kraken | lstm | test, exported file | 2 |" in results
    again = run_recipe(tmp_path / "work", "--datasets", str(path), "--overrides", TINY, "--stage", "3")
    assert "already trained, skipping" in again.stdout and "already exported and checked, skipping" in again.stdout


@pytest.mark.parametrize("layout", ["files", "fractions"])
def test_stage_1_prepares_a_file_per_split_or_a_split_by_fractions_as_training_reads_them(tmp_path, layout):
    if layout == "files":
        files = {s: dataset(tmp_path / f"{s}.arrow", [None] * n) for s, n in (("train", 3), ("dev", 1), ("test", 2))}
        options = [x for s, f in files.items() for x in (f"--{s}", str(f))]
    else:
        a = dataset(tmp_path / "a" / "data.arrow", [None] * 6)
        b = dataset(tmp_path / "b" / "data.arrow", [None] * 4)
        options = ["--datasets", f"{a} {b}", "--split", "fractions", "--seed", "3"]
    done = run_recipe(tmp_path / "work", *options, "--stop-stage", "2")
    assert "manifests already prepared, skipping" in done.stdout + done.stderr  # stage 2 agrees with stage 1
    rows = {s: [json.loads(x) for x in (tmp_path / "work/data/kraken" / f"{s}.jsonl").read_text().splitlines()]
            for s in ("train", "dev", "test")}  # fmt: skip
    sizes = [len(rows[s]) for s in ("train", "dev", "test")]
    assert sizes == ([3, 1, 2] if layout == "files" else [8, 1, 1])
    if layout == "fractions":
        assert {r["id"].rsplit("-", 1)[0] for rs in rows.values() for r in rs} == {"a_data", "b_data"}


@pytest.mark.parametrize(
    "options, message",
    [
        (["--split", "random"], "--split must be stored or fractions, got 'random'"),
        (["--train", "a.arrow"], "--train, --dev and --test go together"),
        (["--datasets", "x.arrow", "--train", "a", "--dev", "b", "--test", "c"], "not both"),
        (["--datasets", "nowhere.arrow other.arrow"], "--datasets nowhere.arrow: no such file"),
        (["--train", "a", "--dev", "b", "--test", "c", "--split", "fractions"], "--split fractions splits --datasets"),
        (["--bidi", "rtl"], "--bidi must be R, L, auto or none, got 'rtl'"),
    ],
)
def test_wrong_options_are_refused_before_any_stage(tmp_path, options, message):
    done = run_recipe(tmp_path, *options, check=False)
    assert done.returncode == 2 and message in done.stderr and "Stage" not in done.stdout
