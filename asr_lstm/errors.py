"""The error types of bad input that a user can act on; each message names the file and the problem."""


class InputFileError(ValueError):
    """An input file (audio, line image, stroke XML) that cannot be read as what it should be.

    Raised by the input readers wherever they are called: corpus preparation, feature extraction,
    ``asr-lstm decode`` of the user's own files.
    """


class ConfigError(ValueError):
    """A config value that cannot be used (a wrong type, an ``init_from`` checkpoint that does not fit),
    refused before any work; the message names the key and the value."""
