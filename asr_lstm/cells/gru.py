"""``gru``: the gated recurrent unit of Cho et al. 2014 ("Learning phrase representations using RNN
encoder-decoder for statistical machine translation"), for comparison with the LSTM family.

    r_t = sigma_g(W_r x_t + U_r h_{t-1} + b_r)
    z_t = sigma_g(W_z x_t + U_z h_{t-1} + b_z)
    n_t = sigma_c(W_n x_t + U_n (r_t o h_{t-1}) + b_n)
    h_t = z_t o h_{t-1} + (1 - z_t) o n_t

The reset gate acts before U_n as in the paper (``torch.nn.GRU`` applies it after). Parameters, gate
order (r, z, n) as in ``torch.nn.GRU``: ``weight_ih (3H, D)``, ``weight_hh (3H, H)``, ``bias_ih (3H)``,
``bias_hh (3H)``. There is no cell state: the final state is ``(h_T, None)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from asr_lstm.cells import compiled, exportable
from asr_lstm.cells.activations import activation
from asr_lstm.cells.directions import count, summed_products
from asr_lstm.cells.dropout import check_rate, check_zoneout
from asr_lstm.cells.paired import PairedHiddenStateDirections
from asr_lstm.cells.recurrence import activate_, derivative_from_output, runs_fused

try:
    from asr_lstm.cells import fused_gru
except ImportError:  # no Triton: the eager loop runs on CUDA
    fused_gru = None


class GRU(PairedHiddenStateDirections, nn.Module):
    """One unidirectional GRU layer.

    Args:
        input_size: D.
        hidden_size: H.
        sigma_g, sigma_c: gate and candidate activations (default sigmoid, tanh).
        sigma_h: accepted for a uniform cell interface; the GRU has no output activation, so only
            ``tanh`` (the default, ignored) is allowed.
        forget_bias: initial b_z: z_t is the GRU's "keep" gate, its analogue of the forget gate.
        recurrent_dropout: p of variational dropout (Gal & Ghahramani 2016) on h_{t-1} wherever a
            recurrent weight multiplies it (U_r, U_z, and U_n through r_t o h_{t-1}): one mask per
            sequence, in training only; the carried h_{t-1} of the update is not dropped.
        zoneout_hidden: z of zoneout (Krueger et al. 2017): each unit of h_t keeps h_{t-1} with
            probability z, afresh at every step (h_t = d_t o h_{t-1} + (1 - d_t) o h~_t, h~_t the GRU's
            update); in evaluation the expectation, h_t = z h_{t-1} + (1 - z) h~_t.
    """

    paired_settings = ("activation_names", "recurrent_dropout", "zoneout_hidden")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        sigma_g: str = "sigmoid",
        sigma_c: str = "tanh",
        sigma_h: str = "tanh",
        forget_bias: float = 1.0,
        recurrent_dropout: float = 0.0,
        zoneout_hidden: float = 0.0,
    ):
        super().__init__()
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.zoneout_hidden = check_zoneout("zoneout_hidden", zoneout_hidden)
        if sigma_h != "tanh":
            raise ValueError("the GRU has no output activation; sigma_h does not apply")
        for name in (sigma_g, sigma_c):
            activation(name)  # refuses an unknown name here, when the cell is built
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.activation_names = (sigma_g, sigma_c)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        with torch.no_grad():
            self.bias_ih[hidden_size : 2 * hidden_size].fill_(forget_bias)
            self.bias_hh[hidden_size : 2 * hidden_size].zero_()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, None] | torch.Tensor | None = None):
        """Args: ``x (T, B, D)``; ``state`` h_0 ``(B, H)`` (or ``(h_0, None)``), ``None`` for zeros.

        Returns:
            ``y (T, B, H)`` and ``(h_T, None)``.
        """
        if isinstance(state, tuple):
            state = state[0]
        h0 = x.new_zeros(x.shape[1], self.hidden_size) if state is None else state
        xw = self.input_projection(x)
        if exportable.exporting():
            y, h = exportable.gru_scan(xw, self.weight_hh, h0, self.activation_names, self.zoneout_hidden)
        else:
            y, h = _GRURecurrence.apply(xw, self.weight_hh, h0, *self.regularisers(x), self.activation_names)
        return y, (h, None)

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """W x_t + b for every step of ``x (T, B, D)``: ``(T, B, 3H)``."""
        xw = torch.addmm(self.bias_ih + self.bias_hh, x.reshape(-1, self.input_size), self.weight_ih.t())
        return xw.view(x.shape[0], x.shape[1], 3 * self.hidden_size)

    def stacked_recurrence(self, xw, weights, regularisers) -> torch.Tensor:
        zeros = xw.new_zeros(xw.shape[1], self.hidden_size)
        return _GRURecurrence.apply(xw, *weights, zeros, *regularisers, self.activation_names)[0]


class _GRURecurrence(torch.autograd.Function):
    """The GRU time loop with hand-derived back-propagation through time (as for the LSTM family in
    :mod:`asr_lstm.cells.recurrence`): no autograd graph per step, weight gradients as one product."""

    @staticmethod
    def forward(ctx, xw, weight_hh, h0, mask, zone, acts):
        steps, batch, three_h = xw.shape
        hid = three_h // 3
        gates = xw.new_empty(xw.shape)  # r, z, n activations
        hs = xw.new_empty(steps + 1, batch, hid)
        rh = xw.new_empty(steps, batch, hid)  # r_t o h_{t-1} (o mask), the input of U_n
        hs[0] = h0
        if runs_fused(xw):
            fused_gru.forward(xw, weight_hh, mask, zone, _codes(acts), gates, hs, rh)
        elif compiled.applies(xw):
            torch.ops.asr_lstm.gru_loop_forward(xw, weight_hh, mask, zone, gates, hs, rh, *_codes(acts))
        else:
            _python_forward(xw, weight_hh, mask, zone, acts, gates, hs, rh)
        ctx.save_for_backward(weight_hh, mask, zone, gates, hs, rh)
        ctx.acts = acts
        return hs[1:], hs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_h):
        weight_hh, mask, zone, gates, hs, rh = ctx.saved_tensors
        steps, batch, three_h = gates.shape
        hid = three_h // 3
        dpre = gates.new_empty(gates.shape)
        dh = gates.new_zeros(batch, hid) if grad_h is None else grad_h.clone(memory_format=torch.contiguous_format)
        if runs_fused(gates):
            fused_gru.backward(grad_y, weight_hh, mask, zone, _codes(ctx.acts), gates, hs, dh, dpre)
        elif compiled.applies(gates):
            torch.ops.asr_lstm.gru_loop_backward(gates, hs, grad_y, weight_hh, mask, zone, dh, dpre, *_codes(ctx.acts))
        else:
            _python_backward(grad_y, weight_hh, mask, zone, ctx.acts, gates, hs, dh, dpre)
        h_in = hs[:-1] if mask is None else hs[:-1] * mask  # what the recurrent weights saw
        n_directions = count(weight_hh)
        d_weight_hh = torch.cat(
            [
                summed_products(dpre[..., : 2 * hid], h_in, n_directions),
                summed_products(dpre[..., 2 * hid :], rh, n_directions),
            ],
            dim=-2,
        )
        return dpre, d_weight_hh, dh, None, None, None


def _codes(acts: tuple[str, str]) -> tuple[int, int]:
    """sigma_g's and sigma_c's codes for the compiled loop and the fused kernels (the same codes)."""
    return compiled.ACTIVATION_CODES[acts[0]], compiled.ACTIVATION_CODES[acts[1]]


def _python_forward(xw, weight_hh, mask, zone, acts, gates, hs, rh) -> None:
    """The forward loop in ATen operators, one step at a time: fills gates ``(T, B, 3H)``, hs ``(T+1, B, H)``
    (h_0 given) and rh ``(T, B, H)``."""
    hid = hs.shape[2]
    sg, sc = acts
    u_rz, u_n = weight_hh[: 2 * hid].t(), weight_hh[2 * hid :].t()
    for t in range(xw.shape[0]):
        h_in = hs[t] if mask is None else hs[t] * mask  # what the recurrent weights see
        rz = torch.addmm(xw[t, :, : 2 * hid], h_in, u_rz, out=gates[t, :, : 2 * hid])
        activate_(sg, rz)
        torch.mul(rz[:, :hid], h_in, out=rh[t])
        n = torch.addmm(xw[t, :, 2 * hid :], rh[t], u_n, out=gates[t, :, 2 * hid :])
        activate_(sc, n)
        torch.lerp(n, hs[t], rz[:, hid:], out=hs[t + 1])  # z o h_{t-1} + (1 - z) o n
        if zone is not None:  # zoneout: d o h_{t-1} + (1 - d) o h~_t
            hs[t + 1].lerp_(hs[t], zone[t])


def _python_backward(grad_y, weight_hh, mask, zone, acts, gates, hs, dh, dpre) -> None:
    """The backward loop in ATen operators, from the last step to the first: fills dpre ``(T, B, 3H)``;
    dh ``(B, H)`` holds the gradient reaching h_T on entry and h_0 on return."""
    sg, sc = acts
    hid = hs.shape[2]
    r, z, n = gates.split(hid, dim=2)
    h_prev = hs[:-1]
    h_in = h_prev if mask is None else h_prev * mask
    # chain-rule factors for all steps at once:
    #   dpre_z = dh_t o [(h_{t-1} - n_t) o sigma_g'(z_t)],  dpre_n = dh_t o [(1 - z_t) o sigma_c'(n_t)]
    p_z = (h_prev - n) * derivative_from_output(sg, z)
    p_n = (1 - z) * derivative_from_output(sc, n)
    p_r = h_in * derivative_from_output(sg, r)  # dpre_r = d(r o h) o p_r
    u_rz, u_n = weight_hh[: 2 * hid], weight_hh[2 * hid :]
    for t in range(gates.shape[0] - 1, -1, -1):
        dpre_r, dpre_z, dpre_n = dpre[t].split(hid, dim=1)
        dh_t = grad_y[t] + dh if grad_y is not None else dh
        carry = None
        if zone is not None:  # d's share of h_t goes straight to h_{t-1}; dh_t becomes d loss / d h~_t
            carry = dh_t * zone[t]
            dh_t = dh_t - carry
        torch.mul(dh_t, p_z[t], out=dpre_z)
        torch.mul(dh_t, p_n[t], out=dpre_n)
        d_rh = dpre_n @ u_n
        torch.mul(d_rh, p_r[t], out=dpre_r)
        through_weights = torch.addmm(d_rh * r[t], dpre[t, :, : 2 * hid], u_rz)
        dh.copy_(dh_t * z[t] + (through_weights if mask is None else through_weights * mask))
        if carry is not None:
            dh += carry
