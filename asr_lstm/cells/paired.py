"""The two directions of a bidirectional layer as one batch of a cell's time loop.

:class:`asr_lstm.models.StackedRNN` asks a layer's forward cell :meth:`PairedDirections.pairs_with`
its backward one; where it does (on CUDA, where the fused kernels take both directions' weights in one
launch, :mod:`asr_lstm.cells.directions`), :meth:`PairedDirections.forward_pair` runs both in half the
kernel launches a step of running one after the other, and computes the same.
"""

from __future__ import annotations

import torch
from torch import nn

from asr_lstm.cells import exportable
from asr_lstm.cells.dropout import variational_mask, zoneout_mask
from asr_lstm.cells.recurrence import runs_paired


class PairedDirections:
    """What a cell class provides to run two layers of its own class as one batch:

    - ``paired_settings``: the attributes both layers must share (the loop's options) beside their mode
      and ``hidden_size``;
    - ``runs_paired(x)``: whether its time loop runs stacked directions over tensors like ``x``;
    - ``input_projection(x)``: W x_t + b ``(T, B, G)`` for every step of ``x (T, B, D)``;
    - ``regularisers(x)``: the random masks of a pass over ``x``, each ``None`` or with its batch
      dimension second to last (the dropout mask ``(B, R)``, zoneout's ``(T, B, .)``);
    - ``recurrent_parameters()``: the weights the loop takes, each ``None`` or one direction's;
    - ``stacked_recurrence(xw, weights, regularisers)``: the loop from zero states over ``xw (T, 2B, G)``
      with each weight stacked ``(2, ...)``, returning ``y (T, 2B, H)``.
    """

    paired_settings: tuple[str, ...] = ()

    def pairs_with(self, other: nn.Module, x: torch.Tensor) -> bool:
        """Whether this layer and ``other``, the directions of a bidirectional layer, run as one over
        tensors like ``x``: the same class and settings, in the same mode, on a loop that runs stacked
        directions, and not while being exported."""
        if type(other) is not type(self) or exportable.exporting():
            return False
        same = ("training", "hidden_size", *self.paired_settings)
        if any(getattr(self, name) != getattr(other, name) for name in same):
            return False
        return self.runs_paired(x) and other.runs_paired(x)

    def forward_pair(self, other: nn.Module, x: torch.Tensor, x_other: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This layer over ``x`` and ``other`` over ``x_other``, both ``(T, B, D)``, from zero states:
        ``self(x)[0], other(x_other)[0]``, the same random masks included, each ``(T, B, H)``."""
        if not self.pairs_with(other, x):
            raise ValueError(
                f"{type(self).__name__} cannot run with {type(other).__name__} as one batch here "
                "(pairs_with is False: another class or setting, or no fused kernels for these tensors)"
            )
        pair, inputs = (self, other), (x, x_other)
        xw = torch.cat([layer.input_projection(given) for layer, given in zip(pair, inputs)], dim=1)
        masks = zip(*(layer.regularisers(given) for layer, given in zip(pair, inputs)))
        regularisers = [None if mine is None else torch.cat([mine, theirs], dim=-2) for mine, theirs in masks]
        weights = zip(self.recurrent_parameters(), other.recurrent_parameters())
        stacked = [None if mine is None else torch.stack([mine, theirs]) for mine, theirs in weights]
        return self.stacked_recurrence(xw, stacked, regularisers).chunk(2, dim=1)


class PairedHiddenStateDirections(PairedDirections):
    """:class:`PairedDirections` for a cell whose state is h_t alone and whose loop takes U alone, on the
    fused kernels (the GRU, the Li-GRU): its regularisers are variational dropout on h_{t-1} and zoneout
    of h_t (``recurrent_dropout``, ``zoneout_hidden``)."""

    paired_settings = ("recurrent_dropout", "zoneout_hidden")

    def regularisers(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The variational dropout mask ``(B, H)`` and zoneout's d ``(T, B, H)`` for a pass over ``x``."""
        steps, batch = x.shape[:2]
        return (
            variational_mask(self.recurrent_dropout, batch, self.hidden_size, x, self.training),
            zoneout_mask(self.zoneout_hidden, steps, batch, self.hidden_size, x, self.training),
        )

    def runs_paired(self, x: torch.Tensor) -> bool:
        return runs_paired(x)

    def recurrent_parameters(self) -> tuple[torch.Tensor]:
        return (self.weight_hh,)
