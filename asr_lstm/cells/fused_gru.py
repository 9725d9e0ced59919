"""Triton kernels for the time steps of the GRU and the Li-GRU (CUDA), U's product inside.

The GRU's reset gate acts before U_n (:mod:`asr_lstm.cells.gru`), so U_n multiplies r_t o h_{t-1} of
every unit and a step has two phases, each over tiles of ``BLOCK_ROWS`` sequences by ``BLOCK_UNITS``
units, U's product inside (the scheme of :mod:`asr_lstm.cells.fused`):

- forward, (1) r_t and z_t from the tile's rows of U_r and U_z, and its share of r_t o h_{t-1};
  (2) n_t from its rows of U_n and every unit's r_t o h_{t-1}, and h_t (zoneout included);
- backward, (1) the gradient reaching the tile's h_t, which takes step t+1's d loss / d [r; z]
  through the columns of U_r and U_z, and d z_t, d n_t; (2) d (r_t o h_{t-1}) from every unit's d n_t
  through the columns of U_n, and d r_t.

The Li-GRU (:mod:`asr_lstm.cells.ligru`) has no reset gate: z_t and h~_t come from one product with
h_{t-1}, and a step is one phase each way, like an LSTM step.

One kernel a direction of each loop takes the steps (``first``, ``count``) and the blocks of units
(``UNIT_BLOCKS``) a program does, and the GRU's which phases (``*_PHASE``), as
:func:`fused._forward_steps` does: a launch a phase of a step over a grid of unit blocks (the
default), or, under :data:`fused.PERSISTENT`, every step of the loop in one launch whose programs
meet after each phase (twice a step for the GRU, once for the Li-GRU), since the next one reads
every unit's result.

The buffers are the eager loops' (gates; h_t; the GRU's r_t o h_{t-1}; d loss / d pre-activations), so
the weight gradients stay single products after the loop. They run where :func:`fused.applies`, and
take the directions of a layer in the same launches as the LSTM's (:mod:`asr_lstm.cells.directions`).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from asr_lstm.cells import directions, fused
from asr_lstm.cells.fused import (
    act,
    columns_block,
    dact,
    direction,
    left_block,
    programs_meet,
    rows_block,
    steps_before,
    tile_of,
)


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


@triton.jit
def _phase_done(arrivals, meetings, MEET: tl.constexpr):
    """After a phase, every unit's results written before the next phase reads them: by this program's
    threads (a block barrier) and, with ``MEET``, by every program of the tile, whose ``meetings``-th
    meeting this is."""
    tl.debug_barrier()
    if MEET:
        programs_meet(arrivals, meetings * tl.num_programs(1))


@triton.jit
def _gru_gates(
    xw, xw_row_stride, xw_col_stride, hs, weight, drop, gates, rh, rows, units, mask, end,
    H: tl.constexpr, HAS_MASK: tl.constexpr, PRECISION: tl.constexpr, ACT_G: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """Forward phase 1 of a step for a tile (the step's buffers given): r_t, z_t and r_t o h_{t-1} o mask."""
    a_r, a_z = _two_gate_inputs(
        xw, xw_row_stride, xw_col_stride, hs, weight, drop, rows, units, mask, end, H, HAS_MASK, PRECISION, BLOCK_K
    )
    state = rows * H + units
    r = act(a_r, ACT_G)
    h_in = tl.load(hs + state, mask=mask)
    if HAS_MASK:
        h_in *= tl.load(drop + state, mask=mask)
    row = gates + rows * 3 * H + units
    tl.store(row, r, mask=mask)
    tl.store(row + H, act(a_z, ACT_G), mask=mask)
    tl.store(rh + state, r * h_in, mask=mask)


@triton.jit
def _gru_update(
    xw, xw_row_stride, xw_col_stride, rh, weight, h_prev, h_next, zone, gates, rows, units, mask, end,
    H: tl.constexpr, HAS_ZONE: tl.constexpr, PRECISION: tl.constexpr, ACT_C: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """Forward phase 2 of a step for a tile: n_t from every unit's r_t o h_{t-1}, and h_t."""
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


@triton.jit(do_not_specialize=["first", "count"])  # the steps change at every launch
def _gru_forward_steps(
    xw,
    xw_step_stride,
    xw_row_stride,
    xw_col_stride,
    hs,
    weight,
    drop,
    zone,
    gates,
    rh,
    arrivals,
    first,
    count,
    batch,
    H: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr,
    PRECISION: tl.constexpr,
    ACT_G: tl.constexpr,
    ACT_C: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
    UNIT_BLOCKS: tl.constexpr,
    GATES_PHASE: tl.constexpr,
    UPDATE_PHASE: tl.constexpr,
    MEET: tl.constexpr,
):
    """Steps ``first`` to ``first + count - 1`` of the GRU's forward loop for this program's tile of
    sequences and direction and its ``UNIT_BLOCKS`` blocks of units: phase 1 (``GATES_PHASE``), phase 2
    (``UPDATE_PHASE``) or both, meeting after each (``MEET``, both phases only)."""
    weight = direction(weight, 3 * H * H)
    t = first  # a while loop: the interpreter's range() takes no kernel argument
    while t < first + count:
        step, each = steps_before(t, batch)
        xw_t = xw + t.to(tl.int64) * xw_step_stride
        h_prev = hs + step * H
        gates_t = gates + step * 3 * H
        rh_t = rh + step * H
        if GATES_PHASE:
            for j in range(0, UNIT_BLOCKS):
                rows, units, mask, end = tile_of(batch, H, BLOCK_ROWS, BLOCK_UNITS, tl.program_id(1) * UNIT_BLOCKS + j)
                _gru_gates(
                    xw_t, xw_row_stride, xw_col_stride, h_prev, weight, drop, gates_t, rh_t, rows, units, mask,
                    end, H, HAS_MASK, PRECISION, ACT_G, BLOCK_K,
                )  # fmt: skip
            _phase_done(arrivals, 2 * (t - first) + 1, MEET)
        if UPDATE_PHASE:
            for j in range(0, UNIT_BLOCKS):
                rows, units, mask, end = tile_of(batch, H, BLOCK_ROWS, BLOCK_UNITS, tl.program_id(1) * UNIT_BLOCKS + j)
                _gru_update(
                    xw_t, xw_row_stride, xw_col_stride, rh_t, weight, h_prev, hs + (step + each) * H,
                    zone + step * H, gates_t, rows, units, mask, end, H, HAS_ZONE, PRECISION, ACT_C, BLOCK_K,
                )  # fmt: skip
            _phase_done(arrivals, 2 * (t - first) + 2, MEET)
        t += 1


@triton.jit
def _gradient_of_h(
    dh, extra, dpre_next, weight, drop, grad_y, zone, rows, units, mask, end, from_next,
    ROW: tl.constexpr, H: tl.constexpr, HAS_GY: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr, PRECISION: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """d loss / d h~_t for the tile, and zoneout's share of d loss / d h_t (0 without), which reaches
    h_{t-1} directly. ``dh`` holds what reaches h_t other than through step t+1's weights (on the last
    step: all of it); where ``from_next`` (every step but the last), ``extra`` plus step t+1's d loss /
    d pre-activations ``(B, ROW)`` times the columns of the first two blocks of U, times the dropout
    mask, is added."""
    state = rows * H + units
    dh_t = tl.load(dh + state, mask=mask)
    if from_next:
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


@triton.jit
def _gru_backward_update(
    gates_next, gates, h_prev, grad_y, dh, d_rh, dpre_next, dpre, weight, drop, zone, rows, units, mask, end,
    from_next, H: tl.constexpr, HAS_GY: tl.constexpr, HAS_MASK: tl.constexpr, HAS_ZONE: tl.constexpr,
    PRECISION: tl.constexpr, ACT_G: tl.constexpr, ACT_C: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """Backward phase 1 of a step for a tile (the steps' buffers given): d loss / d h~_t, d z_t, d n_t."""
    state = rows * H + units
    h_before = tl.load(h_prev + state, mask=mask)
    # what reaches h_t through step t+1's weights: d(r o h) o r_{t+1} and d [r; z]_{t+1} U_rz
    extra = h_before * 0
    if from_next:
        extra = tl.load(d_rh + state, mask=mask) * tl.load(gates_next + rows * 3 * H + units, mask=mask)
    dh_t, carry = _gradient_of_h(
        dh, extra, dpre_next, weight, drop, grad_y, zone, rows, units, mask, end, from_next, 3 * H, H, HAS_GY,
        HAS_MASK, HAS_ZONE, PRECISION, BLOCK_K,
    )  # fmt: skip
    row = gates + rows * 3 * H + units
    z = tl.load(row + H, mask=mask)
    n = tl.load(row + 2 * H, mask=mask)
    out = dpre + rows * 3 * H + units
    tl.store(out + H, dh_t * (h_before - n) * dact(z, ACT_G), mask=mask)
    tl.store(out + 2 * H, dh_t * (1 - z) * dact(n, ACT_C), mask=mask)
    tl.store(dh + state, dh_t * z + carry, mask=mask)


@triton.jit
def _gru_backward_reset(
    gates, h_prev, dpre, weight, drop, d_rh, rows, units, mask, end,
    H: tl.constexpr, HAS_MASK: tl.constexpr, PRECISION: tl.constexpr, ACT_G: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """Backward phase 2 of a step for a tile: d (r_t o h_{t-1}) from every unit's d n_t, and d r_t."""
    state = rows * H + units
    h_in = tl.load(h_prev + state, mask=mask)
    through = h_in * 0
    for m0 in range(0, H, BLOCK_K):  # d (r_t o h_{t-1}) = d n_t U_n for the tile's columns of U_n
        m = m0 + tl.arange(0, BLOCK_K)
        d_n = left_block(dpre + 2 * H, rows, m, end, 3 * H, H, False)
        through += tl.dot(d_n, columns_block(weight + 2 * H * H, 0, m, units, H, H, H), input_precision=PRECISION)
    tl.store(d_rh + state, through, mask=mask)
    if HAS_MASK:
        h_in *= tl.load(drop + state, mask=mask)
    r = tl.load(gates + rows * 3 * H + units, mask=mask)
    tl.store(dpre + rows * 3 * H + units, through * h_in * dact(r, ACT_G), mask=mask)


@triton.jit(do_not_specialize=["last", "first", "count"])  # the steps change at every launch
def _gru_backward_steps(
    gates,
    hs,
    grad_y,
    dh,
    d_rh,
    dpre,
    weight,
    drop,
    zone,
    arrivals,
    last,
    first,
    count,
    batch,
    H: tl.constexpr,
    HAS_GY: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr,
    PRECISION: tl.constexpr,
    ACT_G: tl.constexpr,
    ACT_C: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
    UNIT_BLOCKS: tl.constexpr,
    UPDATE_PHASE: tl.constexpr,
    RESET_PHASE: tl.constexpr,
    MEET: tl.constexpr,
):
    """Steps ``first``, ``first - 1``, ..., ``first - count + 1`` of the GRU's backward loop for this
    program's tile of sequences and direction and its ``UNIT_BLOCKS`` blocks of units: phase 1
    (``UPDATE_PHASE``; nothing from a step after ``last``, the sequence's last), phase 2
    (``RESET_PHASE``) or both, meeting after each (``MEET``, both phases only)."""
    weight = direction(weight, 3 * H * H)
    t = first
    while t > first - count:
        gates_next, gates_t, h_prev, grad_y_t, dpre_next, dpre_t, zone_t = _backward_buffers(
            gates, hs, grad_y, dpre, zone, t, batch, 3 * H, H
        )
        if UPDATE_PHASE:
            for j in range(0, UNIT_BLOCKS):
                rows, units, mask, end = tile_of(batch, H, BLOCK_ROWS, BLOCK_UNITS, tl.program_id(1) * UNIT_BLOCKS + j)
                _gru_backward_update(
                    gates_next, gates_t, h_prev, grad_y_t, dh, d_rh, dpre_next, dpre_t, weight, drop, zone_t, rows,
                    units, mask, end, t < last, H, HAS_GY, HAS_MASK, HAS_ZONE, PRECISION, ACT_G, ACT_C, BLOCK_K,
                )  # fmt: skip
            _phase_done(arrivals, 2 * (first - t) + 1, MEET)
        if RESET_PHASE:
            for j in range(0, UNIT_BLOCKS):
                rows, units, mask, end = tile_of(batch, H, BLOCK_ROWS, BLOCK_UNITS, tl.program_id(1) * UNIT_BLOCKS + j)
                _gru_backward_reset(
                    gates_t, h_prev, dpre_t, weight, drop, d_rh, rows, units, mask, end, H, HAS_MASK, PRECISION,
                    ACT_G, BLOCK_K,
                )  # fmt: skip
            _phase_done(arrivals, 2 * (first - t) + 2, MEET)
        t -= 1


@triton.jit
def _ligru_step(
    xw, xw_row_stride, xw_col_stride, h_prev, h_next, weight, drop, zone, dropped, gates, rows, units, mask, end,
    H: tl.constexpr, HAS_MASK: tl.constexpr, HAS_ZONE: tl.constexpr, HAS_DROPPED: tl.constexpr,
    PRECISION: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """A forward step of the Li-GRU for a tile (the step's buffers given): z_t, h~_t (m o h~_t under the
    candidate's dropout mask ``dropped``) and h_t."""
    a_z, a_h = _two_gate_inputs(
        xw, xw_row_stride, xw_col_stride, h_prev, weight, drop, rows, units, mask, end, H, HAS_MASK, PRECISION,
        BLOCK_K,
    )  # fmt: skip
    state = rows * H + units
    z = tl.sigmoid(a_z)
    candidate = tl.maximum(a_h, a_h * 0)  # ReLU
    if HAS_DROPPED:
        candidate *= tl.load(dropped + state, mask=mask)
    row = gates + rows * 2 * H + units
    tl.store(row, z, mask=mask)
    tl.store(row + H, candidate, mask=mask)
    h_before = tl.load(h_prev + state, mask=mask)
    h = candidate + z * (h_before - candidate)  # z o h_{t-1} + (1 - z) o h~_t
    if HAS_ZONE:
        h += tl.load(zone + state, mask=mask) * (h_before - h)
    tl.store(h_next + state, h, mask=mask)


@triton.jit(do_not_specialize=["first", "count"])  # the steps change at every launch
def _ligru_forward_steps(
    xw,
    xw_step_stride,
    xw_row_stride,
    xw_col_stride,
    hs,
    weight,
    drop,
    zone,
    dropped,
    gates,
    arrivals,
    first,
    count,
    batch,
    H: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr,
    HAS_DROPPED: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
    UNIT_BLOCKS: tl.constexpr,
    MEET: tl.constexpr,
):
    """Steps ``first`` to ``first + count - 1`` of the Li-GRU's forward loop for this program's tile of
    sequences and direction and its ``UNIT_BLOCKS`` blocks of units, meeting after each (``MEET``)."""
    weight = direction(weight, 2 * H * H)
    t = first
    while t < first + count:
        step, each = steps_before(t, batch)
        for j in range(0, UNIT_BLOCKS):
            rows, units, mask, end = tile_of(batch, H, BLOCK_ROWS, BLOCK_UNITS, tl.program_id(1) * UNIT_BLOCKS + j)
            _ligru_step(
                xw + t.to(tl.int64) * xw_step_stride, xw_row_stride, xw_col_stride, hs + step * H,
                hs + (step + each) * H, weight, drop, zone + step * H, dropped, gates + step * 2 * H, rows, units,
                mask, end, H, HAS_MASK, HAS_ZONE, HAS_DROPPED, PRECISION, BLOCK_K,
            )  # fmt: skip
        _phase_done(arrivals, t - first + 1, MEET)
        t += 1


@triton.jit
def _ligru_backward_step(
    gates, h_prev, grad_y, dh, dpre_next, dpre, weight, drop, zone, dropped, rows, units, mask, end, from_next,
    H: tl.constexpr, HAS_GY: tl.constexpr, HAS_MASK: tl.constexpr, HAS_ZONE: tl.constexpr,
    HAS_DROPPED: tl.constexpr, PRECISION: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """A backward step of the Li-GRU for a tile (the steps' buffers given): d loss / d [z; h~]_t, the
    candidate's times its dropout mask where it has one."""
    state = rows * H + units
    h_before = tl.load(h_prev + state, mask=mask)
    # what reaches h_t through U from step t+1: d [z; h~]_{t+1} U for the tile's columns
    dh_t, carry = _gradient_of_h(
        dh, h_before * 0, dpre_next, weight, drop, grad_y, zone, rows, units, mask, end, from_next, 2 * H, H,
        HAS_GY, HAS_MASK, HAS_ZONE, PRECISION, BLOCK_K,
    )  # fmt: skip
    row = gates + rows * 2 * H + units
    z = tl.load(row, mask=mask)
    candidate = tl.load(row + H, mask=mask)
    out = dpre + rows * 2 * H + units
    tl.store(out, dh_t * (h_before - candidate) * z * (1 - z), mask=mask)
    d_candidate = tl.where(candidate > 0, dh_t * (1 - z), dh_t * 0)
    if HAS_DROPPED:
        d_candidate *= tl.load(dropped + state, mask=mask)
    tl.store(out + H, d_candidate, mask=mask)
    tl.store(dh + state, dh_t * z + carry, mask=mask)


@triton.jit(do_not_specialize=["last", "first", "count"])  # the steps change at every launch
def _ligru_backward_steps(
    gates,
    hs,
    grad_y,
    dh,
    dpre,
    weight,
    drop,
    zone,
    dropped,
    arrivals,
    last,
    first,
    count,
    batch,
    H: tl.constexpr,
    HAS_GY: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE: tl.constexpr,
    HAS_DROPPED: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
    UNIT_BLOCKS: tl.constexpr,
    MEET: tl.constexpr,
):
    """Steps ``first``, ``first - 1``, ..., ``first - count + 1`` of the Li-GRU's backward loop for this
    program's tile of sequences and direction and its ``UNIT_BLOCKS`` blocks of units (nothing from a
    step after ``last``, the sequence's last), meeting after each (``MEET``)."""
    weight = direction(weight, 2 * H * H)
    t = first
    while t > first - count:
        _, gates_t, h_prev, grad_y_t, dpre_next, dpre_t, zone_t = _backward_buffers(
            gates, hs, grad_y, dpre, zone, t, batch, 2 * H, H
        )
        for j in range(0, UNIT_BLOCKS):
            rows, units, mask, end = tile_of(batch, H, BLOCK_ROWS, BLOCK_UNITS, tl.program_id(1) * UNIT_BLOCKS + j)
            _ligru_backward_step(
                gates_t, h_prev, grad_y_t, dh, dpre_next, dpre_t, weight, drop, zone_t, dropped, rows, units, mask,
                end, t < last, H, HAS_GY, HAS_MASK, HAS_ZONE, HAS_DROPPED, PRECISION, BLOCK_K,
            )  # fmt: skip
        _phase_done(arrivals, first - t + 1, MEET)
        t -= 1


TILES = dict(BLOCK_ROWS=fused.BLOCK_ROWS, BLOCK_UNITS=fused.BLOCK_UNITS, BLOCK_K=fused.BLOCK_K)


def _tiles(rows: int, hidden: int, weight_hh: torch.Tensor) -> tuple[int, tuple[int, int, int]]:
    """Each direction's batch and the launch grid for buffers of ``rows`` sequences by ``hidden`` units,
    whose directions U ``(G, ., H)`` or ``(., H)`` tells."""
    n_directions = directions.count(weight_hh)
    batch = rows // n_directions
    return batch, fused.tile_grid(batch, hidden, n_directions)


def run_loop(
    kernel: triton.JITFunction,
    arguments: tuple,
    like: torch.Tensor,
    rows: int,
    hidden: int,
    weight_hh: torch.Tensor,
    steps: int,
    constexprs: dict,
    phases: tuple[str, ...] = (),
    backward: bool = False,
) -> None:
    """Every step of a loop of ``kernel`` (its arguments up to ``arrivals``; ``like``, a buffer of the
    loop, stands for ``arrivals`` where no program meets another), from the first step or, ``backward``,
    from the last: one launch where :data:`fused.PERSISTENT` is on, every phase of a step in it; else a
    launch for each of the ``phases`` (constexpr names) of each step, over a grid of unit blocks. The
    arguments of every launch are made once (a step's host work is its launches)."""
    batch, grid = _tiles(rows, hidden, weight_hh)
    last = (steps - 1,) if backward else ()
    if fused.PERSISTENT.on:
        one_grid, blocks, arrivals = fused.one_launch(grid, like)
        start = steps - 1 if backward else 0
        kernel[one_grid](*arguments, arrivals, *last, start, steps, batch, **constexprs, **blocks,
                         **dict.fromkeys(phases, True))  # fmt: skip
        fused.check_meetings(arrivals, blocks)
        return
    a_step = dict(constexprs, UNIT_BLOCKS=1, MEET=False)
    launches = [dict(a_step, **{name: name == phase for name in phases}) for phase in phases] or [a_step]
    launch = kernel[grid]
    for t in range(steps - 1, -1, -1) if backward else range(steps):
        for phase in launches:
            launch(*arguments, like, *last, t, 1, batch, **phase)


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
    weight, drop, zones = _contiguous(weight_hh, mask, zone, hs)
    constexprs = dict(
        H=hidden, HAS_MASK=mask is not None, HAS_ZONE=zone is not None, PRECISION=fused.dot_precision(xw),
        ACT_G=codes[0], ACT_C=codes[1], **TILES,
    )  # fmt: skip
    arguments = (xw, *xw.stride(), hs, weight, drop, zones, gates, rh)
    run_loop(_gru_forward_steps, arguments, hs, rows, hidden, weight_hh, steps, constexprs,
             ("GATES_PHASE", "UPDATE_PHASE"))  # fmt: skip


def backward(grad_y, weight_hh, mask, zone, codes: tuple[int, int], gates, hs, dh, dpre) -> None:
    """Fills ``dpre (T, B, 3H)``, d loss / d pre-activations, as the eager loop does; ``dh (B, H)``
    holds the gradient reaching h_T on entry and h_0 on return.

    Args:
        grad_y: ``(T, B, H)`` or ``None``; weight_hh, mask, zone, codes: as for :func:`forward`;
        gates ``(T, B, 3H)`` and hs ``(T+1, B, H)``: the forward pass's buffers.
    """
    steps, rows, three_h = gates.shape
    hidden = three_h // 3
    weight, drop, zones = _contiguous(weight_hh, mask, zone, hs)
    d_rh = torch.empty_like(dh)  # d loss / d (r_t o h_{t-1} o mask) of the step just done
    constexprs = dict(
        H=hidden, HAS_GY=grad_y is not None, HAS_MASK=mask is not None, HAS_ZONE=zone is not None,
        PRECISION=fused.dot_precision(gates), ACT_G=codes[0], ACT_C=codes[1], **TILES,
    )  # fmt: skip
    arguments = (gates, hs, grad_y.contiguous() if grad_y is not None else hs, dh, d_rh, dpre, weight, drop, zones)
    run_loop(_gru_backward_steps, arguments, hs, rows, hidden, weight_hh, steps, constexprs,
             ("UPDATE_PHASE", "RESET_PHASE"), backward=True)  # fmt: skip
    through = d_rh * gates[0, :, :hidden] + directions.times(dpre[0, :, : 2 * hidden], weight_hh[..., : 2 * hidden, :])
    dh += through if mask is None else through * mask


def ligru_forward(xw, weight_hh, mask, zone, dropped, gates, hs) -> None:
    """Fills the Li-GRU's ``gates (T, B, 2H)`` (z_t, h~_t) and ``hs (T+1, B, H)`` (h_0 given) as its
    eager loop does. xw: ``(T, B, 2H)``, any strides; weight_hh: U ``(2H, H)`` (or ``(G, 2H, H)``, as for
    :func:`forward`); mask ``(B, H)``, zone ``(T, B, H)``: as for :func:`forward`; dropped ``(B, H)``: the
    candidate's dropout mask, or ``None``."""
    steps, rows, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    weight, drop, zones = _contiguous(weight_hh, mask, zone, hs)
    constexprs = dict(
        H=hidden, HAS_MASK=mask is not None, HAS_ZONE=zone is not None, HAS_DROPPED=dropped is not None,
        PRECISION=fused.dot_precision(xw), **TILES,
    )  # fmt: skip
    arguments = (xw, *xw.stride(), hs, weight, drop, zones, _given(dropped, hs), gates)
    run_loop(_ligru_forward_steps, arguments, hs, rows, hidden, weight_hh, steps, constexprs)


def ligru_backward(grad_y, weight_hh, mask, zone, dropped, gates, hs, dh, dpre) -> None:
    """Fills the Li-GRU's ``dpre (T, B, 2H)`` as its eager loop does; ``dh (B, H)`` holds the gradient
    reaching h_T on entry and h_0 on return."""
    steps, rows, two_h = gates.shape
    hidden = two_h // 2
    weight, drop, zones = _contiguous(weight_hh, mask, zone, hs)
    constexprs = dict(
        H=hidden, HAS_GY=grad_y is not None, HAS_MASK=mask is not None, HAS_ZONE=zone is not None,
        HAS_DROPPED=dropped is not None, PRECISION=fused.dot_precision(gates), **TILES,
    )  # fmt: skip
    arguments = (
        gates, hs, grad_y.contiguous() if grad_y is not None else hs, dh, dpre, weight, drop, zones, _given(dropped, hs)
    )  # fmt: skip
    run_loop(_ligru_backward_steps, arguments, hs, rows, hidden, weight_hh, steps, constexprs, backward=True)
    through = directions.times(dpre[0], weight_hh)
    dh += through if mask is None else through * mask


def _contiguous(weight_hh, mask, zone, dummy) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """U, the dropout mask and zoneout's d as the kernels read them; ``dummy`` for those not given."""
    return weight_hh.contiguous(), _given(mask, dummy), _given(zone, dummy)


def _given(tensor: torch.Tensor | None, dummy: torch.Tensor) -> torch.Tensor:
    """``tensor`` as a kernel reads it, contiguous; ``dummy`` where it is not given (its flag off)."""
    return tensor.contiguous() if tensor is not None else dummy
