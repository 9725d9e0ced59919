"""Feature wiring against torchaudio's Kaldi front end, resampling, CMVN and the cache."""

import math
from pathlib import Path

import pytest
import torch
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as AF

from asr_lstm.data.audio import load_audio
from asr_lstm.data.cmvn import Normalizer, mean_std
from asr_lstm.data.feature_store import check_input_kind, extract_split, load_split
from asr_lstm.data.features import FeatureConfig, compute_features
from asr_lstm.errors import ConfigError
from tests.timit_fixture import write_utterance


def tone(seconds: float, rate: int) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    return 0.3 * torch.sin(2 * math.pi * 440 * t) + 0.01 * torch.randn(
        len(t), generator=torch.Generator().manual_seed(0)
    )


def test_default_is_123_dims_of_fbank_energy_and_deltas():
    cfg = FeatureConfig()
    wav = tone(1.0, 16000)
    feats = compute_features(wav, 16000, cfg)
    assert cfg.dim == 123
    assert feats.shape == (98, 123)  # Kaldi snip_edges: 1 + (16000 - 400) // 160
    static = kaldi.fbank(wav.unsqueeze(0) * 32768, num_mel_bins=40, use_energy=True, dither=0.0)
    torch.testing.assert_close(feats[:, :41], static)
    deltas = AF.compute_deltas(static.T, win_length=5).T
    torch.testing.assert_close(feats[:, 41:82], deltas)
    torch.testing.assert_close(feats[:, 82:], AF.compute_deltas(deltas.T, win_length=5).T)


def test_mfcc_option_is_39_dims():
    cfg = FeatureConfig(kind="mfcc", num_mel_bins=23)
    assert compute_features(tone(0.5, 16000), 16000, cfg).shape == (48, 39)


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_other_sample_rates_are_resampled(rate):
    assert compute_features(tone(1.0, rate), rate, FeatureConfig()).shape == (98, 123)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="features.kind"):
        FeatureConfig(kind="plp")
    with pytest.raises(ValueError, match="features.cmvn"):
        FeatureConfig(cmvn="utterance")


def test_cache_round_trip_and_name(tmp_path):
    rows = []
    for k in range(3):
        write_utterance(tmp_path / f"u{k}", ["h#"], upper=True, seconds=0.5 + 0.25 * k, seed=k)
        rows.append({"id": f"u{k}", "audio": str(tmp_path / f"u{k}.WAV")})
    cfg = FeatureConfig()
    extract_split(rows, cfg, tmp_path / "train")
    feats = load_split(tmp_path / "train")
    assert [f.shape[0] for f in feats.values()] == [48, 73, 98]
    wav, rate = load_audio(rows[1]["audio"])
    torch.testing.assert_close(feats["u1"], compute_features(wav, rate, cfg))
    assert FeatureConfig(cmvn="speaker").cache_name() == cfg.cache_name()  # CMVN does not change raw features
    assert FeatureConfig(num_mel_bins=80).cache_name() != cfg.cache_name()


def test_cmvn_global_and_per_speaker():
    gen = torch.Generator().manual_seed(0)
    a = 5 + 2 * torch.randn(400, 3, generator=gen)
    b = -1 + 0.5 * torch.randn(300, 3, generator=gen)
    norm = Normalizer("global", mean_std(torch.cat([a, b])))
    both = torch.cat([norm(a), norm(b)])
    torch.testing.assert_close(both.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(both.std(0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    per_speaker = Normalizer("speaker", None)
    per_speaker.fit_speakers({"u1": a[:200], "u2": a[200:], "u3": b}, {"u1": "s1", "u2": "s1", "u3": "s2"})
    torch.testing.assert_close(per_speaker(b, "s2").mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(per_speaker(a, "s1").std(0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    assert Normalizer("none", None)(a, "s1") is a


def test_the_store_maps_its_frames_and_workers_reopen_the_map(tmp_path):
    import pickle

    from asr_lstm.data.feature_store import write_split

    feats = {f"u{k}": torch.randn(50 + 7 * k, 5, generator=torch.Generator().manual_seed(k)) for k in range(40)}
    feats["empty"] = torch.zeros(0, 5)
    write_split(feats.items(), tmp_path / "train")
    assert (tmp_path / "train.f32").stat().st_size == sum(x.numel() for x in feats.values()) * 4
    store = load_split(tmp_path / "train")
    assert list(store) == list(feats) and len(store) == 41
    assert all(torch.equal(store[u], x) and store.length(u) == len(x) for u, x in feats.items())
    copy = pickle.loads(pickle.dumps(store))  # what a DataLoader worker receives: the index, not the frames
    assert len(pickle.dumps(store)) < 4096 and torch.equal(copy["u39"], feats["u39"])
    with pytest.raises(ValueError, match="u1: 3 features a frame, the others have 5"):
        write_split([("u0", torch.zeros(2, 5)), ("u1", torch.zeros(2, 3))], tmp_path / "bad")


def test_running_statistics_equal_those_of_all_frames_at_once():
    from asr_lstm.data.cmvn import RunningStats

    gen = torch.Generator().manual_seed(3)
    parts = [3 + 2 * torch.randn(n, 4, generator=gen) for n in (10, 200, 1)]
    stats = RunningStats()
    for part in parts:
        stats.add(part)
    frames = torch.cat(parts).double()
    mean, std = stats.mean_std()
    torch.testing.assert_close(mean, frames.mean(0).float())
    torch.testing.assert_close(std, frames.std(0, unbiased=False).float())


def test_features_of_another_input_kind_than_the_manifest_holds_are_refused_naming_those_that_fit(tmp_path):
    lines, audio = [{"id": "l1", "image": "l1.png"}], [{"id": "u1", "audio": "u1.wav"}]
    with pytest.raises(ConfigError, match=r"features.kind=fbank reads each item's audio, but m.jsonl holds image "
                                          r"inputs: choose features=image$"):  # fmt: skip
        check_input_kind(lines, FeatureConfig(kind="fbank"), Path("m.jsonl"))
    with pytest.raises(ConfigError, match="holds audio inputs: choose features=fbank or features=mfcc$"):
        check_input_kind(audio, FeatureConfig(kind="image"), Path("m.jsonl"))
    check_input_kind(lines, FeatureConfig(kind="image"), Path("m.jsonl"))
    check_input_kind([], FeatureConfig(kind="image"), Path("m.jsonl"))
