"""augment=speech through the data module and a training run: speed copies cached per factor beside
an unchanged original cache, noise on the fly, refusals."""

import pytest
import torch

from asr_lstm.cli.build import build_datamodule, build_module
from asr_lstm.cli.train import run
from asr_lstm.data.augment import SpecAugment
from asr_lstm.data.datamodule import NoisyUtteranceDataset
from asr_lstm.data.feature_store import load_split
from asr_lstm.errors import ConfigError


def prepared(cfg):
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def test_speed_copies_are_cached_per_factor_and_leave_the_original_cache_as_it_was(tiny_cfg):
    plain = prepared(tiny_cfg("plain"))
    cache = plain.feature_dir
    before = {path.name: path.read_bytes() for path in cache.iterdir() if path.is_file()}
    datamodule = prepared(tiny_cfg("speech", "augment=speech", "data.perturb.noise_prob=0"))
    assert datamodule.feature_dir == cache and datamodule.prepared()
    assert {p.name: p.read_bytes() for p in cache.iterdir() if p.name in before} == before  # cmvn.pt included
    assert {"train.sp0.9.f32", "train.sp0.9.index", "train.sp1.1.f32", "train.sp1.1.index"} <= set(before) ^ {
        p.name for p in cache.iterdir()
    }
    train, original = datamodule.datasets["train"], plain.datasets["train"]
    assert type(train).__name__ == "UtteranceDataset" and len(train) == 3 * len(original)
    ids = [row["id"] for row in train.rows]
    assert ids[: len(original)] == [row["id"] for row in original.rows]
    assert ids[len(original) :] == [f"sp{f}-{row['id']}" for f in ("0.9", "1.1") for row in original.rows]
    for k, row in enumerate(original.rows):  # 1 s of audio: 98 frames, 109 at 0.9, 89 at 1.1
        assert [train.num_frames(k + n * len(original)) for n in range(3)] == [98, 109, 89]
        assert torch.equal(train[k][1], original[k][1])
        assert train.labels[f"sp0.9-{row['id']}"] == train.labels[row["id"]]
    for split in ("dev", "test"):
        assert len(datamodule.datasets[split]) == len(plain.datasets[split])
    module = build_module(tiny_cfg("speech", "augment=speech"), datamodule)
    assert isinstance(module.augment, SpecAugment)  # SpecAugment on top, per batch


def test_without_the_original_speed_only_the_copies_are_trained_on(tiny_cfg):
    datamodule = prepared(tiny_cfg("speech", "augment=speech", "data.perturb.speeds=[0.9]"))
    assert {row["id"].split("-")[0] for row in datamodule.datasets["train"].rows} == {"sp0.9"}


def test_noise_is_drawn_afresh_for_each_access_with_the_frames_of_the_cache(tiny_cfg):
    datamodule = prepared(
        tiny_cfg("speech", "augment=speech", "data.perturb.noise_prob=1", "data.perturb.snr_db=[0,0]")
    )
    train = datamodule.datasets["train"]
    assert isinstance(train, NoisyUtteranceDataset)
    cached = load_split(datamodule.feature_dir / "train.sp1.1")
    index = next(k for k, row in enumerate(train.rows) if row["id"].startswith("sp1.1-"))
    torch.manual_seed(0)
    first, second = train[index][1], train[index][1]
    torch.manual_seed(0)
    assert torch.equal(train[index][1], first) and not torch.equal(first, second)
    clean = train.normalizer(cached[train.rows[index]["id"]])
    assert first.shape == clean.shape and (first - clean).abs().mean() > 0.1


def test_speaker_cmvn_fits_each_copy_as_its_own_speaker(tiny_cfg):
    datamodule = prepared(tiny_cfg("speech", "augment=speech", "features.cmvn=speaker", "data.perturb.noise_prob=0"))
    stats = datamodule.datasets["train"].normalizer.speaker_stats
    assert {"fcjf0", "sp0.9-fcjf0", "sp1.1-fcjf0"} <= set(stats)
    assert not torch.equal(stats["fcjf0"][0], stats["sp0.9-fcjf0"][0])


def test_an_epoch_of_augment_speech_covers_every_copy(tiny_cfg):
    summary = run(tiny_cfg("run", "augment=speech", "data.perturb.noise_prob=0.5", "trainer.max_epochs=1"))
    assert summary["global_step"] == 6  # 4 training utterances at 3 speeds, in batches of 2


def test_speech_augmentation_of_line_images_is_refused(tiny_cfg):
    with pytest.raises(ConfigError, match="augment=speech perturbs audio; features.kind=image"):
        build_datamodule(tiny_cfg("run", "augment=speech", "features=image"))
