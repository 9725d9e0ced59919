"""Acoustic models: frontends, the stacked bidirectional recurrent encoder, and the CTC model."""

from asr_lstm.models.birnn import StackedBiRNN
from asr_lstm.models.ctc_model import CTCModel
from asr_lstm.models.frontend import FrameStacking

__all__ = ["CTCModel", "FrameStacking", "StackedBiRNN"]
