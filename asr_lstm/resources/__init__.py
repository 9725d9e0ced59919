"""Protocol data files (phone maps, speaker lists, generator tables); see the README beside each."""

from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a file shipped under ``asr_lstm/resources``."""
    return Path(str(resources.files(__name__).joinpath(*parts)))
