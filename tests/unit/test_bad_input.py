"""Bad input named in one pass: damaged model files, audio with NaN samples or shorter than a window,
low sample rates, non-UTF-8 transcriptions, several bad TIMIT files at once, a missing corpus given
to a preparation entry point."""

import importlib
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from asr_lstm.cli import decode as decode_cli
from asr_lstm.data.audio import LowSampleRateWarning, read_frames
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.timit import Timit
from asr_lstm.data.feature_store import extract_split
from asr_lstm.data.features import FeatureConfig
from asr_lstm.errors import InputFileError
from asr_lstm.export import ModelFileError, make_package, read_package, save_package
from asr_lstm.recognizer import Recognizer, Utterance
from tests.timit_fixture import utterance_path

FEATURES = FeatureConfig()
TOKENS = ["<blk>", "a", "b", "c"]


def small_recognizer(**model_options) -> Recognizer:
    model = {"input_size": FEATURES.dim, "num_classes": len(TOKENS), "hidden_size": 8, "num_layers": 1, **model_options}
    net = Recognizer.build_net(model, {"name": "lstm"})
    dim = FEATURES.dim
    return Recognizer(net, model, {"name": "lstm"}, TOKENS, FEATURES, torch.zeros(dim), torch.ones(dim))


def small_package(**model_options) -> dict:
    return make_package(small_recognizer(**model_options))


def tone(path, seconds: float, rate: int = 16000, value: float | None = None):
    samples = 0.3 * np.sin(2 * math.pi * 440 * np.arange(int(seconds * rate)) / rate)
    if value is not None:
        samples[len(samples) // 2] = value
    sf.write(str(path), samples.astype(np.float32), rate, subtype="FLOAT")
    return path


def test_a_model_file_changed_after_export_fails_its_crc_check(tmp_path):
    path = save_package(small_package(), tmp_path / "m.asrlstm")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the weights
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"m\.asrlstm: corrupt model file: .* fails its CRC check"):
        read_package(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.pop("tokens"), "field 'tokens' is missing"),
        (lambda p: p.update(units=3), "field 'units' is a int"),
        (lambda p: p.update(units={"kind": "morse"}), "field 'units' describes no token units .*'morse'"),
        (lambda p: p["features"].update(kind="smell"), "field 'features' is not a feature configuration"),
        (lambda p: p["cmvn"].update(mean=torch.zeros(5)), r"field 'cmvn.mean' must be a tensor of shape \(123,\)"),
        (lambda p: p["model"].update(num_classes=9), "field 'model' must have input_size 123 and num_classes 4"),
        (lambda p: p["cell"].update(name="lsmt"), "field 'cell' names no known cell"),
        (lambda p: p.pop("normalization"), "field 'normalization' is missing"),
        (
            lambda p: p.update(normalization="nfc"),
            "field 'normalization' must be one of NFC, NFD, NFKC, NFKD or None, not 'nfc'",
        ),
        (
            lambda p: p["model"].update(hidden_size=200000),
            r"field 'state_dict' .* has shape \(32,\), but the model and cell options make it \(800000,\)",
        ),
        (lambda p: p["state_dict"].pop(next(iter(p["state_dict"]))), "field 'state_dict' lacks"),
    ],
)
def test_every_field_of_a_model_file_is_checked_before_anything_is_built(tmp_path, change, message):
    package = small_package()
    change(package)
    path = save_package(package, tmp_path / "m.asrlstm")
    with pytest.raises(ModelFileError, match=message):
        read_package(path)


def test_nan_and_too_short_audio_are_named(tmp_path):
    with pytest.raises(InputFileError, match=r"nan\.wav: 1 samples are NaN or infinite"):
        read_frames(tone(tmp_path / "nan.wav", 0.5, value=float("nan")), FEATURES)
    with pytest.raises(InputFileError, match=r"short\.wav: 20\.0 ms of audio, shorter than one 25 ms analysis window"):
        read_frames(tone(tmp_path / "short.wav", 0.02), FEATURES)


def test_missing_and_unreadable_audio_files_say_which_they_are(tmp_path):
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(InputFileError, match=r"missing\.wav: no such audio file$"):
        read_frames(tmp_path / "missing.wav", FEATURES)
    with pytest.raises(InputFileError, match=r"text\.wav: cannot read audio \(.*Format not recognised"):
        read_frames(tmp_path / "text.wav", FEATURES)


def test_feature_extraction_reports_every_bad_file_at_once(tmp_path):
    rows = [
        {"id": "good", "audio": str(tone(tmp_path / "good.wav", 0.5))},
        {"id": "inf", "audio": str(tone(tmp_path / "inf.wav", 0.5, value=float("inf")))},
        {"id": "short", "audio": str(tone(tmp_path / "short.wav", 0.01))},
    ]
    with pytest.raises(
        InputFileError, match=r"2 of 3 inputs cannot be read:\n  inf: .*inf\.wav.*\n  short: .*short\.wav"
    ):
        extract_split(rows, FEATURES, tmp_path / "train")
    assert not list(tmp_path.glob("train.*"))  # neither frames nor index, nor a temporary file


def test_low_sample_rates_warn_and_can_be_refused(tmp_path, capsys):
    with pytest.warns(LowSampleRateWarning, match=r"8000 Hz audio, below the model's 16000 Hz"):
        read_frames(tone(tmp_path / "phone.wav", 0.5, rate=8000), FEATURES)
    model = save_package(small_package(), tmp_path / "m.asrlstm")
    good = tone(tmp_path / "good.wav", 0.5)
    decode_cli.main([str(model), str(tmp_path / "phone.wav"), str(good), "--device", "cpu"])
    captured = capsys.readouterr()
    assert "warning: " in captured.err and "phone.wav: 8000 Hz" in captured.err
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == ["phone", "good"]
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(model), str(tmp_path / "phone.wav"), str(good), "--device", "cpu", "--refuse-low-rate"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1 and "skipped" in captured.err and captured.out.splitlines()[0].startswith("good")


CONV_STRIDE_8 = {"channels": [2, 2, 2], "pools": [[2, 2], [2, 2], [1, 2]]}


def test_inputs_too_short_for_a_conv_front_end_are_named_and_the_rest_decoded(tmp_path, capsys):
    model = save_package(small_package(conv=CONV_STRIDE_8), tmp_path / "m.asrlstm")
    short, good = tone(tmp_path / "short.wav", 0.09), tone(tmp_path / "good.wav", 0.5)  # 7 and 48 frames
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(model), str(short), str(good), "--device", "cpu"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    assert (
        "skipped " + str(short) + ": 7 frames, fewer than the 8 input frames the model's front end pools"
        in captured.err
    )
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == ["good"]
    recognizer = small_recognizer(conv=CONV_STRIDE_8)
    utterances = [Utterance(name, torch.zeros(frames, FEATURES.dim)) for name, frames in [("a", 3), ("b", 8), ("c", 7)]]
    with pytest.raises(
        ValueError, match=r"2 inputs too short for the model:\n  a: 3 frames, .*\n  c: 7 frames, fewer than the 8"
    ):
        recognizer.posteriors(utterances)
    assert [len(p) for p in recognizer.posteriors(utterances[1:2])] == [1]


def test_timit_preparation_names_every_bad_file_in_one_pass(timit_root, tmp_path):
    utterance_path(timit_root, "train", "dr1", "fcjf0", "si943", ".txt").write_bytes(b"0 100 caf\xe9 \xff\n")
    utterance_path(timit_root, "test", "dr1", "mdab0", "sx17", ".wav").write_bytes(b"")
    phn = utterance_path(timit_root, "train", "dr2", "mrab0", "si943", ".phn")
    phn.write_text(phn.read_text().replace(" h#", " xx", 1))
    with pytest.raises(CorpusError) as err:
        Timit(timit_root).prepare(tmp_path / "data")
    message = str(err.value)
    assert "3 bad utterances" in message and "SI943.TXT: not a text file (byte 9 is not UTF-8" in message
    assert "MDAB0/SX17.WAV" in message and "MRAB0/SI943.PHN:1: unknown phone label 'xx'" in message
    assert not (tmp_path / "data" / "train.jsonl").exists()


@pytest.mark.parametrize(
    "module, args, message",
    [
        ("asr_lstm.data.corpora.timit", ["--root", "{missing}"], "timit: {missing}: no such directory (the TIMIT root"),
        ("asr_lstm.data.corpora.iam", ["--root", "{missing}"], "iam: {missing}: no ascii/lines.txt"),
        ("asr_lstm.data.corpora.iam_ondb", ["--root", "{missing}"], "iam-ondb: {missing}: no lineStrokes/"),
        (
            "asr_lstm.data.corpora.kaldi",
            ["--train", "{missing}", "--dev", "{missing}", "--test", "{missing}"],
            "kaldi data: ",
        ),
        ("asr_lstm.data.corpora.page", ["--pages", "{missing}"], "page data: {missing}: no such folder of page files"),
        ("asr_lstm.data.generators.kaldi_demo", ["--timit", "{missing}"], "kaldi demo: {missing}: no such directory"),
    ],
    ids=["timit", "iam", "iam_ondb", "kaldi", "page", "kaldi_demo"],
)
def test_the_preparation_entry_points_name_a_missing_corpus_without_a_traceback(
    module, args, message, tmp_path, capsys
):
    missing = tmp_path / "missing"
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module).main(
            [*(a.format(missing=missing) for a in args), "--out", str(tmp_path / "out")]
        )
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(message.format(missing=missing))
    assert not (tmp_path / "out").exists()
