"""lhotse manifests written by lhotse itself: a CutSet, recordings + supervisions, refusals."""

import json
import sys

import pytest

lhotse = pytest.importorskip("lhotse")  # the `lhotse` extra, which `make install` installs
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet  # noqa: E402
from lhotse.audio import AudioSource  # noqa: E402

from asr_lstm.data.corpora.base import CorpusError  # noqa: E402
from asr_lstm.data.corpora.lhotse_manifests import LhotseManifests  # noqa: E402
from asr_lstm.data.datamodule import CTCDataModule  # noqa: E402
from asr_lstm.data.features import FeatureConfig  # noqa: E402
from tests.kaldi_fixture import SENTENCES, write_recording  # noqa: E402


def manifests(tmp_path, split, seed=0):
    """Two 4.5 s recordings with four supervisions each (1 s at 0.1, 1.1, ...), as lhotse writes them."""
    recordings, supervisions = [], []
    for k, spk in enumerate(("spk1", "spk2")):
        recording = Recording.from_file(write_recording(tmp_path / "audio" / split / f"{spk}.wav", 4.5, seed + k))
        recordings.append(recording)
        for j, sentence in enumerate(SENTENCES):
            supervisions.append(SupervisionSegment(f"{spk}-u{j}", recording.id, j + 0.1, 1.0, text=sentence.upper(),
                                                   speaker=spk))  # fmt: skip
    return RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)


def write_cuts(tmp_path, split, seed=0):
    recordings, supervisions = manifests(tmp_path, split, seed)
    path = tmp_path / f"cuts_{split}.jsonl.gz"
    CutSet.from_manifests(recordings=recordings, supervisions=supervisions).trim_to_supervisions().to_file(path)
    return path


def test_cutsets_and_recording_supervision_pairs_give_the_same_rows(tmp_path):
    cuts = {split: write_cuts(tmp_path, split, i) for i, split in enumerate(("train", "dev", "test"))}
    recordings, supervisions = manifests(tmp_path, "dev", 1)
    recordings.to_file(tmp_path / "recordings_dev.jsonl.gz")
    supervisions.to_file(tmp_path / "supervisions_dev.jsonl.gz")
    pair = [tmp_path / "recordings_dev.jsonl.gz", tmp_path / "supervisions_dev.jsonl.gz"]
    from_cuts = LhotseManifests(**cuts).split_rows()["dev"]
    from_pair = LhotseManifests(cuts["train"], pair, cuts["test"]).split_rows()["dev"]
    assert [(r["id"], r["segment"], r["chars"]) for r in from_pair] == [
        (r["id"], r["segment"], r["chars"]) for r in from_cuts
    ]
    row = from_cuts[1]
    assert row["id"] == "spk1-u1" and row["segment"] == pytest.approx([1.1, 2.1]) and row["speaker"] == "spk1"
    assert "".join(row["chars"]) == "A|DOG|RAN|FAR" and row["recording"] == "spk1"


def test_a_corpus_prepares_its_features_from_the_cut_segments(tmp_path):
    cuts = {split: write_cuts(tmp_path, split, i) for i, split in enumerate(("train", "dev", "test"))}
    module = CTCDataModule(LhotseManifests(**cuts), FeatureConfig(), str(tmp_path / "work"), batch_size=2)
    module.prepare_data()
    module.setup()
    rows = [json.loads(line) for line in (tmp_path / "work/test.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and len(module.datasets["train"]) == 8
    batch = next(iter(module.train_dataloader()))
    assert batch["x"].shape[2] == 123 and int(batch["x_lens"].max()) == 98  # 1 s segments at 10 ms


def test_sources_it_cannot_read_are_named_per_cut(tmp_path):
    cuts = {split: write_cuts(tmp_path, split, i) for i, split in enumerate(("train", "dev", "test"))}
    dev = CutSet.from_file(cuts["dev"]).to_eager()
    commanded = []
    for cut in dev:
        source = cut.recording.sources[0]
        if cut.recording_id == "spk2":
            cut.recording.sources = [AudioSource("command", source.channels, f"cat {source.source}")]
        commanded.append(cut)
    CutSet.from_cuts(commanded).to_file(cuts["dev"])
    (tmp_path / "missing.jsonl.gz").unlink(missing_ok=True)
    with pytest.raises(CorpusError) as err:
        LhotseManifests(cuts["train"], cuts["dev"], tmp_path / "missing.jsonl.gz").split_rows()
    message = str(err.value)
    assert message.startswith("5 problems")
    assert f"{cuts['dev']}: cut spk2-u0: recording spk2 is a command ('cat " in message
    assert f"{tmp_path / 'missing.jsonl.gz'}: no such lhotse manifest" in message
    allowed = LhotseManifests(cuts["train"], cuts["dev"], cuts["test"], allow_pipes=True).split_rows()["dev"]
    assert allowed[4]["audio"].startswith("cat ") and allowed[4]["audio"].endswith(".wav |")


def test_without_lhotse_the_corpus_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lhotse", None)
    with pytest.raises(CorpusError, match=r"pip install 'asr-lstm\[lhotse\]'"):
        LhotseManifests("a", "b", "c")


def test_one_manifest_for_two_splits_is_refused(tmp_path):
    cuts = {split: write_cuts(tmp_path, split, seed=i) for i, split in enumerate(("train", "test"))}
    with pytest.raises(CorpusError, match=r"cuts_train.* the manifest of both train and dev; each split needs its own"):
        LhotseManifests(cuts["train"], cuts["train"], cuts["test"]).split_rows()
