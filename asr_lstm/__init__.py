"""asr-lstm: stacked bidirectional LSTM-CTC for speech and handwriting recognition."""

__version__ = "0.1.0"
