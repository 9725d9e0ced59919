"""``asr-lstm stream``: a forward-only or latency-controlled model file prints, from a file read a chunk at a time or from
raw PCM on stdin, the labels ``asr-lstm decode --tokens`` prints for the whole file, each with the
time of its frame under ``--times``; what cannot stream is refused with the reason."""

import io
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from asr_lstm.cli import decode as decode_cli
from asr_lstm.cli import export as export_cli
from asr_lstm.cli import stream as stream_cli
from asr_lstm.data.features import FeatureConfig
from asr_lstm.export import make_package, save_package
from asr_lstm.lm import ngram_arpa
from tests.random_models import TOKENS, random_recognizer

FEATURES = FeatureConfig(num_mel_bins=4, delta_order=2)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A forward-only, a latency-controlled and a bidirectional model file with random weights, and 1.5 s
    of 16 kHz audio."""
    base = tmp_path_factory.mktemp("stream")
    models = {}
    for name, options in (("forward", {"bidirectional": False}), ("latency", {"latency": (6, 4)}), ("both", {})):
        recognizer = random_recognizer("lstm", features=FEATURES, **options)
        models[name] = save_package(make_package(recognizer), base / f"{name}.asrlstm")
    t = np.arange(24000) / 16000
    audio = 0.3 * np.sin(2 * math.pi * 300 * t * (1 + t)) + 0.02 * np.random.default_rng(0).standard_normal(24000)
    sf.write(str(base / "a.wav"), audio, 16000, subtype="PCM_16")
    return base, models


def decoded_tokens(model, wav, capsys) -> list[str]:
    decode_cli.main([str(model), str(wav), "--tokens"])
    return capsys.readouterr().out.split("\t")[1].split()


@pytest.mark.parametrize("model", ["forward", "latency"])
@pytest.mark.parametrize("chunk_ms", ["10", "100", "2000"])
def test_a_file_streamed_prints_the_labels_of_decode(files, chunk_ms, model, capsys):
    base, models = files
    expected = decoded_tokens(models[model], base / "a.wav", capsys)
    stream_cli.main([str(models[model]), str(base / "a.wav"), "--chunk-ms", chunk_ms])
    assert capsys.readouterr().out.split() == expected and expected


def test_a_beam_search_with_an_lm_prints_the_labels_of_decode_when_the_input_ends(files, tmp_path, capsys):
    base, models = files
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(ngram_arpa([["b", "d", "s", "iy"]] * 20 + [["aa", "sil"]], TOKENS[1:]))
    search = ["--beam-size", "8", "--lm", str(arpa), "--lm-weight", "2"]
    decode_cli.main([str(models["forward"]), str(base / "a.wav"), "--tokens", *search])
    expected = capsys.readouterr().out.split("\t")[1].split()
    assert expected != decoded_tokens(models["forward"], base / "a.wav", capsys)  # the LM changed the greedy labels
    stream_cli.main([str(models["forward"]), str(base / "a.wav"), "--chunk-ms", "50", *search])
    assert capsys.readouterr().out.split() == expected
    with pytest.raises(SystemExit) as exit_info:
        stream_cli.main([str(models["forward"]), str(base / "a.wav"), "--times", *search])
    assert exit_info.value.code == 2 and "--times needs the greedy search" in capsys.readouterr().err


def test_pcm_on_stdin_prints_the_same_labels_with_their_times(files, capsys, monkeypatch):
    base, models = files
    expected = decoded_tokens(models["forward"], base / "a.wav", capsys)
    pcm, _ = sf.read(str(base / "a.wav"), dtype="int16")
    monkeypatch.setattr("sys.stdin", type("Stdin", (), {"buffer": io.BytesIO(pcm.astype("<i2").tobytes() + b"\x01")}))
    stream_cli.main([str(models["forward"]), "--chunk-ms", "37", "--times"])  # an odd byte at the end is dropped
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [label for _, label in lines] == expected
    times = [float(time) for time, _ in lines]
    assert times == sorted(times) and all(round(t / 0.02, 6).is_integer() for t in times)  # 10 ms hops, stride 2


def test_export_writes_a_checked_streaming_graph_of_a_model_that_streams_only(files, tmp_path, capsys):
    base, models = files
    export_cli.main([str(models["forward"]), "--onnx-stream", str(tmp_path / "stream.onnx")])
    assert "onnxruntime streamed in chunks matches torch" in capsys.readouterr().out
    assert (tmp_path / "stream.onnx").is_file()
    with pytest.raises(SystemExit, match="a streaming graph needs a forward-only or latency-controlled model"):
        export_cli.main([str(models["both"]), "--onnx-stream", str(tmp_path / "both.onnx")])
    assert not (tmp_path / "both.onnx").exists()
    with pytest.raises(SystemExit, match=r"a latency-controlled model \(model.chunk_frames\) has no whole-input ONNX"):
        export_cli.main([str(models["latency"]), "--onnx", str(tmp_path / "latency.onnx")])
    assert not (tmp_path / "latency.onnx").exists()
    export_cli.main([str(models["latency"]), "--onnx-stream", str(tmp_path / "window.onnx")])
    assert "onnxruntime streamed in chunks matches torch" in capsys.readouterr().out


def test_a_reader_that_leaves_ends_the_stream_quietly(files):
    """``asr-lstm stream ... | head -c 1``: the next labels find no reader; the command ends with exit
    status 1 and no traceback."""
    base, models = files
    pcm = sf.read(str(base / "a.wav"), dtype="int16")[0].astype("<i2").tobytes()
    command = [sys.executable, "-m", "asr_lstm.cli.main", "stream", str(models["forward"]), "--chunk-ms", "10"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdin.write(pcm[: len(pcm) // 2])
    process.stdin.flush()
    assert process.stdout.read(1)  # a label of the first half
    process.stdout.close()
    process.stdin.write(pcm[len(pcm) // 2 :])
    process.stdin.close()
    assert process.wait(timeout=120) == 1
    assert process.stderr.read().decode() == ""


def test_what_cannot_stream_is_refused_by_name(files, tmp_path, capsys):
    base, models = files
    with pytest.raises(SystemExit) as exit_info:
        stream_cli.main([str(models["both"]), str(base / "a.wav")])
    assert exit_info.value.code == 2 and "its layers are bidirectional" in capsys.readouterr().err
    audio, _ = sf.read(str(base / "a.wav"))
    sf.write(str(tmp_path / "low.wav"), audio[::2], 8000)
    with pytest.raises(SystemExit) as exit_info:
        stream_cli.main([str(models["forward"]), str(tmp_path / "low.wav")])
    err = capsys.readouterr().err
    assert (
        exit_info.value.code == 1
        and f"{tmp_path / 'low.wav'}: 8000 Hz audio; a stream must come at the model's 16000 Hz" in err
    )
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(SystemExit) as exit_info:
        stream_cli.main([str(models["forward"]), str(tmp_path / "text.wav")])
    assert exit_info.value.code == 1 and f"{tmp_path / 'text.wav'}: cannot read audio" in capsys.readouterr().err
    for args, message in (
        (["--chunk-ms", "0"], "argument --chunk-ms: must be above 0 and finite, got 0"),
        (["--chunk-ms", "inf"], "argument --chunk-ms: must be above 0 and finite, got inf"),
        ([str(tmp_path / "missing.wav")], "missing.wav: no such file"),
        (["--device", "tpu"], "tpu"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            stream_cli.main([str(models["forward"]), *args])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        stream_cli.main([str(tmp_path / "none.asrlstm"), str(base / "a.wav")])
    assert exit_info.value.code == 2 and "no such model file" in capsys.readouterr().err
    strokes = random_recognizer("lstm", bidirectional=False, features=FeatureConfig(kind="strokes", delta_order=0))
    save_package(make_package(strokes), tmp_path / "strokes.asrlstm")
    with pytest.raises(SystemExit) as exit_info:
        stream_cli.main([str(tmp_path / "strokes.asrlstm"), str(base / "a.wav")])
    assert exit_info.value.code == 2 and "reads strokes, not audio" in capsys.readouterr().err
