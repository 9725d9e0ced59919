"""``asr-lstm prepare``: write manifests and the feature cache for a config, without training.

Takes the same Hydra overrides as ``asr-lstm train`` so that recipes prepare exactly what training
will read; both steps skip what is already done.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from asr_lstm.cli.build import build_datamodule


@hydra.main(version_base="1.3", config_path="pkg://asr_lstm.conf", config_name="train")
def prepare(cfg: DictConfig) -> None:
    build_datamodule(cfg).prepare_data()


def main() -> None:
    prepare()


if __name__ == "__main__":
    main()
