"""The bad-data policy: data.on_error=raise names every bad item before training; skip trains
without them, lists each with its split, file and reason in <run>/skipped.tsv, counts them in
summary.json, and evaluate and RESULTS.md show the test items that were not scored."""

import json
import subprocess
import sys

import pytest

from asr_lstm.cli.decode import main as decode_main
from asr_lstm.cli.evaluate import main as evaluate_main
from asr_lstm.cli.export import main as export_main
from asr_lstm.cli.score import main as score_main
from asr_lstm.cli.train import run
from asr_lstm.data.bad_items import read_bad_items
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.errors import ConfigError
from asr_lstm.report import write_results
from tests.timit_fixture import utterance_path, write_timit_tree


def damaged_tree(tmp_path):
    """A tiny TIMIT with an unreadable test .WAV, an unknown phone label, and an utterance of 120
    phones in the 49 output frames of its 1 s (stride 2), which CTC cannot align."""
    root = write_timit_tree(tmp_path / "damaged" / "TIMIT")
    utterance_path(root, "test", "dr1", "mdab0", "sx17", ".wav").write_bytes(b"not audio")
    phn = utterance_path(root, "train", "dr2", "mrab0", "si943", ".phn")
    phn.write_text(phn.read_text().replace(" h#", " xx", 1))
    many = utterance_path(root, "train", "dr1", "fcjf0", "si943", ".phn")
    many.write_text("".join(f"{100 * k} {100 * k + 100} {'aa' if k % 2 else 'iy'}\n" for k in range(120)))
    return root


@pytest.mark.parametrize("command", ["train", "prepare"])
@pytest.mark.parametrize(
    "override, message",
    [
        ("model.dropout=0.2", "{missing}: no such directory (the TIMIT root, holding TRAIN/ and TEST/)"),
        (
            "model.hidden_size=abc",
            "config values of the wrong type:\n  model.hidden_size='abc': expected <class 'int'>",
        ),
        ("units=phone", "no value given for data.units.lexicon: add data.units.lexicon=... to the command line"),
    ],
    ids=["missing corpus", "wrong type", "a mandatory value not given"],
)
def test_the_train_and_prepare_commands_print_the_users_error_without_a_traceback(tmp_path, command, override, message):
    missing = tmp_path / "TIMIT"
    argv = [sys.executable, "-m", "asr_lstm.cli.main", command, f"data.corpus.root={missing}",
            f"data.work_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}", override]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"asr-lstm {command}: " + message.format(missing=missing) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["augment=lines"], "augment: augment=lines distorts line images; features.kind=fbank"),
        (["model=conv_blstm", "model.conv.kernel=4"], "model, cell: model.conv.kernel must be odd"),
        (["augment=speech", "features=image"], "augment=speech perturbs audio; features.kind=image"),
        (["features=image"], "features.kind=image reads each item's image, but "),
        (
            ["+data.bidi=R"],
            "data.bidi=R lays out the labels of line images, which are read left "
            "to right; features.kind=fbank inputs are in time order",
        ),
    ],
    ids=["lines on fbank", "even conv kernel", "speech on images", "image features of audio", "bidi of audio"],
)
def test_a_value_a_constructor_refuses_is_printed_without_a_traceback(tmp_path, overrides, message):
    root = write_timit_tree(tmp_path / "TIMIT")
    command = [sys.executable, "-m", "asr_lstm.cli.main", "train", f"data.corpus.root={root}", "model.hidden_size=8",
               f"data.work_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}", *overrides]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "asr-lstm train: " + message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["model.hidden_size=-4", "model.num_layers=0", "model.dropout=1"],
            "model, cell: model.hidden_size=-4 must be at least 1; model.num_layers=0 must be at least 1; "
            "model.dropout=1 must be in [0, 1)",
        ),
        (
            ["data.batch_size=0", "data.num_workers=-1", "data.normalization=nfc", "+data.bidi=rtl"],
            "data, features: data.batch_size=0 must be at least 1; data.num_workers=-1 must be at least 0; "
            "data.normalization=nfc must be one of NFC, NFD, NFKC, NFKD or null (the text as it is); "
            "data.bidi=rtl must be one of L, R, auto or null",
        ),
        (["optimizer.lr=-1"], "optimizer, scheduler: Invalid learning rate: -1"),
        (["trainer.devices=0"], "trainer: `Trainer(devices=0)` value is not a valid input using cpu accelerator"),
    ],
    ids=["model sizes", "data sizes", "learning rate", "no devices"],
)
def test_sizes_rates_and_devices_that_cannot_train_are_refused_by_name_before_training(
    tiny_cfg, tmp_path, overrides, message
):
    with pytest.raises(ConfigError) as err:
        run(tiny_cfg("run", *overrides))
    assert str(err.value).startswith(message)
    assert not (tmp_path / "run/checkpoints").exists()


def test_raise_names_every_bad_item_before_training(tiny_cfg, tmp_path):
    root = damaged_tree(tmp_path)
    with pytest.raises(CorpusError) as err:
        run(tiny_cfg("run", f"data.corpus.root={root}"))
    message = str(err.value)
    assert "2 bad utterances in" in message
    assert "test/mdab0_sx17: " in message and "MDAB0/SX17.WAV: cannot read audio" in message
    assert "train/mrab0_si943: " in message and "unknown phone label 'xx'" in message
    assert not (tmp_path / "data/train.jsonl").exists() and not (tmp_path / "run/checkpoints").exists()


def test_skip_trains_without_them_and_lists_every_one(tiny_cfg, tmp_path):
    root = damaged_tree(tmp_path)
    summary = run(tiny_cfg("run", f"data.corpus.root={root}", "data.on_error=skip", "trainer.max_epochs=1"))
    skipped = {(b.split, b.id): b for b in read_bad_items(tmp_path / "run/skipped.tsv")}
    assert set(skipped) == {("test", "mdab0_sx17"), ("train", "mrab0_si943"), ("train", "fcjf0_si943")}
    assert skipped["test", "mdab0_sx17"].file.endswith("MDAB0/SX17.WAV")
    assert "120 CTC frames needed for 120 labels, the model outputs 49" in skipped["train", "fcjf0_si943"].reason
    assert summary["skipped"] == {"train": 2, "dev": 0, "test": 1} and summary["global_step"] == 1  # 2 left of 4
    evaluate_main([str(tmp_path / "run"), "--splits", "test"])
    metrics = json.loads((tmp_path / "run/decode_test/metrics.json").read_text())
    assert metrics["num_utts"] == 1 and metrics["skipped"] == ["mdab0_sx17"]
    write_results(tmp_path / "RESULTS.md", "t", tmp_path / "data", [tmp_path / "run"], "a damaged corpus")
    results = (tmp_path / "RESULTS.md").read_text()
    assert "skipped by run (data.on_error=skip; listed in its skipped.tsv): train 2, dev 0, test 1" in results
    assert "| run | lstm | test | 1 (1 skipped, not scored: mdab0_sx17) |" in results


def test_the_export_check_of_a_run_that_skipped_decodes_what_evaluate_scored(tiny_cfg, tmp_path, capsys):
    """Stage 5 of the recipes: the exported model decodes the test manifest without the items the run
    skipped and its counts equal evaluate's. The test utterance too long for CTC, found once the model
    is known, is still in the manifest: without --exclude the counts differ."""
    root = write_timit_tree(tmp_path / "damaged" / "TIMIT")
    many = utterance_path(root, "test", "dr1", "mdab0", "sx17", ".phn")
    many.write_text("".join(f"{100 * k} {100 * k + 100} {'aa' if k % 2 else 'iy'}\n" for k in range(120)))
    run(tiny_cfg("run", f"data.corpus.root={root}", "data.on_error=skip", "trainer.max_epochs=1"))
    evaluate_main([str(tmp_path / "run"), "--splits", "test"])
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    decode = [str(tmp_path / "model.asrlstm"), str(tmp_path / "data/test.jsonl"), "--tokens"]
    check = [str(tmp_path / "run/decode_test/ref.txt"), "--out", str(tmp_path / "check"),
             "--same-as", str(tmp_path / "run/decode_test/metrics.json")]  # fmt: skip
    decode_main([*decode, "-o", str(tmp_path / "all.txt")])
    with pytest.raises(SystemExit) as differ:
        score_main([check[0], str(tmp_path / "all.txt"), *check[1:]])
    assert differ.value.code == 2 and "all.txt: 1 hypotheses without a reference" in capsys.readouterr().err
    decode_main([*decode, "--exclude", str(tmp_path / "run/skipped.tsv"), "-o", str(tmp_path / "hyp.txt")])
    assert "mdab0_sx17" in (tmp_path / "all.txt").read_text() and "mdab0_sx17" not in (tmp_path / "hyp.txt").read_text()
    score_main([check[0], str(tmp_path / "hyp.txt"), *check[1:]])
    assert "same error counts as" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        decode_main([*decode, "--exclude", str(tmp_path / "missing.tsv")])
    assert "--exclude " + str(tmp_path / "missing.tsv") + ": no such file" in capsys.readouterr().err
