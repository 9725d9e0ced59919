"""``asr-lstm prepare``: write manifests and the feature cache for a config, without training.

Takes the same Hydra overrides as ``asr-lstm train`` so that recipes prepare exactly what training
will read; both steps skip what is already done.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from asr_lstm.cli.build import build_datamodule, keep_initial_labels
from asr_lstm.cli.config_check import check_config
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.errors import ConfigError, InputFileError


@hydra.main(version_base="1.3", config_path="pkg://asr_lstm.conf", config_name="train")
def prepare(cfg: DictConfig) -> None:
    """The data of ``cfg``; a value of the wrong type, a value refused or a bad corpus is printed as
    ``asr-lstm prepare: message`` with exit code 2, as ``asr-lstm train`` prints it."""
    try:
        check_config(cfg)
        keep_initial_labels(cfg)
        build_datamodule(cfg).prepare_data()
    except (CorpusError, InputFileError, ConfigError) as err:  # the user's to fix: the message, not a traceback
        print(f"asr-lstm prepare: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    prepare()


if __name__ == "__main__":
    main()
