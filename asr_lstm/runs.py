"""A training run directory as ``asr-lstm train`` leaves it: ``config.yaml`` (resolved), ``checkpoints/``,
and the data directory its config names (manifests, ``tokens.txt``, the feature cache).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from asr_lstm.checkpoints import checkpoint_state
from asr_lstm.data.corpora.base import Corpus
from asr_lstm.data.feature_store import load_global_stats
from asr_lstm.data.features import FeatureConfig
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.units import Labelling
from asr_lstm.recognizer import Recognizer

CHECKPOINT_NAMES = ("best", "last")


def plain_options(node) -> dict:
    """A config node as a dict without Hydra's ``_target_`` / ``_partial_`` keys."""
    return {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if not k.startswith("_")}


@dataclass
class TrainingRun:
    """A run directory, its resolved config, and the checkpoint it was named by, if any."""

    run_dir: Path
    cfg: DictConfig
    named_checkpoint: Path | None = None

    @classmethod
    def of(cls, path: str | Path) -> TrainingRun:
        """The run at ``path``: a run directory, or a checkpoint inside one (``RUN/checkpoints/X.ckpt``).

        Raises:
            FileNotFoundError: naming the missing directory or ``config.yaml``.
        """
        path = Path(path)
        run_dir = path if path.is_dir() else path.parent.parent
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such run directory or checkpoint")
        config = run_dir / "config.yaml"
        if not config.is_file():
            raise FileNotFoundError(f"{config}: the run's config is missing (expected next to checkpoints/)")
        return cls(run_dir, OmegaConf.load(config), path if path.is_file() else None)

    def checkpoint(self, name: str = "best") -> Path:
        """``best`` / ``last`` name files in ``checkpoints/`` (unless the run was opened by a checkpoint
        path, which ``best`` then means); anything else is a path."""
        if name == "best" and self.named_checkpoint is not None:
            path = self.named_checkpoint
        elif name in CHECKPOINT_NAMES:
            path = self.run_dir / "checkpoints" / f"{name}.ckpt"
        else:
            path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such checkpoint")
        return path

    @property
    def corpus(self) -> type[Corpus]:
        """The corpus class of the run (its layout: splits, what its items are called)."""
        return get_class(self.cfg.data.corpus._target_)

    @property
    def labelling(self) -> Labelling:
        """What the run's labels are and how they are scored (its data directory's ``labelling.json``)."""
        return Labelling.load(self.work_dir)

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(**plain_options(self.cfg.features))

    @property
    def work_dir(self) -> Path:
        """The run's data directory: manifests, ``tokens.txt`` and the feature cache."""
        return Path(self.cfg.data.work_dir)

    @property
    def feature_dir(self) -> Path:
        return self.work_dir / self.features.cache_name()

    def recognizer(self, checkpoint: str = "best") -> Recognizer:
        """The recognizer of one of the run's checkpoints (see :meth:`checkpoint`).

        Raises:
            FileNotFoundError: naming the missing checkpoint, ``tokens.txt`` or CMVN statistics.
            ValueError: naming a file that is not a training checkpoint.
        """
        path = self.checkpoint(checkpoint)  # a run without one is named as such, before its options are used
        needed = [self.work_dir / "tokens.txt", self.feature_dir / "cmvn.pt"]
        if not all(p.is_file() for p in needed):
            missing = ", ".join(str(p) for p in needed if not p.is_file())
            raise FileNotFoundError(
                f"{missing}: missing from the run's data directory (data.work_dir={self.work_dir} in "
                f"{self.run_dir / 'config.yaml'}); asr-lstm prepare with the run's overrides (its command.txt) "
                "makes them again"
            )
        features = self.features
        tokens = Vocabulary.load(self.work_dir / "tokens.txt").tokens
        mean, std = load_global_stats(self.feature_dir)
        model_options = {**plain_options(self.cfg.model), "input_size": features.dim, "num_classes": len(tokens)}
        cell_options = plain_options(self.cfg.cell)
        net = Recognizer.build_net(model_options, cell_options)
        state = checkpoint_state(path)
        net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
        labelling = self.labelling
        return Recognizer(
            net, model_options, cell_options, tokens, features, mean, std, labelling.folding,
            labelling.units, self.confidence_temperature(path), self.cfg.data.normalization,
        )  # fmt: skip

    @property
    def calibration_file(self) -> Path:
        """``calibration.json``: the confidence temperature ``asr-lstm evaluate`` chose on dev, and for which checkpoint."""
        return self.run_dir / "calibration.json"

    def confidence_temperature(self, checkpoint: Path) -> float:
        """The temperature calibrated for ``checkpoint``; 1 where none was."""
        if not self.calibration_file.is_file():
            return 1.0
        calibration = json.loads(self.calibration_file.read_text(encoding="utf-8"))
        return calibration["temperature"] if calibration["checkpoint"] == str(checkpoint.resolve()) else 1.0
