"""Acoustic models: frontends, the stacked (bidirectional) recurrent encoder, dense blocks, and the CTC model."""

from asr_lstm.models.ctc_model import CTCModel
from asr_lstm.models.dense import DenseBlocks
from asr_lstm.models.frontend import ConvFrontEnd, FrameStacking
from asr_lstm.models.recurrent import StackedRNN

__all__ = ["CTCModel", "ConvFrontEnd", "DenseBlocks", "FrameStacking", "StackedRNN"]
