"""asr-lstm: stacked (bidirectional or forward-only) LSTM-CTC for speech and handwriting recognition."""

from importlib.metadata import version

__version__ = version("asr-lstm")  # one source of truth: pyproject.toml


def load(path, device="cpu"):
    """A ready-to-decode :class:`asr_lstm.recognizer.Recognizer` from an exported ``.asrlstm`` file."""
    from asr_lstm.export import load as load_model

    return load_model(path, device)
