"""ONNX export: every tested cell reproduces the torch log-probs in onnxruntime at lengths and batch
sizes other than the export's example, and the check itself catches a model that differs."""

import json

import onnx
import pytest

from asr_lstm.onnx_export import (
    TOLERANCE,
    OnnxExportError,
    check_onnx,
    check_streaming_onnx,
    export_onnx,
    export_streaming_onnx,
)
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


STREAMING = {
    "lstm": ("lstm", {}),
    "lstmp with a non-recurrent projection": ("lstmp", {"nonrecurrent_proj_size": 2}),
    "gru": ("gru", {}),
    "ligru with dense blocks": ("ligru", {"dnn": {"layers": 1, "size": 9}}),
}


@pytest.mark.parametrize(("cell", "options"), STREAMING.values(), ids=STREAMING.keys())
def test_a_streaming_graph_carries_its_states_across_chunks_to_the_whole_inputs_log_probs(cell, options, tmp_path):
    model = recognizer(cell, bidirectional=False, **options)
    path = export_streaming_onnx(model, tmp_path / "stream.onnx")
    assert check_streaming_onnx(model, path) < TOLERANCE  # chunks of 5, 1, 13, 2 and 19 stacked frames
    graph = onnx.load(str(path))
    names = [i.name for i in graph.graph.input], [o.name for o in graph.graph.output]
    keeps_c = cell != "gru" and cell != "ligru"
    assert names == (
        ["frames", "state_h", "state_c"][: 2 + keeps_c],
        ["log_probs", "state_h_out", "state_c_out"][: 2 + keeps_c],
    )
    streaming = json.loads({p.key: p.value for p in graph.metadata_props}["asr_lstm.streaming"])
    assert streaming["stack"] == 3 and streaming["stride"] == 2 and streaming["delta_lookahead"] == 2
    h_size = 5 + 2 if cell == "lstmp" else 10  # [r_t; p_t], P = H / 2 and N = 2, under the projections
    assert streaming["state_h"] == [2, h_size] and streaming["state_c"] == ([2, 10] if keeps_c else None)


WINDOWS = {
    "lstm 4+3": ("lstm", (4, 3), {}),
    "gru 5+0": ("gru", (5, 0), {}),
    "lstmp 2+3 with dense blocks": ("lstmp", (2, 3), {"dnn": {"layers": 1, "size": 9}}),
}


@pytest.mark.parametrize(("cell", "latency", "options"), WINDOWS.values(), ids=WINDOWS.keys())
def test_a_window_graph_streams_a_latency_controlled_model_to_the_whole_inputs_log_probs(
    cell, latency, options, tmp_path
):
    """Windows of N_c + N_r stacked frames, N_c apart, the last zero-filled past the input's end."""
    model = recognizer(cell, latency=latency, **options)
    path = export_streaming_onnx(model, tmp_path / "window.onnx")
    assert check_streaming_onnx(model, path) < TOLERANCE
    graph = onnx.load(str(path))
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*graph.graph.input, *graph.graph.output]
    }
    keeps_c = cell != "gru"
    assert list(dims) == [
        *["frames", "window_lengths", "state_h", "state_c"][: 3 + keeps_c],
        *["log_probs", "state_h_out", "state_c_out"][: 2 + keeps_c],
    ]
    assert dims["frames"][1:] == [sum(latency), 3 * FEATURES.dim] and dims["log_probs"][1:] == [latency[0], 7]
    streaming = json.loads({p.key: p.value for p in graph.metadata_props}["asr_lstm.streaming"])
    assert (streaming["chunk_frames"], streaming["right_context_frames"]) == latency


def test_a_bidirectional_model_has_no_streaming_graph(tmp_path):
    with pytest.raises(OnnxExportError, match="a streaming graph needs a forward-only or latency-controlled model"):
        export_streaming_onnx(recognizer("lstm"), tmp_path / "stream.onnx")
    with pytest.raises(OnnxExportError, match="has no whole-input ONNX graph"):
        export_onnx(recognizer("lstm", latency=(4, 2)), tmp_path / "whole.onnx")
    assert not (tmp_path / "whole.onnx").exists()


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


def test_exports_one_after_another_keep_the_frames_dynamic(tmp_path):
    """torch's scan caches its step, compiled by dynamo, by the shapes it saw: the fixed lengths of an
    earlier window graph's loops, tried on a later export's symbolic length, specialised it where the
    example met them (20 frames a window, the example's 40 frames stacked by 2)."""
    export_streaming_onnx(recognizer("lstm", latency=(12, 8)), tmp_path / "window.onnx")
    model = recognizer("lstm")
    path = export_onnx(model, tmp_path / "whole.onnx")
    dims = [d.dim_param or d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "frames", FEATURES.dim]
    assert check_onnx(model, path) < TOLERANCE
