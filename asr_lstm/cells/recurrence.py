"""The time loop shared by every dense LSTM variant.

One function runs all of them: which of h_{t-1} or c_{t-1} feeds ``weight_hh``, which gates exist,
peepholes, a coupled forget gate and full gate recurrence are its options. The input projection
W x_t + b for all t is one matrix product before the loop; each step then costs one ``addmm`` for
the recurrent term plus element-wise work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class LSTMVariant:
    """Structure of an LSTM variant (Greff et al. 2015 switches on the peephole LSTM).

    Attributes:
        recurrent_input: ``h`` (U h_{t-1}) or ``c`` (U c_{t-1}, Gers & Schmidhuber 2000 peephole form).
        input_gate, forget_gate, output_gate: a missing gate is the constant 1.
        coupled: f_t = 1 - i_t (CIFG).
        peepholes: diagonal peepholes V_i, V_f, V_o.
        output_peephole: ``previous`` (V_o o c_{t-1}) or ``current`` (V_o o c_t).
        gate_recurrence: i, f, o also receive R [i_{t-1}; f_{t-1}; o_{t-1}] (FGR).
    """

    recurrent_input: str = "h"
    input_gate: bool = True
    forget_gate: bool = True
    output_gate: bool = True
    coupled: bool = False
    peepholes: bool = False
    output_peephole: str = "previous"
    gate_recurrence: bool = False

    def __post_init__(self) -> None:
        if self.recurrent_input not in ("h", "c"):
            raise ValueError(f"recurrent_input must be 'h' or 'c', got {self.recurrent_input!r}")
        if self.output_peephole not in ("previous", "current"):
            raise ValueError(f"output_peephole must be 'previous' or 'current', got {self.output_peephole!r}")


Activation = Callable[[torch.Tensor], torch.Tensor]


def lstm_recurrence(
    xw: torch.Tensor,
    weight_hh: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    variant: LSTMVariant,
    sigma_g: Activation,
    sigma_c: Activation,
    sigma_h: Activation,
    weight_ch: torch.Tensor | None = None,
    weight_gh: torch.Tensor | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Runs an LSTM variant over a sequence whose input projection is already done.

    Args:
        xw: ``(T, B, 4H)`` = W x_t + b_ih + b_hh, gate order (i, f, g, o).
        weight_hh: ``(4H, H)``, U; multiplies h_{t-1} or c_{t-1} per ``variant.recurrent_input``.
        state: ``(h_0, c_0)``, each ``(B, H)``.
        weight_ch: ``(3, H)`` diagonal peepholes (V_i, V_f, V_o) when ``variant.peepholes``.
        weight_gh: ``(3H, 3H)`` gate recurrence R (rows: targets i, f, o; columns: sources) for FGR.

    Returns:
        ``y (T, B, H)`` and ``(h_T, c_T)``.
    """
    h, c = state
    hidden = h.shape[1]
    u_t = weight_hh.t()
    r_t = weight_gh.t() if variant.gate_recurrence else None
    gates_prev = h.new_zeros(h.shape[0], 3 * hidden) if variant.gate_recurrence else None
    outputs = []
    for t in range(xw.shape[0]):
        pre = torch.addmm(xw[t], h if variant.recurrent_input == "h" else c, u_t)
        pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=1)
        if r_t is not None:
            rec_i, rec_f, rec_o = (gates_prev @ r_t).chunk(3, dim=1)
            pre_i, pre_f, pre_o = pre_i + rec_i, pre_f + rec_f, pre_o + rec_o
        if variant.peepholes:
            pre_i = torch.addcmul(pre_i, weight_ch[0], c)
            pre_f = torch.addcmul(pre_f, weight_ch[1], c)
        i = sigma_g(pre_i) if variant.input_gate else torch.ones_like(pre_i)
        if variant.coupled:
            f = 1 - i
        else:
            f = sigma_g(pre_f) if variant.forget_gate else torch.ones_like(pre_f)
        c_next = torch.addcmul(f * c, i, sigma_c(pre_g))
        if variant.peepholes:
            pre_o = torch.addcmul(pre_o, weight_ch[2], c_next if variant.output_peephole == "current" else c)
        o = sigma_g(pre_o) if variant.output_gate else torch.ones_like(pre_o)
        c = c_next
        h = o * sigma_h(c)
        if gates_prev is not None:
            gates_prev = torch.cat([i, f, o], dim=1)
        outputs.append(h)
    return torch.stack(outputs), (h, c)
