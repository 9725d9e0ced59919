"""``conv_peephole``: the peephole convolutional LSTM of Shi et al. 2015 ("Convolutional LSTM
network: a machine learning approach for precipitation nowcasting"), over one spatial axis.

The input at each step is ``(C, F)``: C channels over F positions of a spatial axis (frequency bins
of a spectrogram, e.g. static/delta/delta-delta x 41 fbank bins; pixel rows of an image column).
With * a 1-D convolution over that axis ("same" padding) and o the Hadamard product:

    i_t = sigma_g(W_i * x_t + U_i * h_{t-1} + V_i o c_{t-1} + b_i)
    f_t = sigma_g(W_f * x_t + U_f * h_{t-1} + V_f o c_{t-1} + b_f)
    c_t = f_t o c_{t-1} + i_t o sigma_c(W_c * x_t + U_c * h_{t-1} + b_c)
    o_t = sigma_g(W_o * x_t + U_o * h_{t-1} + V_o o c_{t-1} + b_o)     (output_peephole="previous")
    h_t = o_t o sigma_h(c_t)

(``output_peephole="current"`` uses V_o o c_t, Shi et al.'s own form.) Parameters, with H_c hidden
channels and kernel width k, gate order (i, f, g, o): ``weight_ih (4H_c, C, k)``,
``weight_hh (4H_c, H_c, k)``, ``bias_ih (4H_c)``, ``bias_hh (4H_c)``, and per-position peepholes
``weight_ch (3, H_c, F)``. The layer reads and writes flat frames: input ``(T, B, C*F)`` (channel-major,
so two directions concatenated are again channel-major) and output ``(T, B, H_c*F)``.

U * h is linear in h, so with h and the gates flattened channel-major it is one matrix product M h,
M ``(4 H_c F, H_c F)`` banded (built from U by convolving the identity basis, differentiable in U).
Written that way the cell is a diagonal-peephole LSTM with H = H_c F and per-position peepholes, and
trains on the shared time loop of :mod:`asr_lstm.cells.recurrence` (hand-derived BPTT, fused kernels
on CUDA); the gradient reaches U through M. M holds k/F of nonzeros, but for spectrogram-sized F one
small dense product per step is faster than a convolution per step. ``torch.export`` runs the
convolutional step itself under ``scan``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from asr_lstm.cells import exportable
from asr_lstm.cells.activations import activation
from asr_lstm.cells.dropout import check_rate, check_zoneout, variational_mask, zoneout_mask
from asr_lstm.cells.paired import PairedDirections
from asr_lstm.cells.recurrence import LSTMVariant, lstm_recurrence, runs_directions_together, stacked_lstm_recurrence


class ConvPeepholeLSTM(PairedDirections, nn.Module):
    """One unidirectional convolutional peephole LSTM layer.

    Args:
        input_size: C * F, the flat input frame size.
        hidden_size: H_c * F, the flat output frame size (``hidden_size`` units as for dense cells).
        frequency_bins: F, the length of the spatial axis; must divide both sizes.
        kernel_size: k, odd.
        sigma_g, sigma_c, sigma_h, forget_bias, output_peephole, recurrent_dropout, cell_clip,
            zoneout_cell, zoneout_hidden: as for the dense LSTM cells (c_t clipped at each position).
    """

    paired_settings = (
        "variant", "activation_names", "bins", "recurrent_dropout", "zoneout_cell", "zoneout_hidden"
    )  # fmt: skip

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        frequency_bins: int = 41,
        kernel_size: int = 3,
        sigma_g: str = "sigmoid",
        sigma_c: str = "tanh",
        sigma_h: str = "tanh",
        forget_bias: float = 1.0,
        output_peephole: str = "previous",
        recurrent_dropout: float = 0.0,
        cell_clip: float | None = None,
        zoneout_cell: float = 0.0,
        zoneout_hidden: float = 0.0,
    ):
        super().__init__()
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.zoneout_cell = check_zoneout("zoneout_cell", zoneout_cell)
        self.zoneout_hidden = check_zoneout("zoneout_hidden", zoneout_hidden)
        if input_size % frequency_bins or hidden_size % frequency_bins:
            raise ValueError(
                f"conv_peephole: frequency_bins={frequency_bins} must divide input_size={input_size} and "
                f"hidden_size={hidden_size} (model.hidden_size={4 * frequency_bins}, for instance: 4 channels)"
            )
        if kernel_size % 2 == 0:
            raise ValueError(f"conv_peephole: kernel_size must be odd, got {kernel_size}")
        if output_peephole not in ("previous", "current"):
            raise ValueError(f"output_peephole must be 'previous' or 'current', got {output_peephole!r}")
        self.bins = frequency_bins
        self.in_channels = input_size // frequency_bins
        self.hidden_channels = hidden_size // frequency_bins
        self.hidden_size = hidden_size
        self.output_peephole = output_peephole
        self.sigma_g, self.sigma_c, self.sigma_h = activation(sigma_g), activation(sigma_c), activation(sigma_h)
        self.activation_names = (sigma_g, sigma_c, sigma_h)
        self.variant = LSTMVariant(peepholes=True, output_peephole=output_peephole, cell_clip=cell_clip)
        hc = self.hidden_channels
        self.weight_ih = nn.Parameter(torch.empty(4 * hc, self.in_channels, kernel_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hc, hc, kernel_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hc))
        self.bias_hh = nn.Parameter(torch.empty(4 * hc))
        self.weight_ch = nn.Parameter(torch.zeros(3, hc, frequency_bins))
        bound = 1.0 / math.sqrt(hc * kernel_size)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            nn.init.uniform_(p, -bound, bound)
        with torch.no_grad():
            self.bias_ih[hc : 2 * hc].fill_(forget_bias)
            self.bias_hh[hc : 2 * hc].zero_()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Args: ``x (T, B, C*F)``; ``state`` ``(h_0, c_0)`` each ``(B, H_c*F)`` or ``None`` for zeros.

        Returns:
            ``y (T, B, H_c*F)`` and ``(h_T, c_T)`` each ``(B, H_c*F)``.
        """
        steps, batch, _ = x.shape
        hc, bins = self.hidden_channels, self.bins
        if state is None:
            h, c = x.new_zeros(batch, hc, bins), x.new_zeros(batch, hc, bins)
        else:
            h, c = (s.view(batch, hc, bins) for s in state)
        xw = self.input_projection(x)
        if exportable.exporting():
            (h, c), y = exportable.scan(self.step, (h, c), xw.view(steps, batch, 4 * hc, bins))
            return y.view(steps, batch, hc * bins), (h.reshape(batch, -1), c.reshape(batch, -1))
        mask, *zoneout = self.regularisers(x)
        return lstm_recurrence(
            xw,
            self.recurrent_matrix(),
            (h.reshape(batch, self.hidden_size), c.reshape(batch, self.hidden_size)),
            self.variant,
            self.activation_names,
            self.weight_ch.view(3, self.hidden_size),
            recurrent_mask=mask,
            zoneout=tuple(zoneout),
        )

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """W * x_t + b for every step of ``x (T, B, C*F)``, flattened channel-major: ``(T, B, 4 H_c F)``."""
        steps, batch, _ = x.shape
        flat_x = x.reshape(steps * batch, self.in_channels, self.bins)
        xw = F.conv1d(flat_x, self.weight_ih, self.bias_ih + self.bias_hh, padding=self.weight_hh.shape[2] // 2)
        return xw.view(steps, batch, 4 * self.hidden_size)

    def regularisers(self, x: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """The variational dropout mask ``(B, H_c F)`` and zoneout's d^c and d^h ``(T, B, H_c F)``."""
        steps, batch = x.shape[:2]
        flat = self.hidden_size
        return (
            variational_mask(self.recurrent_dropout, batch, flat, x, self.training),
            zoneout_mask(self.zoneout_cell, steps, batch, flat, x, self.training),
            zoneout_mask(self.zoneout_hidden, steps, batch, flat, x, self.training),
        )

    def runs_paired(self, x: torch.Tensor) -> bool:
        return runs_directions_together(x, self.variant, None)

    def recurrent_parameters(self) -> tuple[torch.Tensor | None, ...]:
        return self.recurrent_matrix(), self.weight_ch.view(3, self.hidden_size), None

    def stacked_recurrence(self, xw, weights, regularisers) -> torch.Tensor:
        return stacked_lstm_recurrence(xw, weights, regularisers, self.variant, self.activation_names)

    def recurrent_matrix(self) -> torch.Tensor:
        """M ``(4 H_c F, H_c F)`` with M vec(h) = vec(U * h), both vectors flattened channel-major."""
        flat = self.hidden_channels * self.bins
        basis = torch.eye(flat, dtype=self.weight_hh.dtype, device=self.weight_hh.device).view(
            flat, self.hidden_channels, self.bins
        )
        columns = F.conv1d(basis, self.weight_hh, padding=self.weight_hh.shape[2] // 2)  # column n of M = U * e_n
        return columns.view(flat, 4 * flat).t()

    def step(self, state: tuple[torch.Tensor, torch.Tensor], xw_t: torch.Tensor):
        """One time step as the convolutions of the equations, a pure function (the body of the exported ``scan``).

        Args:
            state: ``(h_{t-1}, c_{t-1})``, each ``(B, H_c, F)``.
            xw_t: ``(B, 4H_c, F)`` = W * x_t + b.

        Returns:
            ``(h_t, c_t)`` and a copy of ``h_t``.
        """
        h, c = state
        v = self.weight_ch  # (V_i, V_f, V_o); indexed at use, as scan refuses views of one tensor made outside it
        pre = xw_t + F.conv1d(h, self.weight_hh, padding=self.weight_hh.shape[2] // 2)
        pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=1)
        i = self.sigma_g(torch.addcmul(pre_i, v[0], c))
        f = self.sigma_g(torch.addcmul(pre_f, v[1], c))
        c_next = torch.addcmul(f * c, i, self.sigma_c(pre_g))
        if self.variant.cell_clip is not None:
            c_next = c_next.clamp(-self.variant.cell_clip, self.variant.cell_clip)
        o = self.sigma_g(torch.addcmul(pre_o, v[2], c_next if self.output_peephole == "current" else c))
        h_next = o * self.sigma_h(c_next)
        h_next, c_next = exportable.zone(h, h_next, self.zoneout_hidden), exportable.zone(c, c_next, self.zoneout_cell)
        return (h_next, c_next), h_next.clone()
