"""resolve_device: what --device auto|cpu|cuda means for evaluate, decode and load()."""

import pytest
import torch

from asr_lstm.cli import decode as decode_cli
from asr_lstm.devices import resolve_device


@pytest.mark.parametrize("visible, expected", [(False, "cpu"), (True, "cuda")])
def test_auto_is_cuda_when_visible(monkeypatch, visible, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: visible)
    assert resolve_device("auto") == torch.device(expected)


def test_named_devices_and_refusals(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="device 'cuda:1': no CUDA device is visible"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match=r"device 'gpu': not a device \(auto, cpu, cuda or cuda:N\)"):
        resolve_device("gpu")


def test_decode_refuses_a_bad_device_before_reading_the_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(tmp_path / "missing.asrlstm"), str(tmp_path / "a.wav"), "--device", "gpu"])
    assert exit_info.value.code == 2 and "device 'gpu': not a device" in capsys.readouterr().err
