"""``ligru``: the light GRU of Ravanelli, Brakel, Omologo & Bengio 2018 ("Light gated recurrent units
for speech recognition"), the recurrent layer of SpeechBrain's TIMIT recipes.

    z_t = sigmoid(BN(W_z x_t) + U_z h_{t-1})
    h~_t = ReLU(BN(W_h x_t) + U_h h_{t-1})
    h_t = z_t o h_{t-1} + (1 - z_t) o h~_t

No reset gate, a ReLU candidate, and batch normalisation (Ioffe & Szegedy 2015) of the input
projections only (the recurrent ones are left alone, as in the paper), which also supplies the biases
(BN's shift).

With ``layer_norm``, the stabilised Li-GRU (SLi-GRU) of Moumen & Parcollet 2023 ("Stabilising and
accelerating light gated recurrent units for automatic speech recognition"), SpeechBrain's ``SLiGRU``:
the recurrent product is layer-normalised over its 2H units, without gain or shift (SpeechBrain's
default, ``recurrent_elementwise_affine=False``), which bounds what U h_{t-1} adds to the pre-activations
however h_{t-1} grows under the unbounded ReLU:

    (z_t; h~_t) = (sigmoid; ReLU)(BN(W x_t) + LN(U h_{t-1})),  LN(u) = (u - mu(u)) / sqrt(sigma^2(u) + eps)

with mu and sigma^2 the mean and biased variance of the 2H entries of u, and eps 1e-5.

``candidate_dropout`` is SpeechBrain's recurrent dropout of the Li-GRU (and of the SLi-GRU), that of
Semeniuta, Severyn & Barth 2016 ("Recurrent dropout without memory loss"): a mask m, 0 or 1 / (1 - p)
per sequence and unit and the same at every step, drops the candidate, never the state carried:

    h_t = z_t o h_{t-1} + (1 - z_t) o (m o h~_t)

in training; nothing is dropped in evaluation. Parameters, gate order (z, h): ``weight_ih (2H, D)``, ``weight_hh (2H, H)``, and the batch
norm ``norm`` (``weight``, ``bias``, running statistics) over the 2H projections. In training the batch
statistics are those of every frame of the batch, padded ones included (as SpeechBrain's); in
evaluation the running statistics apply, so an utterance's output does not depend on its batch.
There is no cell state: the final state is ``(h_T, None)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from asr_lstm.cells import compiled, exportable
from asr_lstm.cells.directions import count, summed_products
from asr_lstm.cells.dropout import check_rate, check_zoneout, variational_mask
from asr_lstm.cells.paired import PairedHiddenStateDirections
from asr_lstm.cells.recurrence import normalise, normalise_backward, runs_fused, runs_paired

try:
    from asr_lstm.cells import fused_gru
except ImportError:  # no Triton: the eager loop runs on CUDA
    fused_gru = None


class LiGRU(PairedHiddenStateDirections, nn.Module):
    """One unidirectional Li-GRU layer.

    Args:
        input_size: D.
        hidden_size: H.
        forget_bias: initial BN shift of the z projection: z_t is the Li-GRU's "keep" gate.
        momentum: of the batch norm's running statistics (PyTorch's convention).
        recurrent_dropout: p of variational dropout (Gal & Ghahramani 2016) on h_{t-1} where U
            multiplies it: one mask per sequence, in training only.
        candidate_dropout: p of the dropout of the candidate h~_t, one mask per sequence (module
            docstring): SpeechBrain's Li-GRU ``dropout``. In every loop, the fused kernels included.
        zoneout_hidden: z of zoneout (Krueger et al. 2017), as for the GRU: h_t = d_t o h_{t-1} +
            (1 - d_t) o h~_t with d_t drawn per step and unit; its expectation z in evaluation.
        layer_norm: LN(U h_{t-1}) in place of U h_{t-1}, the SLi-GRU (module docstring). Its loop is
            the compiled one on CPU and the eager one on CUDA, not the fused kernels.
    """

    paired_settings = (*PairedHiddenStateDirections.paired_settings, "candidate_dropout", "layer_norm")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        forget_bias: float = 0.0,
        momentum: float = 0.1,
        recurrent_dropout: float = 0.0,
        zoneout_hidden: float = 0.0,
        layer_norm: bool = False,
        candidate_dropout: float = 0.0,
    ):
        super().__init__()
        self.layer_norm = bool(layer_norm)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.candidate_dropout = check_rate("candidate_dropout", candidate_dropout)
        self.zoneout_hidden = check_zoneout("zoneout_hidden", zoneout_hidden)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))
        self.norm = nn.BatchNorm1d(2 * hidden_size, momentum=momentum)
        bound = 1.0 / math.sqrt(hidden_size)
        for p in (self.weight_ih, self.weight_hh):
            nn.init.uniform_(p, -bound, bound)
        with torch.no_grad():
            self.norm.bias[:hidden_size].fill_(forget_bias)

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
            y, h = exportable.ligru_scan(xw, self.weight_hh, h0, self.zoneout_hidden, self.layer_norm)
        else:
            y, h = _LiGRURecurrence.apply(xw, self.weight_hh, h0, *self.regularisers(x), self.layer_norm)
        return y, (h, None)

    def runs_paired(self, x: torch.Tensor) -> bool:
        return not self.layer_norm and runs_paired(x)

    def regularisers(self, x: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """The masks of :class:`PairedHiddenStateDirections` and the candidate's dropout mask ``(B, H)``."""
        drawn_first = super().regularisers(x)
        return (*drawn_first, variational_mask(self.candidate_dropout, x.shape[1], self.hidden_size, x, self.training))

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """BN(W x_t) for every step of ``x (T, B, D)``, over the T B frames: ``(T, B, 2H)``."""
        steps, batch, _ = x.shape
        return self.norm(x.reshape(-1, self.input_size) @ self.weight_ih.t()).view(steps, batch, 2 * self.hidden_size)

    def stacked_recurrence(self, xw, weights, regularisers) -> torch.Tensor:
        zeros = xw.new_zeros(xw.shape[1], self.hidden_size)
        return _LiGRURecurrence.apply(xw, *weights, zeros, *regularisers, self.layer_norm)[0]


class _LiGRURecurrence(torch.autograd.Function):
    """The Li-GRU time loop with hand-derived back-propagation through time (as the GRU's): ``mask`` the
    dropout of h_{t-1} where U multiplies it, ``zone`` zoneout's d_t, ``dropped`` the candidate's
    dropout mask ``(B, H)`` (the gates buffer then holds m o h~_t); under layer normalisation it keeps
    LN(U h_{t-1}) ``(T, B, 2H)`` and its 1 / sqrt(sigma^2 + eps) ``(T, B, 1)``."""

    @staticmethod
    def forward(ctx, xw, weight_hh, h0, mask, zone, dropped, layer_norm):
        steps, batch, two_h = xw.shape
        hid = two_h // 2
        gates = xw.new_empty(xw.shape)  # z and h~ activations
        hs = xw.new_empty(steps + 1, batch, hid)
        hs[0] = h0
        norm = (xw.new_empty(xw.shape), xw.new_empty(steps, batch, 1)) if layer_norm else ()
        if not layer_norm and runs_fused(xw):
            fused_gru.ligru_forward(xw, weight_hh, mask, zone, dropped, gates, hs)
        elif compiled.applies(xw):
            torch.ops.asr_lstm.ligru_loop_forward(xw, weight_hh, mask, zone, dropped, gates, hs, list(norm))
        else:
            _python_forward(xw, weight_hh, mask, zone, dropped, gates, hs, norm)
        ctx.save_for_backward(weight_hh, mask, zone, dropped, gates, hs, *norm)
        return hs[1:], hs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_h):
        weight_hh, mask, zone, dropped, gates, hs, *norm = ctx.saved_tensors
        steps, batch, two_h = gates.shape
        hid = two_h // 2
        dpre = gates.new_empty(gates.shape)
        dh = gates.new_zeros(batch, hid) if grad_h is None else grad_h.clone(memory_format=torch.contiguous_format)
        d_u = gates.new_empty(gates.shape) if norm else dpre  # d loss / d U h_{t-1}
        norm_backward = [*norm, d_u] if norm else []
        if not norm and runs_fused(gates):
            fused_gru.ligru_backward(grad_y, weight_hh, mask, zone, dropped, gates, hs, dh, dpre)
        elif compiled.applies(gates):
            torch.ops.asr_lstm.ligru_loop_backward(
                gates, hs, grad_y, weight_hh, mask, zone, dropped, dh, dpre, norm_backward
            )
        else:
            _python_backward(grad_y, weight_hh, mask, zone, dropped, gates, hs, dh, dpre, norm_backward)
        h_in = hs[:-1] if mask is None else hs[:-1] * mask
        d_weight_hh = summed_products(d_u, h_in, count(weight_hh))
        return dpre, d_weight_hh, dh, None, None, None, None


def _python_forward(xw, weight_hh, mask, zone, dropped, gates, hs, norm=()) -> None:
    """The forward loop in ATen operators, one step at a time: fills gates ``(T, B, 2H)`` and hs
    ``(T+1, B, H)`` (h_0 given), and under layer normalisation ``norm``, (u_hat ``(T, B, 2H)``, rstd
    ``(T, B, 1)``)."""
    hid = hs.shape[2]
    u_t = weight_hh.t()
    for t in range(xw.shape[0]):
        h_in = hs[t] if mask is None else hs[t] * mask
        if norm:  # pre = BN(W x_t) + LN(U h_{t-1})
            u_hat, rstd = norm
            normalise(h_in @ u_t, u_hat[t], rstd[t])
            pre = torch.add(xw[t], u_hat[t], out=gates[t])
        else:
            pre = torch.addmm(xw[t], h_in, u_t, out=gates[t])
        pre[:, :hid].sigmoid_()
        pre[:, hid:].relu_()
        if dropped is not None:  # m o h~_t
            pre[:, hid:].mul_(dropped)
        torch.lerp(pre[:, hid:], hs[t], pre[:, :hid], out=hs[t + 1])  # z o h_{t-1} + (1 - z) o h~
        if zone is not None:  # zoneout: d o h_{t-1} + (1 - d) o (the update above)
            hs[t + 1].lerp_(hs[t], zone[t])


def _python_backward(grad_y, weight_hh, mask, zone, dropped, gates, hs, dh, dpre, norm=()) -> None:
    """The backward loop in ATen operators, from the last step to the first: fills dpre ``(T, B, 2H)``;
    dh ``(B, H)`` holds the gradient reaching h_T on entry and h_0 on return. Under layer normalisation
    ``norm`` is (u_hat, rstd, d_u) of which d_u ``(T, B, 2H)``, d loss / d U h_{t-1}, is filled."""
    hid = hs.shape[2]
    z, cand = gates.split(hid, dim=2)
    # chain-rule factors for all steps at once:
    #   dpre_z = dh_t o [(h_{t-1} - h~_t) o z_t (1 - z_t)],  dpre_h = dh_t o [(1 - z_t) o 1(h~_t > 0)],
    # h~_t standing for m o h~_t, and dpre_h times m, under the candidate's dropout
    p_z = (hs[:-1] - cand) * z * (1 - z)
    p_h = (1 - z) * (cand > 0)
    if dropped is not None:
        p_h *= dropped
    for t in range(gates.shape[0] - 1, -1, -1):
        dh_t = grad_y[t] + dh if grad_y is not None else dh
        carry = None
        if zone is not None:  # d's share of h_t goes straight to h_{t-1}
            carry = dh_t * zone[t]
            dh_t = dh_t - carry
        torch.mul(dh_t, p_z[t], out=dpre[t, :, :hid])
        torch.mul(dh_t, p_h[t], out=dpre[t, :, hid:])
        d_u = dpre[t]
        if norm:
            u_hat, rstd, d_u_all = norm
            d_u = d_u_all[t].copy_(normalise_backward(d_u, u_hat[t], rstd[t]))
        through_u = d_u @ weight_hh
        dh.copy_(dh_t * z[t] + (through_u if mask is None else through_u * mask))
        if carry is not None:
            dh += carry
