"""recipes/kaldi/run.sh: the embedded demo end to end (one epoch) and a rerun that skips; a user's
data directories refused at stage 1 with their problems named; a wrong option."""

import functools
import json

import pytest

from tests.kaldi_fixture import write_data_dir
from tests.recipes.runner import run_recipe as run

run_recipe = functools.partial(run, "kaldi")


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_a_rerun_skips(tmp_path):
    overrides = "trainer.max_epochs=1 trainer.enable_progress_bar=false model.num_layers=1 model.hidden_size=32"
    done = run_recipe(tmp_path, "--overrides", overrides)
    out = done.stdout + done.stderr
    for stage in ("Stage 0: corpus", "Stage 1: manifests", "Stage 2: features", "Stage 3: train", "Stage 4: greedy",
                  "Stage 5: export", "Stage 6:"):  # fmt: skip
        assert stage in out
    demo = tmp_path / "data" / "kaldi_demo"
    assert (demo / "dev" / "segments").is_file() and not (demo / "train" / "segments").exists()
    test_rows = [json.loads(line) for line in (tmp_path / "data/kaldi/test.jsonl").read_text().splitlines()]
    assert len(test_rows) == 192 and all("segment" in row for row in test_rows)
    exp = tmp_path / "exp" / "blstm_kaldi_mini_timit"
    assert json.loads((exp / "decode_test" / "metrics.json").read_text())["num_utts"] == 192
    results = (tmp_path / "RESULTS.md").read_text()
    for row in (
        "| blstm_kaldi_mini_timit | lstm | test | 192 |",
        "| blstm_kaldi_mini_timit | lstm | test, exported file | 192 |",
    ):
        assert row in results
    assert results.count("CER |") >= 3 and "WER |" in results
    assert f"same error counts as {exp / 'decode_test' / 'metrics.json'}" in out and (exp / "model.onnx").is_file()
    again = run_recipe(tmp_path, "--overrides", overrides, "--stop-stage", "5")
    again_out = again.stdout + again.stderr
    assert "Kaldi data directories already written, skipping" in again_out
    assert "manifests already prepared, skipping" in again_out and "already trained, skipping" in again_out
    assert "already exported and checked, skipping" in again_out


def test_a_users_data_directories_are_validated_at_stage_1(tmp_path):
    dirs = {split: write_data_dir(tmp_path / "corpus", split) for split in ("train", "dev", "test")}
    text = dirs["dev"] / "text"
    text.write_text("\n".join(text.read_text().splitlines()[1:]) + "\n")  # spk1-u0 has no text
    args = [part for split, path in dirs.items() for part in (f"--{split}", str(path))]
    done = run_recipe(tmp_path / "work", *args, "--stop-stage", "1", check=False)
    assert done.returncode == 2
    assert f"kaldi data: {text}: no line for utterance 'spk1-u0' (of wav.scp)" in done.stderr
    assert not (tmp_path / "work" / "data" / "kaldi" / "train.jsonl").exists()
    text.write_text("spk1-u0 the cat sat\n" + text.read_text())
    done = run_recipe(tmp_path / "work", *args, "--stop-stage", "1")
    assert "Stage 0: corpus: using" in done.stdout and (tmp_path / "work/data/kaldi/train.jsonl").is_file()


def test_a_split_alone_is_refused(tmp_path):
    done = run_recipe(tmp_path, "--train", str(tmp_path), check=False)
    assert done.returncode == 2 and "give all three of --train, --dev and --test" in done.stderr


def test_unknown_units_or_forms_and_phones_of_a_users_data_without_a_lexicon_are_refused(tmp_path):
    done = run_recipe(tmp_path, "--units", "morse", check=False)
    assert done.returncode == 2 and "--units must be char, phone, bpe or unigram, got 'morse'" in done.stderr
    done = run_recipe(tmp_path, "--normalization", "NFX", check=False)
    assert done.returncode == 2 and "--normalization must be NFC, NFD, NFKC, NFKD or none, got 'NFX'" in done.stderr
    dirs = [part for split in ("train", "dev", "test") for part in (f"--{split}", str(tmp_path / split))]
    for split in ("train", "dev", "test"):
        (tmp_path / split).mkdir()
    done = run_recipe(tmp_path, *dirs, "--units", "phone", check=False)
    assert done.returncode == 2 and "--units phone needs --lexicon FILE for your own data" in done.stderr
