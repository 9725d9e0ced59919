"""init_from's output layer, carried over label by label; the labels of a checkpoint's run; refusals."""

import functools

import pytest
import torch

from asr_lstm import cells
from asr_lstm.data.tokens import BLANK, Vocabulary
from asr_lstm.errors import ConfigError
from asr_lstm.initial_weights import LabelMatch, load_initial_weights, match_output_layer, read_pretrained
from asr_lstm.models import CTCModel

OPTIONS = {"model": {"hidden_size": 4}, "cell": {"name": "lstm"}}


def net(labels: int) -> CTCModel:
    return CTCModel(3, labels, functools.partial(cells.build, "lstm"), hidden_size=4, num_layers=1)


def rows(*values: float) -> torch.Tensor:
    return torch.tensor(values).unsqueeze(1).repeat(1, 8)  # one row of 8 weights a label


def test_rows_are_carried_over_by_label_and_new_labels_keep_their_fresh_rows():
    old = {"output.weight": rows(0, 1, 2, 3), "output.bias": torch.tensor([0.0, 1, 2, 3]), "encoder.w": torch.ones(2)}
    fresh = {"output.weight": rows(-1, -2, -3, -4), "output.bias": torch.tensor([-1.0, -2, -3, -4])}
    matched, match = match_output_layer(old, [BLANK, "a", "b", "c"], fresh, [BLANK, "c", "a", "d"])
    assert torch.equal(matched["output.weight"], rows(0, 3, 1, -4))
    assert torch.equal(matched["output.bias"], torch.tensor([0.0, 3, 1, -4]))
    assert matched["encoder.w"] is old["encoder.w"]
    assert match == LabelMatch(kept=[BLANK, "c", "a"], new=["d"], dropped=["b"])
    assert match.describe() == "3 labels carried over; 1 new, started afresh: d; 1 of the old vocabulary dropped: b"
    assert (
        LabelMatch([], list("abcde"), []).describe(limit=2)
        == "0 labels carried over; 5 new, started afresh: a b ... (5 in all)"
    )


def checkpoint_of(tmp_path, model: CTCModel, work_dir=None):
    """``tmp_path/run/checkpoints/best.ckpt`` of ``model``; the run's config.yaml names ``work_dir``."""
    path = tmp_path / "run/checkpoints/best.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"net.{k}": v for k, v in model.state_dict().items()}}, path)
    if work_dir is not None:
        (tmp_path / "run/config.yaml").write_text(f"data:\n  work_dir: {work_dir}\n", encoding="utf-8")
    return path


def test_a_checkpoint_has_the_labels_of_its_run(tmp_path):
    trained = net(4)
    Vocabulary(["x", "y", "z"]).save(tmp_path / "tokens.txt")
    path = checkpoint_of(tmp_path, trained, work_dir=tmp_path)
    assert (read_pretrained(path).tokens, read_pretrained(path).unknown) == ([BLANK, "x", "y", "z"], "")
    fine_tuned = net(3)
    fresh = fine_tuned.output.weight[2].detach().clone()
    described = load_initial_weights(fine_tuned, [BLANK, "z", "w"], path, OPTIONS)
    assert described == "2 labels carried over; 1 new, started afresh: w; 2 of the old vocabulary dropped: x y"
    assert torch.equal(fine_tuned.output.weight[1], trained.output.weight[3])  # z
    assert torch.equal(fine_tuned.output.weight[2], fresh)  # w
    kept = {k: v for k, v in trained.state_dict().items() if not k.startswith("output.")}
    assert kept and all(torch.equal(fine_tuned.state_dict()[k], v) for k, v in kept.items())


def test_labels_that_cannot_be_known_are_taken_row_by_row_and_refused_where_the_sizes_differ(tmp_path):
    path = checkpoint_of(tmp_path, net(4))
    config = tmp_path / "run/config.yaml"
    assert (read_pretrained(path).tokens, read_pretrained(path).unknown) == (None, f"{config} is missing")
    assert load_initial_weights(net(4), [BLANK, "a", "b", "c"], path, OPTIONS) == (
        f"its labels are taken to be this run's, row by row: {config} is missing"
    )
    with pytest.raises(
        ConfigError,
        match=rf"init_from={path}: its output layer has 4 labels and this run's vocabulary 3, and which labels they "
        rf"are is unknown \({config} is missing\); give init_from the run's exported model file",
    ):
        load_initial_weights(net(3), [BLANK, "a", "b"], path, OPTIONS)
