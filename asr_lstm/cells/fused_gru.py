"""Triton kernels for the time steps of the GRU and the Li-GRU (CUDA), U's product inside.

A GRU step takes two launches each way. Its reset gate acts before U_n (:mod:`asr_lstm.cells.gru`), so U_n multiplies r_t o h_{t-1} of
every unit and a step has two phases, each a kernel over tiles of ``BLOCK_ROWS`` sequences by
``BLOCK_UNITS`` units, U's product inside (the scheme of :mod:`asr_lstm.cells.fused`):

- forward, (1) r_t and z_t from the tile's rows of U_r and U_z, and its share of r_t o h_{t-1};
  (2) n_t from its rows of U_n and every unit's r_t o h_{t-1}, and h_t (zoneout included);
- backward, (1) the gradient reaching the tile's h_t, which takes step t+1's d loss / d [r; z]
  through the columns of U_r and U_z, and d z_t, d n_t; (2) d (r_t o h_{t-1}) from every unit's d n_t
  through the columns of U_n, and d r_t.

The Li-GRU (:mod:`asr_lstm.cells.ligru`) has no reset gate: z_t and h~_t come from one product with
h_{t-1}, and a step is one kernel each way, like an LSTM step.

The buffers are the eager loops' (gates; h_t; the GRU's r_t o h_{t-1}; d loss / d pre-activations), so
the weight gradients stay single products after the loop. They run where :func:`fused.applies`, and
take the directions of a layer in the same launches as the LSTM's (:mod:`asr_lstm.cells.directions`).
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from asr_lstm.cells import directions, fused
from asr_lstm.cells.fused import act, columns_block, dact, direction, left_block, rows_block, steps_before, tile


@triton.jit
def _two_gate_inputs(
    xw, xw_row_stride, xw_col_stride, h_prev, weight, drop, rows, units, mask, end,
    H: tl.constexpr, HAS_MASK: tl.constexpr, PRECISION: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """The pre-activations of the first two gates for the tile: W x_t + b plus (mask o h_{t-1}) U^T for
    the tile's rows of U's first two blocks (the GRU's r and z, the Li-GRU's z and h~)."""
    source = xw + rows * xw_row_stride + units * xw_col_stride
    a_1 = tl.load(source, mask=mask)
    a_2 = tl.load(source + H * xw_col_stride, mask=mask)
    for k0 in range(0, H, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        s = left_block(h_prev, rows, k, end, H, H, False)
        if HAS_MASK:
            s *= left_block(drop, rows, k, end, H, H, False)
        a_1 += tl.dot(s, rows_block(weight, 0, k, units, H, H), input_precision=PRECISION)
        a_2 += tl.dot(s, rows_block(weight, H, k, units, H, H), input_precision=PRECISION)
    return a_1, a_2


@triton.jit(do_not_specialize=["t"])  # t changes at every launch
def _forward_gates(
    xw,
    xw_step_stride,
    xw_row_stride,
    xw_col_stride,
    hs,
    weight,
    drop,
    gates,
    rh,
    t,
    batch,
    H: tl.constexpr,
    HAS_MASK: tl.constexpr,
    PRECISION: tl.constexpr,
    ACT_G: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows, units, mask, end = tile(batch, H, BLOCK_ROWS, BLOCK_UNITS)
    weight = direction(weight, 3 * H * H)
    step, _ = steps_before(t, batch)
    xw += t.to(tl.int64) * xw_step_stride
    h_prev = hs + step * H
    gates += step * 3 * H
    rh += step * H
    a_r, a_z = _two_gate_inputs(
        xw, xw_row_stride, xw_col_stride, h_prev, weight, drop, rows, units, mask, end, H, HAS_MASK, PRECISION,
        BLOCK_K,
    )  # fmt: skip
    state = rows * H + units
    r = act(a_r, ACT_G)
    h_in = tl.load(h_prev + state, mask=mask)
    if HAS_MASK:
        h_in *= tl.load(drop + state, mask=mask)
    row = gates + rows * 3 * H + units
    tl.store(row, r, mask=mask)
    tl.store(row + H, act(a_z, ACT_G), mask=mask)
    tl.store(rh + state, r * h_in, mask=mask)


@triton.jit(do_not_specialize=["t"])  # t changes at every launch
def _forward_update(
    xw,
    xw_step_stride,
    xw_row_stride,
    xw_col_stride,
    rh,
    weight,
    hs,
    zone,
    gates,
    t,
    batch,
    H: tl.constexpr,
    HAS_ZONE: tl.constexpr,
    PRECISION: tl.constexpr,
    ACT_C: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows, units, mask, end = tile(batch, H, BLOCK_ROWS, BLOCK_UNITS)
    weight = direction(weight, 3 * H * H)
    step, each = steps_before(t, batch)
    xw += t.to(tl.int64) * xw_step_stride
    rh += step * H
    h_prev, h_next = hs + step * H, hs + (step + each) * H
    zone += step * H
    gates += step * 3 * H
    a_n = tl.load(xw + rows * xw_row_stride + (2 * H + units) * xw_col_stride, mask=mask)
    for k0 in range(0, H, BLOCK_K):  # a_n += (r_t o h_{t-1}) U_n^T for the tile's rows of U_n
        k = k0 + tl.arange(0, BLOCK_K)
        s = left_block(rh, rows, k, end, H, H, False)
        a_n += tl.dot(s, rows_block(weight, 2 * H, k, units, H, H), input_precision=PRECISION)
    state = rows * H + units
    n = act(a_n, ACT_C)
    row = gates + rows * 3 * H + units
    tl.store(row + 2 * H, n, mask=mask)
    z = tl.load(row + H, mask=mask)
    h_before = tl.load(h_prev + state, mask=mask)
    h = n + z * (h_before - n)  # z o h_{t-1} + (1 - z) o n_t
    if HAS_ZONE:  # d o h_{t-1} + (1 - d) o h~_t
        h += tl.load(zone + state, mask=mask) * (h_before - h)
    tl.store(h_next + state, h, mask=mask)


@triton.jit
def _gradient_of_h(
    dh, extra, dpre_next, weight, drop, grad_y, zone, rows, units, mask, end,
    ROW: tl.constexpr, H: tl.constexpr, PRODUCT: tl.constexpr, HAS_GY: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr, PRECISION: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """d loss / d h~_t for the tile, and zoneout's share of d loss / d h_t (0 without), which reaches
    h_{t-1} directly. ``dh`` holds what reaches h_t other than through step t+1's weights (on the last
    step: all of it); with ``PRODUCT``, ``extra`` plus step t+1's d loss / d pre-activations ``(B, ROW)``
    times the columns of the first two blocks of U, times the dropout mask, is added."""
    state = rows * H + units
    dh_t = tl.load(dh + state, mask=mask)
    if PRODUCT:
        through = extra
        for m0 in range(0, 2 * H, BLOCK_K):
            m = m0 + tl.arange(0, BLOCK_K)
            d_next = left_block(dpre_next, rows, m, end, ROW, 2 * H, False)
            through += tl.dot(d_next, columns_block(weight, 0, m, units, 2 * H, H, H), input_precision=PRECISION)
        if HAS_MASK:
            through *= tl.load(drop + state, mask=mask)
        dh_t += through
    if HAS_GY:
        dh_t += tl.load(grad_y + state, mask=mask)
    carry = dh_t * 0
    if HAS_ZONE:  # d's share of h_t goes straight to h_{t-1}; dh_t becomes d loss / d h~_t
        carry = dh_t * tl.load(zone + state, mask=mask)
        dh_t -= carry
    return dh_t, carry


@triton.jit
def _backward_buffers(gates, hs, grad_y, dpre, zone, t, batch, ROW: tl.constexpr, H: tl.constexpr):
    """Step t+1's and step t's gates ``(., B, ROW)``, h_{t-1}, step t's grad_y, step t+1's and step t's
    d loss / d pre-activations and step t's zoneout d, in the sequence-long buffers."""
    step, each = steps_before(t, batch)
    return (
        gates + (step + each) * ROW, gates + step * ROW, hs + step * H, grad_y + step * H,
        dpre + (step + each) * ROW, dpre + step * ROW, zone + step * H,
    )  # fmt: skip


@triton.jit(do_not_specialize=["t"])  # t changes at every launch
def _backward_update(
    gates,
    hs,
    grad_y,
    dh,
    d_rh,
    dpre,
    weight,
    drop,
    zone,
    t,
    batch,
    H: tl.constexpr,
    PRODUCT: tl.constexpr,
    HAS_GY: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr,
    PRECISION: tl.constexpr,
    ACT_G: tl.constexpr,
    ACT_C: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows, units, mask, end = tile(batch, H, BLOCK_ROWS, BLOCK_UNITS)
    weight = direction(weight, 3 * H * H)
    gates_next, gates, h_prev, grad_y, dpre_next, dpre, zone = _backward_buffers(
        gates, hs, grad_y, dpre, zone, t, batch, 3 * H, H
    )
    state = rows * H + units
    # what reaches h_t through step t+1's weights: d(r o h) o r_{t+1} and d [r; z]_{t+1} U_rz
    extra = tl.load(d_rh + state, mask=mask) * 0
    if PRODUCT:
        extra = tl.load(d_rh + state, mask=mask) * tl.load(gates_next + rows * 3 * H + units, mask=mask)
    dh_t, carry = _gradient_of_h(
        dh, extra, dpre_next, weight, drop, grad_y, zone, rows, units, mask, end, 3 * H, H, PRODUCT, HAS_GY,
        HAS_MASK, HAS_ZONE, PRECISION, BLOCK_K,
    )  # fmt: skip
    row = gates + rows * 3 * H + units
    z = tl.load(row + H, mask=mask)
    n = tl.load(row + 2 * H, mask=mask)
    out = dpre + rows * 3 * H + units
    tl.store(out + H, dh_t * (tl.load(h_prev + state, mask=mask) - n) * dact(z, ACT_G), mask=mask)
    tl.store(out + 2 * H, dh_t * (1 - z) * dact(n, ACT_C), mask=mask)
    tl.store(dh + state, dh_t * z + carry, mask=mask)


@triton.jit(do_not_specialize=["t"])  # t changes at every launch
def _backward_reset(
    gates,
    hs,
    dpre,
    weight,
    drop,
    d_rh,
    t,
    batch,
    H: tl.constexpr,
    HAS_MASK: tl.constexpr,
    PRECISION: tl.constexpr,
    ACT_G: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows, units, mask, end = tile(batch, H, BLOCK_ROWS, BLOCK_UNITS)
    weight = direction(weight, 3 * H * H)
    step, _ = steps_before(t, batch)
    gates += step * 3 * H
    h_prev = hs + step * H
    dpre += step * 3 * H
    state = rows * H + units
    through = tl.load(h_prev + state, mask=mask) * 0
    for m0 in range(0, H, BLOCK_K):  # d (r_t o h_{t-1}) = d n_t U_n for the tile's columns of U_n
        m = m0 + tl.arange(0, BLOCK_K)
        d_n = left_block(dpre + 2 * H, rows, m, end, 3 * H, H, False)
        through += tl.dot(d_n, columns_block(weight + 2 * H * H, 0, m, units, H, H, H), input_precision=PRECISION)
    tl.store(d_rh + state, through, mask=mask)
    h_in = tl.load(h_prev + state, mask=mask)
    if HAS_MASK:
        h_in *= tl.load(drop + state, mask=mask)
    r = tl.load(gates + rows * 3 * H + units, mask=mask)
    tl.store(dpre + rows * 3 * H + units, through * h_in * dact(r, ACT_G), mask=mask)


@triton.jit(do_not_specialize=["t"])  # t changes at every launch
def _ligru_forward_step(
    xw,
    xw_step_stride,
    xw_row_stride,
    xw_col_stride,
    hs,
    weight,
    drop,
    zone,
    gates,
    t,
    batch,
    H: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows, units, mask, end = tile(batch, H, BLOCK_ROWS, BLOCK_UNITS)
    weight = direction(weight, 2 * H * H)
    step, each = steps_before(t, batch)
    xw += t.to(tl.int64) * xw_step_stride
    h_prev, h_next = hs + step * H, hs + (step + each) * H
    zone += step * H
    gates += step * 2 * H
    a_z, a_h = _two_gate_inputs(
        xw, xw_row_stride, xw_col_stride, h_prev, weight, drop, rows, units, mask, end, H, HAS_MASK, PRECISION,
        BLOCK_K,
    )  # fmt: skip
    state = rows * H + units
    z = tl.sigmoid(a_z)
    candidate = tl.maximum(a_h, a_h * 0)  # ReLU
    row = gates + rows * 2 * H + units
    tl.store(row, z, mask=mask)
    tl.store(row + H, candidate, mask=mask)
    h_before = tl.load(h_prev + state, mask=mask)
    h = candidate + z * (h_before - candidate)  # z o h_{t-1} + (1 - z) o h~_t
    if HAS_ZONE:
        h += tl.load(zone + state, mask=mask) * (h_before - h)
    tl.store(h_next + state, h, mask=mask)


@triton.jit(do_not_specialize=["t"])  # t changes at every launch
def _ligru_backward_step(
    gates,
    hs,
    grad_y,
    dh,
    dpre,
    weight,
    drop,
    zone,
    t,
    batch,
    H: tl.constexpr,
    PRODUCT: tl.constexpr,
    HAS_GY: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows, units, mask, end = tile(batch, H, BLOCK_ROWS, BLOCK_UNITS)
    weight = direction(weight, 2 * H * H)
    _, gates, h_prev, grad_y, dpre_next, dpre, zone = _backward_buffers(
        gates, hs, grad_y, dpre, zone, t, batch, 2 * H, H
    )
    state = rows * H + units
    # what reaches h_t through U from step t+1: d [z; h~]_{t+1} U for the tile's columns
    dh_t, carry = _gradient_of_h(
        dh, tl.load(h_prev + state, mask=mask) * 0, dpre_next, weight, drop, grad_y, zone, rows, units, mask, end,
        2 * H, H, PRODUCT, HAS_GY, HAS_MASK, HAS_ZONE, PRECISION, BLOCK_K,
    )  # fmt: skip
    row = gates + rows * 2 * H + units
    z = tl.load(row, mask=mask)
    candidate = tl.load(row + H, mask=mask)
    out = dpre + rows * 2 * H + units
    tl.store(out, dh_t * (tl.load(h_prev + state, mask=mask) - candidate) * z * (1 - z), mask=mask)
    tl.store(out + H, tl.where(candidate > 0, dh_t * (1 - z), dh_t * 0), mask=mask)
    tl.store(dh + state, dh_t * z + carry, mask=mask)


TILES = dict(BLOCK_ROWS=fused.BLOCK_ROWS, BLOCK_UNITS=fused.BLOCK_UNITS, BLOCK_K=fused.BLOCK_K)


def _tiles(rows: int, hidden: int, weight_hh: torch.Tensor) -> tuple[int, tuple[int, int, int]]:
    """Each direction's batch and the launch grid for buffers of ``rows`` sequences by ``hidden`` units,
    whose directions U ``(G, ., H)`` or ``(., H)`` tells."""
    n_directions = directions.count(weight_hh)
    batch = rows // n_directions
    return batch, fused.tile_grid(batch, hidden, n_directions)


def forward(xw, weight_hh, mask, zone, codes: tuple[int, int], gates, hs, rh) -> None:
    """Fills ``gates (T, B, 3H)`` (r, z, n), ``hs (T+1, B, H)`` (h_0 given) and ``rh (T, B, H)``
    (r_t o h_{t-1} o mask) as the eager loop does.

    Args:
        xw: ``(T, B, 3H)`` W x_t + b, any strides; weight_hh: U ``(3H, H)``, or G directions' ``(G, 3H, H)``
            run in the same launches, B then holding G batches (:mod:`asr_lstm.cells.directions`);
        mask: ``(B, H)`` or ``None``;
        zone: ``(T, B, H)`` zoneout's d_t or ``None``; codes: sigma_g's and sigma_c's activation codes.
    """
    steps, rows, hidden = rh.shape
    batch, grid = _tiles(rows, hidden, weight_hh)
    weight, drop, zones = _contiguous(weight_hh, mask, zone, hs)
    common = dict(H=hidden, PRECISION=fused.dot_precision(xw), **TILES)
    gates_kernel = functools.partial(
        _forward_gates[grid], xw, *xw.stride(), hs, weight, drop, gates, rh,
        HAS_MASK=mask is not None, ACT_G=codes[0], **common,
    )  # fmt: skip
    update_kernel = functools.partial(
        _forward_update[grid], xw, *xw.stride(), rh, weight, hs, zones, gates,
        HAS_ZONE=zone is not None, ACT_C=codes[1], **common,
    )  # fmt: skip
    for t in range(steps):
        gates_kernel(t, batch)
        update_kernel(t, batch)


def backward(grad_y, weight_hh, mask, zone, codes: tuple[int, int], gates, hs, dh, dpre) -> None:
    """Fills ``dpre (T, B, 3H)``, d loss / d pre-activations, as the eager loop does; ``dh (B, H)``
    holds the gradient reaching h_T on entry and h_0 on return.

    Args:
        grad_y: ``(T, B, H)`` or ``None``; weight_hh, mask, zone, codes: as for :func:`forward`;
        gates ``(T, B, 3H)`` and hs ``(T+1, B, H)``: the forward pass's buffers.
    """
    steps, rows, three_h = gates.shape
    hidden = three_h // 3
    batch, grid = _tiles(rows, hidden, weight_hh)
    weight, drop, zones = _contiguous(weight_hh, mask, zone, hs)
    d_rh = torch.empty_like(dh)  # d loss / d (r_t o h_{t-1} o mask) of the step just done
    common = dict(H=hidden, PRECISION=fused.dot_precision(gates), ACT_G=codes[0], **TILES)
    update = functools.partial(
        _backward_update[grid], gates, hs, grad_y.contiguous() if grad_y is not None else hs, dh, d_rh, dpre,
        weight, drop, zones, HAS_GY=grad_y is not None, HAS_ZONE=zone is not None, ACT_C=codes[1], **common,
    )  # fmt: skip
    reset_kernel = functools.partial(
        _backward_reset[grid], gates, hs, dpre, weight, drop, d_rh, HAS_MASK=mask is not None, **common
    )
    for t in range(steps - 1, -1, -1):
        product = t < steps - 1  # the last step has no gradient from a step after it
        update(t, batch, PRODUCT=product, HAS_MASK=product and mask is not None)
        reset_kernel(t, batch)
    through = d_rh * gates[0, :, :hidden] + directions.times(dpre[0, :, : 2 * hidden], weight_hh[..., : 2 * hidden, :])
    dh += through if mask is None else through * mask


def ligru_forward(xw, weight_hh, mask, zone, gates, hs) -> None:
    """Fills the Li-GRU's ``gates (T, B, 2H)`` (z_t, h~_t) and ``hs (T+1, B, H)`` (h_0 given) as its
    eager loop does. xw: ``(T, B, 2H)``, any strides; weight_hh: U ``(2H, H)`` (or ``(G, 2H, H)``, as for
    :func:`forward`); mask ``(B, H)``, zone ``(T, B, H)``: as for :func:`forward`."""
    steps, rows, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    batch, grid = _tiles(rows, hidden, weight_hh)
    weight, drop, zones = _contiguous(weight_hh, mask, zone, hs)
    kernel = functools.partial(
        _ligru_forward_step[grid], xw, *xw.stride(), hs, weight, drop, zones, gates,
        H=hidden, HAS_MASK=mask is not None, HAS_ZONE=zone is not None, PRECISION=fused.dot_precision(xw), **TILES,
    )  # fmt: skip
    for t in range(steps):
        kernel(t, batch)


def ligru_backward(grad_y, weight_hh, mask, zone, gates, hs, dh, dpre) -> None:
    """Fills the Li-GRU's ``dpre (T, B, 2H)`` as its eager loop does; ``dh (B, H)`` holds the gradient
    reaching h_T on entry and h_0 on return."""
    steps, rows, two_h = gates.shape
    hidden = two_h // 2
    batch, grid = _tiles(rows, hidden, weight_hh)
    weight, drop, zones = _contiguous(weight_hh, mask, zone, hs)
    kernel = functools.partial(
        _ligru_backward_step[grid], gates, hs, grad_y.contiguous() if grad_y is not None else hs, dh, dpre, weight,
        drop, zones, H=hidden, HAS_GY=grad_y is not None, HAS_ZONE=zone is not None,
        PRECISION=fused.dot_precision(gates), **TILES,
    )  # fmt: skip
    for t in range(steps - 1, -1, -1):
        product = t < steps - 1
        kernel(t, batch, PRODUCT=product, HAS_MASK=product and mask is not None)
    through = directions.times(dpre[0], weight_hh)
    dh += through if mask is None else through * mask


def _contiguous(weight_hh, mask, zone, dummy) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """U, the dropout mask and zoneout's d as the kernels read them; ``dummy`` for those not given."""
    return (
        weight_hh.contiguous(),
        mask.contiguous() if mask is not None else dummy,
        zone.contiguous() if zone is not None else dummy,
    )
