"""Objects built from a composed config, shared by training, preparation and decoding."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from asr_lstm.data.datamodule import CTCDataModule
from asr_lstm.data.features import FeatureConfig
from asr_lstm.errors import ConfigError
from asr_lstm.initial_weights import read_pretrained
from asr_lstm.lit_module import CTCLitModule
from asr_lstm.models import CTCModel

T = TypeVar("T")

# Built objects are passed to a partial rather than as instantiate() kwargs: Hydra would merge such
# kwargs back into the config and hand the target an OmegaConf node instead of the object.


def refused_as_config(groups: str, make: Callable[[], T], refusals: tuple[type[Exception], ...] = (ValueError,)) -> T:
    """``make()``, where a constructor's ``ValueError`` (a value it cannot use: ``model.conv.kernel=4``,
    ``augment=lines`` with fbank features), or another of ``refusals``, raised directly or inside
    Hydra's ``InstantiationException``, becomes a :class:`ConfigError` naming the config ``groups``, so
    that ``asr-lstm train`` prints it without a traceback."""
    try:
        return make()
    except ConfigError:
        raise
    except InstantiationException as err:
        if isinstance(err.__cause__, refusals):
            raise ConfigError(f"{groups}: {err.__cause__}") from err
        raise
    except refusals as err:
        raise ConfigError(f"{groups}: {err}") from err


def build_datamodule(cfg: DictConfig) -> CTCDataModule:
    return refused_as_config(
        "data, features", lambda: instantiate(cfg.data, _partial_=True)(features=instantiate(cfg.features))
    )


INIT_LABELS = ("new", "union")


def keep_initial_labels(cfg: DictConfig) -> None:
    """Under ``init_labels=union`` (kraken's ``--resize union``), writes the labels of ``init_from``'s
    model, without the blank, into ``cfg.data.kept_labels``, which the preparation puts first in the
    vocabulary: the fine-tuned model keeps every output of the old one, its rows carried over by
    :func:`asr_lstm.initial_weights.load_initial_weights`. A run's own config holds them already (so
    that evaluating it needs the file no more) and is left as it is. ``new``: the corpus's labels alone.

    Raises:
        ConfigError: another choice, ``union`` without ``init_from``, or a model whose labels are unknown.
    """
    choice = cfg.get("init_labels", "new")
    if choice not in INIT_LABELS:
        raise ConfigError(f"init_labels must be one of {', '.join(INIT_LABELS)}, got {choice!r}")
    if choice == "new" or cfg.data.get("kept_labels") is not None:
        return
    if not cfg.get("init_from"):
        raise ConfigError(
            "init_labels=union keeps the labels of init_from's model: give init_from=CKPT or a model file"
        )
    pretrained = read_pretrained(cfg.init_from)
    if pretrained.tokens is None:
        raise ConfigError(
            f"init_labels=union: the labels of init_from={cfg.init_from} are unknown ({pretrained.unknown})"
        )
    with open_dict(cfg.data):
        cfg.data.kept_labels = pretrained.tokens[1:]


def build_net(cfg: DictConfig, input_size: int, num_classes: int) -> CTCModel:
    """The acoustic model of ``cfg.model`` with one ``cfg.cell`` per layer and direction."""
    return refused_as_config(
        "model, cell",
        lambda: instantiate(cfg.model, _partial_=True)(
            input_size=input_size, num_classes=num_classes, cell=instantiate(cfg.cell)
        ),
    )


def chosen_option(cfg: DictConfig, group: str, noun: str, options: str) -> DictConfig | None:
    """The config of ``group`` where an option of it names a ``_target_``; ``None`` where its ``none``
    option left it empty.

    Raises:
        ConfigError: values set in the group without an option that takes them (``+augment.scale=0.1``).
    """
    node = cfg.get(group)
    if not node:
        return None
    if "_target_" not in node:
        raise ConfigError(
            f"{group}: {OmegaConf.to_container(node)} sets values but no {noun}; choose one ({options}) "
            f"or leave them out with {group}=none"
        )
    return node


def build_augment(
    cfg: DictConfig, features: FeatureConfig, cmvn_stats: tuple[torch.Tensor, torch.Tensor] | None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """The training-batch augmentation of ``cfg.augment``, or ``None``. Each augmenter gets the features;
    one that distorts the raw input (``augment=lines``) also the training set's CMVN statistics
    ``(mean, std)``, to undo the normalisation of a batch and redo it."""
    if chosen_option(cfg, "augment", "augmentation", "augment=lines, lines_mild, specaugment, speech") is None:
        return None
    factory = instantiate(cfg.augment)
    if "cmvn_stats" in inspect.signature(factory).parameters:
        return refused_as_config("augment", lambda: factory(features=features, cmvn_stats=cmvn_stats))
    return refused_as_config("augment", lambda: factory(features=features))


def build_averaging(cfg: DictConfig) -> pl.Callback | None:
    """The callback that averages the weights (``averaging=ema``), or ``None`` (``averaging=none``)."""
    if chosen_option(cfg, "averaging", "averaging", "averaging=ema") is None:
        return None
    return refused_as_config("averaging", lambda: instantiate(cfg.averaging))


def build_module(cfg: DictConfig, datamodule: CTCDataModule) -> CTCLitModule:
    """The LightningModule for a set-up data module (its vocabulary sizes the output layer).

    Raises:
        ConfigError: ``cfg.metric`` (what checkpointing and early stopping monitor) is not the corpus's
            metric, or a constructor (of the network, the optimizer or its scheduler) refuses a value.
    """
    labelling = datamodule.labelling
    if cfg.get("metric", labelling.metric) != labelling.metric:
        units = f"units={datamodule.units.kind}" if datamodule.units is not None else type(datamodule.corpus).__name__
        raise ConfigError(
            f"metric={cfg.metric} but {units} is scored by {labelling.metric}: the callbacks would monitor a "
            f"key that is never logged; set metric={labelling.metric} (the data and units configs do)"
        )
    net = build_net(cfg, datamodule.features.dim, len(datamodule.vocab))
    module = CTCLitModule(
        net,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        labels=datamodule.vocab.tokens,
        labelling=labelling,
        augment=build_augment(cfg, datamodule.features, datamodule.global_stats),
        max_nonfinite_batches=cfg.max_nonfinite_batches,
    )
    # Lightning builds them inside fit; built once here, a value they refuse (optimizer.lr=-1) is
    # named before the trainer starts.
    refused_as_config("optimizer, scheduler", module.configure_optimizers)
    return module
