"""Exported model files: round trip in a fresh process, refusals, and the decoder CLI on audio files."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF
from omegaconf import OmegaConf

from asr_lstm.cli import decode as decode_cli
from asr_lstm.cli.evaluate import main as evaluate_main
from asr_lstm.cli.train import run
from asr_lstm.data.units import Characters, Labelling
from asr_lstm.export import FORMAT_VERSION, ModelFileError, make_package, read_package, save_package
from asr_lstm.pictures.confusion import confusion_matrix, read_confusions
from asr_lstm.recognizer import Recognizer
from asr_lstm.scoring import read_transcripts
from tests.conftest import decode_and_evaluate_through_one_path, force_ctc_path
from tests.pictures import assert_picture


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny runs trained briefly with two different cells, per-speaker CMVN, forward-only and
    latency-controlled layers, and their exported files."""
    from tests.conftest import compose_train
    from tests.timit_fixture import write_timit_tree

    base = tmp_path_factory.mktemp("export")
    root = write_timit_tree(base / "TIMIT")
    out = {}
    runs = {
        "lstm": ["cell=lstm"],
        "peephole_diag": ["cell=peephole_diag"],
        "speaker_cmvn": ["cell=lstm", "features.cmvn=speaker"],
        "forward_only": ["cell=lstm", "model.bidirectional=false"],
        "latency_controlled": ["cell=lstm", "model.chunk_frames=5", "model.right_context_frames=3"],
    }
    for name, extra in runs.items():
        cfg = compose_train(
            base / name,
            [
                f"data.corpus.root={root}",
                f"data.work_dir={base / 'data'}",
                "trainer.enable_progress_bar=false",
                "trainer.accelerator=cpu",
                "model.num_layers=2",
                "model.hidden_size=16",
                "data.batch_size=2",
                "trainer.max_epochs=3",
                "optimizer.lr=0.01",
                *extra,
            ],
        )
        run(cfg)
        model = save_package(make_package(Recognizer.from_run(base / name)), base / f"{name}.asrlstm")
        out[name] = (base / name, model)
    return base, out


def phone_bigram(base, out):
    """A phone bigram of the runs' training transcriptions, written by ``python -m asr_lstm.lm``."""
    from asr_lstm.lm import main as lm_main

    lm_main(["--manifest", str(base / "data/train.jsonl"), "--tokens", str(base / "data/tokens.txt"), "-o", str(out)])


@pytest.mark.parametrize("run_name", ["lstm", "peephole_diag", "forward_only", "latency_controlled"])
def test_round_trip_in_a_fresh_process_gives_the_checkpoint_hypotheses(trained, run_name):
    base, runs = trained
    run_dir, model = runs[run_name]
    options = read_package(model)["model"]
    assert options["bidirectional"] == (run_name != "forward_only")
    assert (options["chunk_frames"], options["right_context_frames"]) == (
        (5, 3) if run_name == "latency_controlled" else (None, 0)
    )
    evaluate_main([str(run_dir), "--splits", "test"])
    expected = read_transcripts(run_dir / "decode_test/hyp.txt")
    # a fresh interpreter that imports neither Hydra nor Lightning
    code = (
        "import sys, asr_lstm; from asr_lstm.cli.decode import main; main(sys.argv[1:]);"
        "assert 'hydra' not in sys.modules and 'pytorch_lightning' not in sys.modules, 'training stack imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(model), str(base / "data/test.jsonl")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    got = {line.split("\t")[0]: line.split("\t")[1].split() for line in done.stdout.splitlines()}
    assert got == expected and len(got) == 2


def test_refusals(trained, tmp_path):
    base, runs = trained
    model = runs["lstm"][1]
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelFileError, match=r"notes.txt: not an asr-lstm model \(not a torch archive"):
        read_package(tmp_path / "notes.txt")
    (tmp_path / "half.asrlstm").write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="half.asrlstm: truncated or corrupt model file"):
        read_package(tmp_path / "half.asrlstm")
    package = read_package(model)
    save_package({**package, "format_version": FORMAT_VERSION + 98}, tmp_path / "future.asrlstm")
    with pytest.raises(ModelFileError, match=f"model format version {FORMAT_VERSION + 98} is not supported"):
        read_package(tmp_path / "future.asrlstm")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="a torch archive but not an asr-lstm model"):
        read_package(tmp_path / "other.pt")
    torch.save({"format": "asr-lstm-model", "payload": ModelFileError("x")}, tmp_path / "pickled.asrlstm")
    with pytest.raises(ModelFileError, match="refusing to unpickle"):
        read_package(tmp_path / "pickled.asrlstm")
    with pytest.raises(ModelFileError, match="no such model file"):
        read_package(tmp_path / "missing.asrlstm")


def test_decode_rates_stereo_bad_file_json_and_ctm(trained, tmp_path, capsys):
    base, runs = trained
    model = runs["lstm"][1]
    wav = next((base / "TIMIT/TEST/DR1/MDAB0").glob("SX17.WAV"))
    audio, rate = sf.read(str(wav), dtype="float32")
    for new_rate in (8000, 22050, 44100):
        resampled = AF.resample(torch.from_numpy(audio), rate, new_rate).numpy()
        sf.write(str(tmp_path / f"r{new_rate}.wav"), resampled, new_rate)
    sf.write(str(tmp_path / "mono.flac"), audio, rate)
    sf.write(str(tmp_path / "stereo.wav"), np.stack([audio, audio], axis=1), rate)
    (tmp_path / "empty.wav").write_bytes(b"")
    inputs = [
        str(tmp_path / n) for n in ("r8000.wav", "empty.wav", "r22050.wav", "r44100.wav", "mono.flac", "stereo.wav")
    ]
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(model), *inputs, "--json", "--align", str(tmp_path / "ctm/out.ctm"), "--batch-size", "4",
                         "--plot", str(tmp_path / "plots")])  # fmt: skip  # folders made as needed
    assert exit_info.value.code == 1  # something was skipped
    captured = capsys.readouterr()
    assert f"skipped {tmp_path / 'empty.wav'}" in captured.err and "1 of 6 inputs skipped" in captured.err
    records = {r["id"]: r for r in map(json.loads, captured.out.splitlines())}
    assert sorted(records) == ["mono", "r22050", "r44100", "r8000", "stereo"]
    assert records["stereo"]["tokens"] == records["mono"]["tokens"]  # identical channels average to the mono signal
    ctm = (tmp_path / "ctm/out.ctm").read_text().splitlines()
    for utt, record in records.items():
        rows = [line.split() for line in ctm if line.startswith(utt + " ")]
        assert [r[4] for r in rows] == record["tokens"]
        assert all(r[1] == "1" and float(r[3]) > 0 for r in rows)
        starts = [float(r[2]) for r in rows]
        assert starts == sorted(starts) and all(s + 1e-9 >= 0 for s in starts)
        assert [s["token"] for s in record["segments"]] == record["tokens"]
        # times in whole frames of 10 ms, as the CTM's, without float noise (0.24, not 0.23999999463558197)
        times = [t for s in record["segments"] for t in (s["start"], s["duration"])]
        assert all(t == round(round(t / 0.01) * 0.01, 6) for t in times)
        assert [f"{s['start']:.3f}" for s in record["segments"]] == [r[2] for r in rows]
        assert 0 <= record["confidence"] <= 1 and all(0 <= float(r[5]) <= 1 for r in rows)
        assert_picture(tmp_path / f"plots/{utt}.png", (12, 6))


def test_decode_scores_manifests_against_their_references_and_refuses_what_it_cannot_score(trained, tmp_path, capsys):
    base, runs = trained
    model = runs["lstm"][1]
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(model), str(tmp_path / "a.wav"), "--score", str(tmp_path / "scores")])
    assert exit_info.value.code == 2
    assert (
        f"--score: {tmp_path / 'a.wav'} and the other files that are not manifests are scored against a "
        "transcription beside them, in words, which this model's labels (the corpus's own, such as TIMIT's phones) "
        "do not spell; score a prepared manifest" in capsys.readouterr().err
    )
    (tmp_path / "unprepared").mkdir()
    unprepared = tmp_path / "unprepared/test.jsonl"
    unprepared.write_text((base / "data/test.jsonl").read_text())
    other = tmp_path / "other/test.jsonl"
    other.parent.mkdir()
    other.write_text((base / "data/test.jsonl").read_text())
    Labelling("chars", "cer", "cer", None, Characters("|")).save(other.parent)
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(model), str(unprepared), str(other), "--score", str(tmp_path / "scores")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"{unprepared}: no labelling of its directory" in err
    assert f"{other}: labelled with char units and the model with the corpus's own labels folded to 39" in err
    assert not (tmp_path / "scores/metrics.json").exists()
    decode_cli.main(
        [str(model), str(base / "data/test.jsonl"), "--score", str(tmp_path / "scores"), "-o", str(tmp_path / "hyp")]
    )
    scored = json.loads((tmp_path / "scores/metrics.json").read_text())
    assert (scored["metric"], scored["folding"], scored["num_utts"]) == ("per", "39", 2)
    assert scored["model"] == str(model) and "--score" in scored["command"]
    assert "%PER" in capsys.readouterr().err and (tmp_path / "scores/confusion.png").is_file()


def test_decode_refuses_a_bad_model_file(tmp_path, capsys):
    (tmp_path / "m.asrlstm").write_text("nope")
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(tmp_path / "m.asrlstm"), "x.wav"])
    assert exit_info.value.code == 2 and "not an asr-lstm model" in capsys.readouterr().err


def test_inputs_from_directories_lists_and_manifests(tmp_path):
    (tmp_path / "a/b").mkdir(parents=True)
    for name in ("a/x.WAV", "a/b/y.flac", "a/notes.md"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "list.scp").write_text(f"utt1 {tmp_path}/a/x.WAV\n{tmp_path}/a/b/y.flac\n\nu2 a.wav extra\n")
    (tmp_path / "m.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in ({"id": "u9", "audio": "/data/u9.wav"}, {"id": "u10"}))
    )
    (tmp_path / "empty.lst").write_text("\n")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing/notes.md").write_text("no audio here")
    (tmp_path / "latin.lst").write_bytes("caf\u00e9.wav\n".encode("latin-1"))
    inputs = ["a", "list.scp", "m.jsonl", "empty.lst", "nothing", "latin.lst"]
    items, problems = decode_cli.resolve_inputs([str(tmp_path / name) for name in inputs])
    assert [(item.id, item.path.name) for item in items] == [
        ("b_y", "y.flac"),
        ("x", "x.WAV"),
        ("utt1", "x.WAV"),
        ("y", "y.flac"),
        ("u9", "u9.wav"),
        ("caf\ufffd", "caf\ufffd.wav"),
    ]
    assert problems == [
        f"{tmp_path / 'list.scp'}:4: 3 fields; a line is 'path' or 'id path'",
        f"{tmp_path / 'm.jsonl'}: row 2 (u10) has no id or no input file",
        f"{tmp_path / 'empty.lst'}: names no input",
        f"{tmp_path / 'nothing'}: no file below it ends in .aif, .aiff, .au, .flac, .mp3, .nist, .ogg, .sph, .wav",
        f"{tmp_path / 'latin.lst'}: 1 line is not UTF-8 (the first: line 1, byte 4 (0xe9)); "
        "convert the file with iconv -f <its encoding> -t UTF-8",
    ]
    (tmp_path / "bad.jsonl").write_bytes(
        '{"id": "u1", "audio": "a.wav"}\n{"id": \n[1, 2]\n{"id": "\u00e9"}\n'.encode("latin-1")
    )
    with pytest.raises(ValueError) as err:
        decode_cli.resolve_inputs([str(tmp_path / "bad.jsonl")])
    assert str(err.value).splitlines() == [
        f"{tmp_path / 'bad.jsonl'}: 1 line is not UTF-8 (the first: line 4, byte 9 (0xe9)); "
        "convert the file with iconv -f <its encoding> -t UTF-8",
        f"{tmp_path / 'bad.jsonl'}:2: not a JSON manifest row (Expecting value)",
        f"{tmp_path / 'bad.jsonl'}:3: not a JSON manifest row (a list, not an object)",
    ]


def test_decode_with_beam_search_and_lm(trained, tmp_path, capsys):
    base, runs = trained
    phone_bigram(base, tmp_path / "lm.arpa")
    decode_cli.main(
        [str(runs["lstm"][1]), str(base / "data/test.jsonl"), "--beam-size", "8", "--lm", str(tmp_path / "lm.arpa")]
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert [line.split("\t")[0] for line in lines] == ["mdab0_si943", "mdab0_sx17"]


def test_export_cli_writes_a_checked_onnx_file_from_an_exported_model(trained, tmp_path, capsys):
    from asr_lstm.cli.export import main as export_main

    base, runs = trained
    run_dir, model = runs["peephole_diag"]
    export_main([str(model), "--onnx", str(tmp_path / "m.onnx")])
    assert "onnxruntime matches torch: max |log-prob difference|" in capsys.readouterr().out
    assert (tmp_path / "m.onnx").stat().st_size > 0 and not (tmp_path / "m.onnx.tmp").exists()
    with pytest.raises(SystemExit):
        export_main([str(run_dir)])
    assert "nothing to write" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export_main([str(model), "-o", str(tmp_path / "again.asrlstm")])
    assert "already an exported model; only --onnx and --onnx-stream apply" in capsys.readouterr().err


def test_export_cli_names_a_missing_run_or_checkpoint_and_a_damaged_one_without_a_traceback(trained, tmp_path, capsys):
    from asr_lstm.cli.export import main as export_main

    base, runs = trained
    run_dir = runs["lstm"][0]
    untrained = tmp_path / "untrained"  # a start refused before its first checkpoint: its options never built
    untrained.mkdir()
    cfg = OmegaConf.load(run_dir / "config.yaml")
    cfg.cell.cell_clip = -3
    OmegaConf.save(cfg, untrained / "config.yaml")
    damaged = tmp_path / "damaged"
    (damaged / "checkpoints").mkdir(parents=True)
    OmegaConf.save(OmegaConf.load(run_dir / "config.yaml"), damaged / "config.yaml")
    (damaged / "checkpoints/best.ckpt").write_bytes((run_dir / "checkpoints/best.ckpt").read_bytes()[:2000])
    moved = tmp_path / "moved"  # its data directory gone
    (moved / "checkpoints").mkdir(parents=True)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    cfg.data.work_dir = str(tmp_path / "gone")
    OmegaConf.save(cfg, moved / "config.yaml")
    (moved / "checkpoints/best.ckpt").write_bytes((run_dir / "checkpoints/best.ckpt").read_bytes())
    expected = {
        tmp_path / "nowhere": f"{tmp_path / 'nowhere'}: no such run directory or checkpoint",
        tmp_path: f"{tmp_path / 'config.yaml'}: the run's config is missing",
        untrained: f"{untrained / 'checkpoints/best.ckpt'}: no such checkpoint",
        damaged: f"{damaged / 'checkpoints/best.ckpt'}: not a training checkpoint",
        moved: f"{tmp_path / 'gone/tokens.txt'}, {tmp_path / 'gone'}/fbank-",
        tmp_path / "half.asrlstm": f"{tmp_path / 'half.asrlstm'}: truncated or corrupt model file",
    }
    (tmp_path / "half.asrlstm").write_bytes(runs["lstm"][1].read_bytes()[:5000])
    for source, message in expected.items():
        flags = (
            ["--onnx", str(tmp_path / "m.onnx")] if source.suffix == ".asrlstm" else ["-o", str(tmp_path / "m.asrlstm")]
        )
        with pytest.raises(SystemExit):
            export_main([str(source), *flags])
        err = capsys.readouterr().err
        assert f"asr-lstm export: error: {message}" in err and "Traceback" not in err
    assert not (tmp_path / "m.asrlstm").exists() and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--splits", "foo", "dev", "bar"], "--splits foo bar: not a split of the run's corpus (train, dev, test)"),
        (  # overrides after an option's value are overrides
            ["--grid", "decode.lm_weight=a,0.5", "decode=beam", "decode.beam_size=x"],
            "decode values of the wrong type: decode.beam_size='x': expected <class 'int'>; "
            "decode.lm_weight='a': expected <class 'float'>",
        ),
        (
            ["--splits", "test", "dev", "--grid", "decode.lm_weight=0.3,0.5", "decode=beam"],
            "--grid tunes the search on the first split, here test: the test error rate would be chosen on itself",
        ),
    ],
    ids=["unknown splits", "wrong types", "tuned on test"],
)
def test_evaluate_refuses_unknown_splits_and_decode_values_of_the_wrong_type_by_name(trained, args, message, capsys):
    run_dir = trained[1]["lstm"][0]
    before = sorted(run_dir.iterdir())
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main([str(run_dir), *args])
    assert exit_info.value.code == 2 and f"asr-lstm evaluate: error: {message}" in capsys.readouterr().err
    assert sorted(run_dir.iterdir()) == before


def test_evaluate_with_decode_beam_overrides(trained, tmp_path, capsys):
    base, runs = trained
    run_dir = runs["lstm"][0]
    phone_bigram(base, tmp_path / "lm.arpa")
    evaluate_main(
        [
            str(run_dir),
            "--splits",
            "test",
            "decode=beam",
            "decode.beam_size=4",
            f"decode.lm={tmp_path / 'lm.arpa'}",
            "decode.lm_weight=0.2",
        ]
    )
    metrics = json.loads((run_dir / "decode_test_beam/metrics.json").read_text())
    assert metrics["search"] == f"beam 4, LM {tmp_path / 'lm.arpa'} weight 0.2" and metrics["num_utts"] == 2
    assert "test: %PER" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        evaluate_main([str(run_dir), "--splits", "test", "decode=beam", f"decode.lm={tmp_path / 'none.arpa'}"])
    assert "none.arpa: no such LM file" in capsys.readouterr().err


def test_decode_words_with_a_lexicon(trained, tmp_path, capsys, monkeypatch):
    base, runs = trained
    tokens = read_package(runs["lstm"][1])["tokens"]
    # the briefly trained model is mostly blank: its output becomes the path "h# aa - dh - h#"
    force_ctc_path(monkeypatch, tokens, ["h#", "aa", "<blk>", "dh", "<blk>", "h#"])
    # one-phone words W<phone>, and TIMIT's h# as the word separator
    (tmp_path / "lexicon.txt").write_text("".join(f"W{p} {p}\n" for p in tokens[1:] if p != "h#"))
    model = str(runs["lstm"][1])
    decode_cli.main(
        [
            model,
            str(base / "data/test.jsonl"),
            "--lexicon",
            str(tmp_path / "lexicon.txt"),
            "--separator",
            "h#",
            "--json",
        ]
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(r["words"], r["tokens"], r["text"]) for r in records] == [(["Waa", "Wdh"], ["aa", "dh"], "Waa Wdh")] * 2
    (tmp_path / "bad.txt").write_text("Wxx xx\n")
    with pytest.raises(SystemExit):
        decode_cli.main(
            [model, str(base / "data/test.jsonl"), "--lexicon", str(tmp_path / "bad.txt"), "--separator", "h#"]
        )
    assert "bad.txt:1: word 'Wxx' is spelled with ['xx'], not in the model's tokens" in capsys.readouterr().err


@pytest.mark.parametrize("run_name", ["lstm", "speaker_cmvn"])
def test_evaluate_and_decode_give_the_same_hypotheses_through_one_path(trained, run_name, monkeypatch):
    """With per-speaker CMVN, decode of a manifest normalises each speaker's utterances by their joint
    statistics, as evaluate does for the split."""
    base, runs = trained
    run_dir, model = runs[run_name]
    decode_and_evaluate_through_one_path(monkeypatch, run_dir, model, base / "data/test.jsonl")


def test_evaluate_tunes_the_lm_weight_on_dev_and_applies_it_to_test(trained, tmp_path, capsys, monkeypatch):
    """The network's outputs are made to put 0.6 on each reference phone and 0.4 on another one; the LM
    is of another language, which prefers those others: the default weight 0.8 is wrong, the grid's
    best dev point (no LM) is chosen, and test is decoded at it alone."""
    from asr_lstm.data.manifest import read_manifest
    from asr_lstm.lm import ngram_arpa

    base, runs = trained
    run_dir = runs["lstm"][0]
    tokens = read_package(runs["lstm"][1])["tokens"]
    other = dict(zip(tokens[1:], [*tokens[8:], *tokens[1:8]]))
    refs = {
        row["id"]: row["phones"] for split in ("dev", "test") for row in read_manifest(base / f"data/{split}.jsonl")
    }

    def posteriors(self, utterances, batch_size=16):
        out = []
        for utt in utterances:
            probs = torch.full((2 * len(refs[utt.id]), len(tokens)), 1e-6)
            for k, phone in enumerate(refs[utt.id]):
                probs[2 * k, tokens.index(phone)], probs[2 * k, tokens.index(other[phone])] = 0.6, 0.4
                probs[2 * k + 1, 0] = 1.0
            out.append((probs / probs.sum(1, keepdim=True)).log())
        return out

    monkeypatch.setattr(Recognizer, "posteriors", posteriors)
    sentences = [[other[p] for p in row["phones"]] for row in read_manifest(base / "data/train.jsonl")]
    (tmp_path / "other.arpa").write_text(ngram_arpa(sentences, tokens[1:], order=3))
    grid = ["decode.lm_weight=0.8", "decode.lm_weight=0.0", "decode.lm_weight=4.0"]  # the default first: a tie keeps it
    evaluate_main([str(run_dir), "--splits", "dev", "test", "decode=beam", "decode.beam_size=8",
                   f"decode.lm={tmp_path / 'other.arpa'}", "decode.lm_weight=0.8",
                   "--grid", "decode.lm_weight=0.8,0.0,4.0"])  # fmt: skip
    tuned = json.loads((run_dir / "decode_dev_beam/grid.json").read_text())
    rates = [point["rate"] for point in tuned["points"]]
    assert [p["overrides"] for p in tuned["points"]] == [[g] for g in grid] and tuned["split"] == "dev"
    assert tuned["chosen"] == 1 and rates[1] == min(rates) == 0.0 < rates[0]
    dev = json.loads((run_dir / "decode_dev_beam/metrics.json").read_text())
    test = json.loads((run_dir / "decode_test_beam/metrics.json").read_text())
    assert dev["rate"] == 0.0 and dev["search"] == test["search"] and "weight 0.0" in test["search"]
    assert (
        not (run_dir / "decode_test_beam/grid").exists()
        and len(list((run_dir / "decode_dev_beam/grid").iterdir())) == 3
    )
    assert "dev: chose decode.lm_weight=0.0 of the grid" in capsys.readouterr().out


def test_evaluate_calibrates_the_confidence_on_dev_and_the_model_file_carries_it(trained, tmp_path, capsys):
    base, runs = trained
    run_dir = runs["lstm"][0]
    evaluate_main([str(run_dir), "--splits", "dev", "test"])
    calibration = json.loads((run_dir / "calibration.json").read_text())
    assert calibration["checkpoint"] == str((run_dir / "checkpoints/best.ckpt").resolve())
    assert calibration["loss"] <= calibration["loss_at_1"]
    test = json.loads((run_dir / "decode_test/metrics.json").read_text())["confidence"]
    assert test["temperature"] == calibration["temperature"] and 0 <= test["mean"] <= 1
    rows = (run_dir / "decode_test/confidence.tsv").read_text().splitlines()
    assert rows[0] == "id\tconfidence\taccuracy" and len(rows) == 3
    labels, _ = confusion_matrix(read_confusions(run_dir / "decode_test/confusions.json"))
    assert_picture(run_dir / "decode_test/confusion.png", (3.0 + 0.16 * len(labels),) * 2)
    model = save_package(make_package(Recognizer.from_run(run_dir)), tmp_path / "calibrated.asrlstm")
    assert read_package(model)["confidence_temperature"] == calibration["temperature"]
    capsys.readouterr()
    decode_cli.main([str(model), str(base / "data/test.jsonl"), "--json"])
    decoded = {r["id"]: r["confidence"] for r in map(json.loads, capsys.readouterr().out.splitlines())}
    listed = {line.split("\t")[0]: float(line.split("\t")[1]) for line in rows[1:]}
    assert decoded.keys() == listed.keys() and all(abs(decoded[u] - listed[u]) < 1e-4 for u in listed)
    package = read_package(model)
    save_package({**package, "confidence_temperature": -1.0}, tmp_path / "bad.asrlstm")
    with pytest.raises(ModelFileError, match="field 'confidence_temperature' must be a positive number"):
        read_package(tmp_path / "bad.asrlstm")
