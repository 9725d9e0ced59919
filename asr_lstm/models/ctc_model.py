"""The CTC acoustic model: frontend (frame stacking or convolutions) -> stacked (bidirectional) RNN ->
(dense blocks) -> linear -> log-softmax."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from asr_lstm.models.dense import DenseBlocks
from asr_lstm.models.frontend import ConvFrontEnd, FrameStacking
from asr_lstm.models.recurrent import StackedRNN


class CTCModel(nn.Module):
    """Maps feature sequences to per-frame log-probabilities over the vocabulary (blank = 0).

    Args:
        input_size: feature dimension D.
        num_classes: vocabulary size V including the blank.
        cell: factory of one recurrent layer and direction (see :mod:`asr_lstm.cells`).
        hidden_size: H per direction.
        num_layers: recurrent layers.
        dropout: between recurrent layers.
        bidirectional: a backward direction in every layer; ``False``: forward only, each output
            frame from the frames up to it (a model that can recognise as the input arrives).
        chunk_frames: N_c of a latency-controlled bidirectional stack (Zhang et al. 2016), in the
            stack's frames (after stacking or pooling): the backward direction reads the input in
            chunks of N_c frames, each with ``right_context_frames`` (N_r) frames after it; ``None``:
            the whole input.
        right_context_frames: N_r.
        stack, stride: frame stacking and subsampling of the frontend.
        conv: the :class:`ConvFrontEnd` options (``channels``, ``pools``, ``kernel``, ...) to read the
            features with convolution blocks instead; their time pooling subsamples, so ``stack`` and
            ``stride`` must then be 1. ``None``: frame stacking.
        dnn: the :class:`DenseBlocks` options (``layers``, ``size``, ...) between the recurrent stack
            and the output layer (a CRDNN); ``None``: the output layer reads the stack.
        init_range: a, to draw every parameter from U[-a, a] (Graves et al. 2013: a = 0.1); ``None``
            keeps each layer's own initialisation (PyTorch's, and the cells' forget-gate bias).
    """

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        cell: Callable[..., nn.Module],
        hidden_size: int = 256,
        num_layers: int = 3,
        dropout: float = 0.0,
        stack: int = 1,
        stride: int = 1,
        init_range: float | None = None,
        conv: dict | None = None,
        dnn: dict | None = None,
        bidirectional: bool = True,
        chunk_frames: int | None = None,
        right_context_frames: int = 0,
    ):
        super().__init__()
        sizes = {"hidden_size": hidden_size, "num_layers": num_layers, "stack": stack, "stride": stride}
        problems = [f"model.{name}={value} must be at least 1" for name, value in sizes.items() if value < 1]
        if not 0 <= dropout < 1:
            problems.append(f"model.dropout={dropout} must be in [0, 1)")
        if chunk_frames is not None and chunk_frames < 1:
            problems.append(f"model.chunk_frames={chunk_frames} must be at least 1 (or null: no latency control)")
        if right_context_frames < 0:
            problems.append(f"model.right_context_frames={right_context_frames} must be at least 0")
        if right_context_frames > 0 and chunk_frames is None:
            problems.append("model.right_context_frames is the context of a chunk: set model.chunk_frames too")
        if chunk_frames is not None and not bidirectional:
            problems.append(
                "model.chunk_frames limits how far a backward direction reads ahead; a forward-only model "
                "(model.bidirectional=false) has none"
            )
        if problems:
            raise ValueError("; ".join(problems))
        if conv is not None:
            if (stack, stride) != (1, 1):
                raise ValueError(
                    f"model.conv pools time itself: set model.stack=1 model.stride=1 (got {stack}, {stride})"
                )
            self.frontend: FrameStacking | ConvFrontEnd = ConvFrontEnd(input_size, **conv)
            frame_size = self.frontend.output_size
        else:
            self.frontend, frame_size = FrameStacking(stack, stride), input_size * stack
        self.encoder = StackedRNN(
            cell, frame_size, hidden_size, num_layers, dropout, bidirectional, chunk_frames, right_context_frames
        )
        self.dense = DenseBlocks(self.encoder.features, **dnn) if dnn is not None else None
        self.output = nn.Linear(self.dense.output_size if self.dense else self.encoder.features, num_classes)
        if init_range is not None:
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range)

    def output_length(self, num_frames: int) -> int:
        """Output frames for ``num_frames`` input frames."""
        return self.frontend.output_length(num_frames)

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: ``x (B, T, D)``, ``lens (B,)``. Returns log-probs ``(B, T', V)`` and ``lens' (B,)``."""
        x, lens = self.frontend(x, lens)
        h = self.encoder(x.transpose(0, 1), lens).transpose(0, 1)
        if self.dense is not None:
            h = self.dense(h, lens)
        return self.output(h).float().log_softmax(dim=-1), lens  # float32 under autocast too (CTC needs it)
