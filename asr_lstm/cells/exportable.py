"""The time loops written for ``torch.export`` (and so for ONNX): one ``scan`` of dynamic length.

The training loops (:mod:`asr_lstm.cells.recurrence`, the GRU's) are Python ``for`` loops inside an
``autograd.Function`` with in-place buffers: fast, but ``torch.export`` would unroll them into T
copies of the step and fix T at the example's length (``torch.lstm`` has the same problem: its
decomposition specialises T). Here each step is a pure function and the loop is torch's ``scan``
higher-order op, which the ONNX exporter writes as one ONNX ``Scan`` node, so an exported model
takes any number of frames. Cells switch to these loops when :func:`exporting`; the tests check
them against every cell's equations, as they check the training loops.

``scan`` is still a prototype API of torch (``torch._higher_order_ops``); torch is pinned to one
release in ``pyproject.toml``, and the ONNX round-trip tests would catch a change of behaviour.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch._higher_order_ops.scan import scan  # re-exported for the cells that scan their own step

from asr_lstm.cells.activations import activation
from asr_lstm.cells.recurrence import LAYER_NORM_EPS, LSTMVariant


def exporting() -> bool:
    """Whether the cells run these loops: under ``torch.export``. The tests run them eagerly by patching
    this function, not torch's own flag, which torch's internals read as well."""
    return torch.compiler.is_exporting()


def zone(previous: torch.Tensor, update: torch.Tensor, z: float) -> torch.Tensor:
    """Zoneout in evaluation (Krueger et al. 2017): z o s_{t-1} + (1 - z) o s~_t; ``update`` for z = 0."""
    return update if z == 0 else torch.lerp(update, previous, z)


def lstm_scan(
    xw: torch.Tensor,
    weight_hh: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    variant: LSTMVariant,
    activations: tuple[str, str, str],
    weight_ch: torch.Tensor | None = None,
    weight_gh: torch.Tensor | None = None,
    weight_hr: torch.Tensor | None = None,
    layer_norm: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    zoneout: tuple[float, float] = (0.0, 0.0),
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Same contract as :func:`asr_lstm.cells.recurrence.lstm_recurrence`, as a ``scan``.

    Args:
        xw: ``(T, B, 4H)`` = W x_t + b (LN(W x_t) + b under layer normalisation), gate order (i, f, g, o).
        weight_hh: ``(4H, H)`` (``(4H, P)`` under a projection); state: ``(h_0, c_0)`` each ``(B, H)``
            (h_0 is r_0, ``(B, P)``, under a projection); weight_ch ``(3, H)``; weight_gh ``(3H, 3H)``;
            weight_hr ``(P, H)`` (``(P + N, H)`` with a non-recurrent projection, U multiplying the
            first P values of the state); layer_norm (alpha_1 ``(4H)``, alpha_3 ``(H)``, beta_3 ``(H)``);
            zoneout: the rates (z^c, z^h), applied as in evaluation: s_t = z s_{t-1} + (1 - z) s~_t.

    Returns:
        ``y (T, B, H)`` (``(T, B, P)``) and ``(h_T, c_T)`` (``(r_T, c_T)``).
    """
    sigma_g, sigma_c, sigma_h = (activation(name) for name in activations)
    h0, c0 = state
    hid = c0.shape[1]
    u_t = weight_hh.t()

    def step(carry, xw_t):
        h, c, gates_prev = carry  # gates_prev: [i; f; o] of step t-1, (B, 3H); zeros at t = 0
        recurrent = (h[:, : u_t.shape[0]] if variant.recurrent_input == "h" else c) @ u_t  # r_{t-1} of q_{t-1}
        if layer_norm is not None:
            recurrent = F.layer_norm(recurrent, (4 * hid,), layer_norm[0], None, LAYER_NORM_EPS)
        pre = xw_t + recurrent
        pre_i, pre_f, pre_g, pre_o = pre.split(hid, dim=1)
        if variant.gate_recurrence:
            rec_i, rec_f, rec_o = (gates_prev @ weight_gh.t()).split(hid, dim=1)
            pre_i, pre_f, pre_o = pre_i + rec_i, pre_f + rec_f, pre_o + rec_o
        if variant.peepholes:
            pre_i, pre_f = pre_i + weight_ch[0] * c, pre_f + weight_ch[1] * c
        one = torch.ones_like(c)
        i = sigma_g(pre_i) if variant.input_gate else one
        if variant.coupled:
            f = 1 - i
        else:
            f = sigma_g(pre_f) if variant.forget_gate else one
        c_next = f * c + i * sigma_c(pre_g)
        if variant.cell_clip is not None:
            c_next = c_next.clamp(-variant.cell_clip, variant.cell_clip)
        if variant.peepholes:
            pre_o = pre_o + weight_ch[2] * (c_next if variant.output_peephole == "current" else c)
        o = sigma_g(pre_o) if variant.output_gate else one
        c_out = c_next if layer_norm is None else F.layer_norm(c_next, (hid,), *layer_norm[1:], LAYER_NORM_EPS)
        h_next = o * sigma_h(c_out)
        if weight_hr is not None:
            h_next = h_next @ weight_hr.t()  # r_t, fed back and output
        h_next, c_next = zone(h, h_next, zoneout[1]), zone(c, c_next, zoneout[0])
        return (h_next, c_next, torch.cat([i, f, o], dim=1)), h_next.clone()

    init = (h0, c0, c0.new_zeros(c0.shape[0], 3 * hid))
    (h, c, _), y = scan(step, init, xw)
    return y, (h, c)


def gru_scan(
    xw: torch.Tensor, weight_hh: torch.Tensor, h0: torch.Tensor, activations: tuple[str, str], zoneout: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The GRU of :mod:`asr_lstm.cells.gru` as a ``scan``.

    Args:
        xw: ``(T, B, 3H)`` = W x_t + b, gate order (r, z, n); weight_hh ``(3H, H)``; h0 ``(B, H)``;
            zoneout: the rate z^h, as in evaluation.

    Returns:
        ``y (T, B, H)`` and ``h_T (B, H)``.
    """
    sigma_g, sigma_c = (activation(name) for name in activations)
    hid = h0.shape[1]

    def step(h, xw_t):  # slices of weight_hh are taken inside: scan refuses two closed-over views of one tensor
        r, z = sigma_g(xw_t[:, : 2 * hid] + h @ weight_hh[: 2 * hid].t()).split(hid, dim=1)
        n = sigma_c(xw_t[:, 2 * hid :] + (r * h) @ weight_hh[2 * hid :].t())
        h_next = zone(h, z * h + (1 - z) * n, zoneout)
        return h_next, h_next.clone()

    h, y = scan(step, h0, xw)
    return y, h


def ligru_scan(
    xw: torch.Tensor, weight_hh: torch.Tensor, h0: torch.Tensor, zoneout: float = 0.0, layer_norm: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Li-GRU of :mod:`asr_lstm.cells.ligru` as a ``scan``.

    Args:
        xw: ``(T, B, 2H)`` = BN(W x_t), gate order (z, h); weight_hh ``(2H, H)``; h0 ``(B, H)``;
            zoneout: the rate z^h, as in evaluation; layer_norm: LN(U h_{t-1}) over its 2H units,
            without gain or shift (the SLi-GRU).

    Returns:
        ``y (T, B, H)`` and ``h_T (B, H)``.
    """
    hid = h0.shape[1]

    def step(h, xw_t):
        recurrent = h @ weight_hh.t()
        if layer_norm:
            recurrent = F.layer_norm(recurrent, (2 * hid,), None, None, LAYER_NORM_EPS)
        pre = xw_t + recurrent
        z, candidate = torch.sigmoid(pre[:, :hid]), torch.relu(pre[:, hid:])
        h_next = zone(h, z * h + (1 - z) * candidate, zoneout)
        return h_next, h_next.clone()

    h, y = scan(step, h0, xw)
    return y, h
