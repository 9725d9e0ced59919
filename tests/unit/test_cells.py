"""Every cell against a plain step-by-step reference written from its paper's equations.

The references below slice the shared parameters into per-gate matrices (W_i, U_i, V_i, ...) and
apply the equations literally, one gate at a time; they share no code with ``asr_lstm.cells``.
"""

import contextlib
import functools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from torch.func import functional_call

from asr_lstm import cells
from asr_lstm.cells import compiled, exportable
from asr_lstm.cells.conv_peephole import ConvPeepholeLSTM
from asr_lstm.cells.gru import GRU
from asr_lstm.cells.ligru import LiGRU
from asr_lstm.cells.lstm import LSTMCellBase
from asr_lstm.models import StackedRNN
from asr_lstm.runs import plain_options
from tests.conftest import DEVICES

ACT = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "identity": lambda v: v}

# Structure of each dense variant, from the issue and the papers (not from the code under test), with
# the cell clip (Sak et al. 2014) that the README's cell sweep made the default of three of them.
BASE = dict(
    rec="h",
    ig=True,
    fg=True,
    og=True,
    cifg=False,
    peep=False,
    o_peep="previous",
    fgr=False,
    acts=("sigmoid", "tanh", "tanh"),
)
GREFF = dict(BASE, peep=True, o_peep="current")
DENSE = {
    "lstm": BASE,
    "peephole": dict(BASE, rec="c", clip=1.0),
    "peephole_diag": dict(BASE, peep=True),
    "nig": dict(GREFF, ig=False),
    "nfg": dict(GREFF, fg=False, clip=1.0),
    "nog": dict(GREFF, og=False),
    "niaf": dict(GREFF, acts=("sigmoid", "identity", "tanh")),
    "noaf": dict(GREFF, acts=("sigmoid", "tanh", "identity"), clip=3.0),
    "np": dict(GREFF, peep=False),
    "cifg": dict(GREFF, cifg=True),
    "fgr": dict(GREFF, fgr=True),
    "lstmp": dict(BASE, peep=True, o_peep="current"),  # Sak et al. 2014, with r_t = W_rm m_t fed back
}


def layer_norm(z, gain, bias=0.0):
    """LN(z; alpha, beta) of Ba, Kiros & Hinton 2016 over the units of z (biased variance, eps 1e-5)."""
    mu = z.mean(-1, keepdim=True)
    sigma = torch.sqrt(((z - mu) ** 2).mean(-1, keepdim=True) + 1e-5)
    return gain * (z - mu) / sigma + bias


def zoneout_weight(d, t):
    """d_t of zoneout: step t of a drawn ``(T, B, .)`` mask, or the rate itself (evaluation)."""
    return d[t] if torch.is_tensor(d) else d


def reference_dense(cell, x, h, c, spec, mask=1.0, zone=(0.0, 0.0)):
    H = cell.hidden_size
    sg, sc, sh = (ACT[a] for a in spec["acts"])
    ln = spec.get("ln", False)  # the layer-normalised LSTM (Ba et al. 2016)
    b = cell.bias_ih + cell.bias_hh
    b_i, b_f, b_c, b_o = b.split(H)
    V_i, V_f, V_o = cell.weight_ch if spec["peep"] else torch.zeros(3, H, dtype=x.dtype, device=x.device)
    W_rm = cell.weight_hr  # the recurrent projection (LSTMP): h is then r_t, the output
    W_pm = getattr(cell, "weight_pm", None)  # the non-recurrent projection: p_t is output, not fed back
    i_prev = f_prev = o_prev = torch.zeros_like(c)
    ys = []
    for t, x_t in enumerate(x):
        r = (c if spec["rec"] == "c" else h) * mask  # what U multiplies, dropped out per sequence
        wx, ur = x_t @ cell.weight_ih.T, r @ cell.weight_hh.T  # (B, 4H): W x_t and U r
        if ln:
            wx, ur = layer_norm(wx, cell.weight_ln_x), layer_norm(ur, cell.weight_ln_h)
        (Wx_i, Wx_f, Wx_c, Wx_o), (Ur_i, Ur_f, Ur_c, Ur_o) = wx.split(H, dim=1), ur.split(H, dim=1)
        a_i = Wx_i + Ur_i + V_i * c + b_i
        a_f = Wx_f + Ur_f + V_f * c + b_f
        a_c = Wx_c + Ur_c + b_c
        a_o = Wx_o + Ur_o + b_o
        if spec["fgr"]:
            R = cell.weight_gh
            gates_prev = [i_prev, f_prev, o_prev]
            a_i = a_i + sum(g @ R[0:H, k * H : (k + 1) * H].T for k, g in enumerate(gates_prev))
            a_f = a_f + sum(g @ R[H : 2 * H, k * H : (k + 1) * H].T for k, g in enumerate(gates_prev))
            a_o = a_o + sum(g @ R[2 * H :, k * H : (k + 1) * H].T for k, g in enumerate(gates_prev))
        i_t = sg(a_i) if spec["ig"] else torch.ones_like(a_i)
        f_t = 1 - i_t if spec["cifg"] else sg(a_f) if spec["fg"] else torch.ones_like(a_f)
        c_t = f_t * c + i_t * sc(a_c)
        if spec.get("clip") is not None:  # cell clipping (Sak et al. 2014)
            c_t = c_t.clamp(-spec["clip"], spec["clip"])
        a_o = a_o + V_o * (c_t if spec["o_peep"] == "current" else c)
        o_t = sg(a_o) if spec["og"] else torch.ones_like(a_o)
        h_t = o_t * sh(layer_norm(c_t, cell.weight_ln_c, cell.bias_ln_c) if ln else c_t)
        m_t = h_t
        if W_rm is not None:
            h_t = m_t @ W_rm.T  # r_t = W_rm m_t
        d_c, d_h = (zoneout_weight(d, t) for d in zone)  # Krueger et al. 2017: keep the previous value
        c_t = d_c * c + (1 - d_c) * c_t
        h_t = d_h * h + (1 - d_h) * h_t
        h, c, i_prev, f_prev, o_prev = h_t, c_t, i_t, f_t, o_t
        ys.append(h if W_pm is None else torch.cat([h, m_t @ W_pm.T], dim=1))  # [r_t; p_t = W_pm m_t]
    return torch.stack(ys), ys[-1], c


def reference_gru(cell, x, h, mask=1.0, zone=0.0):
    H = cell.hidden_size
    W_r, W_z, W_n = cell.weight_ih.split(H)
    U_r, U_z, U_n = cell.weight_hh.split(H)
    b_r, b_z, b_n = (cell.bias_ih + cell.bias_hh).split(H)
    ys = []
    for t, x_t in enumerate(x):
        r = torch.sigmoid(x_t @ W_r.T + (h * mask) @ U_r.T + b_r)
        z = torch.sigmoid(x_t @ W_z.T + (h * mask) @ U_z.T + b_z)
        n = torch.tanh(x_t @ W_n.T + (r * h * mask) @ U_n.T + b_n)
        d = zoneout_weight(zone, t)
        h = d * h + (1 - d) * (z * h + (1 - z) * n)
        ys.append(h)
    return torch.stack(ys), h


def reference_ligru(cell, x, h, mask=1.0, zone=0.0, ln=False, dropped=1.0):
    """Ravanelli et al. 2018, with batch norm of the input projections over every frame of the batch
    (training) or by the running statistics (evaluation); with ``ln`` the SLi-GRU of Moumen & Parcollet
    2023: (U_z h_{t-1}; U_h h_{t-1}) layer-normalised together, without gain or shift; ``dropped`` the
    candidate's dropout mask (Semeniuta et al. 2016, SpeechBrain's Li-GRU)."""
    H = cell.hidden_size
    T, B, _ = x.shape
    a = x.reshape(T * B, -1) @ cell.weight_ih.T  # (T B, 2H): W_z x_t and W_h x_t
    bn = cell.norm
    mean, var = (a.mean(0), a.var(0, unbiased=False)) if bn.training else (bn.running_mean, bn.running_var)
    a = ((a - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias).reshape(T, B, 2 * H)
    U_z, U_h = cell.weight_hh.split(H)
    ys = []
    for t, a_t in enumerate(a):
        u_z, u_h = (h * mask) @ U_z.T, (h * mask) @ U_h.T
        if ln:
            u_z, u_h = layer_norm(torch.cat([u_z, u_h], dim=1), 1.0).split(H, dim=1)
        z = torch.sigmoid(a_t[:, :H] + u_z)
        candidate = dropped * torch.relu(a_t[:, H:] + u_h)
        d = zoneout_weight(zone, t)
        h = d * h + (1 - d) * (z * h + (1 - z) * candidate)
        ys.append(h)
    return torch.stack(ys), h


def reference_conv(cell, x, h, c, current=False, mask=None, zone=(0.0, 0.0), clip=None):
    T, B, _ = x.shape
    F_, Hc = cell.bins, cell.hidden_channels
    k = cell.weight_hh.shape[2]
    W = cell.weight_ih.split(Hc)
    U = cell.weight_hh.split(Hc)
    b = (cell.bias_ih + cell.bias_hh).split(Hc)
    V_i, V_f, V_o = cell.weight_ch
    h, c = h.view(B, Hc, F_), c.view(B, Hc, F_)

    def conv(w, v):  # the "*" of the equations: 1-D convolution over the frequency axis, same padding
        return F.conv1d(v, w, padding=k // 2)

    ys = []
    for t, x_t in enumerate(x):
        x_t = x_t.view(B, -1, F_)
        h_in = h if mask is None else h * mask.view(B, Hc, F_)  # variational dropout of what U convolves
        i = torch.sigmoid(conv(W[0], x_t) + conv(U[0], h_in) + V_i * c + b[0][:, None])
        f = torch.sigmoid(conv(W[1], x_t) + conv(U[1], h_in) + V_f * c + b[1][:, None])
        c_t = f * c + i * torch.tanh(conv(W[2], x_t) + conv(U[2], h_in) + b[2][:, None])
        if clip is not None:  # cell clipping (Sak et al. 2014), at every position
            c_t = c_t.clamp(-clip, clip)
        o = torch.sigmoid(conv(W[3], x_t) + conv(U[3], h_in) + V_o * (c_t if current else c) + b[3][:, None])
        h_t = o * torch.tanh(c_t)
        d_c, d_h = (zoneout_weight(d, t) for d in zone)
        d_c, d_h = (d.view(B, Hc, F_) if torch.is_tensor(d) else d for d in (d_c, d_h))
        h, c = d_h * h + (1 - d_h) * h_t, d_c * c + (1 - d_c) * c_t
        ys.append(h.reshape(B, -1))
    return torch.stack(ys), h.reshape(B, -1), c.reshape(B, -1)


def randomise(cell, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return cell


def make(name, dtype, device, D=5, H=4, **options):
    if name == "conv_peephole":
        options = {"frequency_bins": 3, **options}
        D, H = 6, 6
    return randomise(cells.build(name, D, H, **options).to(dtype=dtype)).to(device)


@pytest.fixture(autouse=True)
def exact_cudnn():
    """cuDNN's RNN runs float32 in TF32 on Ampere and later by default (about 1e-3 off, by design):
    the comparisons with the equations here want full float32."""
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        yield


@pytest.fixture(params=["training", "python", "export"])
def loop(request, monkeypatch):
    """Which time loop the cells run: the training one (on CPU the compiled loop of
    :mod:`asr_lstm.cells.compiled` for the dense LSTM variants, the GRU and the Li-GRU), the Python loop
    it replaces, or the ``scan`` they switch to under torch.export.

    The switch is ``exportable.exporting``, not torch's own flag: faking that one in eager mode leaves
    torch's compile machinery in a state that breaks a real export later in the process.
    """
    if request.param == "export":
        monkeypatch.setattr(exportable, "exporting", lambda: True)
    with compiled.switched_off() if request.param == "python" else contextlib.nullcontext():
        yield request.param


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(cells.NAMES))
def test_matches_reference(name, dtype, device, loop):
    cell = make(name, dtype, device)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(
        7, 3, cell.weight_ih.shape[1] * (cell.bins if name == "conv_peephole" else 1), generator=gen, dtype=dtype
    ).to(device)
    h0 = torch.randn(3, getattr(cell, "output_size", cell.hidden_size), generator=gen, dtype=dtype).to(device)
    c0 = torch.randn(3, cell.hidden_size, generator=gen, dtype=dtype).to(device)
    with torch.no_grad():
        if name in ("gru", "ligru"):
            y, (h, c) = cell(x, h0)
            y_ref, h_ref = (reference_gru if name == "gru" else reference_ligru)(cell, x, h0)
            assert c is None
        else:
            y, (h, c) = cell(x, (h0, c0))
            if name == "conv_peephole":
                y_ref, h_ref, c_ref = reference_conv(cell, x, h0, c0)
            else:
                y_ref, h_ref, c_ref = reference_dense(cell, x, h0, c0, DENSE[name])
            torch.testing.assert_close(c, c_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("output_peephole", ["previous", "current"])
def test_output_peephole_options(output_peephole):
    cell = make("peephole_diag", torch.float64, "cpu", output_peephole=output_peephole)
    x = torch.randn(5, 2, 5, dtype=torch.float64)
    zeros = torch.zeros(2, 4, dtype=torch.float64)
    y, _ = cell(x)
    spec = dict(DENSE["peephole_diag"], o_peep=output_peephole)
    torch.testing.assert_close(y, reference_dense(cell, x, zeros, zeros, spec)[0])
    conv = make("conv_peephole", torch.float64, "cpu", output_peephole=output_peephole)
    xc = torch.randn(4, 2, 6, dtype=torch.float64)
    z6 = torch.zeros(2, 6, dtype=torch.float64)
    torch.testing.assert_close(conv(xc)[0], reference_conv(conv, xc, z6, z6, current=output_peephole == "current")[0])


@pytest.mark.parametrize("acts", [("sigmoid", "tanh", "identity"), ("tanh", "identity", "tanh")])
def test_lstm_custom_activations_take_the_loop(acts):
    cell = make("lstm", torch.float64, "cpu", sigma_g=acts[0], sigma_c=acts[1], sigma_h=acts[2])
    x = torch.randn(6, 2, 5, dtype=torch.float64)
    zeros = torch.zeros(2, 4, dtype=torch.float64)
    torch.testing.assert_close(cell(x)[0], reference_dense(cell, x, zeros, zeros, dict(BASE, acts=acts))[0])


@pytest.mark.parametrize("python_loop", [False, True], ids=["training-loop", "python-loop"])
@pytest.mark.parametrize("name", sorted(cells.NAMES))
def test_gradcheck_float64(name, python_loop):
    if python_loop and not issubclass(cells.NAMES[name], (LSTMCellBase, ConvPeepholeLSTM, GRU, LiGRU)):
        pytest.skip("the cell has no compiled loop beside the Python one")
    cell = make(name, torch.float64, "cpu", D=3, H=2)
    width = cell.weight_ih.shape[1] * (cell.bins if name == "conv_peephole" else 1)
    x = torch.randn(4, 2, width, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in cell.named_parameters()]

    def run(x, *params):  # y and the final state: gradients also arrive through h_T and c_T
        y, (h, c) = functional_call(cell, dict(zip(names, params)), (x,))
        return (y, h) if c is None else (y, h, c)

    params = [p.detach().requires_grad_() for p in cell.parameters()]
    with compiled.switched_off() if python_loop else contextlib.nullcontext():
        assert torch.autograd.gradcheck(run, (x, *params))


def test_conv_recurrent_matrix_is_the_convolution():
    channels, bins, k = 3, 5, 3
    cell = cells.build("conv_peephole", 2 * bins, channels * bins, frequency_bins=bins, kernel_size=k).double()
    h = torch.randn(4, channels, bins, dtype=torch.float64)
    matrix = cell.recurrent_matrix()
    assert matrix.shape == (4 * channels * bins, channels * bins)
    expected = F.conv1d(h, cell.weight_hh, padding=k // 2).reshape(4, -1)
    torch.testing.assert_close(h.reshape(4, -1) @ matrix.T, expected, rtol=1e-12, atol=1e-12)
    # Banded: an output position sees k positions of each input channel, k - 1 at either edge.
    assert int((matrix != 0).sum()) == 4 * channels * channels * (k * bins - 2)


def test_loop_path_equals_torch_lstm_and_loads_its_weights():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(5, 4)
    cell = cells.build("lstm", 5, 4)
    cell.load_state_dict(reference.state_dict())  # weight_ih_l0 etc. load unchanged
    x = torch.randn(9, 3, 5)
    y_ref, (h_ref, c_ref) = reference(x)
    y_fast, (h_fast, c_fast) = cell(x)
    y_loop, (h_loop, c_loop) = LSTMCellBase.forward(cell, x)
    for y in (y_fast, y_loop):
        torch.testing.assert_close(y, y_ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h_loop, h_ref[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c_loop, c_ref[0], atol=1e-6, rtol=1e-5)


def test_parameter_shapes_and_weights_move_between_variants():
    donor = cells.build("peephole_diag", 5, 4)
    assert {n: tuple(p.shape) for n, p in donor.named_parameters()} == {
        "weight_ih": (16, 5),
        "weight_hh": (16, 4),
        "bias_ih": (16,),
        "bias_hh": (16,),
        "weight_ch": (3, 4),
    }
    for name in ("nig", "nfg", "nog", "niaf", "noaf", "np", "cifg"):
        cells.build(name, 5, 4).load_state_dict(donor.state_dict())  # strict: same keys, same shapes
    fgr = cells.build("fgr", 5, 4)
    assert fgr.weight_gh.shape == (12, 12)
    assert fgr.load_state_dict(donor.state_dict(), strict=False).missing_keys == ["weight_gh"]
    for name in ("lstm", "peephole"):
        plain = cells.build(name, 5, 4)
        assert {n: tuple(p.shape) for n, p in plain.named_parameters()} == {
            "weight_ih": (16, 5),
            "weight_hh": (16, 4),
            "bias_ih": (16,),
            "bias_hh": (16,),
        }
    gru = cells.build("gru", 5, 4)
    assert gru.weight_ih.shape == (12, 5) and gru.weight_hh.shape == (12, 4)
    conv = cells.build("conv_peephole", 6, 8, frequency_bins=2, kernel_size=3)
    assert (conv.weight_ih.shape, conv.weight_hh.shape, conv.weight_ch.shape) == ((16, 3, 3), (16, 4, 3), (3, 4, 2))


def test_ligru_normalises_its_input_projections_by_running_statistics_in_evaluation():
    cell = make("ligru", torch.float64, "cpu")
    x = 3.0 + torch.randn(6, 4, 5, dtype=torch.float64)
    for _ in range(3):
        cell(x)  # training: batch statistics, and the running ones move towards them
    assert cell.norm.num_batches_tracked == 3 and cell.norm.running_mean.abs().sum() > 0
    cell.eval()
    h0 = torch.zeros(4, 4, dtype=torch.float64)
    torch.testing.assert_close(cell(x)[0], reference_ligru(cell, x, h0)[0])
    assert {n: tuple(p.shape) for n, p in cell.named_parameters()} == {
        "weight_ih": (8, 5), "weight_hh": (8, 4), "norm.weight": (8,), "norm.bias": (8,)}  # fmt: skip


@pytest.mark.parametrize("name", ["lstm", "peephole_diag", "cifg"])
def test_every_h_recurrent_variant_takes_a_projection(name, loop):
    cell = make(name, torch.float64, "cpu", proj_size=2)
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    y, (r, c) = cell(x)
    zeros = torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.float64)
    y_ref, r_ref, c_ref = reference_dense(cell, x, *zeros, DENSE[name])
    assert y.shape == (6, 3, 2) and cell.weight_hh.shape == (16, 2) and cell.weight_hr.shape == (2, 4)
    for got, expected in ((y, y_ref), (r, r_ref), (c, c_ref)):
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("device", DEVICES)
def test_lstm_with_a_projection_is_torch_lstm_with_proj_size(device):
    """The same function as ``torch.nn.LSTM(proj_size=P)`` from the same weights: cuDNN's kernel on CUDA,
    the shared loop on CPU."""
    torch.manual_seed(0)
    reference = torch.nn.LSTM(5, 4, proj_size=2).to(device)
    x = torch.randn(9, 3, 5, device=device)
    y_ref, (r_ref, c_ref) = reference(x)
    cell = cells.build("lstm", 5, 4, proj_size=2).to(device)
    cell.load_state_dict(reference.state_dict())  # weight_hr_l0 too, unchanged
    y, (r, c) = cell(x)
    torch.testing.assert_close(y, y_ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(r, r_ref[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c, c_ref[0], atol=1e-6, rtol=1e-5)


def test_lstm_with_a_projection_runs_the_shared_loop_on_cpu(monkeypatch):
    """oneDNN has no projection, and torch's CPU fallback is a loop of ATen calls: the vendor op is
    called without a projection only."""
    calls = []
    vendor = torch.lstm
    monkeypatch.setattr(torch, "lstm", lambda *args: calls.append(len(args[2])) or vendor(*args))
    x = torch.randn(6, 3, 5)
    cells.build("lstm", 5, 4)(x)
    y, _ = cells.build("lstm", 5, 4, proj_size=2)(x)
    assert calls == [4] and y.shape == (6, 3, 2)  # four weight tensors: the unprojected layer only


@pytest.mark.parametrize(
    "options, training, vendor",
    [
        ({}, True, True),
        ({"proj_size": 2}, True, False),  # on CPU, where oneDNN has no projection
        ({"layer_norm": True}, True, False),
        ({"cell_clip": 1.0}, True, False),
        ({"sigma_h": "identity"}, True, False),
        ({"zoneout_cell": 0.1}, False, False),  # evaluation too: the expectation is no vendor kernel either
        ({"recurrent_dropout": 0.2}, True, False),
        ({"recurrent_dropout": 0.2}, False, True),  # dropout is off in evaluation
    ],
)
def test_lstm_says_which_loop_it_runs(monkeypatch, options, training, vendor):
    """``LSTM.runs_vendor_kernel`` (which ``scripts/bench_cells.py`` asks) is what ``forward`` does."""
    calls = []
    original = torch.lstm
    monkeypatch.setattr(torch, "lstm", lambda *args: calls.append(1) or original(*args))
    cell = cells.build("lstm", 5, 4, **options).train(training)
    x = torch.randn(6, 3, 5)
    assert cell.runs_vendor_kernel(x) is vendor
    cell(x)
    assert calls == ([1] if vendor else [])


def test_lstmp_loads_torch_lstm_weights_with_proj_size():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(5, 4, proj_size=2)
    x = torch.randn(9, 3, 5)
    y_ref = reference(x)[0]
    lstmp = cells.build("lstmp", 5, 4, proj_size=2)
    assert lstmp.load_state_dict(reference.state_dict(), strict=False).missing_keys == ["weight_ch"]
    torch.testing.assert_close(lstmp(x)[0], y_ref, atol=1e-6, rtol=1e-5)  # closed peepholes: the same function
    assert cells.build("lstmp", 5, 8).proj_size == 4  # H / 2 by default
    with pytest.raises(ValueError, match="proj_size=4 must be between 0 and hidden_size=4"):
        cells.build("lstm", 5, 4, proj_size=4)
    with pytest.raises(ValueError, match="PeepholeLSTM feeds back c_t, not h_t; proj_size does not apply"):
        cells.build("peephole", 5, 4, proj_size=2)


@pytest.mark.parametrize("name", ["lstmp", "lstm"])
def test_a_projection_starts_at_the_scale_of_the_unprojected_cell(name):
    """fan_in: var r = var m and var W_r r = var r / 3, as var U h = var h / 3 of the plain LSTM;
    torch (nn.LSTM's U(+-1/sqrt(H))): var r = var m / 3, var W_r r = var r * P / (3H)."""
    torch.manual_seed(0)
    hidden, proj = 256, 128
    m, r = torch.randn(4096, hidden), torch.randn(4096, proj)
    expected = {"fan_in": (1.0, 1 / 3), "torch": (1 / 3, 1 / 6)}
    for init, (var_r, var_gates) in expected.items():
        cell = cells.build(name, 8, hidden, proj_size=proj, projection_init=init)
        assert (m @ cell.weight_hr.t()).var().item() == pytest.approx(var_r, rel=0.05)
        assert (r @ cell.weight_hh.t()).var().item() == pytest.approx(var_gates, rel=0.05)
        assert cell.weight_ih.abs().max() <= hidden**-0.5  # the other weights as nn.LSTM's
    assert cells.build("lstm", 8, hidden).weight_hh.abs().max() <= hidden**-0.5  # no projection: untouched
    with pytest.raises(ValueError, match=r"projection_init='xavier' is not one of \('fan_in', 'torch'\)"):
        cells.build(name, 8, hidden, projection_init="xavier")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["lstmp", "lstm"])
def test_a_nonrecurrent_projection_is_output_beside_r_t_and_not_fed_back(name, device, loop):
    """Sak et al. 2014: p_t = W_pm m_t joins r_t in the output; only r_t reaches the gates, so p_0 of
    the initial state changes nothing and the cell's own weights keep their shapes."""
    cell = make(name, torch.float64, device, proj_size=2, nonrecurrent_proj_size=3)
    assert cell.output_size == 5 and cell.weight_hh.shape == (16, 2) and cell.weight_pm.shape == (3, 4)
    gen = torch.Generator().manual_seed(1)
    x, r0, p0, c0 = (torch.randn(*shape, generator=gen, dtype=torch.float64).to(device) for shape in (
        (6, 3, 5), (3, 2), (3, 3), (3, 4)))  # fmt: skip
    y, (h, c) = cell(x, (torch.cat([r0, p0], dim=1), c0))
    y_ref, h_ref, c_ref = reference_dense(cell, x, r0, c0, DENSE[name])
    assert y.shape == (6, 3, 5) and h.shape == (3, 5)
    for got, expected in ((y, y_ref), (h, h_ref), (c, c_ref)):
        torch.testing.assert_close(got, expected)
    torch.testing.assert_close(cell(x, (torch.cat([r0, 7 * p0], dim=1), c0))[0], y)


def test_a_nonrecurrent_projection_learns_and_is_refused_where_it_has_no_meaning():
    cell = make("lstmp", torch.float64, "cpu", D=3, H=4, nonrecurrent_proj_size=2, recurrent_dropout=0.3)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in cell.named_parameters()]

    def run(x, *params):  # the same dropout mask at every evaluation, on r_{t-1} only
        torch.manual_seed(5)
        y, (h, c) = functional_call(cell, dict(zip(names, params)), (x,))
        return y, h, c

    assert torch.autograd.gradcheck(run, (x, *[p.detach().requires_grad_() for p in cell.parameters()]))
    torch.manual_seed(5)
    mask = torch.empty(2, 2, dtype=torch.float64).bernoulli_(0.7) / 0.7  # (B, P): the first draw
    torch.manual_seed(5)
    zeros = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)
    torch.testing.assert_close(cell(x)[0], reference_dense(cell, x, *zeros, DENSE["lstmp"], mask=mask)[0])
    with pytest.raises(ValueError, match=r"nonrecurrent_proj_size needs a recurrent projection \(proj_size\)"):
        cells.build("lstm", 5, 4, nonrecurrent_proj_size=2)
    with pytest.raises(ValueError, match="nonrecurrent_proj_size=0 must be positive"):
        cells.build("lstmp", 5, 4, nonrecurrent_proj_size=0)
    with pytest.raises(ValueError, match="zoneout_hidden zones out a state; p_t of nonrecurrent_proj_size is none"):
        cells.build("lstmp", 5, 4, nonrecurrent_proj_size=2, zoneout_hidden=0.1)


def test_lstm_with_a_nonrecurrent_projection_leaves_the_vendor_kernel(monkeypatch):
    """``torch.nn.LSTM`` has no p_t: that cell runs the shared loop on every device."""
    monkeypatch.setattr(torch, "lstm", lambda *args: pytest.fail("the vendor kernel has no p_t"))
    assert cells.build("lstm", 5, 4, proj_size=2, nonrecurrent_proj_size=1)(torch.randn(6, 3, 5))[0].shape == (6, 3, 3)


def test_a_projected_stack_feeds_2p_features_forward():
    stack = StackedRNN(functools.partial(cells.build, "lstmp", proj_size=3), 4, 6, num_layers=2)
    assert stack.output_size == 3 and stack.forward_layers[1].input_size == 6
    assert stack(torch.randn(5, 2, 4), torch.tensor([5, 3])).shape == (5, 2, 6)
    both = functools.partial(cells.build, "lstmp", proj_size=3, nonrecurrent_proj_size=2)
    stack = StackedRNN(both, 4, 6, num_layers=2)  # 2 (P + N) features: r_t and p_t of each direction
    assert stack.output_size == 5 and stack.forward_layers[1].input_size == 10
    assert stack(torch.randn(5, 2, 4), torch.tensor([5, 3])).shape == (5, 2, 10)


@pytest.mark.parametrize("name", ["lstm", "peephole", "lstmp", "fgr", "conv_peephole", "gru", "ligru"])
def test_variational_recurrent_dropout_is_one_mask_per_sequence_on_what_u_multiplies(name):
    p = 0.4
    cell = make(name, torch.float64, "cpu", recurrent_dropout=p)
    width = cell.weight_ih.shape[1] * (cell.bins if name == "conv_peephole" else 1)
    x = torch.randn(6, 3, width, dtype=torch.float64)
    torch.manual_seed(3)
    y = cell(x)[0]
    torch.manual_seed(3)  # the mask is the forward pass's first random draw
    fed_back = cell.hidden_size if name == "peephole" else getattr(cell, "output_size", cell.hidden_size)
    mask = torch.empty(3, fed_back, dtype=torch.float64).bernoulli_(1 - p) / (1 - p)
    h0 = torch.zeros(3, getattr(cell, "output_size", cell.hidden_size), dtype=torch.float64)
    c0 = torch.zeros(3, cell.hidden_size, dtype=torch.float64)
    with torch.no_grad():
        if name in ("gru", "ligru"):
            expected = (reference_gru if name == "gru" else reference_ligru)(cell, x, h0, mask)[0]
        elif name == "conv_peephole":
            expected = reference_conv(cell, x, h0, c0, mask=mask)[0]
        else:
            expected = reference_dense(cell, x, h0, c0, DENSE[name], mask)[0]
    torch.testing.assert_close(y, expected)
    assert 0 < (mask == 0).float().mean() < 1
    cell.eval()  # no dropout in evaluation: the cell without the option
    plain = make(name, torch.float64, "cpu").eval()
    plain.load_state_dict(cell.state_dict())  # the Li-GRU's batch-norm statistics moved in training
    torch.testing.assert_close(cell(x)[0], plain(x)[0])
    names = [n for n, _ in cell.named_parameters()]

    def run(x, *params):  # the same mask at every evaluation of gradcheck
        torch.manual_seed(5)
        return functional_call(cell.train(), dict(zip(names, params)), (x,))[0]

    small = x[:3, :2].clone().requires_grad_()
    assert torch.autograd.gradcheck(run, (small, *[q.detach().requires_grad_() for q in cell.parameters()]))
    with pytest.raises(ValueError, match="recurrent_dropout must be in"):
        make(name, torch.float64, "cpu", recurrent_dropout=1.0)


@pytest.mark.parametrize("name", ["lstm", "peephole", "peephole_diag", "lstmp", "conv_peephole"])
def test_cell_clipping_bounds_the_cell_state_and_stops_its_gradient(name, loop):
    """The clip of every dense variant (``conv_peephole``'s at every position) in each loop."""
    cell = make(name, torch.float64, "cpu", cell_clip=0.3)
    conv = name == "conv_peephole"
    x = 2 * torch.randn(8, 3, cell.weight_ih.shape[1] * (cell.bins if conv else 1), dtype=torch.float64)
    h0 = torch.zeros(3, getattr(cell, "output_size", cell.hidden_size), dtype=torch.float64)
    c0 = torch.zeros(3, cell.hidden_size, dtype=torch.float64)
    with torch.no_grad():
        y, (h, c) = cell(x)
        if conv:
            expected = reference_conv(cell, x, h0, c0, clip=0.3)
        else:
            expected = reference_dense(cell, x, h0, c0, dict(DENSE[name], clip=0.3))
    for got, want in zip((y, h, c), expected):
        torch.testing.assert_close(got, want)
    assert c.abs().max() == pytest.approx(0.3)  # some cells clip
    if loop != "export":
        names = [n for n, _ in cell.named_parameters()]

        def run(x, *params):
            y, (h, c) = functional_call(cell, dict(zip(names, params)), (x,))
            return y, h, c

        small = x[:4, :2].clone().requires_grad_()
        assert torch.autograd.gradcheck(run, (small, *[p.detach().requires_grad_() for p in cell.parameters()]))
    with pytest.raises(ValueError, match="cell_clip must be positive"):
        make(name, torch.float64, "cpu", cell_clip=0.0)


@pytest.mark.parametrize("name, clip", [("peephole", 1.0), ("nfg", 1.0), ("noaf", 3.0)])
def test_cells_clipped_by_default_take_the_papers_unclipped_form(name, clip):
    """``peephole``, ``nfg`` and ``noaf`` clip c_t by default (the README's cell sweep); ``cell_clip=None``
    gives the paper's equations without a clip, where the cell state leaves [-C, C]."""
    clipped, cell = make(name, torch.float64, "cpu"), make(name, torch.float64, "cpu", cell_clip=None)
    assert clipped.variant.cell_clip == clip and cell.variant.cell_clip is None
    with torch.no_grad():  # forget gates held open, so that c_t accumulates past C
        for module in (clipped, cell):
            module.bias_ih[4:8] += 6.0
    x = 3 * torch.randn(30, 3, 5, dtype=torch.float64)
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    with torch.no_grad():
        got = cell(x)
        expected = reference_dense(cell, x, zeros, zeros, dict(DENSE[name], clip=None))
        for g, want in zip((got[0], *got[1]), expected):
            torch.testing.assert_close(g, want)
        assert not torch.allclose(got[0], clipped(x)[0])  # the default's clip acts on this input


CELL_CONFIGS = sorted(
    str(path.relative_to(path.parents[1] if path.parent.name == "greff" else path.parent).with_suffix(""))
    for path in (Path(__file__).parents[2] / "conf" / "cell").rglob("*.yaml")
)


@pytest.mark.parametrize("config", CELL_CONFIGS)
def test_each_cell_config_builds_the_cell_that_its_name_builds(config):
    """``cell=<config>`` of ``asr-lstm train`` and ``cells.build(name)`` give one cell, parameters and
    settings alike: the configs spell out the Python defaults (cell clips, learning-rate fractions,
    projections) rather than differ from them, so that a cell used from Python trains as the recipe's."""
    with initialize_config_module(config_module="asr_lstm.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"cell={config}"])
    options = plain_options(cfg.cell)
    name = options.pop("name")
    D, H = (123, cfg.model.hidden_size) if name == "conv_peephole" else (5, 4)
    built = []
    for given in (options, {}):
        torch.manual_seed(0)
        built.append(cells.build(name, D, H, **given))
    configured, default = built
    assert configured.state_dict().keys() == default.state_dict().keys()
    for key, value in configured.state_dict().items():
        torch.testing.assert_close(value, default.state_dict()[key], rtol=0, atol=0)
    for (path, module), (_, other) in zip(configured.named_modules(), default.named_modules()):
        settings = {k for k in (*vars(module), *vars(other)) if not k.startswith("_")}
        assert {k: getattr(module, k) for k in settings} == {k: getattr(other, k) for k in settings}, (config, path)


@pytest.mark.parametrize("name", ["lstm", "peephole", "peephole_diag", "lstmp", "cifg", "fgr"])
def test_layer_normalised_lstm_follows_ba_et_al(name, loop):
    fresh = cells.build(name, 5, 4, layer_norm=True)
    assert fresh.weight_ln_x.shape == fresh.weight_ln_h.shape == (16,) and fresh.bias_ln_c.shape == (4,)
    assert fresh.weight_ln_h.tolist() == [1.0] * 16 and fresh.bias_ln_c.tolist() == [0.0] * 4
    assert not hasattr(cells.build(name, 5, 4), "weight_ln_h")
    cell = make(name, torch.float64, "cpu", layer_norm=True)  # gains and biases random too
    gen = torch.Generator().manual_seed(2)
    x = 3 * torch.randn(7, 3, 5, generator=gen, dtype=torch.float64)
    h0 = torch.randn(3, cell.output_size, generator=gen, dtype=torch.float64)
    c0 = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        got = cell(x, (h0, c0))
        y_ref, h_ref, c_ref = reference_dense(cell, x, h0, c0, dict(DENSE[name], ln=True))
        plain = make(name, torch.float64, "cpu")
        plain.load_state_dict(cell.state_dict(), strict=False)
        assert not torch.allclose(plain(x, (h0, c0))[0], y_ref)  # the normalisation changes the function
    for value, expected in zip((got[0], *got[1]), (y_ref, h_ref, c_ref)):
        torch.testing.assert_close(value, expected)
    if loop == "training":  # the hand-derived backward pass through the normalisations
        names = [n for n, _ in cell.named_parameters()]

        def run(x, h0, c0, *params):
            y, (h, c) = functional_call(cell, dict(zip(names, params)), (x, (h0, c0)))
            return y, h, c

        inputs = (x[:4, :2], h0[:2], c0[:2], *cell.parameters())
        assert torch.autograd.gradcheck(run, tuple(t.detach().clone().requires_grad_() for t in inputs))


def test_layer_normalised_ligru_is_the_sligru_of_moumen_and_parcollet(loop):
    """LN(U h_{t-1}) over the 2H units of both gates, no parameter of its own (SpeechBrain's SLiGRU with
    recurrent_elementwise_affine=False); through the training loop, the Python loop and the export
    scan. (With every regulariser, and by float64 gradcheck: the candidate dropout test below.)"""
    plain = cells.build("ligru", 5, 4)
    assert cells.build("ligru", 5, 4, layer_norm=True).state_dict().keys() == plain.state_dict().keys()
    cell = make("ligru", torch.float64, "cpu", layer_norm=True)
    gen = torch.Generator().manual_seed(2)
    x = 3 * torch.randn(7, 3, 5, generator=gen, dtype=torch.float64)
    h0 = 5 * torch.randn(3, 4, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        cell.eval()
        y, (h, _) = cell(x, h0)
        y_ref, h_ref = reference_ligru(cell, x, h0, ln=True)
        plain = make("ligru", torch.float64, "cpu").eval()
        plain.load_state_dict(cell.state_dict())
        assert not torch.allclose(plain(x, h0)[0], y_ref)  # the normalisation changes the function
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(h, h_ref)


@pytest.mark.parametrize("layer_norm", [False, True], ids=["ligru", "sligru"])
def test_ligru_candidate_dropout_is_speechbrains(layer_norm, loop):
    """h_t = z_t o h_{t-1} + (1 - z_t) o (m o h~_t), m one mask per sequence and unit, 0 or 1 / (1 - p),
    the same at every step; the state carried and U's input are not dropped, and in evaluation nothing
    is. With the other regularisers, through both training loops, and by float64 gradcheck."""
    options = dict(candidate_dropout=0.4, recurrent_dropout=0.3, zoneout_hidden=0.25, layer_norm=layer_norm)
    cell = make("ligru", torch.float64, "cpu", **options)
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    h0 = torch.randn(3, 4, dtype=torch.float64)
    if loop != "export":
        torch.manual_seed(3)
        y = cell(x, h0)[0]
        torch.manual_seed(3)  # the forward pass's draws: the recurrent dropout mask, zoneout's, the candidate's
        mask = torch.empty(3, 4, dtype=torch.float64).bernoulli_(0.7) / 0.7
        zone = torch.empty(6, 3, 4, dtype=torch.float64).bernoulli_(0.25)
        dropped = torch.empty(3, 4, dtype=torch.float64).bernoulli_(0.6) / 0.6
        assert 0 < (dropped == 0).sum() < dropped.numel()
        with torch.no_grad():
            torch.testing.assert_close(y, reference_ligru(cell, x, h0, mask, zone, layer_norm, dropped)[0])
            without = reference_ligru(cell, x, h0, mask, zone, layer_norm)[0]
            assert not torch.allclose(y, without)
        names = [n for n, _ in cell.named_parameters()]

        def run(x, h0, *params):  # the same masks at every evaluation of gradcheck
            torch.manual_seed(5)
            y, (h, _) = functional_call(cell, dict(zip(names, params)), (x, h0))
            return y, h

        inputs = (x[:4, :2], h0[:2], *cell.parameters())
        assert torch.autograd.gradcheck(run, tuple(t.detach().clone().requires_grad_() for t in inputs))
    cell.eval()
    with torch.no_grad():
        torch.testing.assert_close(cell(x, h0)[0], reference_ligru(cell, x, h0, zone=0.25, ln=layer_norm)[0])
    with pytest.raises(ValueError, match=r"candidate_dropout must be in \[0, 1\), got 1.0"):
        make("ligru", torch.float64, "cpu", candidate_dropout=1.0)


@pytest.mark.parametrize("name", ["lstm", "peephole", "peephole_diag", "lstmp", "fgr", "conv_peephole", "gru", "ligru"])
def test_zoneout_keeps_previous_units_with_a_fresh_mask_every_step(name, loop):
    z_c, z_h = 0.4, 0.3
    single = name in ("gru", "ligru")  # h_t only: no cell state
    options = {"zoneout_hidden": z_h, **({} if single else {"zoneout_cell": z_c})}
    cell = make(name, torch.float64, "cpu", **options)
    width = cell.weight_ih.shape[1] * (cell.bins if name == "conv_peephole" else 1)
    x = torch.randn(6, 3, width, dtype=torch.float64)
    out_size = getattr(cell, "output_size", cell.hidden_size)
    h0 = torch.zeros(3, out_size, dtype=torch.float64)
    c0 = torch.zeros(3, cell.hidden_size, dtype=torch.float64)

    def reference(zone_c, zone_h):
        if single:
            return (reference_gru if name == "gru" else reference_ligru)(cell, x, h0, zone=zone_h)[0]
        if name == "conv_peephole":
            return reference_conv(cell, x, h0, c0, zone=(zone_c, zone_h))[0]
        return reference_dense(cell, x, h0, c0, DENSE[name], zone=(zone_c, zone_h))[0]

    if loop == "training":  # (an exported model only ever runs in evaluation)
        torch.manual_seed(3)
        y = cell(x)[0]
        torch.manual_seed(3)  # the masks are the forward pass's random draws: c's, then h's
        d_c = None if single else torch.empty(6, 3, cell.hidden_size, dtype=torch.float64).bernoulli_(z_c)
        d_h = torch.empty(6, 3, out_size, dtype=torch.float64).bernoulli_(z_h)
        with torch.no_grad():
            torch.testing.assert_close(y, reference(d_c, d_h))
        assert 0 < d_h.mean() < 1 and not all(torch.equal(d_h[0], d_t) for d_t in d_h)  # afresh at every step
        names = [n for n, _ in cell.named_parameters()]

        def run(x, *params):  # the same masks at every evaluation of gradcheck
            torch.manual_seed(5)
            return functional_call(cell, dict(zip(names, params)), (x,))[0]

        small = x[:4, :2].clone().requires_grad_()
        assert torch.autograd.gradcheck(run, (small, *[q.detach().requires_grad_() for q in cell.parameters()]))
    cell.eval()  # evaluation: the expectation, s_t = z s_{t-1} + (1 - z) s~_t
    with torch.no_grad():
        torch.testing.assert_close(cell(x)[0], reference(z_c, z_h))
        plain = make(name, torch.float64, "cpu").eval()
        plain.load_state_dict(cell.state_dict())
        assert not torch.allclose(plain(x)[0], cell(x)[0])
    with pytest.raises(ValueError, match="zoneout_hidden must be in"):
        make(name, torch.float64, "cpu", zoneout_hidden=1.0)


def test_forget_bias_initialisation():
    for name in ("lstm", "peephole_diag", "cifg", "gru"):
        cell = cells.build(name, 3, 4, forget_bias=2.0)
        assert cell.bias_ih[4:8].tolist() == [2.0] * 4 and cell.bias_hh[4:8].tolist() == [0.0] * 4


def test_refusals():
    with pytest.raises(ValueError, match="unknown activation 'relu'"):
        cells.build("peephole_diag", 3, 4, sigma_h="relu")
    with pytest.raises(ValueError, match="LSTM has no peepholes"):
        cells.build("lstm", 3, 4, output_peephole="current")
    with pytest.raises(ValueError, match="frequency_bins=41 must divide input_size=123 and hidden_size=100"):
        cells.build("conv_peephole", 123, 100)
    with pytest.raises(ValueError, match="GRU has no output activation"):
        cells.build("gru", 3, 4, sigma_h="identity")
    with pytest.raises(ValueError, match="unknown cell"):
        cells.build("lstm2", 3, 4)


@pytest.mark.parametrize("name", sorted(cells.NAMES))
def test_stacked_bidirectional_padding_invariance(name):
    torch.manual_seed(0)
    options = {"frequency_bins": 2} if name == "conv_peephole" else {}
    stack = StackedRNN(functools.partial(cells.build, name, **options), 4, 6, num_layers=2).double().eval()
    seqs = [torch.randn(n, 4, dtype=torch.float64) for n in (9, 5)]
    x = torch.nn.utils.rnn.pad_sequence(seqs)  # (T, B, D)
    out = stack(x, torch.tensor([9, 5]))
    for b, s in enumerate(seqs):
        alone = stack(s.unsqueeze(1), torch.tensor([len(s)]))
        torch.testing.assert_close(out[: len(s), b], alone[:, 0])
    assert out.shape == (9, 2, 2 * stack.output_size) and out[5:, 1].abs().sum() == 0
    assert stack.output_size == (3 if name == "lstmp" else 6)
