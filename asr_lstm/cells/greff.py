"""The eight variants of Greff et al. 2015, "LSTM: A Search Space Odyssey" (IEEE TNNLS 28(10)).

Each is one change to their "vanilla" baseline, the diagonal-peephole LSTM with the output gate
looking at the current cell state (``peephole_diag`` with ``output_peephole="current"``):

    i_t = sigma_g(W_i x_t + U_i h_{t-1} + V_i o c_{t-1} + b_i)
    f_t = sigma_g(W_f x_t + U_f h_{t-1} + V_f o c_{t-1} + b_f)
    c_t = f_t o c_{t-1} + i_t o sigma_c(W_c x_t + U_c h_{t-1} + b_c)
    o_t = sigma_g(W_o x_t + U_o h_{t-1} + V_o o c_t + b_o)
    h_t = o_t o sigma_h(c_t)

All keep the baseline's parameter shapes (a removed gate's rows are simply unused), so weights move
between them; ``fgr`` adds ``weight_gh (3H, 3H)``.
"""

from __future__ import annotations

from asr_lstm.cells.lstm import DiagonalPeepholeLSTM
from asr_lstm.cells.recurrence import LSTMVariant

BASELINE = dict(peepholes=True, output_peephole="current")


class NIG(DiagonalPeepholeLSTM):
    """``nig``, no input gate: i_t = 1, so c_t = f_t o c_{t-1} + sigma_c(W_c x_t + U_c h_{t-1} + b_c)."""

    variant = LSTMVariant(**BASELINE, input_gate=False)


class NFG(DiagonalPeepholeLSTM):
    """``nfg``, no forget gate: f_t = 1, so c_t = c_{t-1} + i_t o sigma_c(...) (the 1997 LSTM).

    ``cell_clip`` is 1.0 by default: without a forget gate c_t can only accumulate and sigma_h(c_t)
    saturates. Unclipped this cell ended 6 to 8 points of dev PER behind ``lstm`` on mini-TIMIT,
    clipped at 1 within 2 (README, cell sweep); ``cell_clip=None`` gives it unclipped.
    """

    variant = LSTMVariant(**BASELINE, forget_gate=False)

    def __init__(self, input_size: int, hidden_size: int, cell_clip: float | None = 1.0, **options):
        super().__init__(input_size, hidden_size, cell_clip=cell_clip, **options)


class NOG(DiagonalPeepholeLSTM):
    """``nog``, no output gate: o_t = 1, so h_t = sigma_h(c_t)."""

    variant = LSTMVariant(**BASELINE, output_gate=False)


class NIAF(DiagonalPeepholeLSTM):
    """``niaf``, no input activation function: sigma_c = identity,
    c_t = f_t o c_{t-1} + i_t o (W_c x_t + U_c h_{t-1} + b_c)."""

    variant = LSTMVariant(**BASELINE)
    default_activations = ("sigmoid", "identity", "tanh")


class NOAF(DiagonalPeepholeLSTM):
    """``noaf``, no output activation function: sigma_h = identity, h_t = o_t o c_t.

    ``cell_clip`` is 3.0 by default: h_t is then as unbounded as c_t, and unclipped the first run on
    mini-TIMIT early-stopped at 82 % dev PER; clipped at 3 it trains as ``lstm`` does (README, cell
    sweep). ``cell_clip=None`` gives it unclipped.
    """

    variant = LSTMVariant(**BASELINE)
    default_activations = ("sigmoid", "tanh", "identity")

    def __init__(self, input_size: int, hidden_size: int, cell_clip: float | None = 3.0, **options):
        super().__init__(input_size, hidden_size, cell_clip=cell_clip, **options)


class NP(DiagonalPeepholeLSTM):
    """``np``, no peepholes: the V o c terms are dropped from i_t, f_t and o_t (``weight_ch`` is kept,
    unused, so that weights still move between variants)."""

    variant = LSTMVariant(**{**BASELINE, "peepholes": False})


class CIFG(DiagonalPeepholeLSTM):
    """``cifg``, coupled input and forget gate: f_t = 1 - i_t,
    c_t = (1 - i_t) o c_{t-1} + i_t o sigma_c(W_c x_t + U_c h_{t-1} + b_c) (the GRU-like coupling)."""

    variant = LSTMVariant(**BASELINE, coupled=True)


class FGR(DiagonalPeepholeLSTM):
    """``fgr``, full gate recurrence: every gate also receives all gates' previous activations,

        i_t = sigma_g(W_i x_t + U_i h_{t-1} + V_i o c_{t-1} + R_ii i_{t-1} + R_if f_{t-1} + R_io o_{t-1} + b_i)

    and likewise for f_t and o_t: nine more H x H matrices, ``weight_gh (3H, 3H)`` with rows (i, f, o)
    as targets and columns (i, f, o) as sources; i_0 = f_0 = o_0 = 0.

    Trained with Adam, R needs a smaller learning rate than the other weights: its inputs [i; f; o]_{t-1}
    are sigmoid outputs, all positive (about 0.5 at the start), so one step of Adam, which moves every
    weight by about the learning rate whatever its gradient's size, moves the 3H weights of a row of R
    the same way and shifts that gate's pre-activation by some 3H x 0.5 x lr, a few hundred times a
    bias's step. At the full rate the gates swing from update to update and training sits on the CTC
    plateau for most of mini-TIMIT's 20 epochs, or for all of them (dev PER 19-57 % over three seeds).
    ``gate_recurrence_lr`` is R's learning rate as a fraction of the optimizer's (``lr_scales``, read by
    the training module); 0.01 by default. The equations are unchanged.
    """

    variant = LSTMVariant(**BASELINE, gate_recurrence=True)

    def __init__(self, input_size: int, hidden_size: int, gate_recurrence_lr: float = 0.01, **options):
        super().__init__(input_size, hidden_size, **options)
        if not gate_recurrence_lr > 0:
            raise ValueError(f"gate_recurrence_lr={gate_recurrence_lr} must be positive")
        self.lr_scales = {"weight_gh": float(gate_recurrence_lr)}
