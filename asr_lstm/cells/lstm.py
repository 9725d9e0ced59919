"""LSTM cells with a forget gate: the plain LSTM and the peephole forms.

Notation (x_t input, h_t output, c_t cell state, o the Hadamard product, W input weights, U recurrent
weights, V diagonal peephole weights, b biases). Parameters, gate order (i, f, g, o) as in
``torch.nn.LSTM``: ``weight_ih (4H, D)``, ``weight_hh (4H, H)``, ``bias_ih (4H)``, ``bias_hh (4H)``
(b = bias_ih + bias_hh), and for peephole variants ``weight_ch (3, H)`` in the order (V_i, V_f, V_o).
Every variant keeps these shapes, so weights move between variants.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from asr_lstm.cells import exportable
from asr_lstm.cells.activations import activation
from asr_lstm.cells.dropout import check_rate, check_zoneout, variational_mask, zoneout_mask
from asr_lstm.cells.paired import PairedDirections
from asr_lstm.cells.recurrence import (
    LAYER_NORM_EPS,
    LSTMVariant,
    lstm_recurrence,
    runs_directions_together,
    stacked_lstm_recurrence,
)

DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "tanh")

# LSTM hands cuDNN the layer's four weight tensors rather than nn.LSTM's one flat buffer; cuDNN then
# packs them on each call (a copy of the weights, measured at 1.10x nn.LSTM's step time on an H100)
# and warns every time. The copy is accepted, the repeated warning is noise.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk of memory")


PROJECTION_INITS = ("fan_in", "torch")


class LSTMCellBase(PairedDirections, nn.Module):
    """Parameters, initialisation and the time loop common to the dense LSTM variants.

    Args:
        input_size: D.
        hidden_size: H.
        sigma_g, sigma_c, sigma_h: gate, cell-input and cell-output activations
            (``sigmoid``, ``tanh`` or ``identity``).
        forget_bias: initial b_f (in ``bias_ih``; ``bias_hh`` rows start at 0). 1.0 keeps the cell
            remembering early in training (Gers et al. 2000; Jozefowicz et al. 2015).
        output_peephole: ``previous`` or ``current`` cell state seen by the output gate (peephole variants).
        proj_size: P, a recurrent projection layer r_t = W_rm h_t (Sak, Senior & Beaufays 2014): r_t
            (``weight_hr (P, H)``) replaces h_{t-1} in the recurrence (``weight_hh (4H, P)``) and is the
            output; 0 < P < H. ``None``: none. Any variant with the h_{t-1} recurrence takes it.
        nonrecurrent_proj_size: N, the non-recurrent projection p_t = W_pm m_t of the same paper
            (``weight_pm (N, H)``), output beside r_t but not fed back: the layer's output is
            [r_t; p_t], ``(P + N)`` values, so the next layer sees more of m_t than the recurrence
            does. Needs ``proj_size``; ``None``: none.
        projection_init: how a projection's weights start. ``fan_in`` (the default): each drawn from
            U(-a, a) with a relative to its fan-in, so that at the start the projection keeps the
            scale of what it projects and the gates see the unprojected cell's scale:
            W_rm ~ U(-sqrt(3 / H), sqrt(3 / H)) (variance 1 / H: var r_t = var m_t) and the W_.r in
            ``weight_hh`` ~ U(-1 / sqrt(P), 1 / sqrt(P)) (var W_.r r = var r / 3, as var U h = var h / 3
            in the plain LSTM). ``torch``: ``torch.nn.LSTM(proj_size=P)``'s U(-1/sqrt(H), 1/sqrt(H))
            for both, which shrinks r_t to a third of m_t's variance and W_.r r_{t-1} to a sixth
            at P = H / 2.
        projection_lr: the learning rate of a projection's weights (W_rm, W_pm and the W_.r in
            ``weight_hh``) as a fraction of the optimizer's (``lr_scales``, read by the training
            module); without a projection it changes nothing. Adam moves every weight by about its
            rate per update whatever the gradient's size, and what a projection feeds, W_.r r_{t-1}
            = W_.r W_rm m_{t-1} here and W x_t = W W_rm m_t in the next layer, is a product of two
            such weights that both move: at the full rate it changes about twice as fast as the
            plain LSTM's U h_{t-1}. 0.25 by default, where ``lstmp`` at P = H / 2 trains within 2
            points of ``lstm`` on mini-TIMIT (README, cell sweep); the equations are unchanged.
        cell_clip: C, c_t clipped to [-C, C] after each update (Sak, Senior & Beaufays 2014); ``None``: none,
            the default but for the variants whose c_t otherwise grows unchecked into what they
            multiply or output (``peephole`` and ``nfg`` 1.0, ``noaf`` 3.0).
        recurrent_dropout: p of variational dropout (Gal & Ghahramani 2016) on what U multiplies
            (h_{t-1}, r_{t-1} or c_{t-1}): one mask per sequence, in training only (:mod:`asr_lstm.cells.dropout`).
        zoneout_cell, zoneout_hidden: z^c and z^h of zoneout (Krueger et al. 2017): each unit of c_t
            (of h_t, or r_t under a projection; p_t is no state and takes none) keeps its previous
            value with that probability, afresh at every step; in evaluation the expectation,
            c_t = z c_{t-1} + (1 - z) c~_t
            (:func:`asr_lstm.cells.recurrence.lstm_recurrence`).
        layer_norm: the layer-normalised LSTM of Ba, Kiros & Hinton 2016: W x_t and U h_{t-1} each
            normalised over their 4H units with gains ``weight_ln_x``, ``weight_ln_h (4H)`` (alpha_2,
            alpha_1; their biases beta_2, beta_1 are b), and c_t over its H units before sigma_h with
            ``weight_ln_c``, ``bias_ln_c (H)`` (alpha_3, beta_3); gains start at 1, biases at 0
            (equations at :func:`asr_lstm.cells.recurrence.lstm_recurrence`).

    The two directions of a bidirectional layer run as one batch where the fused kernels do U's
    product (:class:`asr_lstm.cells.paired.PairedDirections`).

    Subclasses set ``variant`` (the structure), ``has_peepholes`` and ``projected``.
    """

    variant = LSTMVariant()
    has_peepholes = False
    projected = False  # a recurrent projection by default (lstmp)
    default_activations = DEFAULT_ACTIVATIONS
    paired_settings = (
        "variant",
        "activation_names",
        "proj_size",
        "recurrent_dropout",
        "zoneout_cell",
        "zoneout_hidden",
    )

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        sigma_g: str | None = None,
        sigma_c: str | None = None,
        sigma_h: str | None = None,
        forget_bias: float = 1.0,
        output_peephole: str | None = None,
        proj_size: int | None = None,
        recurrent_dropout: float = 0.0,
        cell_clip: float | None = None,
        layer_norm: bool = False,
        zoneout_cell: float = 0.0,
        zoneout_hidden: float = 0.0,
        projection_init: str = "fan_in",
        nonrecurrent_proj_size: int | None = None,
        projection_lr: float = 0.25,
    ):
        super().__init__()
        if projection_init not in PROJECTION_INITS:
            raise ValueError(f"projection_init={projection_init!r} is not one of {PROJECTION_INITS}")
        self.projection_init = projection_init
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.zoneout_cell = check_zoneout("zoneout_cell", zoneout_cell)
        self.zoneout_hidden = check_zoneout("zoneout_hidden", zoneout_hidden)
        self.input_size = input_size
        self.hidden_size = hidden_size
        if proj_size is None and self.projected:
            proj_size = max(1, hidden_size // 2)
        if proj_size is not None:
            if not 0 < proj_size < hidden_size:
                raise ValueError(f"proj_size={proj_size} must be between 0 and hidden_size={hidden_size} (exclusive)")
            if self.variant.recurrent_input != "h":
                raise ValueError(f"{type(self).__name__} feeds back c_t, not h_t; proj_size does not apply")
        if nonrecurrent_proj_size is not None:
            if proj_size is None:
                raise ValueError("nonrecurrent_proj_size needs a recurrent projection (proj_size)")
            if not nonrecurrent_proj_size > 0:
                raise ValueError(f"nonrecurrent_proj_size={nonrecurrent_proj_size} must be positive (or null for none)")
            if self.zoneout_hidden > 0:
                raise ValueError("zoneout_hidden zones out a state; p_t of nonrecurrent_proj_size is none")
        self.proj_size = proj_size
        self.nonrecurrent_proj_size = nonrecurrent_proj_size
        self.output_size = (proj_size or hidden_size) + (nonrecurrent_proj_size or 0)
        names = [given or default for given, default in zip((sigma_g, sigma_c, sigma_h), self.default_activations)]
        for name in names:
            activation(name)  # refuses an unknown name here, when the cell is built
        self.activation_names = tuple(names)
        if output_peephole is not None:
            if not self.has_peepholes:
                raise ValueError(f"{type(self).__name__} has no peepholes; output_peephole does not apply")
            self.variant = LSTMVariant(**{**self.variant.__dict__, "output_peephole": output_peephole})
        if cell_clip is not None or layer_norm:
            self.variant = LSTMVariant(**{**self.variant.__dict__, "cell_clip": cell_clip, "layer_norm": layer_norm})
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, proj_size or hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size)) if proj_size else None
        self.weight_pm = (
            nn.Parameter(torch.empty(nonrecurrent_proj_size, hidden_size)) if nonrecurrent_proj_size else None
        )
        self.weight_ch = nn.Parameter(torch.empty(3, hidden_size)) if self.has_peepholes else None
        self.weight_gh = (
            nn.Parameter(torch.empty(3 * hidden_size, 3 * hidden_size)) if self.variant.gate_recurrence else None
        )
        if layer_norm:
            self.weight_ln_x = nn.Parameter(torch.empty(4 * hidden_size))
            self.weight_ln_h = nn.Parameter(torch.empty(4 * hidden_size))
            self.weight_ln_c = nn.Parameter(torch.empty(hidden_size))
            self.bias_ln_c = nn.Parameter(torch.empty(hidden_size))
        if not projection_lr > 0:
            raise ValueError(f"projection_lr={projection_lr} must be positive")
        if proj_size is not None:
            projections = ("weight_hr", "weight_hh") + (("weight_pm",) if nonrecurrent_proj_size else ())
            self.lr_scales = dict.fromkeys(projections, float(projection_lr))
        self.reset_parameters(forget_bias)

    def reset_parameters(self, forget_bias: float = 1.0) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) as ``torch.nn.LSTM``, a projection's weights as ``projection_init``
        says; b_f = ``forget_bias``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        if self.weight_hr is not None and self.projection_init == "fan_in":
            for projection in (self.weight_hr, self.weight_pm):
                if projection is not None:
                    nn.init.uniform_(projection, -math.sqrt(3.0) * bound, math.sqrt(3.0) * bound)
            nn.init.uniform_(self.weight_hh, -1.0 / math.sqrt(self.proj_size), 1.0 / math.sqrt(self.proj_size))
        with torch.no_grad():
            h = self.hidden_size
            self.bias_ih[h : 2 * h].fill_(forget_bias)
            self.bias_hh[h : 2 * h].zero_()
            if self.variant.layer_norm:
                for gain in (self.weight_ln_x, self.weight_ln_h, self.weight_ln_c):
                    gain.fill_(1.0)
                self.bias_ln_c.zero_()

    def layer_norm_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """(alpha_1, alpha_3, beta_3) of the recurrence under layer normalisation, else ``None``."""
        return (self.weight_ln_h, self.weight_ln_c, self.bias_ln_c) if self.variant.layer_norm else None

    def recurrent_weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``weight_hh`` and ``weight_hr`` as the time loop takes them. With a non-recurrent
        projection the loop projects q_t = [W_rm; W_pm] m_t ``(P + N)`` and U ``(4H, P)`` multiplies
        the first P values of q_{t-1}, r_{t-1}."""
        if self.weight_pm is None:
            return self.weight_hh, self.weight_hr
        return self.weight_hh, torch.cat([self.weight_hr, self.weight_pm])

    def initial_state(self, x: torch.Tensor, state) -> tuple[torch.Tensor, torch.Tensor]:
        if state is not None:
            return state
        return x.new_zeros(x.shape[1], self.output_size), x.new_zeros(x.shape[1], self.hidden_size)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Runs the layer over a sequence.

        Args:
            x: ``(T, B, D)``.
            state: ``(h_0, c_0)``, each ``(B, H)`` (h_0 is r_0, ``(B, P)``, with a projection, and
                [r_0; p_0], ``(B, P + N)``, with both, p_0 unused); ``None`` means zeros.

        Returns:
            ``y (T, B, H)`` and ``(h_T, c_T)``, each ``(B, H)``; with a projection ``y`` and h_T are the
            r_t, ``(T, B, P)`` and ``(B, P)``, with both the [r_t; p_t], ``(T, B, P + N)`` and ``(B, P + N)``.
        """
        h0, c0 = self.initial_state(x, state)
        xw = self.input_projection(x)
        weight_hh, weight_hr = self.recurrent_weights()
        weights = (self.weight_ch, self.weight_gh, weight_hr)
        norm = self.layer_norm_weights()
        if exportable.exporting():  # an exported model runs in evaluation: no dropout, zoneout's expectation
            zoneout = (self.zoneout_cell, self.zoneout_hidden)
            return exportable.lstm_scan(
                xw, weight_hh, (h0, c0), self.variant, self.activation_names, *weights, norm, zoneout
            )
        mask, *zoneout = self.regularisers(x)
        return lstm_recurrence(
            xw, weight_hh, (h0, c0), self.variant, self.activation_names, *weights, mask, norm, tuple(zoneout)
        )

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """W x_t + b for every step of ``x (T, B, D)`` (under layer normalisation LN(W x_t; alpha_2, 0) + b):
        ``(T, B, 4H)``."""
        bias = self.bias_ih + self.bias_hh
        if self.variant.layer_norm:
            return F.layer_norm(x @ self.weight_ih.t(), (4 * self.hidden_size,), self.weight_ln_x, bias, LAYER_NORM_EPS)
        xw = torch.addmm(bias, x.reshape(-1, self.input_size), self.weight_ih.t())
        return xw.view(x.shape[0], x.shape[1], 4 * self.hidden_size)

    def regularisers(self, x: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """The variational dropout mask ``(B, R)`` and zoneout's d^c and d^h ``(T, B, .)`` for a pass over
        ``x (T, B, D)``, each ``None`` where it does not act."""
        steps, batch = x.shape[:2]
        fed_back = self.weight_hh.shape[1]  # H, or P under a projection
        return (
            variational_mask(self.recurrent_dropout, batch, fed_back, x, self.training),
            zoneout_mask(self.zoneout_cell, steps, batch, self.hidden_size, x, self.training),
            zoneout_mask(self.zoneout_hidden, steps, batch, self.output_size, x, self.training),
        )

    def runs_vendor_kernel(self, x: torch.Tensor) -> bool:
        """Whether :meth:`forward` over tensors like ``x`` runs ``torch.lstm`` rather than the shared loop."""
        return False

    def runs_paired(self, x: torch.Tensor) -> bool:
        return not self.runs_vendor_kernel(x) and runs_directions_together(x, self.variant, self.weight_hr)

    def recurrent_parameters(self) -> tuple[torch.Tensor | None, ...]:
        return self.weight_hh, self.weight_ch, self.weight_gh

    def stacked_recurrence(self, xw, weights, regularisers) -> torch.Tensor:
        return stacked_lstm_recurrence(xw, weights, regularisers, self.variant, self.activation_names)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A ``torch.nn.LSTM`` layer's ``weight_ih_l0``, ... (and ``weight_hr_l0``) load as ours."""
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
            if prefix + name + "_l0" in state_dict:
                state_dict[prefix + name] = state_dict.pop(prefix + name + "_l0")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        g, c, h = self.activation_names
        return f"{self.input_size}, {self.hidden_size}, sigma_g={g}, sigma_c={c}, sigma_h={h}, variant={self.variant}"


class LSTM(LSTMCellBase):
    """``lstm``: the LSTM with a forget gate (Gers, Schmidhuber & Cummins 2000).

        f_t = sigma_g(W_f x_t + U_f h_{t-1} + b_f)
        i_t = sigma_g(W_i x_t + U_i h_{t-1} + b_i)
        o_t = sigma_g(W_o x_t + U_o h_{t-1} + b_o)
        c_t = f_t o c_{t-1} + i_t o sigma_c(W_c x_t + U_c h_{t-1} + b_c)
        h_t = o_t o sigma_h(c_t)

    With the default activations (sigmoid, tanh, tanh) it runs on the vendor kernel of
    ``torch.nn.LSTM`` (cuDNN on CUDA, oneDNN on CPU, which has no projection: with one, the CPU runs
    the shared loop); other activations (e.g. sigma_h = identity, as
    the peephole paper suggests) use the shared time loop, and so does ``torch.export`` (ONNX), since
    the vendor op's decomposition fixes the number of frames. A ``torch.nn.LSTM`` layer's state dict
    (``weight_ih_l0``, ...) loads unchanged, with ``proj_size`` that of ``torch.nn.LSTM(proj_size=P)``
    (``weight_hr_l0`` too), which it then computes exactly.
    """

    def runs_vendor_kernel(self, x: torch.Tensor) -> bool:
        """Whether :meth:`forward` over tensors like ``x`` runs ``torch.lstm`` rather than the shared loop."""
        dropping = self.training and self.recurrent_dropout > 0  # the vendor kernel has no variational dropout
        zoning = self.zoneout_cell > 0 or self.zoneout_hidden > 0  # nor zoneout
        # nor cell clipping or layer normalisation
        plain = self.variant.cell_clip is None and not self.variant.layer_norm
        # oneDNN has no projection: torch's CPU fallback for one is a loop of ATen calls, slower than ours
        projected_on_cpu = self.weight_hr is not None and x.device.type == "cpu"
        plain = plain and self.weight_pm is None  # nor a non-recurrent projection
        vendor = self.activation_names == DEFAULT_ACTIVATIONS and plain and not zoning and not projected_on_cpu
        return vendor and not exportable.exporting() and not dropping

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        if not self.runs_vendor_kernel(x):
            return super().forward(x, state)
        h0, c0 = self.initial_state(x, state)
        weights = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        if self.weight_hr is not None:
            weights.append(self.weight_hr)
        y, h, c = torch.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)), weights, True, 1, 0.0, self.training, False, False)
        return y, (h[0], c[0])


class PeepholeLSTM(LSTMCellBase):
    """``peephole``: the gates look at the cell state instead of the output (Gers & Schmidhuber 2000,
    "Recurrent nets that time and count"): c_{t-1} replaces h_{t-1} in all four pre-activations.

        f_t = sigma_g(W_f x_t + U_f c_{t-1} + b_f)
        i_t = sigma_g(W_i x_t + U_i c_{t-1} + b_i)
        o_t = sigma_g(W_o x_t + U_o c_{t-1} + b_o)
        c_t = f_t o c_{t-1} + i_t o sigma_c(W_c x_t + U_c c_{t-1} + b_c)
        h_t = o_t o sigma_h(c_t)

    ``weight_hh`` multiplies c_{t-1}; h_{t-1} is not fed back.

    ``cell_clip`` is 1.0 by default (Sak, Senior & Beaufays 2014): c_{t-1}, which nothing bounds,
    enters all four pre-activations through U, and c_t can feed itself until the gates saturate.
    Unclipped this cell did not train on mini-TIMIT (83 % dev PER); clipped at 1, where the gates see
    c_{t-1} in the range of tanh outputs, it trains within 2 points of ``lstm`` (README, cell sweep).
    ``cell_clip=None`` gives the paper's cell unclipped.
    """

    variant = LSTMVariant(recurrent_input="c")

    def __init__(self, input_size: int, hidden_size: int, cell_clip: float | None = 1.0, **options):
        super().__init__(input_size, hidden_size, cell_clip=cell_clip, **options)


class DiagonalPeepholeLSTM(LSTMCellBase):
    """``peephole_diag``: h_{t-1} recurrence plus diagonal peepholes (Gers, Schraudolph & Schmidhuber
    2002, "Learning precise timing with LSTM recurrent networks"; Graves, Mohamed & Hinton 2013).

        i_t = sigma_g(W_i x_t + U_i h_{t-1} + V_i o c_{t-1} + b_i)
        f_t = sigma_g(W_f x_t + U_f h_{t-1} + V_f o c_{t-1} + b_f)
        c_t = f_t o c_{t-1} + i_t o sigma_c(W_c x_t + U_c h_{t-1} + b_c)
        o_t = sigma_g(W_o x_t + U_o h_{t-1} + V_o o c_{t-1} + b_o)     (output_peephole="previous")
        o_t = sigma_g(W_o x_t + U_o h_{t-1} + V_o o c_t + b_o)         (output_peephole="current", Graves 2013)
        h_t = o_t o sigma_h(c_t)
    """

    variant = LSTMVariant(peepholes=True)
    has_peepholes = True

    def reset_parameters(self, forget_bias: float = 1.0) -> None:
        super().reset_parameters(forget_bias)
        with torch.no_grad():
            self.weight_ch.zero_()  # peepholes start closed, so training starts from the plain LSTM


class ProjectedLSTM(DiagonalPeepholeLSTM):
    """``lstmp``: the LSTM with a recurrent projection layer of Sak, Senior & Beaufays 2014 ("Long
    short-term memory recurrent neural network architectures for large scale acoustic modeling"), the
    LSTM of Kaldi's and EESEN's recipes and of Google's voice search:

        i_t = sigma_g(W_ix x_t + W_ir r_{t-1} + W_ic o c_{t-1} + b_i)
        f_t = sigma_g(W_fx x_t + W_fr r_{t-1} + W_fc o c_{t-1} + b_f)
        c_t = f_t o c_{t-1} + i_t o sigma_c(W_cx x_t + W_cr r_{t-1} + b_c)
        o_t = sigma_g(W_ox x_t + W_or r_{t-1} + W_oc o c_t + b_o)
        m_t = o_t o sigma_h(c_t)
        r_t = W_rm m_t

    The output is r_t (P values), or with the paper's optional non-recurrent projection
    (``nonrecurrent_proj_size`` N)

        p_t = W_pm m_t

    [r_t; p_t] (P + N values), of which only r_t is fed back.
    ``weight_hh (4H, P)`` holds the W_.r, ``weight_hr (P, H)`` W_rm, ``weight_ch (3, H)`` the
    diagonal peepholes W_ic, W_fc, W_oc (zero at start). Without the peepholes this is
    ``torch.nn.LSTM(proj_size=P)``: its state dict loads with ``strict=False`` (the peepholes stay
    closed) and the cell then computes what it computes; ``cell=lstm cell.proj_size=P`` is that LSTM
    exactly, on the vendor kernel.

    Options as for every dense variant; ``proj_size`` P defaults to H / 2 (the ratio of the paper's
    512-cell, 256-projection layers), ``output_peephole`` to ``current`` as in the paper.
    """

    variant = LSTMVariant(peepholes=True, output_peephole="current")
    projected = True
