"""Kaldi data directories: rows, segments, pipes, and every layout problem named at once."""

import json
from pathlib import Path

import pytest
import soundfile as sf
import torch

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.kaldi import KaldiDataDirs
from asr_lstm.data.features import FeatureConfig, file_frames
from asr_lstm.errors import InputFileError
from tests.kaldi_fixture import SENTENCES, write_data_dir


def corpus(tmp_path: Path, segments: bool = False, **options) -> KaldiDataDirs:
    dirs = {
        split: write_data_dir(tmp_path, split, segments=segments, seed=i)
        for i, split in enumerate(("train", "dev", "test"))
    }
    return KaldiDataDirs(**dirs, **options)


def test_a_data_dir_without_segments_gives_one_utterance_per_recording(tmp_path):
    rows = corpus(tmp_path).split_rows()
    train = rows["train"]
    assert [r["id"] for r in train] == [f"spk{s}-u{j}" for s in (1, 2) for j in range(4)]
    first = train[0]
    assert first["text"] == SENTENCES[0] and "".join(first["chars"]) == "the|cat|sat"
    assert first["speaker"] == "spk1" and first["duration"] == pytest.approx(1.0) and "segment" not in first
    assert Path(first["audio"]).is_absolute()


def test_ids_may_be_separated_by_tabs(tmp_path):
    kaldi = corpus(tmp_path)
    text = tmp_path / "train" / "text"
    text.write_text(text.read_text().replace(" ", "\t", 1))
    assert kaldi.split_rows()["train"][0]["text"] == SENTENCES[0]


def test_segments_cut_their_recording(tmp_path):
    rows = corpus(tmp_path, segments=True).split_rows()["dev"]
    row = rows[1]
    assert row["recording"] == "spk1-rec" and row["segment"] == [1.1, 2.1] and row["duration"] == pytest.approx(1.0)
    cfg = FeatureConfig()
    feats, positions = file_frames(row["audio"], cfg, tuple(row["segment"]))
    samples, rate = sf.read(row["audio"], dtype="float32")
    cut = Path(tmp_path / "cut.wav")
    sf.write(str(cut), samples[round(1.1 * rate) : round(2.1 * rate)], rate, subtype="FLOAT")
    torch.testing.assert_close(feats, file_frames(cut, cfg)[0])
    assert feats.shape[0] == 98 and positions[-1] == pytest.approx(0.98)  # 10 ms frames from the segment start


def test_every_layout_problem_is_named_with_its_file_and_line(tmp_path):
    kaldi = corpus(tmp_path, segments=True)
    dev, test = tmp_path / "dev", tmp_path / "test"
    text = (dev / "text").read_text().splitlines()
    (dev / "text").write_text("\n".join([text[1], text[0], *text[2:], text[3]]) + "\n")  # unsorted, repeated
    utt2spk = (test / "utt2spk").read_text().splitlines()
    (test / "utt2spk").write_text("\n".join(utt2spk[:-1]) + "\n")  # the last utterance has no speaker
    segments = (test / "segments").read_text().splitlines()
    segments[2] = segments[2].rsplit(" ", 1)[0] + " 9.0"  # past the 4.5 s recording
    (test / "segments").write_text("\n".join(segments) + "\n")
    wav = (tmp_path / "train" / "wav.scp").read_text().splitlines()
    wav[1] = wav[1].split()[0] + " sph2pipe -f wav x.sph |"
    (tmp_path / "train" / "wav.scp").write_text("\n".join(wav) + "\n")
    with pytest.raises(CorpusError) as err:
        kaldi.prepare(tmp_path / "out")
    message = str(err.value)
    assert message.startswith("5 problems in the corpus layout:")
    assert f"{dev / 'text'}:2: not sorted: 'spk1-u0' after 'spk1-u1'" in message
    assert f"{dev / 'text'}:9: id 'spk1-u3' repeated (first at line 4)" in message
    assert f"{test / 'utt2spk'}: no line for utterance 'spk2-u3' (of segments)" in message
    assert f"{test / 'segments'}:3: spk1-u2: segment ends at 9 s, past the end of spk1-rec (4.500 s)" in message
    assert f"{tmp_path / 'train' / 'wav.scp'}:2: spk2-rec is a command ('sph2pipe -f wav x.sph |')" in message
    assert "set data.corpus.allow_pipes=true" in message
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_file_not_in_utf8_is_named_beside_the_other_problems(tmp_path):
    """Kaldi's validate_text.pl requires UTF-8 too; the rest of the file and the other files are still
    checked, the transcriptions included."""
    kaldi = corpus(tmp_path)
    text = tmp_path / "dev" / "text"
    lines = text.read_text().splitlines()
    lines[2] = lines[2].split()[0] + " caf\u00e9 cr\u00e8me"
    lines[4] = lines[4].split()[0]  # no words: named in the same pass
    text.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    utt2spk = tmp_path / "test" / "utt2spk"
    utt2spk.write_text("\n".join(utt2spk.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(CorpusError) as err:
        kaldi.prepare(tmp_path / "out")
    message = str(err.value)
    assert message.startswith("3 problems in the corpus layout:")
    assert f"{text}:5: {lines[4]}: " in message
    assert f"{text}: 1 line is not UTF-8 (the first: line 3, byte 12 (0xe9)); convert the file with iconv" in message
    assert f"{utt2spk}: no line for utterance" in message
    assert not (tmp_path / "out").exists()


def test_commands_run_only_when_allowed_and_a_failing_one_is_named(tmp_path):
    kaldi = corpus(tmp_path, allow_pipes=True)
    wav_scp = tmp_path / "train" / "wav.scp"
    lines = wav_scp.read_text().splitlines()
    utt, path = lines[0].split()
    lines[0] = f"{utt} cat {path} |"
    wav_scp.write_text("\n".join(lines) + "\n")
    row = kaldi.split_rows()["train"][0]
    assert row["audio"] == f"cat {path} |" and "duration" not in row  # known once the command runs
    cfg = FeatureConfig()
    torch.testing.assert_close(file_frames(row["audio"], cfg)[0], file_frames(Path(path), cfg)[0])
    with pytest.raises(InputFileError, match=r"false \|: the command exited with status 1"):
        file_frames("false |", cfg)


def test_a_missing_recording_is_a_bad_item_of_its_utterance(tmp_path):
    kaldi = corpus(tmp_path)
    (tmp_path / "audio" / "test" / "spk2-u1.wav").unlink()
    with pytest.raises(CorpusError, match=r"1 bad utterances|spk2-u1"):
        kaldi.prepare(tmp_path / "out")
    kaldi.prepare(tmp_path / "out", on_error="skip")
    ids = [json.loads(line)["id"] for line in (tmp_path / "out" / "test.jsonl").read_text().splitlines()]
    assert "spk2-u1" not in ids and len(ids) == 7
    assert "spk2-u1.wav: no such file" in (tmp_path / "out" / "skipped.tsv").read_text()
    tokens = (tmp_path / "out" / "tokens.txt").read_text().split()
    assert "|" in tokens and "t" in tokens


def test_an_edited_file_prepares_again(tmp_path):
    kaldi = corpus(tmp_path)
    kaldi.prepare(tmp_path / "out")
    assert kaldi.prepared(tmp_path / "out")
    text = tmp_path / "dev" / "text"
    text.write_text(text.read_text().replace("the cat sat", "the cat sat down"))
    assert not kaldi.prepared(tmp_path / "out")


def test_archive_offsets_and_a_missing_text_file_are_refused(tmp_path):
    kaldi = corpus(tmp_path)
    (tmp_path / "dev" / "text").unlink()
    wav_scp = tmp_path / "test" / "wav.scp"
    first, *rest = wav_scp.read_text().splitlines()
    wav_scp.write_text("\n".join([first.split()[0] + " raw.ark:1234", *rest]) + "\n")
    with pytest.raises(CorpusError) as err:
        kaldi.split_rows()
    assert f"{tmp_path / 'dev'}: no text (a Kaldi data directory has wav.scp and text)" in str(err.value)
    assert f"{wav_scp}:1: spk1-u0 is an archive offset ('raw.ark:1234')" in str(err.value)


def aligned_utterance(
    folder, name: str, phones: list[tuple[int, int, str]], words: list[tuple[int, int, str]], text: str
) -> dict:
    """A TIMIT utterance's .PHN, .WRD and .TXT (no audio: the lexicon reads alignments only)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.PHN").write_text("".join(f"{a} {b} {p}\n" for a, b, p in phones))
    (folder / f"{name}.WRD").write_text("".join(f"{a} {b} {w}\n" for a, b, w in words))
    return {"audio": str(folder / f"{name}.WAV"), "text": text}


def test_the_demo_lexicon_holds_the_aligned_phones_of_each_word_most_frequent_first(tmp_path):
    from asr_lstm.data.generators.kaldi_demo import aligned_pronunciations, write_lexicon

    phones = [(0, 100, "h#"), (100, 200, "dh"), (200, 300, "ax"), (300, 400, "kcl"), (400, 500, "k"),
              (500, 600, "ih"), (600, 700, "ng"), (700, 800, "z"), (800, 900, "h#")]  # fmt: skip
    # .WRD lost the "'s" of "king's" and ran "a" into "the": the text names the aligned words
    first = aligned_utterance(tmp_path, "SA1", phones, [(100, 300, "the"), (300, 800, "king")], "A the king's.")
    assert aligned_pronunciations(first) == [("the", ("dh", "ax")), ("king's", ("kcl", "k", "ih", "ng", "z"))]
    other = [(0, 100, "h#"), (100, 200, "dh"), (200, 300, "iy"), (300, 400, "h#")]
    rows = [first, *(aligned_utterance(tmp_path, f"SX{k}", other, [(100, 300, "the")], "The.") for k in range(2))]
    assert write_lexicon(rows, tmp_path / "lexicon.txt") == 2
    assert (tmp_path / "lexicon.txt").read_text() == "king's kcl k ih ng z\nthe dh iy\nthe dh ax\n"


def test_one_data_directory_for_two_splits_is_refused(tmp_path):
    train, test = write_data_dir(tmp_path, "train"), write_data_dir(tmp_path, "test", seed=1)
    with pytest.raises(
        CorpusError, match=r"/train: the data directory of both train and dev; each split needs its own"
    ):
        KaldiDataDirs(train, train, test).split_rows()
