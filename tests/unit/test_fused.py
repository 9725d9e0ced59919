"""The fused Triton step kernels (``asr_lstm.cells.fused``, ``fused_gru``) against the eager time loops
they replace.

On CUDA the kernels run for every float32/float64 dense LSTM variant, the GRU and the Li-GRU. CI has
no GPU, so two things stand in for one: every kernel specialisation the cells use is compiled to
machine code for sm_80 and sm_90 (Triton needs no GPU for that), and the last test re-runs this file
(every output and gradient of the kernels against the eager loops; a bidirectional layer of each kind,
its directions paired, against float64 finite differences) and the cell tests of
``test_cells.py`` but their gradchecks (references from the equations, padding invariance) in a fresh
process with ``TRITON_INTERPRET=1``, under which CPU tensors take the fused path too. A fresh process,
because Triton reads that variable when the kernels are defined.
"""

import contextlib
import functools
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from torch.func import functional_call

triton = pytest.importorskip("triton", reason="Triton ships for Linux only")
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from asr_lstm import cells  # noqa: E402
from asr_lstm.cells import compiled, fused, fused_gru, gru, ligru, recurrence  # noqa: E402
from asr_lstm.cells.lstm import LSTMCellBase  # noqa: E402
from asr_lstm.models import StackedRNN  # noqa: E402

INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"
NOT_INTERPRETED = "CPU tensors run the kernels only under TRITON_INTERPRET=1"
FUSED_DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(not INTERPRETING, reason=NOT_INTERPRETED)),
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]
DENSE = [name for name, cls in sorted(cells.NAMES.items()) if issubclass(cls, LSTMCellBase)]
# Every dense cell, plus the options that change which branches of the kernels run.
CASES = [(name, {}) for name in DENSE] + [
    ("lstm", dict(sigma_g="tanh", sigma_c="identity", sigma_h="sigmoid")),
    ("peephole_diag", dict(output_peephole="current")),
    ("nig", dict(output_peephole="previous")),
    ("cifg", dict(proj_size=2)),
    ("lstm", dict(cell_clip=0.3)),  # not a float32 number: the kernels clip at C in the tensors' dtype
    ("cifg", dict(cell_clip=0.4, output_peephole="previous")),
    ("lstmp", dict(cell_clip=0.35)),
]


def run_loop(cell, xw, state, grad_y, grad_h, grad_c, mask=None, zoneout=(None, None)) -> list[torch.Tensor]:
    """``y, h_T, c_T`` of the shared loop and the gradients of ``<y, grad_y> + <h_T, grad_h> + <c_T, grad_c>``
    with respect to ``xw``, ``(h_0, c_0)`` and the recurrent weights; ``mask``: a variational dropout mask;
    ``zoneout``: (d^c, d^h)."""
    weights = [w for w in (cell.weight_hh, cell.weight_ch, cell.weight_gh, cell.weight_hr) if w is not None]
    y, (h, c) = recurrence.lstm_recurrence(
        xw, cell.weight_hh, state, cell.variant, cell.activation_names, cell.weight_ch, cell.weight_gh, cell.weight_hr,
        recurrent_mask=mask, zoneout=zoneout,
    )  # fmt: skip
    loss = (y * grad_y).sum() + (h * grad_h).sum() + (c * grad_c).sum()
    return [y, h, c, *torch.autograd.grad(loss, [xw, *state, *weights])]


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize(
    "name, options", CASES, ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o in CASES]
)
def test_fused_steps_equal_the_eager_loop(name, options, device):
    torch.manual_seed(0)
    steps, batch, hidden = 7, 3, 5
    cell = cells.build(name, 4, hidden, **options).double().to(device)
    # Layouts the kernels must not assume contiguous: xw and grad_y stored batch-major, grad_h transposed.
    xw = torch.randn(batch, steps, 4 * hidden, dtype=torch.float64, device=device).transpose(0, 1).requires_grad_()
    out = cell.output_size  # H, or P with a recurrent projection
    state = tuple(torch.randn(batch, n, dtype=torch.float64, device=device).requires_grad_() for n in (out, hidden))
    grad_y = torch.randn(batch, steps, out, dtype=torch.float64, device=device).transpose(0, 1)
    grad_h = torch.randn(out, batch, dtype=torch.float64, device=device).t()
    grad_c = torch.randn(batch, hidden, dtype=torch.float64, device=device)

    assert fused.applies(xw)
    with_kernels = run_loop(cell, xw, state, grad_y, grad_h, grad_c)
    with fused.switched_off():
        assert not fused.applies(xw)
        eager = run_loop(cell, xw, state, grad_y, grad_h, grad_c)
    assert fused.applies(xw)
    if "cell_clip" in options:  # a case that sets the clip tests it: c_T reaches it somewhere
        assert (eager[2].abs() == cell.variant.cell_clip).any()
    for got, expected in zip(with_kernels, eager, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def random_problem(cell, steps: int, batch: int, device: str) -> tuple:
    """``xw``, the initial state and the three output gradients of :func:`run_loop`, float64."""
    xw = torch.randn(steps, batch, 4 * cell.hidden_size, dtype=torch.float64, device=device).requires_grad_()
    out = cell.output_size
    state = tuple(
        torch.randn(batch, n, dtype=torch.float64, device=device).requires_grad_() for n in (out, cell.hidden_size)
    )
    return (
        xw,
        state,
        *(
            torch.randn(*shape, dtype=torch.float64, device=device)
            for shape in ((steps, batch, out), (batch, out), (batch, cell.hidden_size))
        ),
    )


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize("name", ["peephole_diag", "peephole", "cifg", "fgr"])
def test_in_kernel_product_with_a_dropout_mask_and_across_tiles(name, device):
    """U's product (and ``fgr``'s R's) inside the kernels against the eager loop and against torch's
    product beside the kernels, with a variational dropout mask on what U multiplies (h_{t-1};
    ``peephole``: c_{t-1}), over more sequences and units than one tile holds and more of U's columns
    than one block of the product's k takes."""
    torch.manual_seed(1)
    # two tiles of sequences, three of units and two blocks of U's columns (the product's k), the last
    # ones partial
    hidden, batch = fused.BLOCK_K + 3, fused.BLOCK_ROWS + 2
    cell = cells.build(name, 4, hidden).double().to(device)
    problem = random_problem(cell, 4, batch, device)
    mask = (torch.rand(batch, hidden, device=device) > 0.3).double() / 0.7
    assert fused.multiplies_in_kernel(cell.variant, cell.weight_hr)
    in_kernel = run_loop(cell, *problem, mask=mask)
    with fused.IN_KERNEL_PRODUCT.off():
        assert not fused.multiplies_in_kernel(cell.variant, cell.weight_hr)
        beside = run_loop(cell, *problem, mask=mask)
    with fused.switched_off():
        eager = run_loop(cell, *problem, mask=mask)
    for got, torch_product, expected in zip(in_kernel, beside, eager, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(torch_product, expected, rtol=1e-12, atol=1e-12)


ZONEOUT_CASES = [
    ("peephole_diag", dict(output_peephole="current"), (0.4, 0.3)),
    ("peephole", {}, (0.4, 0.3)),  # U c_{t-1}
    ("lstm", dict(cell_clip=0.3), (0.5, None)),
    ("cifg", {}, (None, 0.5)),
    ("fgr", {}, (0.3, 0.3)),
    ("nog", {}, "evaluation"),
]


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize(
    "name, options, rates",
    ZONEOUT_CASES,
    ids=[f"{n}-{'-'.join(map(str, o.values()))}-{r}" for n, o, r in ZONEOUT_CASES],
)
def test_zoneout_in_the_kernels(name, options, rates, device):
    """Zoneout in the kernels that do U's product, against the eager loop: d^c, d^h or both drawn per
    step (in evaluation: the rate everywhere, a broadcast tensor), with a dropout mask, over two tiles
    each way; the kernels keep the step's own c~_t for the clip and the output peephole."""
    torch.manual_seed(3)
    steps, batch, hidden = 5, fused.BLOCK_ROWS + 2, fused.BLOCK_UNITS + 3
    cell = cells.build(name, 4, hidden, **options).double().to(device)
    problem = random_problem(cell, steps, batch, device)
    mask = (torch.rand(batch, hidden, device=device) > 0.3).double() / 0.7
    if rates == "evaluation":
        zoneout = tuple(
            torch.full((1, 1, 1), 0.3, dtype=torch.float64, device=device).expand(steps, batch, hidden) for _ in "ch"
        )
    else:
        zoneout = tuple(
            None if rate is None else (torch.rand(steps, batch, hidden, device=device) < rate).double()
            for rate in rates
        )
    assert recurrence._runs_kernels(problem[0], cell.variant, cell.weight_hr, zoneout=True)
    with_kernels = run_loop(cell, *problem, mask=mask, zoneout=zoneout)
    with fused.switched_off():
        eager = run_loop(cell, *problem, mask=mask, zoneout=zoneout)
    if "cell_clip" in options:
        assert (eager[2].abs() == cell.variant.cell_clip).any()
    for got, expected in zip(with_kernels, eager, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


PERSISTENT_CASES = [
    ("lstm", {}, False),
    ("peephole", {}, False),  # U multiplies c_{t-1}
    ("fgr", {}, False),
    ("cifg", dict(cell_clip=0.4, output_peephole="previous"), False),
    ("peephole_diag", dict(output_peephole="current", cell_clip=0.5), True),
]


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize(
    "name, options, zoneout",
    PERSISTENT_CASES,
    ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}{'-zoneout' * z}" for n, o, z in PERSISTENT_CASES],
)
def test_one_launch_a_loop_computes_what_one_launch_a_step_does(name, options, zoneout, device):
    """:data:`fused.PERSISTENT`: every step in one launch, the blocks of units of a tile of sequences
    done in turn by one program (under the interpreter) or split between programs that meet after each
    step (on CUDA). No step kernel is launched, and outputs and gradients equal those of a launch a step
    to the last bit (each tile's arithmetic is the same), over two tiles of sequences, three of units
    and two blocks of U's columns, with a dropout mask (and zoneout)."""
    torch.manual_seed(4)
    steps, batch, hidden = 5, fused.BLOCK_ROWS + 3, 2 * fused.BLOCK_UNITS + 3
    assert hidden > fused.BLOCK_K
    cell = cells.build(name, 4, hidden, **options).double().to(device)
    problem = random_problem(cell, steps, batch, device)
    mask = (torch.rand(batch, hidden, device=device) > 0.3).double() / 0.7
    zones = tuple((torch.rand(steps, batch, hidden, device=device) < 0.3).double() for _ in "ch") if zoneout else None
    launched = run_loop(cell, *problem, mask=mask, zoneout=zones or (None, None))
    no_step = AssertionError("a step kernel was launched")
    with (
        fused.PERSISTENT.turned_on(),
        mock.patch.object(fused.ForwardLoop, "step", side_effect=no_step),
        mock.patch.object(fused.BackwardLoop, "step", side_effect=no_step),
    ):
        one_launch = run_loop(cell, *problem, mask=mask, zoneout=zones or (None, None))
    assert not fused.PERSISTENT.on
    for got, expected in zip(one_launch, launched, strict=True):
        assert torch.equal(got, expected)


@pytest.mark.parametrize(
    ("rows", "unit_blocks", "n_directions", "programs"),
    [(1, 16, 2, 16), (4, 32, 2, 16), (1, 8, 1, 8), (100, 32, 2, 1)],
    ids=["B16 H256", "B64 H512", "fewer blocks than multiprocessors", "more tiles than multiprocessors"],
)
def test_a_loop_in_one_launch_splits_a_tile_between_as_many_programs_as_stay_resident(
    rows, unit_blocks, n_directions, programs
):
    """On a GPU of 132 multiprocessors the programs of a tile of sequences (which wait for one another
    after every step) are at most one a block of units and all resident at once; under the
    interpreter, which runs programs one after the other, one a tile."""
    gpu = mock.Mock(is_cuda=True, device="cuda:0")
    with mock.patch.object(torch.cuda, "get_device_properties", return_value=mock.Mock(multi_processor_count=132)):
        assert fused.programs_sharing_a_tile(rows, unit_blocks, n_directions, gpu) == programs
    assert rows * n_directions * programs <= 132 or programs == 1
    assert fused.programs_sharing_a_tile(rows, unit_blocks, n_directions, torch.zeros(1)) == 1
    grid, blocks, arrivals = fused.one_launch((rows, unit_blocks, n_directions), torch.zeros(1))
    assert grid == (rows, 1, n_directions) and blocks == dict(UNIT_BLOCKS=unit_blocks, MEET=False)


def test_programs_that_stopped_waiting_for_one_another_void_the_loop():
    """Where a program of a tile was not resident, the others stop waiting after MAX_POLLS reads and
    mark the tile's counter GAVE_UP; the host reads the counters back and refuses the results."""
    met = dict(UNIT_BLOCKS=2, MEET=True)
    fused.check_meetings(torch.tensor([600, 600], dtype=torch.int32), met)  # 300 steps, 2 programs each
    with pytest.raises(RuntimeError, match="were not all resident on the GPU at once.*fused.PERSISTENT off"):
        fused.check_meetings(torch.tensor([600, fused.GAVE_UP.value + 17], dtype=torch.int32), met)
    fused.check_meetings(torch.zeros(1), dict(UNIT_BLOCKS=4, MEET=False))  # nothing to read: one program a tile


def test_zoneout_stays_off_the_kernels_that_leave_the_product_to_torch():
    x = torch.zeros(1)
    cell = cells.build("lstmp", 4, 8)  # a projection: torch's products beside the kernels
    with mock.patch.object(fused, "applies", return_value=True):
        assert recurrence._runs_kernels(x, cell.variant, cell.weight_hr, zoneout=False)
        assert not recurrence._runs_kernels(x, cell.variant, cell.weight_hr, zoneout=True)
        with fused.IN_KERNEL_PRODUCT.off():
            assert not recurrence._runs_kernels(x, cells.build("nog", 4, 8).variant, None, zoneout=True)


def test_projections_leave_the_product_to_torch():
    lstmp = cells.build("lstmp", 4, 8)
    assert not fused.multiplies_in_kernel(lstmp.variant, lstmp.weight_hr)
    assert fused.multiplies_in_kernel(cells.build("fgr", 4, 8).variant, None)
    assert fused.multiplies_in_kernel(cells.build("nog", 4, 8).variant, None)


@pytest.mark.parametrize("device", FUSED_DEVICES)
def test_half_precision_keeps_the_eager_loop(device):
    assert fused.applies(torch.zeros(1, device=device))
    assert not fused.applies(torch.zeros(1, dtype=torch.float16, device=device))
    assert not fused.applies(torch.zeros(1, dtype=torch.bfloat16, device=device))


PAIRED_CASES = [(name, {}) for name in DENSE if name not in ("lstm", "lstmp")] + [
    ("lstm", dict(sigma_h="identity")),  # off the vendor kernel
    ("lstm", dict(cell_clip=0.3, recurrent_dropout=0.3, zoneout_cell=0.2, zoneout_hidden=0.3)),
    ("fgr", dict(zoneout_cell=0.3)),
    ("conv_peephole", dict(frequency_bins=5)),
    ("gru", dict(recurrent_dropout=0.3, zoneout_hidden=0.2)),
    ("ligru", dict(recurrent_dropout=0.3, zoneout_hidden=0.2)),
    ("ligru", dict(candidate_dropout=0.3, zoneout_hidden=0.2)),  # each direction's candidate mask
]


def run_directions(first, second, x, x_other, grads, paired: bool) -> list[torch.Tensor]:
    """``first`` over ``x`` and ``second`` over ``x_other``, as one batch or one after the other, from the
    same random state, and the gradients of ``<y, grads[0]> + <y_other, grads[1]>`` with respect to both
    inputs and both layers' parameters."""
    torch.manual_seed(4)  # the same dropout and zoneout masks both ways
    if paired:
        outputs = first.forward_pair(second, x, x_other)
    else:
        outputs = first(x)[0], second(x_other)[0]
    loss = sum((y * g).sum() for y, g in zip(outputs, grads))
    return [*outputs, *torch.autograd.grad(loss, [x, x_other, *first.parameters(), *second.parameters()])]


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize(
    "name, options", PAIRED_CASES, ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o in PAIRED_CASES]
)
def test_both_directions_in_one_launch_equal_each_on_its_own(name, options, device):
    """The two directions of a layer as one batch of the kernels, each direction's rows with its own
    weights (U, the peepholes, R), against the two layers run one after the other: outputs and every
    gradient, in training (the dropout and zoneout masks drawn the same), over two tiles of sequences in
    each direction (the last partial, so tiles never straddle the directions' boundary), in half the
    launches."""
    torch.manual_seed(5)
    steps, batch = 3, fused.BLOCK_ROWS + 3
    size = 15 if name == "conv_peephole" else fused.BLOCK_UNITS + 3
    first, second = (cells.build(name, 10, size, **options).double().to(device) for _ in "ab")
    for layer in (first, second):
        for weight in layer.parameters():  # the peepholes start closed; open them, differently each way
            torch.nn.init.uniform_(weight, -0.5, 0.5)
    kind = dict(dtype=torch.float64, device=device)
    x, x_other = (torch.randn(steps, batch, 10, **kind).requires_grad_() for _ in "ab")
    grads = [torch.randn(steps, batch, size, **kind) for _ in "ab"]
    assert first.pairs_with(second, x)

    with mock.patch.object(fused, "tile_grid", wraps=fused.tile_grid) as grids:
        paired = run_directions(first, second, x, x_other, grads, paired=True)
    assert grids.call_count and all(call.args[2] == 2 for call in grids.call_args_list)
    with mock.patch.object(fused, "tile_grid", wraps=fused.tile_grid) as one_way:
        one_after_the_other = run_directions(first, second, x, x_other, grads, paired=False)
    assert grids.call_count == one_way.call_count // 2
    for got, expected in zip(paired, one_after_the_other, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize("name", ["peephole_diag", "gru", "ligru"])
def test_a_stack_computes_the_same_with_its_directions_paired(name, device):
    """``StackedRNN`` over sequences of different lengths: the same output and gradients whether
    its layers run both directions as one batch or one after the other, and (bit for bit) whether its
    loops launch a kernel a step (a phase, the GRU's) or one a loop."""
    torch.manual_seed(6)
    stack = StackedRNN(functools.partial(cells.build, name), 6, 5, num_layers=2).double().to(device)
    x = torch.randn(4, 3, 6, dtype=torch.float64, device=device, requires_grad=True)
    lens = torch.tensor([4, 2, 3])
    assert stack.forward_layers[0].pairs_with(stack.backward_layers[0], x)

    def run() -> list[torch.Tensor]:
        y = stack(x, lens)
        return [y, *torch.autograd.grad(y.square().sum(), [x, *stack.parameters()])]

    paired = run()
    with fused.PAIRED_DIRECTIONS.off():
        assert not stack.forward_layers[0].pairs_with(stack.backward_layers[0], x)
        one_after_the_other = run()
    for got, expected in zip(paired, one_after_the_other, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    with fused.PERSISTENT.turned_on():  # a launch a loop, each program in its direction's weights
        one_launch = run()
    assert all(torch.equal(got, expected) for got, expected in zip(one_launch, paired, strict=True))


FINITE_DIFFERENCE_CASES = [
    ("peephole_diag", {}),
    ("peephole", {}),
    ("fgr", {}),
    ("cifg", dict(cell_clip=0.5)),
    ("lstm", dict(sigma_h="identity", zoneout_cell=0.3, zoneout_hidden=0.2)),  # evaluation: zoneout's rates
    ("conv_peephole", dict(frequency_bins=2)),
    ("gru", dict(zoneout_hidden=0.2)),
    ("ligru", {}),
]


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize(
    "name, options",
    FINITE_DIFFERENCE_CASES,
    ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o in FINITE_DIFFERENCE_CASES],
)
def test_a_paired_layer_matches_finite_differences(name, options, device):
    """A bidirectional layer on the kernels, its directions paired, against float64 finite differences
    (torch's gradcheck in its fast mode: a random projection of the Jacobian, which keeps the
    interpreter's run short): every input and both directions' parameters, over sequences of
    different lengths, in evaluation (no random masks; zoneout's rates act)."""
    torch.manual_seed(7)
    factory = functools.partial(cells.build, name, **options)
    stack = StackedRNN(factory, 2, 2 if name != "conv_peephole" else 4, num_layers=1).double().to(device).eval()
    for weight in stack.parameters():  # open the peepholes, which start closed
        torch.nn.init.uniform_(weight, -0.8, 0.8)
    x = torch.randn(3, 2, 2, dtype=torch.float64, device=device, requires_grad=True)
    lens = torch.tensor([3, 2])
    assert stack.forward_layers[0].pairs_with(stack.backward_layers[0], x)
    names = [n for n, _ in stack.named_parameters()]

    def run(x, *params):
        return functional_call(stack, dict(zip(names, params)), (x, lens))

    params = [p.detach().requires_grad_() for p in stack.parameters()]
    assert torch.autograd.gradcheck(run, (x, *params), fast_mode=True)


@pytest.mark.parametrize("device", FUSED_DEVICES)
def test_layers_that_cannot_share_launches_run_one_after_the_other(device):
    """Pairs the kernels cannot run as one: other classes or settings, other modes, a projection (torch's
    products), layer normalisation and the vendor LSTM (no kernels), an export; ``forward_pair`` refuses
    them by name."""
    x = torch.zeros(2, 3, 4, device=device)

    def build(name, **options):
        return cells.build(name, 4, 6, **options).to(device)

    assert build("nog").pairs_with(build("nog"), x) and build("ligru").pairs_with(build("ligru"), x)
    assert build("ligru", candidate_dropout=0.1).pairs_with(build("ligru", candidate_dropout=0.1), x)
    evaluating = build("nog").eval()
    unpairable = [
        (build("nog"), build("nig")),
        (build("nog"), build("nog", zoneout_cell=0.1)),
        (build("nog"), cells.build("nog", 4, 7).to(device)),
        (build("nog"), evaluating),
        (build("lstmp"), build("lstmp")),
        (build("nog", layer_norm=True), build("nog", layer_norm=True)),
        (build("ligru", layer_norm=True), build("ligru", layer_norm=True)),
        (build("ligru"), build("ligru", layer_norm=True)),
        (build("ligru"), build("ligru", candidate_dropout=0.1)),
        (build("lstm"), build("lstm")),
        (build("gru"), build("gru", sigma_c="identity")),
    ]
    for first, second in unpairable:
        assert not first.pairs_with(second, x), (first, second)
    with mock.patch.object(cells.exportable, "exporting", return_value=True):
        assert not build("nog").pairs_with(build("nog"), x)
    with pytest.raises(ValueError, match="NOG cannot run with NIG as one batch here"):
        build("nog").forward_pair(build("nig"), x, x)


INTEGER_ARGUMENTS = {
    "first",
    "count",
    "last",
    "batch",
    "pre_step_stride",
    "pre_row_stride",
    "pre_col_stride",
    "xw_step_stride",
    "xw_row_stride",
    "xw_col_stride",
}


def compile_kernel(kernel, dtype: torch.dtype, arch: int, constexprs: dict):
    """Compiles ``kernel`` ahead of time for ``sm_<arch>`` with float pointers of ``dtype``."""
    pointer = {torch.float32: "*fp32", torch.float64: "*fp64"}[dtype]
    signature = {
        p.name: "constexpr"
        if p.is_constexpr
        else "i32"
        if p.name in INTEGER_ARGUMENTS
        else "*i32"
        if p.name == "arrivals"
        else pointer
        for p in kernel.params
    }
    return triton.compile(ASTSource(kernel, signature, constexprs), target=GPUTarget("cuda", arch, 32))


@pytest.mark.skipif(INTERPRETING, reason="the interpreter defines no compilable kernels")
@pytest.mark.parametrize(
    "name, options", CASES, ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o in CASES]
)
def test_every_specialisation_compiles_for_the_gpu(name, options):
    cell = cells.build(name, 4, 8, **options)
    flags = dict(
        fused.kernel_flags(cell.variant, cell.activation_names),
        H=8,
        BLOCK_ROWS=fused.BLOCK_ROWS,
        BLOCK_UNITS=fused.BLOCK_UNITS,
        BLOCK_K=fused.BLOCK_K,
    )
    in_kernel = fused.multiplies_in_kernel(cell.variant, cell.weight_hr)
    targets = [(torch.float32, 90, "ieee"), (torch.float32, 90, "tf32"), (torch.float64, 90, "ieee")] + (
        [(torch.float32, 80, "ieee")] if name == "lstm" and not options else []
    )
    for dtype, arch, precision in targets:
        # U's product in the kernel (and R's: FGR from its second step on), with a dropout mask and
        # zoneout or without either; or done by torch. With the product here, the whole loop in one
        # launch as well (PERSISTENT).
        gate_recurrence = in_kernel and cell.variant.gate_recurrence
        for extras in {False, in_kernel}:
            zones = dict(HAS_ZONE_C=extras, HAS_ZONE_H=extras)
            forward = dict(
                flags, PRODUCT=in_kernel, HAS_MASK=extras, GATE_RECURRENCE=gate_recurrence, PRECISION=precision,
                **zones,
            )  # fmt: skip
            # a launch a step over one block of units, and where U's product is here the whole loop
            # (PERSISTENT) over every block, or over some, the programs of a tile meeting after each step
            for blocks, meet in {(1, False), *([(3, False), (3, True)] if in_kernel else [])}:
                launch = dict(forward, UNIT_BLOCKS=blocks, MEET=meet)
                assert compile_kernel(fused._forward_steps, dtype, arch, launch).asm["cubin"]
            # The last step of the backward loop has no gradient from a step after it (it reads dh =
            # grad_h); the others take U's product and R's here, or the gradients torch formed (d_ifo of
            # FGR). Under a projection the loop hands the kernel the gradient of h_t whole, without grad_y.
            backward = dict(
                flags,
                PRODUCT=in_kernel,
                RECURRENT_C=cell.variant.recurrent_input == "c",
                HAS_MASK=extras,
                GATE_RECURRENCE=gate_recurrence,
                PRECISION=precision,
                HAS_GY=cell.weight_hr is None,
                **zones,
            )
            for with_d_ifo, blocks, meet in {
                (False, 1, False),
                (not in_kernel and cell.variant.gate_recurrence, 1, False),
                *([(False, 3, False), (False, 3, True)] if in_kernel else []),
            }:
                steps = dict(backward, HAS_DIFO=with_d_ifo, UNIT_BLOCKS=blocks, MEET=meet)
                assert compile_kernel(fused._backward_steps, dtype, arch, steps).asm["cubin"]


GRU_CASES = [
    dict(),
    dict(mask=True),
    dict(zoneout=True),
    dict(mask=True, zoneout=True, acts=("tanh", "identity")),
    dict(ligru=True),
    dict(ligru=True, mask=True, zoneout=True),
    dict(ligru=True, dropped=True),  # the candidate's dropout mask (SpeechBrain's)
    dict(ligru=True, mask=True, zoneout=True, dropped=True),
]


def gru_problem(options: dict, hidden: int, device: str) -> tuple:
    """``run_gru``'s arguments for one of ``GRU_CASES``: 5 steps over two tiles of sequences, in float64,
    ``xw`` stored batch-major, as the kernels must not assume ``(T, B, 3H)`` contiguous."""
    steps, batch = 5, fused.BLOCK_ROWS + 2
    gates = 2 if options.get("ligru") else 3
    kind = dict(dtype=torch.float64, device=device)
    xw = torch.randn(batch, steps, gates * hidden, **kind).transpose(0, 1).requires_grad_()
    weight_hh = (torch.randn(gates * hidden, hidden, **kind) / hidden**0.5).requires_grad_()
    h0 = torch.randn(batch, hidden, **kind).requires_grad_()
    mask = (torch.rand(batch, hidden, **kind) > 0.25) / 0.75 if options.get("mask") else None
    zone = (torch.rand(steps, batch, hidden, **kind) < 0.3).double() if options.get("zoneout") else None
    dropped = (torch.rand(batch, hidden, **kind) > 0.4) / 0.6 if options.get("dropped") else None
    acts = None if options.get("ligru") else options.get("acts", ("sigmoid", "tanh"))
    return (
        xw,
        weight_hh,
        h0,
        mask,
        zone,
        dropped,
        acts,
        torch.randn(steps, batch, hidden, **kind),
        torch.randn(batch, hidden, **kind),
    )


def run_gru(xw, weight_hh, h0, mask, zone, dropped, acts, grad_y, grad_h) -> list[torch.Tensor]:
    """``y, h_T`` of the GRU's loop (``acts`` ``None``: the Li-GRU's, with the candidate's dropout mask
    ``dropped``) and the gradients of ``<y, grad_y> + <h_T, grad_h>`` with respect to ``xw``,
    ``weight_hh`` and ``h_0``."""
    if acts is None:
        y, h = ligru._LiGRURecurrence.apply(xw, weight_hh, h0, mask, zone, dropped, False)
    else:
        y, h = gru._GRURecurrence.apply(xw, weight_hh, h0, mask, zone, acts)
    loss = (y * grad_y).sum() + (h * grad_h).sum()
    return [y, h, *torch.autograd.grad(loss, [xw, weight_hh, h0])]


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize("options", GRU_CASES, ids=["-".join(map(str, o)) or "default" for o in GRU_CASES])
def test_gru_kernels_equal_the_eager_loop(options, device):
    """The GRU's two kernels a step each way, and the Li-GRU's one, against their eager loops, over two
    tiles of sequences, three of units and two blocks of U's columns (the last ones partial), with the
    variational dropout mask, zoneout and other activations."""
    torch.manual_seed(2)
    problem = gru_problem(options, fused.BLOCK_K + 3, device)
    assert recurrence.runs_fused(problem[0])
    with_kernels = run_gru(*problem)
    with fused.switched_off(), compiled.switched_off():
        eager = run_gru(*problem)
    for got, expected in zip(with_kernels, eager, strict=True):  # sums in another order: 1e-11 apart
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


class CountingLaunches:
    """Stands for a Triton kernel and counts its launches (``kernel[grid](...)``), each with its steps."""

    def __init__(self, kernel) -> None:
        self.kernel, self.launches = kernel, []

    def __getitem__(self, grid):
        def launch(*arguments, **constexprs):
            self.launches.append((grid, constexprs.get("UNIT_BLOCKS"), constexprs.get("MEET")))
            return self.kernel[grid](*arguments, **constexprs)

        return launch


@pytest.mark.parametrize("device", FUSED_DEVICES)
@pytest.mark.parametrize("options", GRU_CASES, ids=["-".join(map(str, o)) or "default" for o in GRU_CASES])
def test_one_launch_a_gru_loop_computes_what_one_launch_a_phase_does(options, device):
    """:data:`fused.PERSISTENT` for the GRU and the Li-GRU: each loop is one launch (the GRU's two
    phases a step in it, its programs meeting after each on a GPU) where a launch a step was one a
    phase, and its outputs and gradients equal those to the last bit, over two tiles of sequences,
    three of units and two blocks of U's columns, with the dropout mask and zoneout."""
    torch.manual_seed(5)
    hidden = 2 * fused.BLOCK_UNITS + 3
    assert hidden > fused.BLOCK_K
    problem = gru_problem(options, hidden, device)
    acts = problem[6]
    names = (
        ["_ligru_forward_steps", "_ligru_backward_steps"]
        if acts is None
        else ["_gru_forward_steps", "_gru_backward_steps"]
    )
    phases = 1 if acts is None else 2

    def run(one_launch: bool) -> tuple[list[torch.Tensor], list[list]]:
        counted = {name: CountingLaunches(getattr(fused_gru, name)) for name in names}
        with contextlib.ExitStack() as stack:
            for name, kernel in counted.items():
                stack.enter_context(mock.patch.object(fused_gru, name, kernel))
            if one_launch:
                stack.enter_context(fused.PERSISTENT.turned_on())
            results = run_gru(*problem)
        return results, [counted[name].launches for name in names]

    launched, per_step = run(one_launch=False)
    assert [len(launches) for launches in per_step] == [len(problem[0]) * phases] * 2  # T steps
    one_launch, whole = run(one_launch=True)
    tiles = fused.tile_grid(problem[2].shape[0], hidden)  # h_0: (B, H)
    assert all(launches == [((tiles[0], 1, 1), tiles[1], False)] for launches in whole)  # one program a tile
    for got, expected in zip(one_launch, launched, strict=True):
        assert torch.equal(got, expected)


@pytest.mark.skipif(INTERPRETING, reason="the interpreter defines no compilable kernels")
def test_gru_and_ligru_kernels_compile_for_the_gpu():
    """Each kernel compiles for sm_80 and sm_90 as a launch a phase of a step (one block of units) and,
    for :data:`fused.PERSISTENT`, as a whole loop over several blocks, meeting other programs or not."""
    tiles = dict(H=8, BLOCK_ROWS=fused.BLOCK_ROWS, BLOCK_UNITS=fused.BLOCK_UNITS, BLOCK_K=fused.BLOCK_K)
    targets = [
        (torch.float32, 90, "ieee"),
        (torch.float32, 90, "tf32"),
        (torch.float64, 90, "ieee"),
        (torch.float32, 80, "ieee"),
    ]
    a_step = [(1, False, (True, False)), (1, False, (False, True))]
    whole = [(3, False, (True, True)), (3, True, (True, True))]
    for dtype, arch, precision in targets:
        for mask, zoneout in [(False, False), (True, True)]:
            common = dict(tiles, PRECISION=precision, HAS_MASK=mask, HAS_ZONE=zoneout)
            kernels = []
            for blocks, meet, (first, second) in a_step + whole:
                launch = dict(common, UNIT_BLOCKS=blocks, MEET=meet)
                kernels += [
                    (
                        fused_gru._gru_forward_steps,
                        dict(launch, ACT_G=0, ACT_C=1, GATES_PHASE=first, UPDATE_PHASE=second),
                    ),
                    (
                        fused_gru._gru_backward_steps,
                        dict(launch, HAS_GY=True, ACT_G=0, ACT_C=1, UPDATE_PHASE=first, RESET_PHASE=second),
                    ),
                ]
            for blocks, meet in [(1, False), (3, False), (3, True)]:
                launch = dict(common, UNIT_BLOCKS=blocks, MEET=meet, HAS_DROPPED=mask)
                kernels += [
                    (fused_gru._ligru_forward_steps, launch),
                    (fused_gru._ligru_backward_steps, dict(launch, HAS_GY=True)),
                ]
            for kernel, constexprs in kernels:
                assert compile_kernel(kernel, dtype, arch, constexprs).asm["cubin"]


@pytest.mark.slow
@pytest.mark.skipif(INTERPRETING, reason="this is the run it starts")
def test_kernels_under_the_interpreter():
    root = Path(__file__).resolve().parents[2]
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        str(Path(__file__).relative_to(root)),
        "tests/unit/test_cells.py",
        "tests/unit/test_streaming.py",  # the kernels from a stream's carried states, chunk after chunk
        "-k",
        # Under the interpreter CPU tensors take the Triton kernels whether or not the compiled CPU loop
        # is switched off, so the cell tests' python-loop cases would repeat the others. The tests here
        # hold every gradient of the kernels to the eager loops', which the normal run gradchecks, so the
        # cell tests' float64 gradchecks (and layer normalisation's, which the kernels do not run, and the
        # regularisers', whose masks the kernel tests here take) would repeat that at many times the cost:
        # what reruns is their references from the equations, padding invariance and the rest. Of the
        # latency-controlled streams, one model and chunking reruns: the kernels from the windows'
        # stacked states.
        "not python and not gradcheck and not zoneout and not clipping and not layer_normalised and not variational "
        "and not candidate_dropout and not (latency and not uneven) and not (latency and gru)",
    ]
    result = subprocess.run(
        command, cwd=root, env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert NOT_INTERPRETED not in result.stdout, "the interpreted run skipped the CPU kernel tests"
