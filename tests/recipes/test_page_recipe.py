"""recipes/page/run.sh: the embedded demo of pages end to end (one epoch), the test pages decoded back
into valid PAGE-XML, a rerun that skips; a damaged page of a user's folder named at stage 1."""

import functools

import pytest
from lxml import etree

from asr_lstm.data.tokens import Vocabulary
from tests.page_fixture import page_schema, write_pages
from tests.recipes.runner import run_recipe as run

run_recipe = functools.partial(run, "page")


@pytest.mark.slow
def test_the_demo_pages_run_end_to_end_and_a_rerun_skips(tmp_path):
    overrides = "trainer.max_epochs=1 trainer.enable_progress_bar=false model.num_layers=1 model.hidden_size=32"
    done = run_recipe(tmp_path, "--overrides", overrides)
    out = done.stdout + done.stderr
    for stage in ("Stage 0: corpus", "Stage 1: lines cut", "Stage 2:", "Stage 3: train", "Stage 4: greedy",
                  "Stage 5: export", "Stage 5: the test pages decoded", "Stage 6:"):  # fmt: skip
        assert stage in out
    pages = sorted((tmp_path / "data" / "page_demo" / "pages").glob("*.xml"))
    assert len(pages) == 68  # a page per mini-IAM form: 48 train, 8 dev, 12 test
    exp = tmp_path / "exp" / "blstm_mini_pages"
    results = (tmp_path / "RESULTS.md").read_text()
    assert (
        "| blstm_mini_pages | lstm | test | 96 |" in results
        and "| blstm_mini_pages | lstm | test, exported file | 96 |" in results
    )
    assert results.count("CER |") >= 3 and "WER |" in results
    decoded = sorted((exp / "decoded_pages").glob("*.xml"))
    assert len(decoded) == 12
    schema = page_schema()
    for page in (pages[0], *decoded):
        assert schema.validate(etree.parse(str(page))), f"{page}: {schema.error_log}"
    hyps = dict(line.split("\t") for line in (exp / "decoded_pages" / "hyp.txt").read_text().splitlines())
    assert len(hyps) == 96 and all(line_id.split("-tl_")[0] + ".xml" in {d.name for d in decoded} for line_id in hyps)
    again = run_recipe(tmp_path, "--overrides", overrides, "--stop-stage", "4")
    again_out = again.stdout + again.stderr
    assert "pages already written, skipping" in again_out and "manifests already prepared, skipping" in again_out
    assert "already trained, skipping" in again_out and "already decoded, skipping" in again_out


def test_a_damaged_page_of_a_users_folder_is_named_at_stage_1(tmp_path):
    files = write_pages(tmp_path / "pages", 3, ["a move to stop", "Mr Gaitskell from"])
    files[1].write_text(files[1].read_text()[:-40])  # cut short
    done = run_recipe(tmp_path / "work", "--pages", str(tmp_path / "pages"), "--stop-stage", "1", check=False)
    assert done.returncode == 2 and "page data:" in done.stderr and "page01.xml" in done.stderr
    assert not (tmp_path / "work" / "data" / "page" / "train.jsonl").exists()


def test_split_lists_must_be_three_files(tmp_path):
    done = run_recipe(tmp_path, "--split-lists", "train.lst dev.lst", check=False)
    assert done.returncode == 2 and "--split-lists needs three files (train, dev, test)" in done.stderr


def test_the_unicode_form_and_the_label_order_reach_stage_1_and_the_later_stages_alike(tmp_path):
    """Stage 1 prepares in the form and the direction given, and stage 2's configuration asks for the
    same ones, so the lines are cut once; an unknown form or direction is refused before any stage."""
    write_pages(tmp_path / "pages", 10, ["the caf\u00e9 is", "a cafe\u0301 sat"])
    done = run_recipe(tmp_path / "work", "--pages", str(tmp_path / "pages"), "--normalization", "NFD",
                      "--bidi", "L", "--stop-stage", "2")  # fmt: skip
    assert "manifests already prepared, skipping" in done.stdout + done.stderr
    tokens = Vocabulary.load(tmp_path / "work" / "data" / "page" / "tokens.txt").tokens
    assert "\u0301" in tokens and "\u00e9" not in tokens
    labelling = (tmp_path / "work" / "data" / "page" / "labelling.json").read_text(encoding="utf-8")
    assert '"display_order": "L"' in labelling
    refused = run_recipe(tmp_path / "work", "--pages", str(tmp_path / "pages"), "--bidi", "left", check=False)
    assert refused.returncode == 2 and "run.sh: --bidi must be R, L, auto or none, got 'left'" in refused.stderr
    refused = run_recipe(tmp_path / "work", "--pages", str(tmp_path / "pages"), "--normalization", "nfd", check=False)
    assert refused.returncode == 2 and "Stage" not in refused.stdout
    assert "run.sh: --normalization must be NFC, NFD, NFKC, NFKD or none, got 'nfd'" in refused.stderr
