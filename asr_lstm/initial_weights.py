"""``init_from``: a new run's network started from another run's checkpoint or from an exported model
file, its output layer matched to the new run's vocabulary label by label.

Fine-tuning a model on a new collection or corpus is the usual case: the new transcriptions have
characters (or phones, or pieces) the old model never saw, lack some it knew, or number them in
another order. Each row of the output layer belongs to one label, so the rows are carried over by
label, not by position:

    W'_j = W_{old(j)},  b'_j = b_{old(j)}   for every label j of the new vocabulary that the old one has,
    W'_j, b'_j          as the new network initialised them, for the others,

with the CTC blank (id 0 in both) carried over as any label. Every other weight is copied unchanged
and must have the new network's shape. A file's labels are its own (a model file's ``tokens``) or
its run's (``tokens.txt`` in the data directory that the run's ``config.yaml`` names).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from asr_lstm.checkpoints import checkpoint_state
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.errors import ConfigError
from asr_lstm.export import EXTENSION, ModelFileError, read_package
from asr_lstm.runs import plain_options

log = logging.getLogger(__name__)

OUTPUT_LAYER = ("output.weight", "output.bias")  # CTCModel.output: (V, H) and (V,)


@dataclass(frozen=True)
class Pretrained:
    """The network weights of a checkpoint or model file (``CTCModel`` keys), the labels of its
    output rows where known (``unknown`` says why not), and its model and cell options where known."""

    path: Path
    state: dict[str, torch.Tensor]
    tokens: list[str] | None
    unknown: str = ""
    options: dict | None = None


@dataclass(frozen=True)
class LabelMatch:
    """How a new vocabulary met an old one: the labels carried over, new ones, and old ones dropped."""

    kept: list[str]
    new: list[str]
    dropped: list[str]

    def describe(self, limit: int = 20) -> str:
        def some(labels: list[str]) -> str:
            shown = " ".join(labels[:limit])
            return shown + (f" ... ({len(labels)} in all)" if len(labels) > limit else "")

        parts = [f"{len(self.kept)} labels carried over"]
        if self.new:
            parts.append(f"{len(self.new)} new, started afresh: {some(self.new)}")
        if self.dropped:
            parts.append(f"{len(self.dropped)} of the old vocabulary dropped: {some(self.dropped)}")
        return "; ".join(parts)


def read_pretrained(path: str | Path) -> Pretrained:
    """The weights and labels of ``path``: an exported model file (``.asrlstm``), or a training
    checkpoint whose run directory (two folders above it) names its labels (``data.work_dir`` of its
    ``config.yaml`` holds ``tokens.txt``) and its model and cell options.

    Raises:
        ConfigError: naming ``path``, when it is neither a model file nor a training checkpoint.
    """
    path = Path(path)
    if path.suffix == EXTENSION:
        try:
            package = read_package(path)
        except ModelFileError as err:
            raise ConfigError(f"init_from={err}") from err
        options = {"model": package["model"], "cell": package["cell"]}
        return Pretrained(path, package["state_dict"], package["tokens"], options=options)
    try:
        state = checkpoint_state(path)
    except ValueError as err:
        raise ConfigError(f"init_from={err}") from err
    network = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
    config = path.parent.parent / "config.yaml"
    if not config.is_file():
        return Pretrained(path, network, None, f"{config} is missing")
    run = OmegaConf.load(config)
    options = {"model": plain_options(run.model), "cell": plain_options(run.cell)} if "model" in run else None
    tokens = Path(str(run.data.work_dir)) / "tokens.txt"
    if not tokens.is_file():
        return Pretrained(path, network, None, f"{tokens}: no tokens.txt of the run (data.work_dir)", options)
    return Pretrained(path, network, Vocabulary.load(tokens).tokens, options=options)


def match_output_layer(
    old: dict[str, torch.Tensor], old_tokens: list[str], fresh: dict[str, torch.Tensor], new_tokens: list[str]
) -> tuple[dict[str, torch.Tensor], LabelMatch]:
    """``old`` with its output layer's rows taken over by label into the ``fresh`` network's (module
    docstring); the other weights as they are, and so is an output layer whose rows are of another width."""
    row_of = {label: i for i, label in enumerate(old_tokens)}
    matched = dict(old)
    for key in OUTPUT_LAYER:
        if old[key].shape[1:] != fresh[key].shape[1:]:  # another width: load_state_dict names it
            continue
        rows = fresh[key].detach().clone()
        for j, label in enumerate(new_tokens):
            if label in row_of:
                rows[j] = old[key][row_of[label]]
        matched[key] = rows
    new = set(new_tokens)
    match = LabelMatch(
        kept=[t for t in new_tokens if t in row_of],
        new=[t for t in new_tokens if t not in row_of],
        dropped=[t for t in old_tokens if t not in new],
    )
    return matched, match


def option_differences(options: dict, run_options: dict) -> list[str]:
    """The overrides that give this run the file's model and cell options, with this run's values:
    ``cell=lstm (this run: gru)`` where the cells differ (their other options follow from the name),
    else ``model.hidden_size=256 (this run: 160)``, ``cell.cell_clip=...`` for each that differs."""

    def value(v) -> str:
        return "null" if v is None else str(v)

    same_cell = options["cell"].get("name") == run_options["cell"].get("name")
    keys = {"model": sorted(options["model"].keys() - {"input_size", "num_classes"}),
            "cell": sorted(options["cell"]) if same_cell else []}  # fmt: skip
    found = [
        f"{group}.{key}={value(options[group][key])} (this run: {value(run_options[group].get(key))})"
        for group, names in keys.items()
        for key in names
        if run_options[group].get(key) != options[group][key]
    ]
    if not same_cell:
        found.append(f"cell={value(options['cell'].get('name'))} (this run: {value(run_options['cell'].get('name'))})")
    return found


def load_initial_weights(net: torch.nn.Module, tokens: list[str], path: str | Path, run_options: dict) -> str:
    """Copies the weights of ``path`` into ``net``, whose output rows are ``tokens``; returns what
    became of the labels, for the log.

    Args:
        run_options: ``{"model": ..., "cell": ...}``, this run's options, to name those of a model
            file that differ where its weights do not fit.

    Raises:
        ConfigError: naming ``path``: not a checkpoint or model file, weights of another shape, or an
            output layer of another size whose labels are unknown.
    """
    pretrained = read_pretrained(path)
    state, described = pretrained.state, "its labels are this run's, in the same order"
    if pretrained.tokens is None:
        rows = pretrained.state.get(OUTPUT_LAYER[1])
        if rows is not None and len(rows) != len(tokens):
            raise ConfigError(
                f"init_from={path}: its output layer has {len(rows)} labels and this run's vocabulary "
                f"{len(tokens)}, and which labels they are is unknown ({pretrained.unknown}); "
                "give init_from the run's exported model file (asr-lstm export) instead"
            )
        described = f"its labels are taken to be this run's, row by row: {pretrained.unknown}"
    elif pretrained.tokens != tokens:
        state, match = match_output_layer(pretrained.state, pretrained.tokens, net.state_dict(), tokens)
        described = match.describe()
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        first_lines = " ".join(line.strip() for line in str(err).splitlines()[:2])
        differing = option_differences(pretrained.options, run_options) if pretrained.options else []
        hint = f"; the file's options that differ: {', '.join(differing)}" if differing else ""
        raise ConfigError(f"init_from={path}: its weights do not fit this model: {first_lines}{hint}") from err
    return described
