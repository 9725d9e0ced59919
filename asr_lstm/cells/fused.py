"""Triton kernels for the time steps of the dense LSTM variants (CUDA): one launch a step forward and
one backward.

On a GPU the time loop of :mod:`asr_lstm.cells.recurrence` is bound by kernel launches, not by
arithmetic: eagerly a step is one ``addmm`` plus about ten small element-wise kernels forward and
fifteen backward. Each kernel here is one step whole, for a tile of ``BLOCK_ROWS`` sequences by
``BLOCK_UNITS`` units: forward, U's product with the fed-back state and the element-wise work of the
step; backward, the gradient reaching the tile's h_t (or c_t) through U from step t+1 and the
element-wise work. They fill the same buffers (gate activations, c_t, h_t, sigma_h(c_t), d loss /
d pre-activations) as the eager loop, so the weight gradients stay single products after the loop.
``fgr``'s R [i; f; o]_{t-1} splits by units the same way. Where U's product cannot (a projection feeds
back r_t = W_rm h_t, every unit's) torch does the products and the kernels the element-wise work
(``PRODUCT=False``); :data:`IN_KERNEL_PRODUCT`, switched off, leaves the product to torch for every
variant, which is how the benchmark compares the two. With U's product inside, the two directions of
a layer run in the same launches (:mod:`asr_lstm.cells.directions`, a grid axis of directions, each
program taking its direction's weights), unless :data:`PAIRED_DIRECTIONS` is switched off. Zoneout is
done in the kernels that do U's product (the step's own c~_t kept apart, d's share of the gradient of
h_t and c_t passed straight to h_{t-1} and c_{t-1}); layer normalisation, a reduction over every unit
of a row, is not (:attr:`LSTMVariant.fusable`). With U's product inside, a whole loop can also be one
launch of the same kernel (:data:`PERSISTENT`, off by default): the programs of a tile of sequences
and direction each do their blocks of units at every step, and wait for one another between steps.

They run on float32/float64 CUDA tensors, and on CPU tensors under Triton's interpreter
(``TRITON_INTERPRET=1``), which is how the CPU-only test suite checks them against the eager loop and
by float64 gradcheck; the suite also compiles every specialisation for sm_80 and sm_90.
"""

from __future__ import annotations

import functools
import os
import shutil
from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

from asr_lstm.cells import directions
from asr_lstm.cells.switch import Switch

if TYPE_CHECKING:
    from asr_lstm.cells.recurrence import LSTMVariant

ACTIVATION_CODES = {"sigmoid": 0, "tanh": 1, "identity": 2}
BLOCK_ROWS = 16  # tl.dot's smallest tile side
BLOCK_UNITS = 16
BLOCK_K = 32
SWITCH = Switch()
switched_off = SWITCH.off
IN_KERNEL_PRODUCT = Switch()
PERSISTENT = Switch(on=False)  # one launch a loop: off until a GPU measures it against the launches
PAIRED_DIRECTIONS = Switch()


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


def multiplies_in_kernel(variant: LSTMVariant, weight_hr: torch.Tensor | None) -> bool:
    """Whether the kernels do U's product (and ``fgr``'s R's) themselves: a tile of units needs only
    its own rows of U (forward) and columns (backward), which holds unless a projection, r_t = W_rm h_t,
    mixes every unit into what U multiplies."""
    return IN_KERNEL_PRODUCT.on and weight_hr is None


def dot_precision(x: torch.Tensor) -> str:
    """tl.dot's input precision for U's product: what ``torch.mm`` would use for these tensors."""
    return "tf32" if x.dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32 else "ieee"


@triton.jit
def act(x, CODE: tl.constexpr):
    if CODE == 0:
        return tl.sigmoid(x)
    elif CODE == 1:
        return 2 * tl.sigmoid(2 * x) - 1
    else:
        return x


@triton.jit
def dact(y, CODE: tl.constexpr):
    """d sigma(a) / d a written with y = sigma(a)."""
    if CODE == 0:
        return y * (1 - y)
    elif CODE == 1:
        return 1 - y * y
    else:
        return y * 0 + 1


@triton.jit
def tile_of(batch, H: tl.constexpr, BLOCK_ROWS: tl.constexpr, BLOCK_UNITS: tl.constexpr, unit_block):
    """This program's sequences ``(BLOCK_ROWS, 1)`` among the rows of the step's buffers, the units
    ``(1, BLOCK_UNITS)`` of its ``unit_block``-th block, their mask, and ``end``, the row after its
    direction's last. With the directions of a layer in one launch (grid axis 2,
    :data:`PAIRED_DIRECTIONS`) direction d owns rows [d B, (d + 1) B) of every buffer, ``batch`` being B,
    and its own weights (:func:`direction`)."""
    first = tl.program_id(2) * batch
    rows = (first + tl.program_id(0) * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS))[:, None]
    units = (unit_block * BLOCK_UNITS + tl.arange(0, BLOCK_UNITS))[None, :]
    end = first + batch
    return rows, units, (rows < end) & (units < H), end


@triton.jit
def steps_before(t, batch):
    """The rows of a sequence-long ``(T, G B, .)`` buffer before step t, and a step's G B rows (int64:
    a long sequence of large steps passes 2^31 values)."""
    each = tl.num_programs(2).to(tl.int64) * batch
    return t.to(tl.int64) * each, each


@triton.jit
def direction(weight, SIZE: tl.constexpr):
    """This program's direction's weight, of ``SIZE`` values, in a contiguous ``(G, ...)`` stack of them."""
    return weight + tl.program_id(2) * SIZE


@triton.jit
def left_block(matrix, rows, k, end, ROW: tl.constexpr, COLUMNS: tl.constexpr, IFO: tl.constexpr):
    """The ``(BLOCK_ROWS, BLOCK_K)`` block [b, k] = M[b, k] of a row-major ``(., ROW)`` matrix for k below
    ``COLUMNS``, 0 elsewhere and from row ``end`` on (the direction's batch): a product's left operand.
    ``IFO``: k counts [i; f; o] within rows (i, f, g, o) of 4H."""
    column = tl.where(k < ROW // 2, k, k + ROW // 4) if IFO else k
    return tl.load(matrix + rows * ROW + column[None, :], mask=(rows < end) & (k[None, :] < COLUMNS), other=0)


@triton.jit
def rows_block(weight, first, k, units, ROW: tl.constexpr, H: tl.constexpr):
    """The ``(BLOCK_K, BLOCK_UNITS)`` block [k, j] = W[first + j, k] of a row-major ``(., ROW)`` weight,
    0 for k >= ROW or j >= H: the tile's rows of W, transposed, as a forward product's right operand."""
    return tl.load(weight + (first + units) * ROW + k[:, None], mask=(k[:, None] < ROW) & (units < H), other=0)


@triton.jit
def columns_block(weight, first, m, units, ROWS: tl.constexpr, ROW: tl.constexpr, H: tl.constexpr):
    """The ``(BLOCK_K, BLOCK_UNITS)`` block [m, j] = W[m, first + j] of a row-major ``(ROWS, ROW)``
    weight, 0 for m >= ROWS or j >= H: the tile's columns of W, a backward product's right operand."""
    return tl.load(weight + m[:, None] * ROW + first + units, mask=(m[:, None] < ROWS) & (units < H), other=0)


GAVE_UP = tl.constexpr(1 << 30)  # a tile's counter once its programs stopped waiting for one that never came
MAX_POLLS = tl.constexpr(1 << 22)  # seconds of polling: a step takes microseconds


@triton.jit
def programs_meet(arrivals, target):
    """Waits until the programs that share this tile of sequences and direction (grid axis 1, each
    with its blocks of units) have all finished the step (or the phase of a step): each adds one to the
    tile's counter in ``arrivals`` (int32, zeroed before the launch), releasing its stores, then reads
    it, acquiring the others', until it reaches ``target``, the programs times the meetings so far. A
    scalar atomic is one thread's, its value handed to the others. All programs must be resident at
    once; where one is not, the waiting stops after ``MAX_POLLS`` reads and the counter is set to
    ``GAVE_UP``, which lets every later meeting pass and tells the host (:func:`check_meetings`) instead
    of hanging the GPU."""
    counter = arrivals + tl.program_id(2) * tl.num_programs(0) + tl.program_id(0)
    tl.atomic_add(counter, 1, sem="release", scope="gpu")
    polls = 0
    while (tl.atomic_add(counter, 0, sem="acquire", scope="gpu") < target) & (polls < MAX_POLLS):
        polls += 1
    if polls == MAX_POLLS:
        tl.atomic_xchg(counter, GAVE_UP, sem="relaxed", scope="gpu")


def check_meetings(arrivals: torch.Tensor, blocks: dict) -> None:
    """Raises where the programs of a loop in one launch stopped waiting for one another (one of them
    was not resident): its results are not the loop's. Reads the counters back: a wait for the GPU.

    Raises:
        RuntimeError: saying how to run without it.
    """
    if blocks["MEET"] and int(arrivals.max()) >= GAVE_UP.value:
        raise RuntimeError(
            "fused.PERSISTENT: the programs of a loop in one launch were not all resident on the GPU at once, "
            "so their results are void; run with fused.PERSISTENT off (a launch a step)"
        )


@triton.jit(do_not_specialize=["first", "count"])  # the steps change at every launch
def _forward_steps(
    pre,
    pre_step_stride,
    pre_row_stride,
    pre_col_stride,
    gates,
    fed_back,
    weight,
    drop,
    cs,
    hs,
    sh_out,
    peep,
    zone_c,
    zone_h,
    c_tilde,
    weight_gh,
    arrivals,
    first,
    count,
    batch,
    H: tl.constexpr,
    PRODUCT: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE_C: tl.constexpr,
    HAS_ZONE_H: tl.constexpr,
    GATE_RECURRENCE: tl.constexpr,
    PRECISION: tl.constexpr,
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
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
    UNIT_BLOCKS: tl.constexpr,
    MEET: tl.constexpr,
):
    """Steps ``first`` to ``first + count - 1`` of the forward loop for this program's tile of sequences
    and direction, and its ``UNIT_BLOCKS`` blocks of units (from the ``program_id(1) UNIT_BLOCKS``-th):
    a step's pre-activations (with U's product and, from step 1 on, R's), its element-wise work, and its
    activations, c_t, h_t and sigma_h(c_t) into the buffers. A launch a step takes one step and one
    block (the grid's axis 1 over the blocks); with :data:`PERSISTENT`, one launch takes every step and
    every block, its threads meeting between steps, where step t+1 reads the h_t (or c_t) of all units."""
    weight = direction(weight, 4 * H * H)  # U, R and the peepholes of this program's direction
    weight_gh = direction(weight_gh, 9 * H * H)
    peep = direction(peep, 3 * H)
    t = first  # a while loop: the interpreter's range() takes no kernel argument
    while t < first + count:
        step, each = steps_before(t, batch)  # step t's place in the sequence-long buffers
        pre_t = pre + t.to(tl.int64) * pre_step_stride
        gates_prev = gates + (step - each) * 4 * H
        gates_t = gates + step * 4 * H
        fed_back_t = fed_back + step * H
        c_prev, c_next = cs + step * H, cs + (step + each) * H
        h_prev, h_next = hs + step * H, hs + (step + each) * H
        sh_t = sh_out + step * H
        zone_c_t = zone_c + step * H
        zone_h_t = zone_h + step * H
        c_tilde_t = c_tilde + step * H
        for j in range(0, UNIT_BLOCKS):
            rows, units, mask, end = tile_of(batch, H, BLOCK_ROWS, BLOCK_UNITS, tl.program_id(1) * UNIT_BLOCKS + j)
            source = pre_t + rows * pre_row_stride + units * pre_col_stride
            a_i = tl.load(source, mask=mask)
            a_f = tl.load(source + H * pre_col_stride, mask=mask)
            a_g = tl.load(source + 2 * H * pre_col_stride, mask=mask)
            a_o = tl.load(source + 3 * H * pre_col_stride, mask=mask)
            if PRODUCT:  # a_q += s_{t-1} U_q^T for the tile's rows of U_q, s = (mask o) h_{t-1} or c_{t-1}
                for k0 in range(0, H, BLOCK_K):
                    k = k0 + tl.arange(0, BLOCK_K)
                    s = left_block(fed_back_t, rows, k, end, H, H, False)
                    if HAS_MASK:
                        s *= left_block(drop, rows, k, end, H, H, False)
                    a_i += tl.dot(s, rows_block(weight, 0, k, units, H, H), input_precision=PRECISION)
                    a_f += tl.dot(s, rows_block(weight, H, k, units, H, H), input_precision=PRECISION)
                    a_g += tl.dot(s, rows_block(weight, 2 * H, k, units, H, H), input_precision=PRECISION)
                    a_o += tl.dot(s, rows_block(weight, 3 * H, k, units, H, H), input_precision=PRECISION)
            if GATE_RECURRENCE:  # a_i, a_f, a_o += [i; f; o]_{t-1} R^T for the tile's rows of R (FGR), from step 1 on
                if t > 0:
                    for m0 in range(0, 3 * H, BLOCK_K):
                        m = m0 + tl.arange(0, BLOCK_K)
                        s = left_block(gates_prev, rows, m, end, 4 * H, 3 * H, True)
                        a_i += tl.dot(s, rows_block(weight_gh, 0, m, units, 3 * H, H), input_precision=PRECISION)
                        a_f += tl.dot(s, rows_block(weight_gh, H, m, units, 3 * H, H), input_precision=PRECISION)
                        a_o += tl.dot(s, rows_block(weight_gh, 2 * H, m, units, 3 * H, H), input_precision=PRECISION)
            state = rows * H + units
            c = tl.load(c_prev + state, mask=mask)
            if PEEP:
                a_i += tl.load(peep + units, mask=units < H) * c
                a_f += tl.load(peep + H + units, mask=units < H) * c
            one = c * 0 + 1
            i = act(a_i, ACT_G) if IG else one
            if COUPLED:
                f = 1 - i
            else:
                f = act(a_f, ACT_G) if FG else one
            g = act(a_g, ACT_C)
            c_new = f * c + i * g
            if CLIP > 0:
                limit = c * 0 + CLIP  # C in the tensors' dtype (a bare float literal would be float32)
                c_new = tl.minimum(tl.maximum(c_new, -limit), limit)
            if PEEP:
                a_o += tl.load(peep + 2 * H + units, mask=units < H) * (c_new if O_CURRENT else c)
            o = act(a_o, ACT_G) if OG else one
            s_c = act(c_new, ACT_H)
            row = gates_t + rows * 4 * H + units
            tl.store(row, i, mask=mask)
            tl.store(row + H, f, mask=mask)
            tl.store(row + 2 * H, g, mask=mask)
            tl.store(row + 3 * H, o, mask=mask)
            tl.store(sh_t + state, s_c, mask=mask)
            h = o * s_c
            if HAS_ZONE_C:  # zoneout: c_t = d o c_{t-1} + (1 - d) o c~_t, the step's own c~_t kept apart
                tl.store(c_tilde_t + state, c_new, mask=mask)
                c_new += tl.load(zone_c_t + state, mask=mask) * (c - c_new)
            tl.store(c_next + state, c_new, mask=mask)
            if HAS_ZONE_H:
                h_before = tl.load(h_prev + state, mask=mask)
                h += tl.load(zone_h_t + state, mask=mask) * (h_before - h)
            tl.store(h_next + state, h, mask=mask)
        tl.debug_barrier()  # step t's h_t and c_t, every unit's, written before step t+1 reads them
        if MEET:  # ... by every program of this tile of sequences and direction
            programs_meet(arrivals, (t - first + 1) * tl.num_programs(1))
        t += 1


@triton.jit(do_not_specialize=["first", "count", "last"])  # the steps change at every launch
def _backward_steps(
    gates,
    cs,
    c_now,
    sh,
    grad_y,
    dh,
    dc,
    d_ifo,
    dpre,
    weight,
    drop,
    peep,
    zone_c,
    zone_h,
    weight_gh,
    arrivals,
    last,
    first,
    count,
    batch,
    H: tl.constexpr,
    PRODUCT: tl.constexpr,
    RECURRENT_C: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_ZONE_C: tl.constexpr,
    HAS_ZONE_H: tl.constexpr,
    GATE_RECURRENCE: tl.constexpr,
    PRECISION: tl.constexpr,
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
    BLOCK_ROWS: tl.constexpr,
    BLOCK_UNITS: tl.constexpr,
    BLOCK_K: tl.constexpr,
    UNIT_BLOCKS: tl.constexpr,
    MEET: tl.constexpr,
):
    """Steps ``first``, ``first - 1``, ..., ``first - count + 1`` of the backward loop for this program's
    tile of sequences and direction, and its ``UNIT_BLOCKS`` blocks of units, as :func:`_forward_steps`
    divides them: what reaches h_t (or c_t) through U and R from step t+1 (none at ``last``, the
    sequence's last step), then d loss / d pre-activations of step t into ``dpre``, and dc turned into
    d loss / d c_{t-1}; with :data:`PERSISTENT`, every step in one launch, its threads meeting between
    steps, where step t-1 reads the d loss / d pre-activations of all units of step t."""
    weight = direction(weight, 4 * H * H)  # U, R and the peepholes of this program's direction
    weight_gh = direction(weight_gh, 9 * H * H)
    peep = direction(peep, 3 * H)
    t = first
    while t > first - count:
        step, each = steps_before(t, batch)  # step t's place in the sequence-long buffers
        gates_t = gates + step * 4 * H
        c_prev = cs + step * H
        c_now_t = c_now + step * H
        sh_t = sh + step * H
        grad_y_t = grad_y + step * H
        dpre_next = dpre + (step + each) * 4 * H
        dpre_t = dpre + step * 4 * H
        zone_c_t = zone_c + step * H
        zone_h_t = zone_h + step * H
        for j in range(0, UNIT_BLOCKS):
            rows, units, mask, end = tile_of(batch, H, BLOCK_ROWS, BLOCK_UNITS, tl.program_id(1) * UNIT_BLOCKS + j)
            state = rows * H + units
            row = gates_t + rows * 4 * H + units
            i = tl.load(row, mask=mask)
            f = tl.load(row + H, mask=mask)
            g = tl.load(row + 2 * H, mask=mask)
            o = tl.load(row + 3 * H, mask=mask)
            c = tl.load(c_prev + state, mask=mask)
            s = tl.load(sh_t + state, mask=mask)
            dc_t = tl.load(dc + state, mask=mask)
            zero = c * 0
            dh_t = zero
            if PRODUCT:  # (d loss / d pre_{t+1}) U for the tile's columns of U: what reaches h_t (or c_t)
                if t < last:
                    through_u = zero
                    for m0 in range(0, 4 * H, BLOCK_K):
                        m = m0 + tl.arange(0, BLOCK_K)
                        d_next = left_block(dpre_next, rows, m, end, 4 * H, 4 * H, False)
                        through_u += tl.dot(
                            d_next, columns_block(weight, 0, m, units, 4 * H, H, H), input_precision=PRECISION
                        )
                    if HAS_MASK:
                        through_u *= tl.load(drop + state, mask=mask, other=0)
                    if RECURRENT_C:
                        dc_t += through_u
                    else:
                        dh_t = through_u
                    if HAS_ZONE_H:  # and zoneout's share of h_t from step t+1, which dh holds
                        dh_t += tl.load(dh + state, mask=mask)
                else:  # the last step: dh holds the gradient reaching h_T
                    dh_t = tl.load(dh + state, mask=mask)
            else:
                dh_t = tl.load(dh + state, mask=mask)
            if HAS_GY:
                dh_t += tl.load(grad_y_t + state, mask=mask)
            if HAS_ZONE_H:  # d's share of h_t goes straight to h_{t-1}; dh_t becomes d loss / d h~_t
                carry_h = dh_t * tl.load(zone_h_t + state, mask=mask)
                dh_t -= carry_h
                tl.store(dh + state, carry_h, mask=mask)
            if HAS_ZONE_C:  # likewise for c_t: dc_t becomes d loss / d c~_t
                carry_c = dc_t * tl.load(zone_c_t + state, mask=mask)
                dc_t -= carry_c
            # the gradient reaching [i; f; o]_t through the gate recurrence of step t+1 (FGR): given, or
            # ifo(d loss / d pre_{t+1}) R for the tile's columns of R
            rec_i, rec_f, rec_o = zero, zero, zero
            if HAS_DIFO:
                rec_i = tl.load(d_ifo + rows * 3 * H + units, mask=mask)
                rec_f = tl.load(d_ifo + rows * 3 * H + H + units, mask=mask)
                rec_o = tl.load(d_ifo + rows * 3 * H + 2 * H + units, mask=mask)
            if GATE_RECURRENCE:
                if t < last:
                    for m0 in range(0, 3 * H, BLOCK_K):
                        m = m0 + tl.arange(0, BLOCK_K)
                        d_next = left_block(dpre_next, rows, m, end, 4 * H, 3 * H, True)
                        rec_i += tl.dot(
                            d_next, columns_block(weight_gh, 0, m, units, 3 * H, 3 * H, H), input_precision=PRECISION
                        )
                        rec_f += tl.dot(
                            d_next, columns_block(weight_gh, H, m, units, 3 * H, 3 * H, H), input_precision=PRECISION
                        )
                        rec_o += tl.dot(
                            d_next,
                            columns_block(weight_gh, 2 * H, m, units, 3 * H, 3 * H, H),
                            input_precision=PRECISION,
                        )
            dsg_i = dact(i, ACT_G) if IG else zero
            dsg_f = zero if (COUPLED or not FG) else dact(f, ACT_G)
            dsg_o = dact(o, ACT_G) if OG else zero
            d_o = dh_t * s * dsg_o
            dc_t += dh_t * o * dact(s, ACT_H)
            if HAS_DIFO or GATE_RECURRENCE:
                d_o += rec_o * dsg_o
            if PEEP and O_CURRENT:
                dc_t += d_o * tl.load(peep + 2 * H + units, mask=units < H)
            if CLIP > 0:  # dc_t is d loss / d clip(c_t): nothing reaches c_t where it was clipped
                dc_t = tl.where(tl.abs(tl.load(c_now_t + state, mask=mask)) < zero + CLIP, dc_t, zero)
            d_i = dc_t * (g - c if COUPLED else g) * dsg_i
            d_f = dc_t * c * dsg_f
            d_g = dc_t * i * dact(g, ACT_C)
            if HAS_DIFO or GATE_RECURRENCE:
                d_i += rec_i * dsg_i
                d_f += rec_f * dsg_f
            dc_prev = dc_t * f
            if HAS_ZONE_C:
                dc_prev += carry_c
            if PEEP:
                dc_prev += d_i * tl.load(peep + units, mask=units < H) + d_f * tl.load(peep + H + units, mask=units < H)
                if not O_CURRENT:
                    dc_prev += d_o * tl.load(peep + 2 * H + units, mask=units < H)
            out = dpre_t + rows * 4 * H + units
            tl.store(out, d_i, mask=mask)
            tl.store(out + H, d_f, mask=mask)
            tl.store(out + 2 * H, d_g, mask=mask)
            tl.store(out + 3 * H, d_o, mask=mask)
            tl.store(dc + state, dc_prev, mask=mask)
        tl.debug_barrier()  # step t's d loss / d pre-activations, every unit's, before step t-1 reads them
        if MEET:
            programs_meet(arrivals, (first - t + 1) * tl.num_programs(1))
        t -= 1


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


def programs_sharing_a_tile(rows: int, unit_blocks: int, n_directions: int, x: torch.Tensor) -> int:
    """How many programs split the blocks of units of a tile of sequences when a loop is one launch
    (:data:`PERSISTENT`): on a GPU as many as keep every program of the launch resident at once (one a
    multiprocessor; they wait for one another after every step), at most one a block; one under the
    interpreter, which runs programs one after the other."""
    if not x.is_cuda:
        return 1
    multiprocessors = torch.cuda.get_device_properties(x.device).multi_processor_count
    return max(1, min(unit_blocks, multiprocessors // (rows * n_directions)))


def one_launch(grid: tuple[int, int, int], x: torch.Tensor) -> tuple[tuple[int, int, int], dict, torch.Tensor]:
    """The grid of a loop in one launch for the per-step ``grid`` (tiles of sequences, blocks of units,
    directions), its constexprs (``UNIT_BLOCKS`` a program does, whether programs ``MEET``) and the
    zeroed counters they meet on (``x`` itself where they need none)."""
    rows, unit_blocks, n_directions = grid
    programs = programs_sharing_a_tile(rows, unit_blocks, n_directions, x)
    blocks = dict(UNIT_BLOCKS=-(-unit_blocks // programs), MEET=programs > 1)
    arrivals = torch.zeros(rows * n_directions, dtype=torch.int32, device=x.device) if programs > 1 else x
    return (rows, programs, n_directions), blocks, arrivals


def tile_grid(batch: int, hidden: int, n_directions: int = 1) -> tuple[int, int, int]:
    """Tiles of each direction's ``batch`` sequences by ``hidden`` units, one program each."""
    return -(-batch // BLOCK_ROWS), -(-hidden // BLOCK_UNITS), n_directions


class ForwardLoop:
    """The forward loop's kernels over a sequence's buffers, their arguments prepared once: a step
    costs its launch and nothing else on the host. :meth:`step` launches step t, which writes the
    activations of step t into ``gates[t]`` and c_t, h_t, sigma_h(c_t) into ``cs[t + 1]``, ``hs[t + 1]``,
    ``sh[t]``; :meth:`run` does every step, in one launch where :data:`PERSISTENT` is on.

    Args:
        pre: ``(T, B, 4H)``, any strides: W x_t + b with U's product done here (``weight_hh`` given),
            else the whole pre-activations (``gates`` itself, which torch fills before each step).
        gates: ``(T, B, 4H)``, receives (i_t, f_t, sigma_c(g_t), o_t); a missing gate holds 1.
        fed_back: ``(T + 1, B, H)``, what U ``(4H, H)`` multiplies (``hs`` or ``cs``), with the dropout
            mask ``(B, H)`` or ``None``; ``None`` with ``weight_hh`` ``None``.
        cs, hs: ``(T + 1, B, H)``, c_0 and h_0 given; sh ``(T, B, H)``; weight_ch ``(3, H)`` or ``None``.
        flags: :func:`kernel_flags` of the variant.
        zone_c, zone_h: zoneout's d^c and d^h ``(T, B, H)``, or ``None`` (with U's product here only);
            c_tilde ``(T, B, H)`` receives the steps' own c~_t under ``zone_c``.
        weight_gh: ``fgr``'s R ``(3H, 3H)`` for R [i; f; o]_{t-1} here (with U's product), or ``None``.
        All contiguous but ``pre``.

    With U's product here, G directions run in the same launches where ``weight_hh`` stacks theirs,
    ``(G, 4H, H)``: B is then G times each direction's batch, direction d's rows [d B / G, (d + 1) B / G),
    and ``weight_ch`` ``(G, 3, H)`` and ``weight_gh`` ``(G, 3H, 3H)`` stack theirs too.
    """

    def __init__(
        self,
        pre: torch.Tensor,
        gates: torch.Tensor,
        fed_back: torch.Tensor | None,
        weight_hh: torch.Tensor | None,
        mask: torch.Tensor | None,
        cs: torch.Tensor,
        hs: torch.Tensor,
        sh: torch.Tensor,
        weight_ch: torch.Tensor | None,
        flags: dict,
        zone_c: torch.Tensor | None = None,
        zone_h: torch.Tensor | None = None,
        c_tilde: torch.Tensor | None = None,
        weight_gh: torch.Tensor | None = None,
    ) -> None:
        n_directions = directions.count(weight_hh)
        rows, hidden = cs.shape[1:]
        batch = rows // n_directions
        product = weight_hh is not None
        dummy = cs  # for the pointers a specialisation never reads
        arguments = (
            pre, *pre.stride(), gates, fed_back if product else dummy, weight_hh if product else dummy,
            mask if mask is not None else dummy, cs, hs, sh, weight_ch.contiguous() if flags["PEEP"] else dummy,
            zone_c if zone_c is not None else dummy, zone_h if zone_h is not None else dummy,
            c_tilde if zone_c is not None else dummy, weight_gh if weight_gh is not None else dummy,
        )  # fmt: skip
        self.constexprs = dict(
            H=hidden, PRODUCT=product, HAS_MASK=product and mask is not None,
            HAS_ZONE_C=zone_c is not None, HAS_ZONE_H=zone_h is not None, GATE_RECURRENCE=weight_gh is not None,
            PRECISION=dot_precision(cs), BLOCK_ROWS=BLOCK_ROWS, BLOCK_UNITS=BLOCK_UNITS, BLOCK_K=BLOCK_K, **flags,
        )  # fmt: skip
        self.arguments, self.batch, self.grid = arguments, batch, tile_grid(batch, hidden, n_directions)
        self.launch = _forward_steps[self.grid]
        self.in_kernel, self.like = product, cs
        self.a_step = dict(self.constexprs, UNIT_BLOCKS=1, MEET=False)

    def step(self, t: int) -> None:
        self.launch(*self.arguments, self.like, t, 1, self.batch, **self.a_step)

    def run(self, steps: int) -> None:
        """Every step of the loop: one launch where :data:`PERSISTENT` is on (with U's product here), the
        programs of a tile of sequences and direction each doing their blocks of units; else one a step."""
        if PERSISTENT.on and self.in_kernel:
            grid, blocks, arrivals = one_launch(self.grid, self.like)
            _forward_steps[grid](*self.arguments, arrivals, 0, steps, self.batch, **self.constexprs, **blocks)
            check_meetings(arrivals, blocks)
            return
        for t in range(steps):
            self.step(t)


class BackwardLoop:
    """The backward loop's kernels over a sequence's buffers, their arguments prepared once.
    :meth:`step` ``(t, dh, d_ifo=None, with_grad_y=True)`` writes d loss / d pre-activations of step t
    into ``dpre[t]`` and turns ``dc (B, H)`` from d loss / d c_t (without U's share) into d loss / d
    c_{t-1} (without U's share); ``dh (B, H)`` is the gradient reaching h_t from step t+1, read unless
    U's product is done here, ``d_ifo (B, 3H)`` the one reaching [i; f; o]_t through the gate recurrence
    (``None``: none, or formed here), ``with_grad_y``: whether ``grad_y[t]`` is added to ``dh``.
    :meth:`run` does every step with U's product here, in one launch where :data:`PERSISTENT` is on.

    Args:
        gates: ``(T, B, 4H)`` activations; cs ``(T + 1, B, H)``; c_now ``(T, B, H)`` the c_t, whose
            clipped entries pass no gradient under cell clipping (c~_t under zoneout); sh ``(T, B, H)``.
        grad_y: ``(T, B, H)`` or ``None``; dpre: ``(T, B, 4H)``.
        weight_hh: U ``(4H, H)`` where its product is done here: at every step but the last, step t+1's
            d loss / d pre-activations times U reach h_t (``recurrent_c``: c_t, its share going to
            ``dc``), times the dropout ``mask (B, H)`` if any; else ``None``.
        zone_c, zone_h: zoneout's d^c and d^h ``(T, B, H)``, or ``None``; under ``zone_h`` ``dh`` holds,
            after each step, d^h's share of h_t, which reaches h_{t-1} directly.
        weight_gh: ``fgr``'s R ``(3H, 3H)``, with U's product: the gradient reaching [i; f; o]_t through it
            is formed here.
        All contiguous; G directions' stacks of weights as for :class:`ForwardLoop`.
    """

    def __init__(
        self,
        gates: torch.Tensor,
        cs: torch.Tensor,
        c_now: torch.Tensor,
        sh: torch.Tensor,
        grad_y: torch.Tensor | None,
        dc: torch.Tensor,
        dpre: torch.Tensor,
        weight_hh: torch.Tensor | None,
        mask: torch.Tensor | None,
        weight_ch: torch.Tensor | None,
        flags: dict,
        recurrent_c: bool,
        zone_c: torch.Tensor | None = None,
        zone_h: torch.Tensor | None = None,
        weight_gh: torch.Tensor | None = None,
    ) -> None:
        n_directions = directions.count(weight_hh)
        steps, rows, hidden = sh.shape
        batch = rows // n_directions
        product = weight_hh is not None
        dummy = cs
        arguments = (gates, cs, c_now, sh, grad_y if grad_y is not None else dummy)
        fixed = (
            weight_hh if product else dummy, mask if product and mask is not None else dummy,
            weight_ch.contiguous() if flags["PEEP"] else dummy, zone_c if zone_c is not None else dummy,
            zone_h if zone_h is not None else dummy, weight_gh if product and weight_gh is not None else dummy,
        )  # fmt: skip
        common = dict(
            H=hidden, RECURRENT_C=recurrent_c, HAS_ZONE_C=zone_c is not None, HAS_ZONE_H=zone_h is not None,
            PRECISION=dot_precision(cs),
            BLOCK_ROWS=BLOCK_ROWS, BLOCK_UNITS=BLOCK_UNITS, BLOCK_K=BLOCK_K, **flags,
        )  # fmt: skip
        self.arguments, self.fixed, self.dc, self.dpre = arguments, fixed, dc, dpre
        self.batch, self.steps, self.grid = batch, steps, tile_grid(batch, hidden, n_directions)
        self.launch = _backward_steps[self.grid]
        self.like = cs
        self.with_grad_y = grad_y is not None
        self.in_kernel = product
        self.constexprs = dict(
            common, PRODUCT=product, HAS_MASK=product and mask is not None,
            GATE_RECURRENCE=product and weight_gh is not None,
        )  # fmt: skip
        self.specialisations: dict[tuple[bool, bool], dict] = {}

    def step(self, t: int, dh: torch.Tensor, d_ifo: torch.Tensor | None = None, with_grad_y: bool = True) -> None:
        constexprs = self.specialisation(with_grad_y and self.with_grad_y, d_ifo is not None)
        d_ifo = d_ifo if d_ifo is not None else dh
        self.launch(*self.arguments, dh, self.dc, d_ifo, self.dpre, *self.fixed, self.like, self.steps - 1, t, 1,
                    self.batch, **constexprs)  # fmt: skip

    def specialisation(self, with_grad_y: bool, with_d_ifo: bool) -> dict:
        """The constexprs of a step's launch that adds grad_y or not and is handed the gradient through R
        or not, made once per loop (a step's host work is its launch)."""
        key = (with_grad_y, with_d_ifo)
        if key not in self.specialisations:
            self.specialisations[key] = dict(
                self.constexprs, HAS_GY=with_grad_y, HAS_DIFO=with_d_ifo, UNIT_BLOCKS=1, MEET=False
            )
        return self.specialisations[key]

    def run(self, dh: torch.Tensor) -> None:
        """Every step, from the last to the first, with U's product here (and R's), ``grad_y`` added:
        one launch where :data:`PERSISTENT` is on, else one a step."""
        if not PERSISTENT.on:
            for t in range(self.steps - 1, -1, -1):
                self.step(t, dh)
            return
        grid, blocks, arrivals = one_launch(self.grid, self.like)
        _backward_steps[grid](
            *self.arguments, dh, self.dc, dh, self.dpre, *self.fixed, arrivals, self.steps - 1, self.steps - 1,
            self.steps, self.batch, **{**self.specialisation(self.with_grad_y, False), **blocks},
        )  # fmt: skip
        check_meetings(arrivals, blocks)
