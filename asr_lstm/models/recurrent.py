"""A stack of recurrent layers, bidirectional or forward only, built from any registered cell."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from asr_lstm.models.latency_control import Windows, split_windows, window_layers
from asr_lstm.models.padding import reverse_padded


def both_directions(
    fwd: nn.Module, bwd: nn.Module, x: torch.Tensor, x_reversed: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fwd`` over ``x`` and ``bwd`` over ``x_reversed``, both ``(T, B, D)``, from zero states: their
    outputs ``(T, B, H)``. A cell that offers ``pairs_with`` and ``forward_pair`` runs both as one batch
    of its time loop where it says it can (on CUDA, half the kernel launches a step); any other runs
    one after the other."""
    pairs_with = getattr(fwd, "pairs_with", None)
    if pairs_with is not None and pairs_with(bwd, x):
        return fwd.forward_pair(bwd, x, x_reversed)
    return fwd(x)[0], bwd(x_reversed)[0]


class StackedRNN(nn.Module):
    """``num_layers`` recurrent layers; layer l > 0 reads every direction of layer l-1.

    Bidirectional (the default), the backward direction runs on each sequence reversed within its
    length, so an utterance's output never depends on the padding or on the other utterances of its
    batch (no packing needed, which keeps every cell usable, not only the vendor LSTM). Where a cell
    can, both directions of a layer run as one batch of its time loop (:func:`both_directions`).
    Forward only (``bidirectional=False``), output t depends on frames 1..t alone, as in the
    unidirectional rows of Graves et al. 2013 and the LSTMP models of Sak et al. 2014. Latency-controlled
    (``chunk``, bidirectional), every layer reads the input in chunks of N_c frames, each with the N_r
    frames after it (:mod:`asr_lstm.models.latency_control`), so that output t depends on no frame
    more than N_r frames past the end of its chunk.

    Under mixed precision (``torch.autocast``, ``trainer.precision=bf16-mixed`` or ``16-mixed``) the
    recurrences run in float32 with autocast off: the cells' hand-derived backward passes, the
    cell states summed over hundreds of steps and oneDNN's LSTM are float32 code, and a long sum in
    bfloat16 loses the small updates of c_t. The layers around the stack keep autocast.

    Args:
        cell: factory ``cell(input_size=..., hidden_size=...)`` of one layer and direction.
        input_size: D.
        hidden_size: H per direction; the output has ``directions`` H features (``directions`` P for
            cells with a projection, whose ``output_size`` is P).
        num_layers: stacked layers.
        dropout: dropout on the outputs of every layer but the last.
        bidirectional: a backward direction beside the forward one in every layer.
        chunk: N_c, the frames of a chunk of a latency-controlled stack; ``None``: the backward
            direction reads the whole input.
        right_context: N_r, the frames after each chunk that its backward direction reads.
    """

    def __init__(
        self,
        cell: Callable[..., nn.Module],
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float = 0.0,
        bidirectional: bool = True,
        chunk: int | None = None,
        right_context: int = 0,
    ):
        super().__init__()
        if chunk is not None and not bidirectional:
            raise ValueError("a forward-only stack reads no frame ahead: latency control is for bidirectional ones")
        first = cell(input_size=input_size, hidden_size=hidden_size)
        self.output_size = getattr(first, "output_size", hidden_size)  # per direction: P under a projection
        self.directions = 2 if bidirectional else 1
        sizes = [input_size] + [self.features] * (num_layers - 1)
        self.forward_layers = nn.ModuleList([first, *(cell(input_size=d, hidden_size=hidden_size) for d in sizes[1:])])
        self.backward_layers = nn.ModuleList(
            cell(input_size=d, hidden_size=hidden_size) for d in sizes if bidirectional
        )
        self.dropout = nn.Dropout(dropout)
        self.hidden_size = hidden_size
        self.chunk, self.right_context = chunk, right_context

    @property
    def features(self) -> int:
        """The stack's output features: ``directions`` x ``output_size``."""
        return self.directions * self.output_size

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """Args: ``x (T, B, D)``, ``lens (B,)``. Returns ``(T, B, features)``, zero at padded steps."""
        if torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                return self._layers(x.float(), lens)
        return self._layers(x, lens)

    def _layers(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        if self.chunk is not None:
            windows = split_windows(x, lens, self.chunk, self.right_context)
            y, _ = self.run_windows(windows, self.chunk, [None] * len(self.forward_layers))
            return self._masked(y[: len(x)], lens)
        for layer, fwd in enumerate(self.forward_layers):
            if layer > 0:
                x = self.dropout(x)
            if self.directions == 1:
                x = fwd(x)[0]
                continue
            y_fwd, y_bwd = both_directions(fwd, self.backward_layers[layer], x, reverse_padded(x, lens))
            x = torch.cat([y_fwd, reverse_padded(y_bwd, lens)], dim=2)
        return self._masked(x, lens)

    def run_windows(self, windows: Windows, chunk: int, states: list) -> tuple[torch.Tensor, list]:
        """A latency-controlled stack over ``windows`` of ``chunk`` frames, layer l's forward direction
        from ``states[l]``: the outputs at the chunks' frames ``(K chunk, B, features)`` and each layer's
        forward state after the last chunk (:func:`~asr_lstm.models.latency_control.window_layers`)."""
        return window_layers(self.forward_layers, self.backward_layers, self.dropout, windows, chunk, states)

    @staticmethod
    def _masked(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        valid = torch.arange(x.shape[0], device=x.device).unsqueeze(1) < lens.to(x.device).unsqueeze(0)
        return x * valid.unsqueeze(2)
