"""The fused Triton step kernels (``asr_lstm.cells.fused``) against the eager time loop they replace.

On CUDA the kernels run for every float32/float64 dense LSTM variant. CI has no GPU, so two things
stand in for one: every kernel specialisation the cells use is compiled to machine code for sm_80 and
sm_90 (Triton needs no GPU for that), and the last test re-runs this file and the LSTM-cell tests of
``test_cells.py`` (per-gate references, float64 gradcheck) in a fresh process with
``TRITON_INTERPRET=1``, under which CPU tensors take the fused path too. A fresh process, because
Triton reads that variable when the kernels are defined.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

triton = pytest.importorskip("triton", reason="Triton ships for Linux only")
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from asr_lstm import cells  # noqa: E402
from asr_lstm.cells import fused, recurrence  # noqa: E402
from asr_lstm.cells.lstm import LSTMCellBase  # noqa: E402

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


def run_loop(cell, xw, state, grad_y, grad_h, grad_c, mask=None) -> list[torch.Tensor]:
    """``y, h_T, c_T`` of the shared loop and the gradients of ``<y, grad_y> + <h_T, grad_h> + <c_T, grad_c>``
    with respect to ``xw``, ``(h_0, c_0)`` and the recurrent weights; ``mask``: a variational dropout mask."""
    weights = [w for w in (cell.weight_hh, cell.weight_ch, cell.weight_gh, cell.weight_hr) if w is not None]
    y, (h, c) = recurrence.lstm_recurrence(
        xw, cell.weight_hh, state, cell.variant, cell.activation_names, cell.weight_ch, cell.weight_gh, cell.weight_hr,
        recurrent_mask=mask,
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
    if cell.variant.cell_clip is not None:  # the clip acts: c_T reaches it somewhere
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
@pytest.mark.parametrize("name", ["peephole_diag", "peephole", "cifg"])
def test_in_kernel_product_with_a_dropout_mask_and_across_tiles(name, device):
    """U's product inside the kernels against the eager loop and against torch's product beside the
    kernels, with a variational dropout mask on what U multiplies (h_{t-1}; ``peephole``: c_{t-1}), over
    more sequences and units than one tile holds."""
    torch.manual_seed(1)
    hidden, batch = fused.BLOCK_UNITS + 3, fused.BLOCK_ROWS + 2  # two tiles each way, the last ones partial
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


def test_projections_and_the_gate_recurrence_leave_the_product_to_torch():
    assert not fused.multiplies_in_kernel(cells.build("lstmp", 4, 8).variant, cells.build("lstmp", 4, 8).weight_hr)
    assert not fused.multiplies_in_kernel(cells.build("fgr", 4, 8).variant, None)
    assert fused.multiplies_in_kernel(cells.build("nog", 4, 8).variant, None)


@pytest.mark.parametrize("device", FUSED_DEVICES)
def test_half_precision_keeps_the_eager_loop(device):
    assert fused.applies(torch.zeros(1, device=device))
    assert not fused.applies(torch.zeros(1, dtype=torch.float16, device=device))
    assert not fused.applies(torch.zeros(1, dtype=torch.bfloat16, device=device))


INTEGER_ARGUMENTS = {"batch", "pre_row_stride", "pre_col_stride"}


def compile_kernel(kernel, dtype: torch.dtype, arch: int, constexprs: dict):
    """Compiles ``kernel`` ahead of time for ``sm_<arch>`` with float pointers of ``dtype``."""
    pointer = {torch.float32: "*fp32", torch.float64: "*fp64"}[dtype]
    signature = {
        p.name: "constexpr" if p.is_constexpr else "i32" if p.name in INTEGER_ARGUMENTS else pointer
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
        # U's product in the kernel, with and without a dropout mask, or (projection, fgr) done by torch
        for product, has_mask in {(in_kernel, False), (in_kernel, in_kernel)}:
            forward = dict(flags, PRODUCT=product, HAS_MASK=has_mask, PRECISION=precision)
            assert compile_kernel(fused._forward_step, dtype, arch, forward).asm["cubin"]
        # The last step of the backward loop has no gradient from a step after it (it reads dh = grad_h),
        # no gate-recurrence gradient either (FGR); the others take both. Under a projection the loop
        # hands the kernel the gradient of h_t whole, without grad_y.
        for product, has_mask, has_d_ifo in {
            (False, False, False),
            (in_kernel, False, cell.variant.gate_recurrence),
            (in_kernel, in_kernel, cell.variant.gate_recurrence),
        }:
            backward = dict(
                flags,
                PRODUCT=product,
                RECURRENT_C=cell.variant.recurrent_input == "c",
                HAS_MASK=has_mask,
                PRECISION=precision,
                HAS_GY=cell.weight_hr is None,
                HAS_DIFO=has_d_ifo,
            )
            assert compile_kernel(fused._backward_step, dtype, arch, backward).asm["cubin"]


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
        "-k",
        # under the interpreter CPU tensors take the Triton kernels whether or not the compiled CPU loop
        # is switched off, so the cell tests' python-loop cases would repeat the others
        "not gru and not python",
    ]
    result = subprocess.run(
        command, cwd=root, env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert NOT_INTERPRETED not in result.stdout, "the interpreted run skipped the CPU kernel tests"
