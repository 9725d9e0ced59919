"""The time loop shared by every dense LSTM variant, with hand-derived back-propagation through time.

One function runs all of them: which of h_{t-1} or c_{t-1} feeds ``weight_hh``, which gates exist,
peepholes, a coupled forget gate and full gate recurrence are its options. The input projection
W x_t + b for all t is one matrix product before the loop (done by the caller). The loop itself is a
``torch.autograd.Function``: the forward pass writes gate activations into preallocated buffers
without building an autograd graph, and the backward pass runs the gradient recurrence step by step
(one ``addmm`` and a few element-wise kernels per step) and forms the weight gradients afterwards as
single matrix products over all steps. This is what brings custom cells close to the vendor LSTM;
float64 ``gradcheck`` in the tests checks the derivation. On CUDA, where a step costs kernel launches
rather than arithmetic, each step forward and backward is one Triton kernel, U's product included
(:mod:`asr_lstm.cells.fused`; under a projection, torch's products and one kernel for the element-wise
work) instead of two dozen. On CPU, where the interpreter and a dozen small
operators per step cost as much as the recurrent product, the whole loop, forward and backward, runs
as two compiled C++ operators (:mod:`asr_lstm.cells.compiled`) that fill the same buffers; this Python
loop is the reference both are tested against, and what runs where neither applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from asr_lstm.cells import compiled, directions
from asr_lstm.cells.activations import ACTIVATIONS

try:
    from asr_lstm.cells import fused
except ImportError:  # Triton comes with torch on Linux x86-64 only; elsewhere every step runs eagerly
    fused = None


def runs_fused(x: torch.Tensor) -> bool:
    """Whether the time loop over tensors like ``x`` runs each step as the fused Triton kernels."""
    return fused is not None and fused.applies(x)


def _runs_kernels(x: torch.Tensor, variant: LSTMVariant, weight_hr: torch.Tensor | None, zoneout: bool) -> bool:
    """Whether the fused kernels run this LSTM loop: where they compute the variant, and under zoneout
    where they do U's product too."""
    if not (runs_fused(x) and variant.fusable):
        return False
    return not zoneout or fused.multiplies_in_kernel(variant, weight_hr)


def runs_paired(x: torch.Tensor) -> bool:
    """Whether the fused kernels over tensors like ``x`` run the directions of a layer in the same launches
    (:mod:`asr_lstm.cells.directions`), which :data:`fused.PAIRED_DIRECTIONS` switched off stops."""
    return runs_fused(x) and fused.PAIRED_DIRECTIONS.on


def runs_directions_together(x: torch.Tensor, variant: LSTMVariant, weight_hr: torch.Tensor | None) -> bool:
    """Whether the directions of an LSTM layer of this variant run in the same launches over tensors like
    ``x``: :func:`runs_paired` where the fused kernels compute the variant and do U's product."""
    if not runs_paired(x) or not variant.fusable:
        return False
    return fused.multiplies_in_kernel(variant, weight_hr)


@dataclass(frozen=True)
class LSTMVariant:
    """Structure of an LSTM variant (Greff et al. 2015 switches on the peephole LSTM).

    Attributes:
        recurrent_input: ``h`` (U h_{t-1}) or ``c`` (U c_{t-1}, Gers & Schmidhuber 2000 peephole form).
        input_gate, forget_gate, output_gate: a missing gate is the constant 1.
        coupled: f_t = 1 - i_t (CIFG).
        peepholes: diagonal peepholes V_i, V_f, V_o.
        output_peephole: ``previous`` (V_o o c_{t-1}) or ``current`` (V_o o c_t).
        gate_recurrence: i, f, o also receive R [i_{t-1}; f_{t-1}; o_{t-1}] (FGR).
        cell_clip: C, the cell state clipped to [-C, C] after each update (Sak et al. 2014; the
            gradient does not flow through a clipped value); ``None``: no clipping.
        layer_norm: the layer normalisation of Ba, Kiros & Hinton 2016 on the recurrent
            pre-activations and on c_t before sigma_h (:func:`lstm_recurrence`). Not in the fused
            CUDA kernels, which then leave each step to the eager loop.
    """

    recurrent_input: str = "h"
    input_gate: bool = True
    forget_gate: bool = True
    output_gate: bool = True
    coupled: bool = False
    peepholes: bool = False
    output_peephole: str = "previous"
    gate_recurrence: bool = False
    cell_clip: float | None = None
    layer_norm: bool = False

    @property
    def fusable(self) -> bool:
        """Whether the fused step kernels compute this variant (they do not normalise)."""
        return not self.layer_norm

    def __post_init__(self) -> None:
        if self.cell_clip is not None and not self.cell_clip > 0:
            raise ValueError(f"cell_clip must be positive (or null for none), got {self.cell_clip}")
        if self.recurrent_input not in ("h", "c"):
            raise ValueError(f"recurrent_input must be 'h' or 'c', got {self.recurrent_input!r}")
        if self.output_peephole not in ("previous", "current"):
            raise ValueError(f"output_peephole must be 'previous' or 'current', got {self.output_peephole!r}")


def derivative_from_output(name: str, y: torch.Tensor) -> torch.Tensor | float:
    """d sigma(a) / d a written with y = sigma(a): sigmoid y(1-y), tanh 1-y^2, identity 1."""
    if name == "sigmoid":
        return y * (1 - y)
    if name == "tanh":
        return 1 - y * y
    return 1.0


def activate_(name: str, v: torch.Tensor) -> None:
    """Applies an activation in place."""
    if name == "sigmoid":
        v.sigmoid_()
    elif name == "tanh":
        v.tanh_()


def ifo(gates: torch.Tensor) -> torch.Tensor:
    """``[i; f; o]`` of a ``(..., 4H)`` gate tensor in (i, f, g, o) order, as ``(..., 3H)``."""
    hidden = gates.shape[-1] // 4
    return torch.cat([gates[..., : 2 * hidden], gates[..., 3 * hidden :]], dim=-1)


LAYER_NORM_EPS = 1e-5  # epsilon of torch.nn.LayerNorm, under the square root


def normalise(v: torch.Tensor, out: torch.Tensor, rstd: torch.Tensor) -> None:
    """``out = (v - mu) / sqrt(sigma^2 + eps)`` over the last dimension (biased variance), and
    ``rstd = 1 / sqrt(sigma^2 + eps)``, ``(..., 1)``: layer normalisation before its gain and bias."""
    var, mean = torch.var_mean(v, dim=-1, keepdim=True, correction=0)
    torch.rsqrt(var.add_(LAYER_NORM_EPS), out=rstd)
    torch.sub(v, mean, out=out).mul_(rstd)


def normalise_backward(grad: torch.Tensor, v_hat: torch.Tensor, rstd: torch.Tensor) -> torch.Tensor:
    """d loss / d v of :func:`normalise`, given ``grad`` = d loss / d v_hat:
    rstd o (grad - mean(grad) - v_hat o mean(grad o v_hat))."""
    mean_grad = grad.mean(-1, keepdim=True)
    mean_proj = (grad * v_hat).mean(-1, keepdim=True)
    return (grad - mean_grad - v_hat * mean_proj) * rstd


def activation_into(name: str, v: torch.Tensor, out: torch.Tensor) -> None:
    """``out = sigma(v)`` without a temporary."""
    if name == "sigmoid":
        torch.sigmoid(v, out=out)
    elif name == "tanh":
        torch.tanh(v, out=out)
    else:
        out.copy_(v)


def _forward(
    xw,
    weight_hh,
    h0,
    c0,
    weight_ch,
    weight_gh,
    weight_hr,
    norm,
    mask,
    zone_c,
    zone_h,
    variant: LSTMVariant,
    acts: tuple[str, str, str],
):
    """The recurrence without autograd; returns the buffers the backward pass needs.

    Returns:
        ``gates (T, B, 4H)`` activations (i, f, sigma_c(g), o; a missing gate holds 1),
        ``cs (T+1, B, H)`` and ``hs (T+1, B, H)`` with the initial state first (h_0 is zeros under a
        projection, whose initial state is r_0), ``sh (T, B, H)`` = sigma_h(c_t), and with a projection
        ``weight_hr (P, H)`` the recurrent outputs ``rs (T+1, B, P)`` = W_rm h_t (r_0 first), else ``None``;
        under layer normalisation (``norm`` = (alpha_1 (4H), alpha_3 (H), beta_3 (H))) the normalised
        U h_{t-1} ``(T, B, 4H)`` and c_t ``(T, B, H)`` before their gains, with their 1 / sigma
        ``(T, B, 1)`` each, else ``None``.
        With a variational dropout ``mask`` (B, R), U multiplies ``mask o`` what it multiplies.
        With zoneout (``zone_c (T, B, H)``, ``zone_h (T, B, R)``: the weights d_t of the previous
        values) ``cs`` and ``hs`` (``rs``) hold the states after zoneout, and the cell's own update
        c~_t is returned as ``c_new (T, B, H)`` (``cs[1:]`` without cell zoneout).
    """
    steps, batch, four_h = xw.shape
    hid = four_h // 4
    sg, sc, sh_name = acts
    gates = xw.new_empty(xw.shape)  # contiguous whatever the layout of xw: the fused kernels index rows of 4H
    cs = xw.new_empty(steps + 1, batch, hid)
    hs = xw.new_zeros(steps + 1, batch, hid) if weight_hr is not None else xw.new_empty(steps + 1, batch, hid)
    sh = xw.new_empty(steps, batch, hid)
    rs = None
    if weight_hr is not None:
        rs = xw.new_empty(steps + 1, batch, weight_hr.shape[0])
        rs[0] = h0
    else:
        hs[0] = h0
    cs[0] = c0
    zoneout = zone_c is not None or zone_h is not None
    flags = fused.kernel_flags(variant, acts) if _runs_kernels(xw, variant, weight_hr, zoneout) else None
    c_new = cs[1:] if zone_c is None else xw.new_empty(steps, batch, hid)
    normalised = None
    if norm is not None:
        normalised = (
            xw.new_empty(xw.shape),
            xw.new_empty(steps, batch, 1),
            sh.new_empty(sh.shape),
            sh.new_empty(steps, batch, 1),
        )
        u_hat, u_rstd, c_hat, c_rstd = normalised
        gain_u, gain_c, bias_c = norm
    if flags is None and compiled.applies(xw):
        torch.ops.asr_lstm.lstm_loop_forward(
            xw, weight_hh, weight_ch, weight_gh, weight_hr, mask, zone_c, zone_h, gates, cs, hs, sh, rs,
            None if zone_c is None else c_new, [*norm, *normalised] if norm is not None else [],
            compiled.flags(variant, acts), compiled.clip_value(variant),
        )  # fmt: skip
        return gates, cs, c_new, hs, sh, rs, normalised
    if flags is not None and fused.multiplies_in_kernel(variant, weight_hr):
        weight, drop = weight_hh.contiguous(), None if mask is None else mask.contiguous()
        recurrent = hs if variant.recurrent_input == "h" else cs
        zc, zh = (None if z is None else z.contiguous() for z in (zone_c, zone_h))
        weight_r = weight_gh.contiguous() if variant.gate_recurrence else None
        fused.ForwardLoop(
            xw, gates, recurrent, weight, drop, cs, hs, sh, weight_ch, flags, zc, zh, c_new, weight_r
        ).run(steps)
        return gates, cs, c_new, hs, sh, rs, normalised
    # What U multiplies with recurrent_input "h": h_{t-1}, or the first R columns of r_{t-1} (all but a
    # non-recurrent projection's p_{t-1}).
    fed_back = (rs if rs is not None else hs)[..., : weight_hh.shape[1]]
    u_t = weight_hh.t()
    r_t = weight_gh.t() if variant.gate_recurrence else None
    # torch's products, then the kernels for the rest of each step
    kernels = fused.ForwardLoop(gates, gates, None, None, None, cs, hs, sh, weight_ch, flags) if flags else None
    for t in range(steps):
        if rs is not None and t > 0:
            torch.mm(hs[t], weight_hr.t(), out=rs[t])
            if zone_h is not None:
                rs[t].lerp_(rs[t - 1], zone_h[t - 1])
        recurrent_in = fed_back[t] if variant.recurrent_input == "h" else cs[t]
        recurrent_in = recurrent_in if mask is None else recurrent_in * mask
        if normalised is None:
            pre = torch.addmm(xw[t], recurrent_in, u_t, out=gates[t])
        else:
            normalise(recurrent_in @ u_t, u_hat[t], u_rstd[t])
            pre = torch.addcmul(xw[t], u_hat[t], gain_u, out=gates[t])
        if r_t is not None and t > 0:
            rec = ifo(gates[t - 1]) @ r_t
            pre[:, : 2 * hid] += rec[:, : 2 * hid]
            pre[:, 3 * hid :] += rec[:, 2 * hid :]
        if kernels is not None:
            kernels.step(t)
            continue
        i, f, g, o = pre[:, :hid], pre[:, hid : 2 * hid], pre[:, 2 * hid : 3 * hid], pre[:, 3 * hid :]
        c_prev = cs[t]
        if variant.peepholes:
            i.addcmul_(weight_ch[0], c_prev)
            f.addcmul_(weight_ch[1], c_prev)
        if variant.input_gate and (variant.forget_gate or variant.coupled):
            activate_(sg, pre[:, : 2 * hid])  # i and f in one kernel
        else:
            activate_(sg, i) if variant.input_gate else i.fill_(1)
            activate_(sg, f) if variant.forget_gate else f.fill_(1)
        if variant.coupled:
            torch.neg(i, out=f).add_(1)
        activate_(sc, g)
        c = torch.addcmul(f * c_prev, i, g, out=c_new[t])
        if variant.cell_clip is not None:
            c.clamp_(-variant.cell_clip, variant.cell_clip)
        if variant.peepholes:
            o.addcmul_(weight_ch[2], c if variant.output_peephole == "current" else c_prev)
        activate_(sg, o) if variant.output_gate else o.fill_(1)
        if normalised is not None:
            normalise(c, c_hat[t], c_rstd[t])
            activation_into(sh_name, torch.addcmul(bias_c, c_hat[t], gain_c), sh[t])
        else:
            activation_into(sh_name, c, sh[t])
        torch.mul(o, sh[t], out=hs[t + 1])
        if zone_c is not None:  # c_t = d o c_{t-1} + (1 - d) o c~_t
            torch.lerp(c, c_prev, zone_c[t], out=cs[t + 1])
        if zone_h is not None and rs is None:
            hs[t + 1].lerp_(hs[t], zone_h[t])
    if rs is not None:
        torch.mm(hs[steps], weight_hr.t(), out=rs[steps])
        if zone_h is not None:
            rs[steps].lerp_(rs[steps - 1], zone_h[steps - 1])
    return gates, cs, c_new, hs, sh, rs, normalised


NO_GRADIENT = (None,) * 5  # for the dropout and zoneout masks, the variant and the activations


class _LSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, xw, weight_hh, h0, c0, weight_ch, weight_gh, weight_hr, gain_u, gain_c, bias_c, mask, zone_c, zone_h,
        variant, acts,
    ):  # fmt: skip
        norm = (gain_u, gain_c, bias_c) if variant.layer_norm else None
        gates, cs, c_new, hs, sh, rs, normalised = _forward(
            xw, weight_hh, h0, c0, weight_ch, weight_gh, weight_hr, norm, mask, zone_c, zone_h, variant, acts
        )
        ctx.save_for_backward(
            weight_hh, weight_ch, weight_gh, weight_hr, gain_u, gain_c, mask, zone_c, zone_h, gates, cs,
            c_new if zone_c is not None else None, hs, sh, rs, *(normalised or (None,) * 4),
        )  # fmt: skip
        ctx.variant, ctx.acts = variant, acts
        out = rs if rs is not None else hs
        return out[1:], out[-1].clone(), cs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_h, grad_c):
        weight_hh, weight_ch, weight_gh, weight_hr, gain_u, gain_c, mask, zone_c, zone_h, gates, cs, c_new, *rest = (
            ctx.saved_tensors
        )
        hs, sh, rs, u_hat, u_rstd, c_hat, c_rstd = rest
        c_new = cs[1:] if c_new is None else c_new
        v = ctx.variant
        steps, batch, four_h = gates.shape
        hid = four_h // 4
        out_size = hid if rs is None else rs.shape[2]
        dpre = torch.empty_like(gates)  # d loss / d pre-activations = d loss / d xw
        # dh: the gradient reaching the step's output (h_t, or r_t under a projection) from step t+1
        dh = (
            grad_h.clone(memory_format=torch.contiguous_format)
            if grad_h is not None
            else gates.new_zeros(batch, out_size)
        )
        dc = grad_c.clone(memory_format=torch.contiguous_format) if grad_c is not None else gates.new_zeros(batch, hid)
        d_ifo_next = None  # gradient reaching i, f, o of step t through the gate recurrence of step t+1
        drs = None if rs is None else torch.empty_like(rs[1:])  # d loss / d r_t, for W_rm's gradient
        triton_kernels = _runs_kernels(gates, v, weight_hr, zone_c is not None or zone_h is not None)
        # Under layer normalisation: d loss / d U h_{t-1} (the normalisation's input), for U's gradient.
        d_u_in = torch.empty_like(dpre) if v.layer_norm else dpre
        if not triton_kernels and compiled.applies(gates):
            d_weight_ch = weight_ch.new_zeros(weight_ch.shape) if v.peepholes else None  # summed in the loop
            norm, d_norm = [], []  # d_norm: the gradients of alpha_1, alpha_3 and beta_3, summed in the loop
            if v.layer_norm:
                d_norm = [torch.zeros_like(gain_u), torch.zeros_like(gain_c), torch.zeros_like(gain_c)]
                norm = [gain_u, gain_c, u_hat, u_rstd, c_hat, c_rstd, d_u_in, *d_norm]
            torch.ops.asr_lstm.lstm_loop_backward(
                gates, cs, c_new, sh, grad_y, weight_hh, weight_ch, weight_gh, weight_hr, mask, zone_c, zone_h,
                dh, dc, dpre, drs, d_weight_ch, norm, compiled.flags(v, ctx.acts), compiled.clip_value(v),
            )  # fmt: skip
            grads = _weight_gradients(
                dpre, d_u_in, dh, dc, gates, cs, c_new, hs, rs, drs, mask, weight_hh, weight_ch, weight_gh, v,
                d_weight_ch,
            )  # fmt: skip
            return (*grads, *(d_norm or (None,) * 3), *NO_GRADIENT)
        if triton_kernels:
            grad_y = grad_y.contiguous() if grad_y is not None else None
            flags = fused.kernel_flags(v, ctx.acts)
            # U's product in the kernels: step t's kernel carries step t+1's gradient back through U
            in_kernel = fused.multiplies_in_kernel(v, weight_hr)
            weight = weight_hh.contiguous() if in_kernel else None
            drop = mask.contiguous() if in_kernel and mask is not None else None
            zc, zh = (None if z is None else z.contiguous() for z in (zone_c, zone_h))  # only with in_kernel
            weight_r = weight_gh.contiguous() if in_kernel and v.gate_recurrence else None
            kernels = fused.BackwardLoop(
                gates, cs, c_new, sh, grad_y, dc, dpre, weight, drop, weight_ch, flags, v.recurrent_input == "c",
                zc, zh, weight_r,
            )  # fmt: skip
            if in_kernel:  # every step's gradient through U (and R) in the kernels, then h_0's and c_0's
                kernels.run(dh)
                carry_h = dh if zh is not None else None  # d^h's share of h_0's gradient, left in dh
                dh, d_ifo_next = _through_recurrent_weights(
                    dpre[0], dpre[0], dc, weight_hh, weight_gh, mask, v, out_size
                )
                if carry_h is not None:
                    dh = dh + carry_h
            else:  # torch's products between the steps' kernels
                for t in range(steps - 1, -1, -1):
                    if drs is not None:  # through r_t = W_rm h_t: the kernel sees the gradient of h_t
                        if grad_y is not None:
                            torch.add(dh, grad_y[t], out=drs[t])
                        else:
                            drs[t].copy_(dh)
                        dh = drs[t] @ weight_hr
                    kernels.step(t, dh, d_ifo_next, with_grad_y=drs is None)
                    dh, d_ifo_next = _through_recurrent_weights(
                        dpre[t], dpre[t], dc, weight_hh, weight_gh, mask, v, out_size
                    )
            grads = _weight_gradients(
                dpre, dpre, dh, dc, gates, cs, c_new, hs, rs, drs, mask, weight_hh, weight_ch, weight_gh, v
            )
            return (*grads, None, None, None, *NO_GRADIENT)
        # Per-step factors of the chain rule, for all steps at once (few large kernels instead of many
        # small ones inside the loop). With a = pre-activation and sigma' written from outputs:
        #   dpre_o = dh_t o [sigma_h(c_t) o sigma_g'(o_t)]         = dh_t o p_o
        #   dc_t  += dh_t o [o_t o sigma_h'(c_t)]                   = dh_t o q
        #   dpre_i = dc_t o [sigma_c(g_t) o sigma_g'(i_t)]          = dc_t o p_i   (CIFG: (g_t - c_{t-1}))
        #   dpre_f = dc_t o [c_{t-1} o sigma_g'(f_t)]               = dc_t o p_f
        #   dpre_g = dc_t o [i_t o sigma_c'(g_t)]                   = dc_t o p_g
        sg, sc, sh_name = ctx.acts
        i, f, g, o = gates.split(hid, dim=2)
        c_prev = cs[:-1]
        zero = torch.zeros((), dtype=gates.dtype, device=gates.device)
        dsg_i = derivative_from_output(sg, i) if v.input_gate else zero
        dsg_f = derivative_from_output(sg, f) if v.forget_gate and not v.coupled else zero
        dsg_o = derivative_from_output(sg, o) if v.output_gate else zero
        p_o = sh * dsg_o
        q = o * derivative_from_output(sh_name, sh)
        p_i = ((g - c_prev) if v.coupled else g) * dsg_i
        p_f = c_prev * dsg_f
        p_g = i * derivative_from_output(sc, g)
        d_c_norm = torch.empty_like(sh) if v.layer_norm else None  # d loss / d LN(c_t), for alpha_3 and beta_3

        for t in range(steps - 1, -1, -1):
            dpre_i, dpre_f, dpre_g, dpre_o = dpre[t].split(hid, dim=1)
            dh_t = grad_y[t] + dh if grad_y is not None else dh
            if zone_h is not None:  # h_t = d o h_{t-1} + (1 - d) o h~_t: d's share goes straight to h_{t-1}
                carry_h = dh_t * zone_h[t]
                dh_t = dh_t - carry_h
            if zone_c is not None:  # dc becomes d loss / d c~_t
                carry_c = dc * zone_c[t]
                dc = dc - carry_c
            if drs is not None:  # dh_t is d loss / d r_t; h_t reaches the loss through r_t = W_rm h_t
                drs[t] = dh_t
                dh_t = dh_t @ weight_hr
            torch.mul(dh_t, p_o[t] if p_o.dim() else p_o, out=dpre_o)
            if d_c_norm is None:
                dc = torch.addcmul(dc, dh_t, q[t] if q.dim() else q)
            else:  # h_t = o_t o sigma_h(LN(c_t)): back through the normalisation of c_t
                torch.mul(dh_t, q[t] if q.dim() else q, out=d_c_norm[t])
                dc = dc + normalise_backward(d_c_norm[t] * gain_c, c_hat[t], c_rstd[t])
            if d_ifo_next is not None:
                dpre_o.addcmul_(d_ifo_next[:, 2 * hid :], dsg_o[t])
            if v.peepholes and v.output_peephole == "current":
                dc.addcmul_(dpre_o, weight_ch[2])
            if v.cell_clip is not None:  # dc is d loss / d clip(c~_t): nothing reaches c~_t where it was clipped
                dc = dc * (c_new[t].abs() < v.cell_clip)
            torch.mul(dc, p_i[t] if p_i.dim() else p_i, out=dpre_i)
            torch.mul(dc, p_f[t] if p_f.dim() else p_f, out=dpre_f)
            torch.mul(dc, p_g[t] if p_g.dim() else p_g, out=dpre_g)
            if d_ifo_next is not None:
                dpre_i.addcmul_(d_ifo_next[:, :hid], dsg_i[t])
                dpre_f.addcmul_(d_ifo_next[:, hid : 2 * hid], dsg_f[t])
            dc = dc * f[t]
            if v.peepholes:
                dc.addcmul_(dpre_i, weight_ch[0]).addcmul_(dpre_f, weight_ch[1])
                if v.output_peephole == "previous":
                    dc.addcmul_(dpre_o, weight_ch[2])
            if zone_c is not None:
                dc = dc + carry_c
            if v.layer_norm:  # pre = W x_t + alpha_1 o LN(U h_{t-1}) + ...
                d_u_in[t] = normalise_backward(dpre[t] * gain_u, u_hat[t], u_rstd[t])
            dh, d_ifo_next = _through_recurrent_weights(d_u_in[t], dpre[t], dc, weight_hh, weight_gh, mask, v, out_size)
            if zone_h is not None:
                dh = dh + carry_h
        grads = _weight_gradients(
            dpre, d_u_in, dh, dc, gates, cs, c_new, hs, rs, drs, mask, weight_hh, weight_ch, weight_gh, v
        )
        return (*grads, *_layer_norm_gradients(dpre, u_hat, d_c_norm, c_hat), *NO_GRADIENT)


def _layer_norm_gradients(dpre, u_hat, d_c_norm, c_hat) -> tuple[torch.Tensor | None, ...]:
    """The gradients of alpha_1 (4H), alpha_3 and beta_3 (H) from d loss / d pre-activations ``dpre``
    and d loss / d LN(c_t) ``d_c_norm`` with the normalised values ``u_hat (T, B, 4H)``,
    ``c_hat (T, B, H)``; three ``None`` without layer normalisation (``u_hat`` is ``None``)."""
    if u_hat is None:
        return None, None, None
    return (dpre * u_hat).sum((0, 1)), (d_c_norm * c_hat).sum((0, 1)), d_c_norm.sum((0, 1))


def _through_recurrent_weights(d_u_in_t, dpre_t, dc, weight_hh, weight_gh, mask, v: LSTMVariant, out_size: int):
    """Carries the gradients of step t ``(B, 4H)`` back through U (and R for FGR): ``d_u_in_t`` reaching
    U's product (``dpre_t``, d loss / d pre-activations, unless layer normalisation stands between).

    Returns the gradient reaching the state fed back, ``(B, out_size)`` (h_{t-1}, r_{t-1} under a
    projection, [r_{t-1}; p_{t-1}] with a non-recurrent one, whose p_{t-1} gets none), and the one
    reaching [i; f; o]_{t-1} (``None`` without gate recurrence); with U c_{t-1} (``recurrent_input`` c)
    U's share is added to ``dc (B, H)`` in place. A variational dropout ``mask`` scales U's share.
    """
    through_u = directions.times(d_u_in_t, weight_hh)
    if mask is not None:
        through_u.mul_(mask)
    if v.recurrent_input == "h":
        width = through_u.shape[1]  # F.pad would copy even with nothing to pad
        dh = through_u if width == out_size else F.pad(through_u, (0, out_size - width))
    else:
        dc.add_(through_u)
        dh = through_u.new_zeros(through_u.shape[0], out_size)
    return dh, (directions.times(ifo(dpre_t), weight_gh) if v.gate_recurrence else None)


def _weight_gradients(
    dpre,
    d_u_in,
    dh,
    dc,
    gates,
    cs,
    c_new,
    hs,
    rs,
    drs,
    mask,
    weight_hh,
    weight_ch,
    weight_gh,
    v: LSTMVariant,
    d_weight_ch: torch.Tensor | None = None,
):
    """The backward pass's outputs once d loss / d pre-activations ``dpre (T, B, 4H)``, d loss / d U's
    product ``d_u_in (T, B, 4H)`` (``dpre`` but under layer normalisation) and under a projection
    d loss / d r_t, ``drs (T, B, P)``, of every step are known: the weight gradients as single products
    over all steps, and the initial state's gradients (the layer normalisation's are the caller's).
    ``d_weight_ch``: the peepholes' gradient where the loop has summed it already."""
    hid = cs.shape[2]
    n_directions = directions.count(weight_hh)
    c_prev = cs[:-1]
    fed_back = ((rs if rs is not None else hs)[..., : weight_hh.shape[-1]] if v.recurrent_input == "h" else cs)[:-1]
    if mask is not None:
        fed_back = fed_back * mask
    d_weight_hh = directions.summed_products(d_u_in, fed_back, n_directions)
    if d_weight_ch is None and weight_ch is not None:
        if v.peepholes:
            c_o = c_new if v.output_peephole == "current" else c_prev
            dpre_i, dpre_f, _, dpre_o = dpre.split(hid, dim=2)
            products = (dpre_i * c_prev, dpre_f * c_prev, dpre_o * c_o)
            d_weight_ch = torch.stack([directions.summed(p, n_directions) for p in products], dim=-2)
        else:
            d_weight_ch = torch.zeros_like(weight_ch)
    d_weight_gh = None
    if v.gate_recurrence:
        d_weight_gh = directions.summed_products(ifo(dpre[1:]), ifo(gates[:-1]), n_directions)
    d_weight_hr = None if drs is None else drs.reshape(-1, drs.shape[2]).t() @ hs[1:].reshape(-1, hid)
    return dpre, d_weight_hh, dh, dc, d_weight_ch, d_weight_gh, d_weight_hr


def lstm_recurrence(
    xw: torch.Tensor,
    weight_hh: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    variant: LSTMVariant,
    activations: tuple[str, str, str],
    weight_ch: torch.Tensor | None = None,
    weight_gh: torch.Tensor | None = None,
    weight_hr: torch.Tensor | None = None,
    recurrent_mask: torch.Tensor | None = None,
    layer_norm: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    zoneout: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None),
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Runs an LSTM variant over a sequence whose input projection is already done.

    Under ``variant.layer_norm`` (Ba, Kiros & Hinton 2016, "Layer normalization") the
    recurrent product and the cell state are normalised, LN(z; alpha, beta) = alpha o (z - mu) / sigma + beta
    with mu and sigma over the units of z:

        (i; f; g; o)_t = LN(W x_t; alpha_2, beta_2) + LN(U h_{t-1}; alpha_1, beta_1) + b   (+ peepholes, R)
        h_t = o_t o sigma_h(LN(c_t; alpha_3, beta_3))

    The caller normalises W x_t (every step at once) and adds b, which carries beta_1 and beta_2 too.

    Args:
        xw: ``(T, B, 4H)`` = W x_t + b_ih + b_hh, gate order (i, f, g, o).
        weight_hh: ``(4H, H)``, U (``(4H, P)`` under a projection); multiplies h_{t-1} (r_{t-1}) or
            c_{t-1} per ``variant.recurrent_input``. Where ``weight_hr`` projects to more than P values,
            q_t = [r_t; p_t] (a non-recurrent projection p_t of N values: ``weight_hr`` ``(P + N, H)``),
            U multiplies r_{t-1}, the first P, and p_t is only output.
        state: ``(h_0, c_0)``, each ``(B, H)`` (h_0 is r_0, ``(B, P)``, under a projection; q_0,
            ``(B, P + N)``, p_0 unused, with a non-recurrent one).
        variant: the structure of the cell.
        activations: names of (sigma_g, sigma_c, sigma_h) among ``ACTIVATIONS``.
        weight_ch: ``(3, H)`` diagonal peepholes (V_i, V_f, V_o), required with ``variant.peepholes``.
        weight_gh: ``(3H, 3H)`` gate recurrence R (rows: targets i, f, o; columns: sources) for FGR.
        weight_hr: ``(P, H)`` recurrent projection W_rm (LSTMP): r_t = W_rm h_t is fed back and output;
            ``(P + N, H)``, [W_rm; W_pm], with a non-recurrent one.
        recurrent_mask: ``(B, R)`` variational dropout (Gal & Ghahramani 2016) of what U multiplies
            (h_{t-1}, r_{t-1} or c_{t-1}; R is ``weight_hh``'s width), the same at every step; ``None``
            for none.
        layer_norm: ``(alpha_1 (4H), alpha_3 (H), beta_3 (H))``, required with ``variant.layer_norm``.
        zoneout: ``(d^c (T, B, H), d^h (T, B, R))`` of Krueger et al. 2017, either ``None`` for none
            (:func:`asr_lstm.cells.dropout.zoneout_mask`): the step's own c~_t and h~_t (r~_t) are computed
            as without zoneout, then c_t = d^c_t o c_{t-1} + (1 - d^c_t) o c~_t and
            h_t = d^h_t o h_{t-1} + (1 - d^h_t) o h~_t; the step's gates see c~_t (the output peephole).

    G directions of a bidirectional layer run as one (:mod:`asr_lstm.cells.directions`) where
    :func:`runs_directions_together`: ``weight_hh (G, 4H, H)``, ``weight_ch (G, 3, H)`` and
    ``weight_gh (G, 3H, 3H)`` stack theirs, and every batch-sized argument holds G B sequences, direction
    d's in rows [d B, (d + 1) B).

    Returns:
        ``y (T, B, H)`` (``(T, B, P)``: the r_t; ``(T, B, P + N)``: the q_t) and ``(h_T, c_T)``
        (``(r_T, c_T)``, ``(q_T, c_T)``).
    """
    for name in activations:
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}")
    n_directions = directions.count(weight_hh)
    if n_directions > 1 and not runs_directions_together(xw, variant, weight_hr):
        raise ValueError(
            f"weights stacked for {n_directions} directions (weight_hh {tuple(weight_hh.shape)}) run only on the "
            "fused CUDA kernels where they do U's product (float32/float64, no projection, no layer "
            "normalisation); run each direction on its own"
        )
    if xw.shape[1] % n_directions:
        raise ValueError(f"xw's {xw.shape[1]} sequences do not split into {n_directions} directions")
    if variant.layer_norm != (layer_norm is not None):
        raise ValueError("layer_norm weights go with variant.layer_norm, and only with it")
    h0, c0 = state
    gain_u, gain_c, bias_c = layer_norm or (None, None, None)
    y, h, c = _LSTMRecurrence.apply(
        xw, weight_hh, h0, c0, weight_ch, weight_gh, weight_hr, gain_u, gain_c, bias_c, recurrent_mask, *zoneout,
        variant, tuple(activations),
    )  # fmt: skip
    return y, (h, c)


def stacked_lstm_recurrence(
    xw: torch.Tensor,
    weights: list[torch.Tensor | None],
    regularisers: list[torch.Tensor | None],
    variant: LSTMVariant,
    activations: tuple[str, str, str],
) -> torch.Tensor:
    """:func:`lstm_recurrence` from zero states for G directions run as one (a dense cell's
    ``stacked_recurrence``, :class:`asr_lstm.cells.paired.PairedDirections`).

    Args:
        xw: ``(T, G B, 4H)``; weights: U ``(G, 4H, H)``, the peepholes ``(G, 3, H)`` and R ``(G, 3H, 3H)``,
            the last two ``None`` where the variant has none; regularisers: the dropout mask ``(G B, H)``
            and zoneout's d^c and d^h ``(T, G B, H)``, each ``None`` where it does not act.

    Returns:
        ``y (T, G B, H)``.
    """
    weight_hh, weight_ch, weight_gh = weights
    mask, zone_c, zone_h = regularisers
    zeros = xw.new_zeros(xw.shape[1], weight_hh.shape[-1])
    y, _ = lstm_recurrence(
        xw, weight_hh, (zeros, zeros), variant, activations, weight_ch, weight_gh, None, mask, None, (zone_c, zone_h)
    )
    return y
