"""One Triton kernel per time step for the element-wise work of the dense LSTM variants (CUDA).

On a GPU the time loop of :mod:`asr_lstm.cells.recurrence` is bound by kernel launches, not by
arithmetic: a step is one ``addmm`` plus about ten small element-wise kernels forward and fifteen
backward. These two kernels do a step's element-wise work in one launch each, with the same
equations and the same buffers (gate activations, c_t, h_t, sigma_h(c_t)), so the hand-derived
backward pass and the weight gradients stay as they are.

They run on float32/float64 CUDA tensors, and on CPU tensors under Triton's interpreter
(``TRITON_INTERPRET=1``), which is how the CPU-only test suite checks them against the per-gate
references and by float64 gradcheck; the suite also compiles every specialisation for sm_80 and sm_90.
"""

from __future__ import annotations

import functools
import os
import shutil
from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

from asr_lstm.cells.switch import Switch

if TYPE_CHECKING:
    from asr_lstm.cells.recurrence import LSTMVariant

ACTIVATION_CODES = {"sigmoid": 0, "tanh": 1, "identity": 2}
BLOCK = 512
SWITCH = Switch()
switched_off = SWITCH.off


@functools.cache
def _can_build_launcher() -> bool:
    """Triton builds a small C launcher the first time a kernel runs, with $CC, gcc or clang."""
    return bool(os.environ.get("CC") or shutil.which("gcc") or shutil.which("clang"))


def applies(x: torch.Tensor) -> bool:
    """Whether the fused kernels run for tensors like ``x``: float32/float64 on CUDA where Triton can
    build its launcher, or on any device under the interpreter. Half precision keeps the eager loop."""
    if not SWITCH.on or x.dtype not in (torch.float32, torch.float64):
        return False
    return os.environ.get("TRITON_INTERPRET") == "1" or (x.is_cuda and _can_build_launcher())


@triton.jit
def _act(x, CODE: tl.constexpr):
    if CODE == 0:
        return tl.sigmoid(x)
    elif CODE == 1:
        return 2 * tl.sigmoid(2 * x) - 1
    else:
        return x


@triton.jit
def _dact(y, CODE: tl.constexpr):
    """d sigma(a) / d a written with y = sigma(a)."""
    if CODE == 0:
        return y * (1 - y)
    elif CODE == 1:
        return 1 - y * y
    else:
        return y * 0 + 1


@triton.jit
def _load_gates(gates, n, H: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """This program's element indices k = b H + j of the ``(B, H)`` state, their mask, j, the pointers
    to the i entries of their ``(B, 4H)`` gate rows, and the four gate values (i, f, g, o)."""
    k = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = k < n
    j = k % H
    row = gates + (k // H) * 4 * H + j
    return (
        k,
        mask,
        j,
        row,
        tl.load(row, mask=mask),
        tl.load(row + H, mask=mask),
        tl.load(row + 2 * H, mask=mask),
        tl.load(row + 3 * H, mask=mask),
    )


@triton.jit
def _forward_step(
    gates,
    c_prev,
    c_next,
    h_next,
    sh_out,
    peep,
    n,
    H: tl.constexpr,
    IG: tl.constexpr,
    FG: tl.constexpr,
    OG: tl.constexpr,
    COUPLED: tl.constexpr,
    PEEP: tl.constexpr,
    O_CURRENT: tl.constexpr,
    ACT_G: tl.constexpr,
    ACT_C: tl.constexpr,
    ACT_H: tl.constexpr,
    CLIP: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    k, mask, j, row, a_i, a_f, a_g, a_o = _load_gates(gates, n, H, BLOCK_SIZE)
    c = tl.load(c_prev + k, mask=mask)
    if PEEP:
        a_i += tl.load(peep + j, mask=mask) * c
        a_f += tl.load(peep + H + j, mask=mask) * c
    one = c * 0 + 1
    i = _act(a_i, ACT_G) if IG else one
    if COUPLED:
        f = 1 - i
    else:
        f = _act(a_f, ACT_G) if FG else one
    g = _act(a_g, ACT_C)
    c_new = f * c + i * g
    if CLIP > 0:
        limit = c * 0 + CLIP  # C in the tensors' dtype (a bare float literal would be float32)
        c_new = tl.minimum(tl.maximum(c_new, -limit), limit)
    if PEEP:
        a_o += tl.load(peep + 2 * H + j, mask=mask) * (c_new if O_CURRENT else c)
    o = _act(a_o, ACT_G) if OG else one
    s = _act(c_new, ACT_H)
    tl.store(row, i, mask=mask)
    tl.store(row + H, f, mask=mask)
    tl.store(row + 2 * H, g, mask=mask)
    tl.store(row + 3 * H, o, mask=mask)
    tl.store(c_next + k, c_new, mask=mask)
    tl.store(sh_out + k, s, mask=mask)
    tl.store(h_next + k, o * s, mask=mask)


@triton.jit
def _backward_step(
    gates,
    c_prev,
    c_now,
    sh,
    grad_y,
    dh,
    dc,
    d_ifo,
    dpre,
    peep,
    n,
    H: tl.constexpr,
    HAS_GY: tl.constexpr,
    HAS_DIFO: tl.constexpr,
    IG: tl.constexpr,
    FG: tl.constexpr,
    OG: tl.constexpr,
    COUPLED: tl.constexpr,
    PEEP: tl.constexpr,
    O_CURRENT: tl.constexpr,
    ACT_G: tl.constexpr,
    ACT_C: tl.constexpr,
    ACT_H: tl.constexpr,
    CLIP: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    k, mask, j, row, i, f, g, o = _load_gates(gates, n, H, BLOCK_SIZE)
    b = k // H
    c = tl.load(c_prev + k, mask=mask)
    s = tl.load(sh + k, mask=mask)
    dh_t = tl.load(dh + k, mask=mask)
    if HAS_GY:
        dh_t += tl.load(grad_y + k, mask=mask)
    zero = c * 0
    dsg_i = _dact(i, ACT_G) if IG else zero
    dsg_f = zero if (COUPLED or not FG) else _dact(f, ACT_G)
    dsg_o = _dact(o, ACT_G) if OG else zero
    d_o = dh_t * s * dsg_o
    dc_t = tl.load(dc + k, mask=mask) + dh_t * o * _dact(s, ACT_H)
    if HAS_DIFO:
        d_o += tl.load(d_ifo + b * 3 * H + 2 * H + j, mask=mask) * dsg_o
    if PEEP and O_CURRENT:
        dc_t += d_o * tl.load(peep + 2 * H + j, mask=mask)
    if CLIP > 0:  # dc_t is d loss / d clip(c_t): nothing reaches c_t where it was clipped
        dc_t = tl.where(tl.abs(tl.load(c_now + k, mask=mask)) < zero + CLIP, dc_t, zero)
    d_i = dc_t * (g - c if COUPLED else g) * dsg_i
    d_f = dc_t * c * dsg_f
    d_g = dc_t * i * _dact(g, ACT_C)
    if HAS_DIFO:
        d_i += tl.load(d_ifo + b * 3 * H + j, mask=mask) * dsg_i
        d_f += tl.load(d_ifo + b * 3 * H + H + j, mask=mask) * dsg_f
    dc_prev = dc_t * f
    if PEEP:
        dc_prev += d_i * tl.load(peep + j, mask=mask) + d_f * tl.load(peep + H + j, mask=mask)
        if not O_CURRENT:
            dc_prev += d_o * tl.load(peep + 2 * H + j, mask=mask)
    out = dpre + b * 4 * H + j
    tl.store(out, d_i, mask=mask)
    tl.store(out + H, d_f, mask=mask)
    tl.store(out + 2 * H, d_g, mask=mask)
    tl.store(out + 3 * H, d_o, mask=mask)
    tl.store(dc + k, dc_prev, mask=mask)


def kernel_flags(variant: LSTMVariant, acts: tuple[str, str, str]) -> dict:
    """The compile-time switches of both kernels for one variant and its (sigma_g, sigma_c, sigma_h)."""
    sg, sc, sh = (ACTIVATION_CODES[a] for a in acts)
    return dict(
        IG=variant.input_gate,
        FG=variant.forget_gate,
        OG=variant.output_gate,
        COUPLED=variant.coupled,
        PEEP=variant.peepholes,
        O_CURRENT=variant.output_peephole == "current",
        ACT_G=sg,
        ACT_C=sc,
        ACT_H=sh,
        CLIP=float(variant.cell_clip or 0.0),
    )


def forward_step(
    gates: torch.Tensor,
    c_prev: torch.Tensor,
    c_next: torch.Tensor,
    h_next: torch.Tensor,
    sh: torch.Tensor,
    weight_ch: torch.Tensor | None,
    flags: dict,
) -> None:
    """Turns pre-activations into activations in place and writes c_t, h_t, sigma_h(c_t).

    Args:
        gates: ``(B, 4H)`` pre-activations W x_t + U r_{t-1} + b (i, f, g, o), overwritten by
            (i_t, f_t, sigma_c(g_t), o_t); a missing gate holds 1.
        c_prev: ``(B, H)`` c_{t-1}; c_next, h_next, sh: ``(B, H)`` outputs; weight_ch: ``(3, H)`` or ``None``.
        flags: :func:`kernel_flags` of the variant (computed once per sequence, not per step).
    """
    n = c_prev.numel()
    peep = weight_ch.contiguous() if flags["PEEP"] else c_prev
    _forward_step[(triton.cdiv(n, BLOCK),)](
        gates, c_prev, c_next, h_next, sh, peep, n, H=c_prev.shape[1], BLOCK_SIZE=BLOCK, **flags
    )


def backward_step(
    gates: torch.Tensor,
    c_prev: torch.Tensor,
    c_now: torch.Tensor,
    sh: torch.Tensor,
    grad_y: torch.Tensor | None,
    dh: torch.Tensor,
    dc: torch.Tensor,
    d_ifo: torch.Tensor | None,
    dpre: torch.Tensor,
    weight_ch: torch.Tensor | None,
    flags: dict,
) -> None:
    """Writes d loss / d pre-activations of step t into ``dpre (B, 4H)`` and turns ``dc`` from
    d loss / d c_t (recurrent part) into d loss / d c_{t-1} (before any U c_{t-1} term).

    Args:
        gates: ``(B, 4H)`` activations of step t; c_prev ``(B, H)``; c_now ``(B, H)`` c_t, whose clipped
            entries pass no gradient under cell clipping; sh ``(B, H)`` sigma_h(c_t);
        grad_y: ``(B, H)`` or ``None``; dh: ``(B, H)`` gradient reaching h_t from step t+1;
        d_ifo: ``(B, 3H)`` gradient reaching [i; f; o] of step t through the gate recurrence, or ``None``.
    """
    n = c_prev.numel()
    peep = weight_ch.contiguous() if flags["PEEP"] else c_prev
    _backward_step[(triton.cdiv(n, BLOCK),)](
        gates,
        c_prev,
        c_now,
        sh,
        grad_y if grad_y is not None else dh,
        dh,
        dc,
        d_ifo if d_ifo is not None else dh,
        dpre,
        peep,
        n,
        H=c_prev.shape[1],
        HAS_GY=grad_y is not None,
        HAS_DIFO=d_ifo is not None,
        BLOCK_SIZE=BLOCK,
        **flags,
    )
