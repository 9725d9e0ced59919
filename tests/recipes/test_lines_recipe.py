"""recipes/lines/run.sh on a user's folder of line images with .gt.txt files: every stage for one
epoch, splits by folder, a rerun that skips; a wrong option refused before any stage."""

import functools
import json

from tests.line_folder_fixture import write_line_folder
from tests.recipes.runner import run_recipe as run

run_recipe = functools.partial(run, "lines")

TINY = "trainer.max_epochs=1 trainer.enable_progress_bar=false model.num_layers=1 model.hidden_size=16"


def test_a_users_line_folder_runs_every_stage_and_a_rerun_skips(tmp_path):
    write_line_folder(tmp_path / "gt", folders=5, per_folder=2, image_suffixes=(".bin.png", ".nrm.png"))
    options = ["--lines", str(tmp_path / "gt"), "--group-by", "folder", "--image-suffix", ".bin.png"]
    done = run_recipe(tmp_path / "work", *options, "--overrides", TINY)
    out = done.stdout + done.stderr
    for stage in ("Stage 0: corpus: using", "Stage 1: manifests (a seeded (seed 0) 80/10/10 split by folder)",
                  "Stage 2:", "Stage 3: train", "Stage 4: greedy", "Stage 5: export", "Stage 6:"):  # fmt: skip
        assert stage in out
    assert "manifests already prepared, skipping" in out  # stage 1's options are the configuration's
    results = (tmp_path / "work" / "RESULTS.md").read_text()
    assert (
        "| blstm_mini_lines | lstm | test | 2 |" in results
        and "| blstm_mini_lines | lstm | test, exported file | 2 |" in results
    )
    again = run_recipe(tmp_path / "work", *options, "--overrides", TINY, "--stage", "3", "--stop-stage", "5")
    assert "already trained, skipping" in again.stdout and "already exported and checked, skipping" in again.stdout


def test_a_wrong_grouping_or_a_missing_folder_is_refused_before_any_stage(tmp_path):
    done = run_recipe(tmp_path, "--group-by", "page", check=False)
    assert done.returncode == 2 and "--group-by must be line or folder, got 'page'" in done.stderr
    done = run_recipe(tmp_path, "--lines", str(tmp_path / "nowhere"), check=False)
    assert done.returncode == 2 and "Stage" not in done.stdout and "nowhere" in done.stderr


def test_right_to_left_lines_are_prepared_in_display_order_by_stage_1_as_training_reads_them(tmp_path):
    from tests.line_folder_fixture import write_line

    for f in range(5):
        for k, text in enumerate(("שלום עולם", "עולם 1948")):
            write_line(tmp_path / "gt" / f"book{f}", f"{k:04d}", text)
    done = run_recipe(tmp_path / "work", "--lines", str(tmp_path / "gt"), "--group-by", "folder", "--bidi", "R",
                      "--stop-stage", "2")  # fmt: skip
    assert "manifests already prepared, skipping" in done.stdout + done.stderr  # stage 2 agrees with stage 1
    labelling = json.loads((tmp_path / "work" / "data" / "lines" / "labelling.json").read_text())
    assert labelling["reference_key"] == "units" and labelling["units"]["display_order"] == "R"


def test_a_wrong_direction_or_the_right_to_left_demo_on_a_users_folder_is_refused(tmp_path):
    done = run_recipe(tmp_path, "--bidi", "rtl", check=False)
    assert done.returncode == 2 and "--bidi must be R, L, auto or none, got 'rtl'" in done.stderr
    done = run_recipe(tmp_path, "--right-to-left", "--lines", str(tmp_path), check=False)
    assert done.returncode == 2 and "--right-to-left writes the demo in a right-to-left script" in done.stderr
    assert "Stage" not in done.stdout
