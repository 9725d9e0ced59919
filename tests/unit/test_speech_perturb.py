"""augment=speech in the waveform: speed copies, noise at an exact SNR, coloured and user noise, refusals."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from asr_lstm.data.features import FeatureConfig
from asr_lstm.data.speech_perturb import (
    NoiseSource,
    SpeechPerturbation,
    coloured_noise,
    mix_noise,
    perturbed_features,
    speed_copy,
)
from asr_lstm.errors import ConfigError

RATE = 16000
PLAIN = FeatureConfig(delta_order=0, use_energy=False)  # 40 log-mel channels


def write_tone(path, hz: float, seconds: float = 1.0, rate: int = RATE) -> dict:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.5 * np.sin(2 * math.pi * hz * t)).astype(np.float32), rate)
    return {"id": "u1", "audio": str(path), "speaker": "s1"}


def mel(hz: float) -> float:
    return 1127.0 * math.log(1 + hz / 700.0)


def peak_band(feats: torch.Tensor) -> int:
    return int(feats.mean(0).argmax())


def test_a_speed_copy_is_named_as_kaldi_names_it():
    row = {"id": "fcjf0_sa1", "audio": "a.wav", "speaker": "fcjf0"}
    assert speed_copy(row, 0.9) == {"id": "sp0.9-fcjf0_sa1", "audio": "a.wav", "speaker": "sp0.9-fcjf0", "speed": 0.9}
    assert speed_copy({"id": "l1", "writer": "w"}, 1.1)["writer"] == "sp1.1-w"


@pytest.mark.parametrize("speed", [0.9, 1.1, 1.25])
def test_speed_divides_the_duration_and_multiplies_the_frequencies(tmp_path, speed):
    row = write_tone(tmp_path / "tone.wav", 1000.0)
    original = perturbed_features(row, PLAIN)
    fast = perturbed_features({**row, "speed": speed}, PLAIN)
    samples = round(RATE / speed)  # torchaudio's resampling from f * 16 kHz to 16 kHz
    assert abs(len(fast) - (1 + (samples - 400) // 160)) <= 1 and len(original) == 1 + (RATE - 400) // 160
    # 40 bands evenly spaced on the mel scale from 20 Hz to 8 kHz: the tone's band moves to 1000 f Hz
    width = (mel(8000.0) - mel(20.0)) / 41
    assert peak_band(original) == round((mel(1000.0) - mel(20.0)) / width) - 1
    assert peak_band(fast) == round((mel(1000.0 * speed) - mel(20.0)) / width) - 1


def test_noise_is_mixed_at_exactly_the_drawn_snr():
    torch.manual_seed(0)
    speech, noise = torch.randn(8000), 3.0 * torch.randn(8000)
    for snr in (0.0, 7.5, 20.0):
        added = mix_noise(speech, noise, snr) - speech
        assert 10 * math.log10(speech.pow(2).sum() / added.pow(2).sum()) == pytest.approx(snr, abs=1e-3)
        assert torch.allclose(added / added.norm(), noise / noise.norm(), atol=1e-5)  # the noise itself, scaled
    assert torch.equal(mix_noise(speech, torch.zeros(8000), 10.0), speech)  # silent noise adds nothing


@pytest.mark.parametrize(("colour", "beta"), [("white", 0.0), ("pink", 1.0), ("brown", 2.0)])
def test_generated_noise_has_the_power_slope_of_its_colour(colour, beta):
    torch.manual_seed(0)
    noise = coloured_noise(1 << 16, beta)
    assert noise.pow(2).mean().sqrt() == pytest.approx(1.0, abs=1e-4)
    power = torch.fft.rfft(noise).abs().pow(2)
    bins = torch.arange(1, len(power))
    # the mean power of octave bands [2^k, 2^(k+1)): a slope of -beta per octave in log2
    octaves = torch.tensor([power[1:][(bins >= 2**k) & (bins < 2 ** (k + 1))].mean().log2() for k in range(4, 14)])
    slope = np.polyfit(np.arange(4, 14), octaves.numpy(), 1)[0]
    assert slope == pytest.approx(-beta, abs=0.15)


def test_noise_files_give_excerpts_at_the_feature_rate_looped_when_short(tmp_path):
    folder = tmp_path / "noise"
    folder.mkdir()
    sf.write(str(folder / "hum.wav"), np.full(800, 0.25, np.float32), 8000)  # 0.1 s at 8 kHz
    source = NoiseSource(SpeechPerturbation(noise_files=str(folder)), RATE)
    torch.manual_seed(0)
    excerpt = source.excerpt(5000)  # longer than the file at 16 kHz: 1600 samples looped
    assert excerpt.shape == (5000,) and excerpt[100:1500].sub(0.25).abs().max() < 0.02
    listing = tmp_path / "noise.list"
    listing.write_text("noise/hum.wav\n\n")
    assert NoiseSource(SpeechPerturbation(noise_files=str(listing)), RATE).files == source.files


def test_every_unusable_noise_file_is_named_in_one_error(tmp_path):
    folder = tmp_path / "noise"
    folder.mkdir()
    sf.write(str(folder / "good.wav"), np.zeros(100, np.float32), RATE)
    sf.write(str(folder / "empty.wav"), np.zeros(0, np.float32), RATE)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
    with pytest.raises(ConfigError, match="2 of 3 noise files") as err:
        NoiseSource(SpeechPerturbation(noise_files=str(folder)), RATE)
    assert "broken.wav: cannot read audio" in str(err.value) and "empty.wav: empty audio" in str(err.value)
    assert "good.wav" not in str(err.value)
    with pytest.raises(ConfigError, match="no such folder"):
        NoiseSource(SpeechPerturbation(noise_files=str(tmp_path / "missing")), RATE)


def test_noisy_features_differ_per_draw_and_repeat_for_a_seed(tmp_path):
    row = write_tone(tmp_path / "tone.wav", 440.0)
    source = NoiseSource(SpeechPerturbation(), RATE)
    draws = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        draws.append(perturbed_features(row, PLAIN, source, (5.0, 5.0)))
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
    assert draws[0].shape == perturbed_features(row, PLAIN).shape


def test_bad_settings_are_refused_all_at_once():
    with pytest.raises(ConfigError) as err:
        SpeechPerturbation(speeds=[0.9, 0.9, -1.0], noise_prob=1.5, snr_db=[20, 5], colours=["blue"])
    for key in ("speeds", "noise_prob", "snr_db", "colours"):
        assert f"data.perturb.{key}" in str(err.value)
    assert SpeechPerturbation(speeds=[0.9, 1.0, 1.1]).copies == (0.9, 1.1)
