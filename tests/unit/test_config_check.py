"""The checks of a composed config before any work: every mandatory value missing, then wrong types."""

import pytest
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from asr_lstm.cli.config_check import check_config
from asr_lstm.errors import ConfigError


def composed(*overrides: str):
    """The training config as ``asr-lstm train OVERRIDES`` composes it (its ``${hydra:...}`` set)."""
    with initialize_config_module(version_base="1.3", config_module="asr_lstm.conf"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as the task sees it
    return cfg


@pytest.fixture(autouse=True)
def no_hydra_config_left():
    """``composed`` sets Hydra's process-wide config; the next test starts without it."""
    yield
    HydraConfig.instance().cfg = None


def test_every_missing_mandatory_value_is_named_in_one_message():
    with pytest.raises(ConfigError) as err:
        check_config(composed("data=kaldi", "units=phone", "data.corpus.dev=d"))
    assert str(err.value) == (
        "no value given for data.corpus.test, data.corpus.train, data.units.lexicon: "
        "add data.corpus.test=... data.corpus.train=... data.units.lexicon=... to the command line"
    )


def test_values_of_the_wrong_type_are_named_once_every_value_is_given():
    with pytest.raises(ConfigError, match=r"wrong type:\n  model.hidden_size='x': expected <class 'int'>"):
        check_config(composed("data=kaldi", "data.corpus.train=a", "data.corpus.dev=b", "data.corpus.test=c",
                              "model.hidden_size=x"))  # fmt: skip
    check_config(composed())  # the defaults: TIMIT, nothing missing
