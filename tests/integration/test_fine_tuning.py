"""Fine-tuning: a model of one collection of lines, as a model file or a checkpoint, starts the training
on another whose alphabet differs; the options that make its weights unfit are named."""

import logging

import pytest
import torch
from omegaconf import OmegaConf

from asr_lstm.cli import train as train_cli
from asr_lstm.cli.export import main as export_main
from asr_lstm.cli.train import run
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.errors import ConfigError
from asr_lstm.export import read_package
from asr_lstm.initial_weights import load_initial_weights
from tests.conftest import FAST, compose_train
from tests.line_folder_fixture import write_line, write_line_folder

NEW_TEXTS = ("Zürich to stop", "more peers", "a move from Zug", "any life")  # Z, ü, c, h new; G, k, L, M, b gone


def lines_run(tmp_path, name: str, lines, *overrides: str):
    return compose_train(tmp_path / name, ["data=lines", "features=image", f"data.corpus.lines={lines}",
                                           "data.corpus.group_by=folder", "data.corpus.fractions=[0.5,0.25,0.25]",
                                           f"data.work_dir={tmp_path / f'data_{name}'}", *FAST,
                                           "features.image_height=16", "trainer.max_epochs=1", *overrides])  # fmt: skip


@pytest.fixture(scope="module")
def old_model(tmp_path_factory):
    """A model trained on the fixture's four texts, its best checkpoint and its exported file."""
    tmp_path = tmp_path_factory.mktemp("fine_tuning")
    write_line_folder(tmp_path / "old", folders=4, per_folder=3)
    run(lines_run(tmp_path, "old", tmp_path / "old"))
    export_main([str(tmp_path / "old"), "-o", str(tmp_path / "old.asrlstm")])
    for f in range(4):
        for k in range(3):
            write_line(tmp_path / "new" / f"book{f}", f"{k:04d}", NEW_TEXTS[(f + k) % len(NEW_TEXTS)])
    return tmp_path


@pytest.mark.parametrize("init_from", ["old.asrlstm", "old/checkpoints/best.ckpt"])
def test_a_model_of_one_alphabet_starts_the_training_on_another_label_by_label(
    old_model, tmp_path, init_from, monkeypatch, caplog
):
    started = []

    def loading(net, tokens, path, options):
        described = load_initial_weights(net, tokens, path, options)
        started.append({k: v.clone() for k, v in net.state_dict().items()})
        return described

    monkeypatch.setattr(train_cli, "load_initial_weights", loading)
    with caplog.at_level(logging.INFO, logger="asr_lstm.cli.train"):
        summary = run(lines_run(tmp_path, "new", old_model / "new", f"init_from={old_model / init_from}"))
    assert summary["global_step"] == 3 and summary["init_from"] == str(old_model / init_from)
    old = read_package(old_model / "old.asrlstm")
    new_tokens = Vocabulary.load(tmp_path / "data_new/tokens.txt").tokens
    assert {"Z", "ü"} <= set(new_tokens) - set(old["tokens"]) and "k" in set(old["tokens"]) - set(new_tokens)
    weights = started[0]
    for j, label in enumerate(new_tokens):
        if label in old["tokens"]:
            i = old["tokens"].index(label)
            assert torch.equal(weights["output.weight"][j], old["state_dict"]["output.weight"][i]), label
            assert torch.equal(weights["output.bias"][j], old["state_dict"]["output.bias"][i]), label
    assert all(torch.equal(weights[k], v) for k, v in old["state_dict"].items() if not k.startswith("output."))
    new = [t for t in new_tokens if t not in old["tokens"]]
    assert f"new, started afresh: {' '.join(new)}" in caplog.text and "of the old vocabulary dropped: " in caplog.text


@pytest.mark.parametrize("init_from", ["old.asrlstm", "old/checkpoints/best.ckpt"])
def test_weights_of_other_options_are_refused_naming_them(old_model, tmp_path, init_from):
    cfg = lines_run(tmp_path, "wider", old_model / "new", f"init_from={old_model / init_from}",
                    "model.hidden_size=24", "cell=gru")  # fmt: skip
    with pytest.raises(ConfigError) as err:
        run(cfg)
    message = str(err.value)
    assert message.startswith(f"init_from={old_model / init_from}: its weights do not fit this model: ")
    assert message.endswith(
        "the file's options that differ: model.hidden_size=16 (this run: 24), cell=lstm (this run: gru)"
    )


@pytest.mark.parametrize("init_from", ["old.asrlstm", "old/checkpoints/best.ckpt"])
def test_union_keeps_every_label_of_the_old_model_first_and_adds_the_new(old_model, tmp_path, init_from, caplog):
    """``init_labels=union``: the old labels in their order, then the new lines' others; every output row
    of the old model carried over, none dropped; the run's config holds the kept labels, so that
    resuming it compares equal options and its model file still writes the labels the lines lack."""
    old = read_package(old_model / "old.asrlstm")
    options = (f"init_from={old_model / init_from}", "init_labels=union")
    with caplog.at_level(logging.INFO, logger="asr_lstm.cli.train"):
        run(lines_run(tmp_path, "union", old_model / "new", *options))
    tokens = Vocabulary.load(tmp_path / "data_union/tokens.txt").tokens
    assert tokens[: len(old["tokens"])] == old["tokens"]
    assert {"Z", "ü"} <= set(tokens[len(old["tokens"]) :]) and "k" in tokens
    assert "dropped" not in caplog.text and f"{len(old['tokens'])} labels carried over" in caplog.text
    saved = OmegaConf.load(tmp_path / "union/config.yaml")
    assert list(saved.data.kept_labels) == old["tokens"][1:]
    run(lines_run(tmp_path, "union", old_model / "new", *options))  # a rerun resumes: the same options
    export_main([str(tmp_path / "union"), "-o", str(tmp_path / "union.asrlstm")])
    assert read_package(tmp_path / "union.asrlstm")["tokens"] == tokens


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["init_labels=union"], ConfigError, "init_labels=union keeps the labels of init_from's model: give init_from"),
        (["init_labels=all"], ConfigError, "init_labels must be one of new, union, got 'all'"),
        (["init_from={old}", "init_labels=union", "units=bpe"], CorpusError, "units=bpe: an earlier model's labels"),
    ],
)
def test_union_is_refused_where_it_cannot_keep_the_labels(old_model, tmp_path, overrides, error, message):
    cfg = lines_run(
        tmp_path, "refused", old_model / "new", *(o.format(old=old_model / "old.asrlstm") for o in overrides)
    )
    with pytest.raises(error, match=message):
        run(cfg)
