"""Command-line entry points (``asr-lstm <command>``)."""
