"""Latency-controlled bidirectional layers (LC-BLSTM: Zhang, Chen, Yu, Yao, Khudanpur & Glass 2016,
"Highway long short-term memory RNNs for distant speech recognition"; Chen & Huo 2016's
context-sensitive chunks are its training counterpart).

The input is cut into chunks of N_c frames, and each chunk is read with the N_r frames after it, its
right context: a window of N_c + N_r frames. The forward direction carries its state from the end of
one chunk to the start of the next, as over the whole input; the backward direction starts from zero
at the end of each window. Every layer runs over the right context too (both directions, the forward
one from the state at the chunk's end, a state it then drops), because the backward direction of the
layer above reads the right context's outputs. A chunk's outputs thus depend on the input up to N_r
frames past its end: a bidirectional model that can recognise a stream with a latency of N_r to
N_c + N_r frames (:mod:`asr_lstm.streaming`), and that trains as it will be used (the same windows in
training and recognition).

A batch of windows is held as

    main    (K N_c, B, D)   every chunk's own frames, chunk k at rows k N_c ... (k+1) N_c - 1
    right   (N_r, K B, D)   window k's right context, sequence b at column k B + b
    lens    (K B,)          each window's frames inside its sequence, N_c + N_r at most

so that the backward direction runs every window of the batch as one batch of its time loop, and the
forward direction the right contexts likewise; only the forward direction's chunks run one after the
other. Under variational dropout each of those passes draws its own mask.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from asr_lstm.models.padding import reverse_padded

State = tuple[torch.Tensor, torch.Tensor | None] | None  # a cell's (h_t, c_t): c_t None for the GRUs


class Windows(NamedTuple):
    """The chunks of a batch and their right contexts (shapes in the module docstring)."""

    main: torch.Tensor
    right: torch.Tensor
    lens: torch.Tensor


def split_windows(x: torch.Tensor, lens: torch.Tensor, chunk: int, right: int) -> Windows:
    """``x (T, B, D)`` with lengths ``lens (B,)`` as K = ceil(T / ``chunk``) windows of ``chunk`` frames
    and ``right`` frames of right context each, zeros past T."""
    steps, batch, dim = x.shape
    count = -(-steps // chunk)
    padded = torch.cat([x, x.new_zeros(count * chunk + right - steps, batch, dim)])
    ends = (torch.arange(count, device=x.device) + 1) * chunk  # (K,)
    right_rows = ends.unsqueeze(0) + torch.arange(right, device=x.device).unsqueeze(1)  # (N_r, K)
    starts = (ends - chunk).unsqueeze(1)  # (K, 1)
    window_lens = (lens.to(x.device).unsqueeze(0) - starts).clamp(0, chunk + right)  # (K, B)
    return Windows(
        padded[: count * chunk], padded[right_rows].reshape(right, count * batch, dim), window_lens.reshape(-1)
    )


def _stacked(states: list[State]) -> State:
    """The states of K chunks, each ``(B, .)``, as one ``(K B, .)`` state in the windows' column order."""
    return tuple(None if parts[0] is None else torch.cat(parts) for parts in zip(*states))


def _by_window(main: torch.Tensor, chunk: int) -> torch.Tensor:
    """``(K chunk, B, D)`` -> ``(chunk, K B, D)``: chunk k's frames in columns k B ... (k+1) B - 1."""
    steps, batch, dim = main.shape
    return main.reshape(steps // chunk, chunk, batch, dim).transpose(0, 1).reshape(chunk, -1, dim)


def _by_chunk(columns: torch.Tensor, batch: int) -> torch.Tensor:
    """The inverse of :func:`_by_window`: ``(chunk, K B, D)`` -> ``(K chunk, B, D)``."""
    chunk, _, dim = columns.shape
    return columns.reshape(chunk, -1, batch, dim).transpose(0, 1).reshape(-1, batch, dim)


def window_layer(fwd: nn.Module, bwd: nn.Module, windows: Windows, chunk: int, state: State) -> tuple[Windows, State]:
    """One bidirectional layer over ``windows`` of ``chunk`` frames (the last may be shorter inside its
    sequence), the forward direction starting from ``state``.

    Returns:
        The layer's outputs as windows (``2 H`` features: forward, backward) and the forward state at
        the end of the last chunk.
    """
    main, right, lens = windows
    batch = main.shape[1]
    y_fwd, ends = [], []
    for start in range(0, main.shape[0], chunk):
        y, state = fwd(main[start : start + chunk], state)
        y_fwd.append(y)
        ends.append(state)
    both = torch.cat([_by_window(main, chunk), right])  # (N_c + N_r, K B, D)
    y_bwd = reverse_padded(bwd(reverse_padded(both, lens))[0], lens)
    main_out = torch.cat([torch.cat(y_fwd), _by_chunk(y_bwd[:chunk], batch)], dim=2)
    right_fwd = fwd(right, _stacked(ends))[0] if len(right) else right.new_zeros(0, right.shape[1], y.shape[2])
    return Windows(main_out, torch.cat([right_fwd, y_bwd[chunk:]], dim=2), lens), state


def window_layers(
    forward_layers: nn.ModuleList,
    backward_layers: nn.ModuleList,
    dropout: nn.Module,
    windows: Windows,
    chunk: int,
    states: list[State],
) -> tuple[torch.Tensor, list[State]]:
    """The stacked layers over ``windows``, layer l's forward direction from ``states[l]``.

    Returns:
        The last layer's outputs at the chunks' frames ``(K chunk, B, 2 H)`` and every layer's forward
        state at the end of the last chunk.
    """
    ends = []
    for layer, (fwd, bwd) in enumerate(zip(forward_layers, backward_layers, strict=True)):
        if layer > 0:
            windows = Windows(dropout(windows.main), dropout(windows.right), windows.lens)
        windows, state = window_layer(fwd, bwd, windows, chunk, states[layer])
        ends.append(state)
    return windows.main, ends
