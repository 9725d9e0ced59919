"""Checks of a composed training config that run before any work: every mandatory value given
(``data=kaldi`` needs ``data.corpus.train=DIR``...), and every value of a node with a ``_target_``
against the type its target declares (``trainer.max_epochs=abc`` is refused by key, not found by
Lightning after data loading)."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterable

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from asr_lstm.errors import ConfigError


def _matches(value, hint) -> bool:
    """Whether ``value`` (plain config data) fits ``hint``; hints this checker cannot judge pass."""
    if hint is typing.Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, Iterable) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True  # a class of its own (an Accelerator, a Callable): the target judges it


def type_errors(cfg: DictConfig) -> list[str]:
    """``key=value: expected T`` for every value of every ``_target_`` node that its target's
    signature does not admit."""
    problems = []

    def visit(node, prefix: str) -> None:
        if isinstance(node, ListConfig):
            for k, item in enumerate(node):
                visit(item, f"{prefix}{k}.")
            return
        if not isinstance(node, DictConfig):
            return
        if "_target_" in node:
            try:
                target = get_object(node._target_)
                init = target.__init__ if inspect.isclass(target) else target
                hints = typing.get_type_hints(init)
            except Exception:  # a target without readable hints is checked by the target alone
                hints = {}
            plain = OmegaConf.to_container(node, resolve=True)
            for key, value in plain.items():
                if key in hints and not key.startswith("_") and not _matches(value, hints[key]):
                    problems.append(f"{prefix}{key}={value!r}: expected {hints[key]}")
        for key, child in node.items():
            visit(child, f"{prefix}{key}.")

    visit(cfg, "")
    return problems


def check_config(cfg: DictConfig) -> None:
    """Raises before any work where ``cfg`` lacks a mandatory value (``???`` in ``conf/``) or holds a
    value of the wrong type.

    Raises:
        ConfigError: naming every missing key (all of them, in one message), else every wrong value.
    """
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(
            f"no value given for {', '.join(missing)}: "
            f"add {' '.join(f'{key}=...' for key in missing)} to the command line"
        )
    problems = type_errors(cfg)
    if problems:
        raise ConfigError("config values of the wrong type:\n  " + "\n  ".join(problems))
