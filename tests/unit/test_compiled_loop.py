"""The compiled CPU loops of the dense LSTM variants, the GRU and the Li-GRU (``asr_lstm.cells.compiled``)
against the Python loops.

The per-gate references and float64 gradcheck of ``test_cells.py`` run through both loops (its ``loop``
fixture); here the two loops are compared directly, outputs and every gradient, for each variant and
option that changes a branch of the C++ code, and a failed build is shown to fall back with a warning.
"""

import contextlib
import math
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
import torch

from asr_lstm import cells
from asr_lstm.cells import compiled, recurrence
from asr_lstm.cells.lstm import LSTMCellBase

DENSE = [name for name, cls in sorted(cells.NAMES.items()) if issubclass(cls, LSTMCellBase)]
CASES = [(name, {}) for name in DENSE] + [
    ("lstm", dict(sigma_g="tanh", sigma_c="identity", sigma_h="sigmoid")),
    ("peephole_diag", dict(output_peephole="current")),
    ("nig", dict(output_peephole="previous")),
    ("cifg", dict(proj_size=5)),
    ("peephole", dict(cell_clip=0.5)),
    ("lstmp", dict(cell_clip=0.3)),
    ("fgr", dict(cell_clip=0.5)),
    ("cifg", dict(cell_clip=0.4, output_peephole="previous")),
    ("fgr", dict(proj_size=5)),  # R's product and the projection's, each in its own phase
    # Layer normalisation: three phases a step forward and backward, the moments and sums of each row
    # combined across the blocks.
    ("lstm", dict(layer_norm=True)),
    ("peephole", dict(layer_norm=True)),  # LN(U c_{t-1})
    ("peephole_diag", dict(layer_norm=True, output_peephole="current", cell_clip=0.5)),
    ("lstmp", dict(layer_norm=True)),
    ("fgr", dict(layer_norm=True)),  # R [i; f; o]_{t-1} added to the normalised U h_{t-1}
    ("cifg", dict(layer_norm=True, proj_size=5)),
    # A non-recurrent projection: q_t = [r_t; p_t], U multiplying r_{t-1} only.
    ("lstmp", dict(nonrecurrent_proj_size=3)),
    ("lstm", dict(proj_size=5, nonrecurrent_proj_size=7, layer_norm=True)),
    ("fgr", dict(proj_size=5, nonrecurrent_proj_size=2)),
]
IDS = [f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o in CASES]
requires_build = pytest.mark.skipif(
    os.environ.get("ASR_LSTM_COMPILED_LOOP") == "0", reason="ASR_LSTM_COMPILED_LOOP=0 switches the compiled loop off"
)


def run_loop(cell, xw, state, grads, mask, zoneout=(None, None)) -> list[torch.Tensor]:
    """``y, h_T, c_T`` of the shared loop and the gradients of ``<y, g_y> + <h_T, g_h> + <c_T, g_c>`` with
    respect to ``xw``, ``(h_0, c_0)``, the recurrent weights and the layer normalisation's gains and bias."""
    norm = cell.layer_norm_weights()
    parameters = (cell.weight_hh, cell.weight_ch, cell.weight_gh, cell.weight_hr, cell.weight_pm, *(norm or ()))
    weights = [w for w in parameters if w is not None]
    weight_hh, weight_hr = cell.recurrent_weights()  # [W_rm; W_pm] with a non-recurrent projection
    y, (h, c) = recurrence.lstm_recurrence(
        xw, weight_hh, state, cell.variant, cell.activation_names, cell.weight_ch, cell.weight_gh, weight_hr,
        recurrent_mask=mask, layer_norm=norm, zoneout=zoneout,
    )  # fmt: skip
    loss = sum((out * g).sum() for out, g in zip((y, h, c), grads))
    return [y, h, c, *torch.autograd.grad(loss, [xw, *state, *weights])]


@requires_build
def test_the_compiled_loop_is_built_and_runs_on_cpu():
    assert compiled.build_error() is None
    assert compiled.applies(torch.zeros(1)) and compiled.applies(torch.zeros(1, dtype=torch.float64))
    assert not compiled.applies(torch.zeros(1, dtype=torch.bfloat16))
    with compiled.switched_off():
        assert not compiled.applies(torch.zeros(1))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """``count`` threads for torch (and so blocks of the compiled loop), oversubscribed on a smaller
    machine, which changes nothing but the time."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def two_threads():
    """Two threads, so that 136 units make two blocks of the compiled loop whatever the machine."""
    with torch_threads(2):
        yield


def loop_inputs(name, options, hidden, dropout, dtype):
    """A cell with large random weights and the loop's inputs for it, in ``dtype``: float32 ones are the
    float64 ones rounded, so that both can be compared with the same computation in float64."""
    torch.manual_seed(0)
    # 13 sequences: every size of tile of the products, 8 rows (AVX-512), 4 rows and a row alone.
    steps, batch = 7, 13
    cell = cells.build(name, 4, hidden, **options).double()
    with torch.no_grad():  # pre-activations of the same spread at every width: large, but not chaotic
        for p in cell.parameters():
            p.normal_(0, 0.5 * math.sqrt(13 / hidden))
    out = cell.output_size
    # Layouts the loop must not assume contiguous: xw and g_y stored batch-major, g_h transposed.
    xw = (2 * torch.randn(batch, steps, 4 * hidden, dtype=torch.float64)).transpose(0, 1)
    state = [torch.randn(batch, n, dtype=torch.float64) for n in (out, hidden)]
    grads = (
        torch.randn(batch, steps, out, dtype=torch.float64).transpose(0, 1),
        torch.randn(out, batch, dtype=torch.float64).t(),
        torch.randn(batch, hidden, dtype=torch.float64),
    )
    fed_back = cell.weight_hh.shape[1]  # H, or P under a projection: what U multiplies
    mask = (torch.rand(batch, fed_back, dtype=torch.float64) > 0.3) / 0.7 if dropout else None
    cast = [t if t is None else t.to(dtype) for t in (xw, *state, mask, *grads)]
    xw, h0, c0, mask, *grads = cast
    return cell.to(dtype), xw.requires_grad_(), (h0.requires_grad_(), c0.requires_grad_()), grads, mask


@requires_build
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dropout", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("hidden", [13, 136], ids=["one-block", "two-blocks"])
@pytest.mark.parametrize("name, options", CASES, ids=IDS)
def test_compiled_loop_equals_the_python_loop(name, options, hidden, dropout, dtype, two_threads):
    """13 units: one block of units, a remainder in every row (and whole 8- and 4-wide vectors under
    AVX2); 136 units: two blocks (72 and 64 under AVX2, 68 and 68 in float64; 80 and 56 under AVX-512,
    72 and 64 in float64), each block's products in zero-padded panels. In
    float64 the loops agree to rounding; in float32, where their sums run in different orders and the
    compiled sigmoid's exponential is ATen's 20-ulp one, the compiled loop is about as close to the
    float64 result as the Python loop is."""
    cell, xw, state, grads, mask = loop_inputs(name, options, hidden, dropout, dtype)
    assert compiled.applies(xw)
    got = run_loop(cell, xw, state, grads, mask)
    with compiled.switched_off():
        assert not compiled.applies(xw)
        python = run_loop(cell, xw, state, grads, mask)
    if "cell_clip" in options:  # a case that sets the clip tests it: it acts somewhere
        assert (got[2].abs() == cell.variant.cell_clip).any(), "no cell clipped: the case tests nothing"
    if dtype == torch.float64:
        for a, b in zip(got, python, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        return
    with compiled.switched_off():
        exact = run_loop(*loop_inputs(name, options, hidden, dropout, torch.float64))
    for a, b, truth in zip(got, python, exact, strict=True):  # normwise relative errors
        error, python_error = ((t.double() - truth).norm() / truth.norm().clamp_min(1e-30) for t in (a, b))
        assert error <= 3 * python_error + 1e-6


@requires_build
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dropout", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("nonrecurrent", [None, 20], ids=["r", "r-and-p"])
def test_a_wide_projection_is_split_between_the_threads(nonrecurrent, dropout, dtype, two_threads):
    """P = 130 of H = 136: r_t's columns make two blocks of their own (AVX2: 72 and 58, or 68 and 62 in
    float64; AVX-512: 80 and 50, or 72 and 58), computed
    and masked by the threads forward, and d loss / d r_t likewise backward; with a non-recurrent
    projection of N = 20, q_t's 150 columns make two blocks forward, and backward U's 130 columns do,
    the last block taking p_t's 20 too."""
    options = dict(proj_size=130, nonrecurrent_proj_size=nonrecurrent)
    cell, xw, state, grads, mask = loop_inputs("lstmp", options, 136, dropout, dtype)
    got = run_loop(cell, xw, state, grads, mask)
    with compiled.switched_off():
        python = run_loop(cell, xw, state, grads, mask)
    tolerance = 1e-12 if dtype == torch.float64 else 2e-4
    for a, b in zip(got, python, strict=True):
        torch.testing.assert_close(a, b, rtol=tolerance, atol=tolerance)


@requires_build
@pytest.mark.parametrize("name, options", [("lstmp", dict(layer_norm=True)), ("fgr", dict(layer_norm=True))])
def test_three_blocks_combine_their_rows_statistics(name, options):
    """200 units in three blocks (68, 68 and 64 with float64's 4-wide vectors of AVX2, 72, 72 and 56 with
    AVX-512's 8-wide ones): each row's mean and
    variance of U h_{t-1} and of c_t, and the backward sums, combined from three partial ones; R's rows
    and columns in three parts."""
    cell, xw, state, grads, mask = loop_inputs(name, options, 200, True, torch.float64)
    with torch_threads(3):
        got = run_loop(cell, xw, state, grads, mask)
    with compiled.switched_off():
        python = run_loop(cell, xw, state, grads, mask)
    for a, b in zip(got, python, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


ZONEOUT_CASES = [
    ("lstm", {}),
    ("peephole", {}),  # U c_{t-1}: zoneout's share of h_t is all that reaches h_{t-1}
    ("peephole_diag", dict(output_peephole="current", cell_clip=0.5)),  # V_o and the clip see c~_t
    ("lstmp", {}),  # zoneout of r_t, in the projection's phase
    ("lstmp", dict(proj_size=130)),  # r_t's columns in two blocks
    ("lstm", dict(layer_norm=True)),  # LN(c~_t), then zoneout's c_t
    ("lstmp", dict(layer_norm=True, proj_size=130)),
    ("fgr", {}),  # R [i; f; o]_{t-1} sees the gates, not the zoned-out states
    ("fgr", dict(layer_norm=True, proj_size=130)),
]


@requires_build
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dropout", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("zoned", ["cell", "hidden", "both"])
@pytest.mark.parametrize(
    "name, options", ZONEOUT_CASES, ids=[f"{n}-{'-'.join(o) or 'default'}" for n, o in ZONEOUT_CASES]
)
def test_zoneout_in_the_compiled_loop_equals_the_python_loop(name, options, zoned, dropout, dtype, two_threads):
    """Zoneout's masks d^c (T, B, H) and d^h (T, B, R), drawn at 0.3: outputs and every gradient of both
    loops, in two blocks of units (136)."""
    cell, xw, state, grads, mask = loop_inputs(name, options, 136, dropout, dtype)
    steps, batch = xw.shape[:2]
    generator = torch.Generator().manual_seed(2)
    zone_c, zone_h = (
        (torch.rand(steps, batch, n, generator=generator) < 0.3).to(dtype) for n in (136, cell.output_size)
    )
    zoneout = (zone_c if zoned != "hidden" else None, zone_h if zoned != "cell" else None)
    got = run_loop(cell, xw, state, grads, mask, zoneout)
    with compiled.switched_off():
        python = run_loop(cell, xw, state, grads, mask, zoneout)
    tolerance = 1e-12 if dtype == torch.float64 else 2e-4
    for a, b in zip(got, python, strict=True):
        torch.testing.assert_close(a, b, rtol=tolerance, atol=tolerance)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env}, capture_output=True, text=True
    )


TRAIN_A_STACK = """
    import warnings
    import torch
    from asr_lstm import cells
    from asr_lstm.cells import compiled
    from asr_lstm.models import StackedRNN
    warnings.simplefilter("always")
    torch.manual_seed(0)
    stack = StackedRNN(lambda **sizes: cells.build("peephole_diag", **sizes), 3, 4, 2).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    for _ in range(2):
        stack(x, torch.tensor([6, 4])).sum().backward()
    print("applies", compiled.applies(x), "reason", compiled.build_error())
    print("gradient", float(stack.forward_layers[0].weight_hh.grad.sum()))
"""


def test_a_failed_build_warns_once_and_the_python_loop_runs(tmp_path):
    failed = run_python(TRAIN_A_STACK, CXX=str(tmp_path / "no-compiler"), TORCH_EXTENSIONS_DIR=str(tmp_path / "ext"))
    assert failed.returncode == 0, failed.stderr
    assert failed.stderr.count("the compiled CPU loop of the recurrent cells could not be built") == 1, failed.stderr
    assert "the Python loop runs instead" in failed.stderr
    assert "applies False" in failed.stdout
    chosen = run_python(TRAIN_A_STACK, ASR_LSTM_COMPILED_LOOP="0")
    assert chosen.returncode == 0, chosen.stderr
    assert "could not be built" not in chosen.stderr  # switched off by choice: nothing to warn about
    assert "applies False reason ASR_LSTM_COMPILED_LOOP=0" in chosen.stdout
    gradient = [line for line in failed.stdout.splitlines() if line.startswith("gradient")]
    assert gradient == [line for line in chosen.stdout.splitlines() if line.startswith("gradient")]


@requires_build
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_float32_activations_are_within_a_few_ulp(activation):
    """The compiled loop's float32 tanh (a rational approximation) and sigmoid (an inlined exponential)
    against float64 over [-12, 12] and magnitudes down to 1e-8: one step of a cell without gates is
    c_1 = g_1 (sigma_c = identity), h_1 = sigma_h(c_1)."""
    values = torch.cat(
        [torch.linspace(-12, 12, 200_001), torch.logspace(-8, 1, 20_000), -torch.logspace(-8, 1, 20_000)]
    )
    hidden = 64
    values = values[: values.numel() // hidden * hidden].view(-1, hidden)
    batch = values.shape[0]
    xw = torch.zeros(1, batch, 4 * hidden)
    xw[0, :, 2 * hidden : 3 * hidden] = values
    variant = recurrence.LSTMVariant(input_gate=False, forget_gate=False, output_gate=False)
    zeros = torch.zeros(batch, hidden)
    assert compiled.applies(xw)
    y, _ = recurrence.lstm_recurrence(
        xw, torch.zeros(4 * hidden, hidden), (zeros, zeros), variant, ("sigmoid", "identity", activation)
    )
    exact = getattr(torch, activation)(values.double())
    error = (y[0].double() - exact).abs()
    # relative to the exact value, and exact where that is 0 (torch's linspace hits 0 in some builds)
    assert (error <= 4 * torch.finfo(torch.float32).eps * exact.abs()).all(), (error / exact.abs()).max()


def run_gated_cell(cell, x, h0, grads, seed) -> list[torch.Tensor]:
    """``y, h_T`` of a GRU or Li-GRU layer in training, and the gradients of ``<y, g_y> + <h_T, g_h>``
    with respect to ``x``, ``h_0`` and every parameter; its dropout and zoneout masks drawn from ``seed``."""
    torch.manual_seed(seed)
    y, (h, _) = cell(x, h0)
    loss = (y * grads[0]).sum() + (h * grads[1]).sum()
    return [y, h, *torch.autograd.grad(loss, [x, h0, *cell.parameters()])]


def gated_inputs(name, hidden, regularised, dtype, **options):
    """A GRU or Li-GRU layer with large random weights (float32 ones the float64 ones rounded), in
    training, with recurrent dropout and zoneout where ``regularised``, and its inputs."""
    torch.manual_seed(0)
    steps, batch = 7, 13  # tiles of 8 rows (AVX-512), 4 rows and a row alone
    if regularised:
        options.update(recurrent_dropout=0.3, zoneout_hidden=0.25)
        if name == "ligru":
            options.update(candidate_dropout=0.2)
    cell = cells.build(name, 4, hidden, **options).double()
    with torch.no_grad():
        for p in (cell.weight_ih, cell.weight_hh):
            p.normal_(0, 0.5 * math.sqrt(13 / hidden))
    x = torch.randn(batch, steps, 4, dtype=torch.float64).transpose(0, 1)
    h0 = torch.randn(batch, hidden, dtype=torch.float64)
    grads = (
        torch.randn(batch, steps, hidden, dtype=torch.float64).transpose(0, 1),
        torch.randn(hidden, batch, dtype=torch.float64).t(),
    )
    cast = [t.to(dtype) for t in (x, h0, *grads)]
    return cell.to(dtype).train(), cast[0].requires_grad_(), cast[1].requires_grad_(), cast[2:]


@requires_build
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("regularised", [False, True], ids=["plain", "dropout-zoneout"])
@pytest.mark.parametrize("hidden", [13, 136], ids=["one-block", "two-blocks"])
@pytest.mark.parametrize(
    "name, options", [("gru", {}), ("ligru", {}), ("ligru", dict(layer_norm=True))], ids=["gru", "ligru", "sligru"]
)
def test_the_gru_loops_equal_the_python_loops(name, options, hidden, regularised, dtype, two_threads):
    """The GRU's two phases a step (r_t o h_{t-1} of every unit before U_n), the Li-GRU's one and the
    SLi-GRU's two (the moments of U h_{t-1} across the blocks, then the normalised step; backward the sums
    of dpre, then d loss / d U h_{t-1}), as the dense variants' loop is compared above: outputs and every
    gradient, one and two blocks of units, with and without a dropout mask and zoneout (and the Li-GRU's
    candidate dropout)."""
    cell, x, h0, grads = gated_inputs(name, hidden, regularised, dtype, **options)
    got = run_gated_cell(cell, x, h0, grads, seed=1)
    with compiled.switched_off():
        python = run_gated_cell(cell, x, h0, grads, seed=1)
    if dtype == torch.float64:
        for a, b in zip(got, python, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)
        return
    with compiled.switched_off():
        exact = run_gated_cell(*gated_inputs(name, hidden, regularised, torch.float64, **options), seed=1)
    for a, b, truth in zip(got, python, exact, strict=True):
        error, python_error = ((t.double() - truth).norm() / truth.norm().clamp_min(1e-30) for t in (a, b))
        assert error <= 3 * python_error + 1e-6


@requires_build
def test_three_blocks_combine_the_sligru_rows_statistics():
    """200 units in three blocks: each row's mean and variance of U h_{t-1} over its 400 entries, and
    backward its sums of dpre and dpre o LN(U h_{t-1}), combined from three partial ones."""
    cell, x, h0, grads = gated_inputs("ligru", 200, True, torch.float64, layer_norm=True)
    with torch_threads(3):
        got = run_gated_cell(cell, x, h0, grads, seed=1)
    with compiled.switched_off():
        python = run_gated_cell(cell, x, h0, grads, seed=1)
    for a, b in zip(got, python, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)


X86_CAPABILITIES = ["DEFAULT", "AVX2", "AVX512"]  # torch's, each running on the machines of those after it


@pytest.mark.slow
@requires_build
@pytest.mark.parametrize("capability", ["DEFAULT", "AVX2"])
def test_the_loops_built_for_a_lower_capability_equal_the_python_loops(capability, tmp_path):
    """The library is built for the vector instructions torch runs (AVX-512: 16 floats a vector and tiles
    of 8 rows; AVX2: 8 and 4; DEFAULT: ATen's portable vectors, as on a CPU without either); this file's
    tests rerun on a build for each capability below this machine's, chosen by ``ATEN_CPU_CAPABILITY``
    as torch's own kernels are."""
    own = torch.backends.cpu.get_cpu_capability()
    if platform.machine() not in ("x86_64", "AMD64") or own not in X86_CAPABILITIES:
        pytest.skip(f"not an x86 machine whose capability torch names in {X86_CAPABILITIES}: {own}")
    if X86_CAPABILITIES.index(capability) >= X86_CAPABILITIES.index(own):
        pytest.skip(f"this machine runs {own}, the capability of the normal run")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "not lower_capability"]
    environment = {**os.environ, "ATEN_CPU_CAPABILITY": capability.lower(), "TORCH_EXTENSIONS_DIR": str(tmp_path)}
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " skipped" not in result.stdout.splitlines()[-1], result.stdout[-3000:]
    (flags,) = [
        line
        for line in (tmp_path / "asr_lstm_loops" / "build.ninja").read_text().splitlines()
        if line.startswith("cflags =")
    ]
    if capability == "DEFAULT":
        assert "-mavx" not in flags
    else:
        assert f"-DCPU_CAPABILITY={capability}" in flags and "-mavx512f" not in flags
