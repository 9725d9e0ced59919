"""Every option of every config group composes and instantiates (built from the real conf/ tree)."""

from importlib import resources
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate

from asr_lstm.callbacks import ExponentialMovingAverage, WeightNoise
from asr_lstm.cli.build import build_augment, build_averaging, build_net
from asr_lstm.cli.config_check import check_config
from asr_lstm.data.features import FeatureConfig
from asr_lstm.decoding.options import SearchConfig
from asr_lstm.errors import ConfigError
from asr_lstm.optimizers import build_optimizer
from tests.conftest import compose_train

CONF = Path(str(resources.files("asr_lstm.conf")))


def options(group: str) -> list[str]:
    return sorted(p.relative_to(CONF / group).with_suffix("").as_posix() for p in (CONF / group).rglob("*.yaml"))


GROUPS = [
    "data",
    "features",
    "augment",
    "model",
    "cell",
    "decode",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "averaging",
    "experiment",
]
CASES = [(g, o) for g in GROUPS for o in options(g)]


def test_every_group_has_options():
    assert all(options(g) for g in GROUPS)


@pytest.mark.parametrize("group, option", CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_group_option_instantiates(tmp_path, group, option):
    needs = ["features=image"] if group == "augment" and option.startswith("lines") else []  # they read images
    cfg = compose_train(tmp_path, [*needs, f"{group}={option}"])
    features = instantiate(cfg.features)
    assert isinstance(features, FeatureConfig)
    net = build_net(cfg, features.dim, 62)
    x = torch.randn(2, 12, features.dim)
    if cfg.get("augment"):
        augment = build_augment(cfg, features, (torch.zeros(features.dim), torch.ones(features.dim)))
        assert augment.train()(x, torch.tensor([12, 9])).shape == x.shape
    log_probs, lens = net(x, torch.tensor([12, 9]))
    assert log_probs.shape == (2, net.output_length(12), 62)
    optimizer = build_optimizer(instantiate(cfg.optimizer), net)
    assert isinstance(optimizer, torch.optim.Optimizer)
    if cfg.get("scheduler"):
        instantiate(cfg.scheduler)(optimizer=optimizer)
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    averaging = build_averaging(cfg)
    assert (averaging is not None) == (option == "ema")
    loggers = [instantiate(c) for c in cfg.logger.values()]
    trainer = instantiate(cfg.trainer, callbacks=[*callbacks, *([averaging] if averaging else [])], logger=loggers)
    assert isinstance(trainer, pl.Trainer)
    corpus = get_class(cfg.data.corpus._target_)
    expected = {
        "iam": "iam",
        "mini_iam": "iam",
        "iam_ondb": "iam_ondb",
        "mini_iam_ondb": "iam_ondb",
        "mini_pages": "page",
        "mini_lines": "line_folder",
        "mini_kraken": "kraken_arrow",
        "puigcerver2017": "iam",
    }.get(option)
    if group == "data":
        expected = expected or {
            "hf_lines": "hf_lines",
            "hf_speech": "hf_speech",
            "kaldi": "kaldi",
            "kraken": "kraken_arrow",
            "lhotse": "lhotse_manifests",
            "page": "page",
            "lines": "line_folder",
            "pylaia": "pylaia",
            "speechbrain": "speechbrain",
        }.get(option)
    expected = expected or "timit"
    assert corpus.__module__ == f"asr_lstm.data.corpora.{expected}"
    # checkpointing and early stopping watch the error rate the corpus's module logs
    assert (
        cfg.metric == corpus.metric
        and cfg.callbacks.checkpoint.monitor == cfg.callbacks.early_stopping.monitor == f"val/{corpus.metric}"
    )
    assert isinstance(instantiate(cfg.decode), SearchConfig)


@pytest.mark.parametrize("units, metric", [("char", "cer"), ("phone", "per"), ("bpe", "wer"), ("unigram", "wer")])
def test_each_units_option_sets_the_metric_that_training_monitors(tmp_path, units, metric):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("the dh ah\n")
    cfg = compose_train(
        tmp_path, ["data=kaldi", f"units={units}", f"data.units.lexicon={lexicon}" if units == "phone" else "seed=1"]
    )
    built = instantiate(cfg.data.units)
    assert (built.metric, cfg.metric) == (metric, metric)
    assert cfg.callbacks.checkpoint.monitor == cfg.callbacks.early_stopping.monitor == f"val/{metric}"
    assert options("units") == ["bpe", "char", "phone", "unigram"]


def test_puigcerver2017_experiment_pins_the_published_network(tmp_path):
    cfg = compose_train(tmp_path, ["experiment=puigcerver2017"])
    features = instantiate(cfg.features)
    assert features.kind == "image" and features.dim == 128
    net = build_net(cfg, features.dim, 80)
    blocks = net.frontend.blocks
    assert [b.conv.out_channels for b in blocks] == [16, 32, 48, 64, 80] and net.frontend.stride == 8
    assert [b.pool for b in blocks] == [(2, 2)] * 3 + [(1, 1)] * 2 and [b.dropout.p for b in blocks] == [
        0,
        0.2,
        0.2,
        0.2,
        0,
    ]
    assert (
        net.frontend.output_size == 80 * 16 and len(net.encoder.forward_layers) == 5 and net.encoder.output_size == 256
    )
    assert cfg.optimizer._target_ == "torch.optim.RMSprop" and cfg.optimizer.lr == 3e-4 and cfg.model.dropout == 0.5


def test_graves2013_experiment_pins_the_published_network(tmp_path):
    cfg = compose_train(tmp_path, ["experiment=graves2013"])
    assert (cfg.model.num_layers, cfg.model.hidden_size, cfg.model.stride) == (5, 250, 1)
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.momentum == 0.9 and cfg.optimizer.lr == 1e-4
    assert instantiate(cfg.features).dim == 123
    assert cfg.model.init_range == 0.1 and cfg.data.batch_size == 1 and cfg.init_from is None
    phase2 = compose_train(
        tmp_path,
        ["experiment=graves2013", "init_from=exp/g13/checkpoints/best.ckpt", "callbacks.weight_noise.std=0.075"],
    )
    noise = [c for c in map(instantiate, phase2.callbacks.values()) if isinstance(c, WeightNoise)]
    assert [n.std for n in noise] == [0.075] and phase2.init_from == "exp/g13/checkpoints/best.ckpt"


def test_mini_iam_experiment_reads_line_images_and_scores_cer(tmp_path):
    cfg = compose_train(tmp_path, ["experiment=mini_iam"])
    assert cfg.data.corpus._target_ == "asr_lstm.data.corpora.iam.IamLines" and cfg.metric == "cer"
    features = instantiate(cfg.features)
    assert features.kind == "image" and features.dim == 40 and (cfg.model.stack, cfg.model.stride) == (1, 1)
    assert cfg.model.conv.channels == [16, 32, 48, 64, 80] and cfg.augment._target_.endswith("LineAugment")
    assert cfg.callbacks.checkpoint.monitor == "val/cer"
    cfg = compose_train(tmp_path, ["experiment=mini_iam_ondb"])
    assert cfg.data.corpus._target_ == "asr_lstm.data.corpora.iam_ondb.IamOnDB" and cfg.metric == "cer"
    features = instantiate(cfg.features)
    assert features.kind == "strokes" and features.dim == 4 and (cfg.model.stack, cfg.model.stride) == (4, 4)


def test_cli_overrides_from_the_readme(tmp_path):
    cfg = compose_train(
        tmp_path,
        [
            "data=timit",
            "data.corpus.root=/corpora/TIMIT",
            "model.num_layers=5",
            "model.hidden_size=250",
            "trainer.max_epochs=30",
        ],
    )
    assert cfg.data.corpus.root == "/corpora/TIMIT" and cfg.model.num_layers == 5 and cfg.trainer.max_epochs == 30


@pytest.mark.parametrize(("cell", "clip"), [("peephole", 1.0), ("greff/noaf", 3.0), ("greff/nfg", 1.0)])
def test_the_cells_with_an_unbounded_recurrent_input_are_clipped_by_default(tmp_path, cell, clip):
    """peephole feeds c_{t-1} to every gate, noaf's h_t = o_t c_t, nfg's c_t never forgets: unclipped,
    the first two did not train and nfg ended 6-8 points behind lstm; the clips are those that
    trained best on mini-TIMIT (README, Cells)."""
    cfg = compose_train(tmp_path, [f"cell={cell}"])
    net = build_net(cfg, 123, 62)
    variants = [m.variant for m in net.modules() if hasattr(m, "variant")]
    assert variants and all(v.cell_clip == clip for v in variants)


def test_augment_values_without_an_augmentation_are_refused_by_name(tmp_path):
    features = FeatureConfig(kind="image", delta_order=0)
    assert build_augment(compose_train(tmp_path, ["experiment=mini_iam", "augment=none"]), features, None) is None
    cfg = compose_train(tmp_path, ["augment=none", "+augment.scale=0.1"])
    with pytest.raises(ConfigError, match=r"augment: \{'scale': 0.1\} sets values but no augmentation"):
        build_augment(cfg, features, None)


def test_averaging_values_it_cannot_use_are_refused_by_name(tmp_path):
    ema = build_averaging(compose_train(tmp_path, ["averaging=ema", "averaging.decay=0.99"]))
    assert isinstance(ema, ExponentialMovingAverage) and (ema.decay, ema.start_step, ema.every_n_steps) == (0.99, 0, 1)
    with pytest.raises(ConfigError, match=r"averaging: \{'decay': 0.9\} sets values but no averaging; choose one"):
        build_averaging(compose_train(tmp_path, ["+averaging.decay=0.9"]))
    with pytest.raises(ConfigError, match=r"averaging.decay must be in \[0, 1\), got 1.5"):
        build_averaging(compose_train(tmp_path, ["averaging=ema", "averaging.decay=1.5"]))
    with pytest.raises(ConfigError, match=r"averaging.decay='slow': expected"):
        check_config(compose_train(tmp_path, ["averaging=ema", "averaging.decay=slow"]))
