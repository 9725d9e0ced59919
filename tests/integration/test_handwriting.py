"""Handwriting end to end on tiny mini-IAM (line images) and mini-IAM-OnDB (pen strokes): training
logs CER and WER, evaluate scores both, an exported model decodes its inputs in a fresh process
exactly as the checkpoint did, bad files are skipped by name, alignments come in pixel columns or
seconds of writing, and the ONNX graph matches."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from asr_lstm.cli import decode as decode_cli
from asr_lstm.cli.build import build_datamodule, build_module
from asr_lstm.cli.evaluate import main as evaluate_main
from asr_lstm.cli.train import run
from asr_lstm.data.generators import mini_iam, mini_iam_ondb
from asr_lstm.data.generators.mini_iam import MiniIamConfig
from asr_lstm.data.manifest import read_manifest
from asr_lstm.export import load, make_package, save_package
from asr_lstm.recognizer import Recognizer
from asr_lstm.scoring import read_transcripts
from tests.conftest import FAST, compose_train, decode_and_evaluate_through_one_path, force_ctc_path
from tests.pictures import assert_picture

TINY = MiniIamConfig(train_writers=3, validation1_writers=1, validation2_writers=1, test_writers=1, lines_per_writer=2)
SETUPS = {
    # the BLSTM over 3 stacked columns: 16-pixel lines are too narrow for the conv front end's pooling
    "image": (
        mini_iam,
        "mini_iam",
        ["features.image_height=16", "model=blstm", "model.stack=3", "model.stride=3", "augment=none"],
    ),  # fmt: skip
    "strokes": (mini_iam_ondb, "mini_iam_ondb", ["features.stroke_step=0.3"]),
}


def train_tiny(base, modality):
    generator, experiment, features = SETUPS[modality]
    root = generator.generate(base / "corpus", TINY)
    cfg = compose_train(
        base / "run",
        [
            f"experiment={experiment}",
            f"data.corpus.root={root}",
            f"data.work_dir={base / 'data'}",
            *FAST,
            "trainer.max_epochs=2",
            *features,
        ],
    )
    summary = run(cfg)
    model = save_package(make_package(Recognizer.from_run(base / "run")), base / "model.asrlstm")
    return base, summary, model


@pytest.fixture(scope="module")
def handwriting(tmp_path_factory):
    """A small BLSTM trained for two epochs on a tiny mini-IAM, and its exported file."""
    return train_tiny(tmp_path_factory.mktemp("image"), "image")


@pytest.fixture(scope="module")
def online(tmp_path_factory):
    """The same on a tiny mini-IAM-OnDB."""
    return train_tiny(tmp_path_factory.mktemp("strokes"), "strokes")


@pytest.fixture(params=["image", "strokes"])
def either(request):
    return request.getfixturevalue("handwriting" if request.param == "image" else "online")


def test_training_logs_cer_and_wer(either):
    base, summary, _ = either
    assert (
        summary["metric"] == "cer"
        and 0 <= summary["val_cer_best"]
        and 0 <= summary["test_cer"]
        and 0 <= summary["test_wer"]
    )
    header = (base / "run/csv/version_0/metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/cer", "val/cer_best", "val/wer", "test/cer", "test/wer"} <= set(header)
    assert (base / "run/checkpoints/best.ckpt").is_file()  # the checkpoint callback found val/cer


def test_a_metric_that_the_corpus_does_not_log_is_refused(handwriting, tmp_path):
    base, _, _ = handwriting
    cfg = compose_train(
        tmp_path / "run",
        [
            "experiment=mini_iam",
            f"data.corpus.root={base / 'corpus'}",
            f"data.work_dir={base / 'data'}",
            *FAST,
            "metric=per",
        ],
    )
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup()
    with pytest.raises(ValueError, match="metric=per but IamLines is scored by cer"):
        build_module(cfg, datamodule)


def test_evaluate_scores_characters_and_words(either, capsys):
    base, _, _ = either
    evaluate_main([str(base / "run"), "--splits", "test"])
    out = capsys.readouterr().out
    assert "test: %CER" in out and "test: %WER" in out
    cer = json.loads((base / "run/decode_test/metrics.json").read_text())
    wer = json.loads((base / "run/decode_test/wer/metrics.json").read_text())
    refs = read_manifest(base / "data/test.jsonl")
    assert cer["metric"] == "cer" and cer["ref_len"] == sum(len(r["chars"]) for r in refs)
    assert wer["metric"] == "wer" and wer["ref_len"] == sum(len(r["text"].split()) for r in refs)
    words = read_transcripts(base / "run/decode_test/wer/ref.txt")
    assert {utt: " ".join(w) for utt, w in words.items()} == {r["id"]: r["text"] for r in refs}


def test_exported_model_decodes_in_a_fresh_process_like_the_checkpoint(either):
    base, _, model = either
    evaluate_main([str(base / "run"), "--splits", "dev"])
    expected = read_transcripts(base / "run/decode_dev/hyp.txt")
    code = (
        "import sys; from asr_lstm.cli.decode import main; main(sys.argv[1:]);"
        "assert 'hydra' not in sys.modules and 'pytorch_lightning' not in sys.modules, 'training stack imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(model), str(base / "data/dev.jsonl"), "--tokens"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    got = {line.split("\t")[0]: line.split("\t")[1].split() for line in done.stdout.splitlines()}
    assert got == expected and len(got) == 2


def test_decode_images_words_bad_file_json_and_ctm_in_pixels(handwriting, tmp_path, capsys, monkeypatch):
    base, _, model = handwriting
    # the briefly trained model is mostly blank: its output becomes the path "T h - e | . ."
    force_ctc_path(monkeypatch, load(model).tokens, ["T", "h", "<blk>", "e", "|", ".", "."])
    rows = read_manifest(base / "data/test.jsonl")
    good = [rows[0]["image"], rows[1]["image"]]
    colour = tmp_path / "colour.jpg"
    Image.open(good[0]).convert("RGB").save(colour)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ctm = tmp_path / "out.ctm"
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(model), good[0], str(broken), str(colour), "--json", "--align", str(ctm),
                         "--plot", str(tmp_path / "plots")])  # fmt: skip
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert f"skipped {broken}: cannot read image" in captured.err and "1 of 3 inputs skipped" in captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["id"] for r in records] == [rows[0]["id"], "colour"]
    assert [(r["text"], r["tokens"]) for r in records] == [("The .", ["T", "h", "e", "|", "."])] * 2
    # one output frame = stride (3) columns of the line scaled to 16 pixels: height / 16 * 3 original columns
    hop = rows[0]["height"] / 16 * 3
    lines = [line.rsplit(" ", 1) for line in ctm.read_text().splitlines()]  # the last field: the confidence
    assert lines[0][0] == f"{rows[0]['id']} 1 {0:.3f} {hop:.3f} T"
    assert lines[4][0] == f"{rows[0]['id']} 1 {5 * hop:.3f} {2 * hop:.3f} ."  # "." held for the last two frames
    assert all(0.99 < float(conf) <= 1 for _, conf in lines)  # the forced path's label has almost all the mass
    assert all(0.99 < r["confidence"] <= 1 for r in records)
    for utt in (rows[0]["id"], "colour"):
        assert_picture(tmp_path / f"plots/{utt}.png", (12, 6))
    decode_cli.main([str(model), str(base / "corpus/lines/g00"), "--tokens"])
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 12 and listed[0].startswith("g00-000_g00-000-00\t")  # 6 writers x 2 lines under lines/g00
    assert all(line.split("\t")[1] == "T h e | ." for line in listed)


def test_handwriting_models_export_to_onnx_and_match_onnxruntime(either, tmp_path):
    pytest.importorskip("onnxruntime")
    from asr_lstm.onnx_export import export_onnx, metadata

    base, _, model = either
    recognizer = load(model)
    props = metadata(recognizer)
    assert (
        "asr_lstm.frame_shift_s" not in props
        and "asr_lstm.display_order" not in props
        and json.loads(props["asr_lstm.features"])["kind"] == recognizer.features.kind
    )
    export_onnx(recognizer, tmp_path / "model.onnx")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    row = read_manifest(base / "data/test.jsonl")[0]
    feats, _ = recognizer.featurise_file(row.get("image", row.get("strokes")))
    x = feats.unsqueeze(0).numpy()
    log_probs, _ = session.run(None, {"features": x, "lengths": np.array([x.shape[1]], dtype=np.int64)})
    expected, _ = recognizer.log_probs([feats])
    assert np.abs(log_probs - expected.numpy()).max() < 1e-4


def test_decode_stroke_files_bad_file_and_ctm_in_seconds_of_writing(online, tmp_path, capsys, monkeypatch):
    from asr_lstm.data.strokes import read_stroke_xml, stroke_features

    base, _, model = online
    force_ctc_path(monkeypatch, load(model).tokens, ["T", "<blk>", "h", "e", "|", "a"])
    row = read_manifest(base / "data/test.jsonl")[0]
    broken = tmp_path / "broken.xml"
    broken.write_text("<WhiteboardCaptureSession><StrokeSet><Stroke>")
    ctm = tmp_path / "out.ctm"
    with pytest.raises(SystemExit):
        decode_cli.main([str(model), row["strokes"], str(broken), "--align", str(ctm), "--plot", str(tmp_path)])
    captured = capsys.readouterr()
    assert f"skipped {broken}: not a stroke XML file" in captured.err
    assert captured.out == f"{row['id']}\tThe a\n"
    # positions are the interpolated pen times of the first point of each output frame (stride 4)
    _, times = stroke_features(read_stroke_xml(row["strokes"]), 0.3)
    lines = [line.rsplit(" ", 1)[0] for line in ctm.read_text().splitlines()]
    assert lines[0] == f"{row['id']} 1 0.000 {times[4].item():.3f} T"
    assert lines[1] == f"{row['id']} 1 {times[8].item():.3f} {times[12].item() - times[8].item():.3f} h"
    assert_picture(tmp_path / f"{row['id']}.png", (12, 6))


def test_evaluate_and_decode_give_the_same_hypotheses_through_one_path(either, monkeypatch):
    base, _, model = either
    decode_and_evaluate_through_one_path(monkeypatch, base / "run", model, base / "data/test.jsonl")


def test_a_conv_front_end_model_trains_with_line_distortions_decodes_and_aligns_through_its_pooling(
    tmp_path, capsys, monkeypatch
):
    root = mini_iam.generate(tmp_path / "corpus", TINY)
    conv = [
        "model=conv_blstm",
        "model.stack=1",
        "model.stride=1",
        "model.conv.channels=[4,8]",
        "model.conv.pools=[[2,2],[2,1]]",
        "model.conv.dropout=0.1",
        "augment=lines",  # built with the training set's CMVN statistics
    ]
    cfg = compose_train(tmp_path / "run", ["experiment=mini_iam", f"data.corpus.root={root}",
                                           f"data.work_dir={tmp_path / 'data'}", *FAST, "trainer.max_epochs=1",
                                           "features.image_height=16", *conv])  # fmt: skip
    summary = run(cfg)
    assert summary["metric"] == "cer" and 0 <= summary["test_cer"]
    model = save_package(make_package(Recognizer.from_run(tmp_path / "run")), tmp_path / "model.asrlstm")
    recognizer = load(model)
    assert recognizer.net.frontend.stride == 2 and recognizer.model_options["conv"]["pools"] == [[2, 2], [2, 1]]
    force_ctc_path(monkeypatch, recognizer.tokens, ["T", "h", "<blk>", "e"])
    row = read_manifest(tmp_path / "data/test.jsonl")[0]
    decode_cli.main([str(model), row["image"], "--align", str(tmp_path / "out.ctm")])
    assert capsys.readouterr().out.split("\t")[1].strip() == "The"
    # one output frame = the 2 pooled columns of the line scaled to 16 pixels
    hop = row["height"] / 16 * 2
    lines = [line.rsplit(" ", 1)[0] for line in (tmp_path / "out.ctm").read_text().splitlines()]
    assert lines == [f"{row['id']} 1 {0:.3f} {hop:.3f} T", f"{row['id']} 1 {hop:.3f} {hop:.3f} h",
                     f"{row['id']} 1 {3 * hop:.3f} {hop:.3f} e"]  # fmt: skip
