"""ONNX export: every tested cell reproduces the torch log-probs in onnxruntime at lengths and batch
sizes other than the export's example, and the check itself catches a model that differs."""

import json

import onnx
import pytest

from asr_lstm.onnx_export import TOLERANCE, OnnxExportError, check_onnx, export_onnx
from tests.random_models import FEATURES
from tests.random_models import random_recognizer as recognizer

CONV = {"channels": [4, 6], "pools": [[2, 2], [1, 2]], "in_channels": 2, "dropout": 0.2}  # 2 planes of 5 features


CELLS = ["lstm", "peephole", "peephole_diag", "lstmp", "conv_peephole", "gru", "ligru"]
OPTIONS = [
    ("lstmp", {"layer_norm": True}),
    ("lstmp", {"zoneout_cell": 0.3, "zoneout_hidden": 0.2}),
    ("lstmp", {"nonrecurrent_proj_size": 2}),  # p_t output beside r_t, through [W_.r, 0]
    ("conv_peephole", {"zoneout_cell": 0.3, "zoneout_hidden": 0.2}),
    ("ligru", {"zoneout_hidden": 0.2}),
    ("ligru", {"layer_norm": True}),  # the SLi-GRU: ONNX LayerNormalization inside the Scan
]


@pytest.mark.parametrize(("cell", "options"), [(c, {}) for c in CELLS] + OPTIONS, ids=lambda v: str(v or ""))
def test_onnxruntime_reproduces_torch(cell, options, tmp_path):
    model = recognizer(cell, **options)
    path = export_onnx(model, tmp_path / f"{cell}.onnx")
    # the check feeds a batch of 3 with lengths 173, 96, 5; the export's example had 2 of 40, 27
    assert check_onnx(model, path) < TOLERANCE
    assert check_onnx(model, path, lengths=(2,)) < TOLERANCE


def test_onnxruntime_reproduces_a_crdnn_with_a_convolutional_front_end_and_dense_blocks(tmp_path):
    model = recognizer("ligru", conv=CONV, dnn={"layers": 2, "size": 9})
    path = export_onnx(model, tmp_path / "conv.onnx")
    assert check_onnx(model, path) < TOLERANCE and check_onnx(model, path, lengths=(7,)) < TOLERANCE


@pytest.mark.parametrize("cell", ["lstm", "lstmp"])
def test_onnxruntime_reproduces_a_forward_only_model(cell, tmp_path):
    model = recognizer(cell, bidirectional=False)
    assert not model.net.encoder.backward_layers
    path = export_onnx(model, tmp_path / "forward.onnx")
    assert check_onnx(model, path) < TOLERANCE and check_onnx(model, path, lengths=(3,)) < TOLERANCE


def test_graph_interface_and_metadata(tmp_path):
    model = recognizer("peephole_diag")
    graph = onnx.load(export_onnx(model, tmp_path / "m.onnx"))
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*graph.graph.input, *graph.graph.output]
    }
    assert dims["features"] == ["batch", "frames", FEATURES.dim] and dims["lengths"] == ["batch"]
    assert dims["log_probs"][0] == "batch" and dims["log_probs"][2] == 7
    assert "Scan" in {node.op_type for node in graph.graph.node}  # one loop of any length, not unrolled steps
    props = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(props["asr_lstm.tokens"]) == model.tokens
    assert json.loads(props["asr_lstm.features"])["num_mel_bins"] == 4
    assert json.loads(props["asr_lstm.cmvn"])["std"] == [1.0] * FEATURES.dim
    assert float(props["asr_lstm.frame_shift_s"]) == pytest.approx(0.02)
    assert json.loads(props["asr_lstm.cell"]) == {"name": "peephole_diag"}


def test_the_check_fails_when_the_file_does_not_match_the_model(tmp_path):
    path = export_onnx(recognizer("lstm", seed=0), tmp_path / "m.onnx")
    with pytest.raises(OnnxExportError, match=r"m.onnx: onnxruntime log-probs differ from torch by"):
        check_onnx(recognizer("lstm", seed=1), path)
