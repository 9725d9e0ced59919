"""Pen strokes: the lineStrokes XML reader, resampling, the features' equations, IAM-OnDB preparation
on a fixture in the real layout, and the generated mini-IAM-OnDB."""

import logging

import numpy as np
import pytest
import torch

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.iam_ondb import IamOnDB, read_csr
from asr_lstm.data.features import FeatureConfig, file_features
from asr_lstm.data.generators.mini_iam import MiniIamConfig
from asr_lstm.data.generators.mini_iam_ondb import generate
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.strokes import read_stroke_xml, resample, stroke_features
from asr_lstm.errors import InputFileError

# The shape of a real IAM-OnDB lineStrokes file (a01-000u-01.xml), abridged.
LINE_STROKES = """<?xml version="1.0" encoding="ISO-8859-1"?>
<WhiteboardCaptureSession>
  <WhiteboardDescription>
    <SensorLocation corner="top_left"/>
    <DiagonallyOppositeCoords x="6512" y="1376"/>
    <VerticallyOppositeCoords x="966" y="1376"/>
    <HorizontallyOppositeCoords x="6512" y="787"/>
  </WhiteboardDescription>
  <StrokeSet>
    <Stroke colour="black" start_time="769.05" end_time="769.64">
{points1}
    </Stroke>
    <Stroke colour="black" start_time="769.80" end_time="769.80">
      <Point x="1300" y="1000" time="769.80"/>
    </Stroke>
  </StrokeSet>
</WhiteboardCaptureSession>
"""
# a vertical stroke 100 units tall, 11 points 10 ms apart
POINTS1 = "\n".join(f'      <Point x="1000" y="{1000 + 10 * k}" time="{769.05 + 0.01 * k:.2f}"/>' for k in range(11))

ASCII = """OCR:

A MOVE to stop Mr. Gaitskell from nominating any more Labour life Peers

CSR:

A MOVE to stop Mr. Gaitskell from
nominating  any more Labour life Peers

"""


def write_ondb_tree(
    root,
    forms=(("a01", "a01-000", "a01-000u", 2), ("b02", "b02-013", "b02-013z", 2), ("c03", "c03-007", "c03-007x", 2)),
    lists=None,
):
    """An IAM-OnDB tree: lineStrokes/<a>/<form>/<form>-NN.xml, ascii/<a>/<form>/<form>.txt, the task lists."""
    for prefix, folder, form, lines in forms:
        for k in range(1, lines + 1):
            path = root / "lineStrokes" / prefix / folder / f"{form}-{k:02d}.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(LINE_STROKES.format(points1=POINTS1))
        text = root / "ascii" / prefix / folder / f"{form}.txt"
        text.parent.mkdir(parents=True, exist_ok=True)
        text.write_text(ASCII)
    lists = lists or {
        "trainset": ["a01-000u"],
        "testset_v": ["b02-013z"],
        "testset_t": [],
        "testset_f": ["c03-007x-01", "c03-007x-02"],
    }
    for name, ids in lists.items():
        (root / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


def test_read_stroke_xml(tmp_path):
    path = tmp_path / "a01-000u-01.xml"
    path.write_text(LINE_STROKES.format(points1=POINTS1))
    strokes = read_stroke_xml(path)
    assert [s.shape for s in strokes] == [(11, 3), (1, 3)]
    assert strokes[0][0].tolist() == [1000.0, 1000.0, 769.05] and strokes[1][0].tolist() == [1300.0, 1000.0, 769.8]


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "no such stroke file"),
        ("<WhiteboardCaptureSession><StrokeSet>", "not a stroke XML file"),
        ("<WhiteboardCaptureSession/>", "no <StrokeSet>"),
        (
            '<WhiteboardCaptureSession><StrokeSet><Stroke><Point x="1" y="2"/></Stroke></StrokeSet></WhiteboardCaptureSession>',
            "stroke 1 has a point without a numeric x, y and time",
        ),
        ("<WhiteboardCaptureSession><StrokeSet><Stroke/></StrokeSet></WhiteboardCaptureSession>", "no pen points"),
    ],
)
def test_bad_stroke_files_are_reported_by_name(tmp_path, content, problem):
    path = tmp_path / "bad.xml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputFileError, match=f"{path}: {problem}"):
        read_stroke_xml(path)


def test_resampling_at_equal_arc_length():
    # an L: 3 units right, then 1 up, timed 1 s per unit
    stroke = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 3.0], [3.0, 1.0, 4.0]])
    points = resample(stroke, 1.0)
    assert points.tolist() == [[0, 0, 0], [1, 0, 1], [2, 0, 2], [3, 0, 3], [3, 1, 4]]
    assert resample(stroke, 1.5).tolist() == [[0, 0, 0], [1.5, 0, 1.5], [3, 0, 3], [3, 1, 4]]
    assert resample(np.array([[2.0, 2.0, 0.0], [2.0, 2.0, 0.1]]), 1.0).tolist() == [[2, 2, 0]]  # a dot


def test_feature_equations():
    # two strokes: a vertical bar of height 4 (5 points at y 0..4) and a dot at (2, 0) later
    bar = np.array([[0.0, float(y), 10.0 + 0.1 * y] for y in range(5)])
    dot = np.array([[2.0, 0.0, 11.0]])
    feats, times = stroke_features([bar, dot], step=0.25)
    # height = 95th - 5th percentile of y over the 6 points
    height = np.percentile([0, 1, 2, 3, 4, 0], 95) - np.percentile([0, 1, 2, 3, 4, 0], 5)
    ys = np.array([0, 1, 2, 3, 4]) / height
    assert feats.shape == (len(resample(bar / [height, height, 1], 0.25)) + 1, 4)
    assert feats.dtype == torch.float32
    # first frame: no offsets, not a pen-up; the dot: a pen-up jump from the bar's end
    assert feats[0, :2].tolist() == [0.0, 0.0] and feats[0, 3] == 0
    assert (
        feats[-1, 0].item() == pytest.approx(2 / height)
        and feats[-1, 1].item() == pytest.approx(-ys[-1])
        and feats[-1, 3] == 1
    )
    assert feats[:-1, 3].sum() == 0  # the pen is down along the bar
    assert torch.allclose(feats[1:-2, 1], torch.tensor(0.25))  # equal steps of pen travel,
    assert 0.25 <= feats[-2, 1] < 0.375  # the remainder joins the last step rather than leave a sliver
    xy_y = torch.cumsum(feats[:, 1], 0)  # y recovered from the offsets
    assert torch.allclose(feats[:, 2], xy_y - float(np.median(xy_y.numpy())), atol=1e-6)
    assert times[0] == 0 and times[-1].item() == pytest.approx(1.0) and torch.all(times[1:] >= times[:-1])
    # invariance: written twice as large, elsewhere, twice as fast
    big = [np.column_stack([s[:, :2] * 2 + 7, s[:, 2] / 2]) for s in (bar, dot)]
    assert torch.allclose(stroke_features(big, step=0.25)[0], feats, atol=1e-6)


def test_stroke_feature_config(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(LINE_STROKES.format(points1=POINTS1))
    cfg = FeatureConfig(kind="strokes", stroke_step=0.1, delta_order=0)
    assert cfg.input_key == "strokes" and cfg.dim == 4
    feats = file_features(path, cfg)
    ys = [1000 + 10 * k for k in range(11)] + [1000]
    length = 100 / np.ptp(np.percentile(ys, [5, 95]))  # the bar in line heights
    steps = int(length // 0.1)
    points = steps + 1 + (length - steps * 0.1 >= 0.05)  # start, full steps, the end unless a sliver away
    assert feats.shape == (points + 1, 4)  # and the dot
    assert FeatureConfig(kind="strokes", delta_order=1).dim == 8


def test_csr_section(tmp_path):
    path = tmp_path / "a01-000u.txt"
    path.write_text(ASCII)
    assert read_csr(path) == ["A MOVE to stop Mr. Gaitskell from", "nominating  any more Labour life Peers"]
    path.write_text("OCR:\n\nsome text\n")
    with pytest.raises(CorpusError, match="no 'CSR:' section"):
        read_csr(path)
    path.write_text("CSR:\n\nline one\n\nline three\n")
    with pytest.raises(CorpusError, match="one non-empty line of text a written line"):
        read_csr(path)


def test_iam_ondb_preparation(tmp_path, caplog):
    root = write_ondb_tree(tmp_path / "IAM-OnDB")
    IamOnDB(root).prepare(tmp_path / "data")
    rows = {split: read_manifest(tmp_path / "data" / f"{split}.jsonl") for split in ("train", "dev", "test")}
    assert [r["id"] for r in rows["train"]] == ["a01-000u-01", "a01-000u-02"]
    assert [r["id"] for r in rows["test"]] == ["c03-007x-01", "c03-007x-02"]
    second = rows["train"][1]
    assert second["text"] == "nominating any more Labour life Peers"  # runs of spaces are one word gap
    assert second["chars"] == list("nominating|any|more|Labour|life|Peers")
    assert second["strokes"] == str((root / "lineStrokes/a01/a01-000/a01-000u-02.xml").resolve())
    assert second["writer"] == second["form"] == "a01-000u"
    assert second["num_points"] == 12 and second["duration"] == pytest.approx(0.75)
    with caplog.at_level(logging.INFO):
        IamOnDB(root).prepare(tmp_path / "data")
    assert "manifests already prepared, skipping" in caplog.text


def test_iam_ondb_refusals(tmp_path):
    root = write_ondb_tree(
        tmp_path / "a",
        forms=(("a01", "a01-000", "a01-000u", 3), ("b02", "b02-013", "b02-013z", 1), ("c03", "c03-007", "c03-007x", 1)),
        lists={"trainset": ["a01-000u"], "testset_v": ["b02-013z"], "testset_t": [], "testset_f": ["c03-007x"]},
    )
    with pytest.raises(CorpusError, match="a01-000u-03.xml: line 03 of form a01-000u, whose CSR text has 2 lines"):
        IamOnDB(root).prepare(tmp_path / "data")
    root = write_ondb_tree(tmp_path / "b")
    (root / "ascii/b02/b02-013/b02-013z.txt").unlink()
    with pytest.raises(CorpusError, match="b02-013z-01.xml: no transcription b02-013z.txt"):
        IamOnDB(root).prepare(tmp_path / "data")
    with pytest.raises(CorpusError, match="no lineStrokes/"):
        IamOnDB(tmp_path).prepare(tmp_path / "data")
    with pytest.raises(ValueError, match="dev_lists must name testset_v and/or testset_t"):
        IamOnDB(root, dev_lists=["testset_f"])


def test_mini_iam_ondb_is_read_by_the_iam_ondb_preparation(tmp_path):
    cfg = MiniIamConfig(
        train_writers=3, validation1_writers=1, validation2_writers=1, test_writers=2, lines_per_writer=2, seed=5
    )
    root = generate(tmp_path / "mini", cfg)
    IamOnDB(root, dev_lists=["testset_v", "testset_t"]).prepare(tmp_path / "data")
    rows = {split: read_manifest(tmp_path / "data" / f"{split}.jsonl") for split in ("train", "dev", "test")}
    assert [len(rows[s]) for s in ("train", "dev", "test")] == [6, 4, 4]
    assert not {r["text"] for r in rows["train"]} & {r["text"] for r in rows["test"] + rows["dev"]}
    first = rows["train"][0]
    strokes = read_stroke_xml(first["strokes"])
    times = np.concatenate([s[:, 2] for s in strokes])
    assert np.all(np.diff(times) > 0) and np.allclose(
        np.diff(strokes[0][:, 2]), 0.01, atol=1e-3
    )  # 100 Hz, pen lifts in between
    assert min(s[:, :2].min() for s in strokes) >= 0  # on the board
    assert first["duration"] > 1 and first["chars"][-1] in ".?!" and first["id"].startswith("h00-000u-")
    assert generate(tmp_path / "again", cfg).joinpath("trainset.txt").read_text() == (root / "trainset.txt").read_text()
