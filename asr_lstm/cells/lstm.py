"""The LSTM with a forget gate (Gers, Schmidhuber & Cummins 2000), through ``torch.nn.LSTM``.

    i_t = sigma_g(W_i x_t + U_i h_{t-1} + b_i)
    f_t = sigma_g(W_f x_t + U_f h_{t-1} + b_f)
    o_t = sigma_g(W_o x_t + U_o h_{t-1} + b_o)
    c_t = f_t o c_{t-1} + i_t o sigma_c(W_c x_t + U_c h_{t-1} + b_c)
    h_t = o_t o sigma_h(c_t)

with sigma_g = sigmoid and sigma_c = sigma_h = tanh (the vendor kernels' fixed choice). Parameters
are ``torch.nn.LSTM``'s, gate order (i, f, g, o): ``weight_ih_l0 (4H, D)``, ``weight_hh_l0 (4H, H)``,
``bias_ih_l0 (4H)``, ``bias_hh_l0 (4H)``; b = bias_ih + bias_hh.
"""

from __future__ import annotations

import torch
from torch import nn


class LSTM(nn.LSTM):
    """One unidirectional layer of the forget-gate LSTM.

    Args:
        input_size: D.
        hidden_size: H.
        forget_bias: initial b_f (split as ``bias_ih`` = forget_bias, ``bias_hh`` = 0); 1.0 keeps the
            cell remembering at the start of training (Gers et al. 2000; Jozefowicz et al. 2015).
    """

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 1.0):
        super().__init__(input_size, hidden_size, num_layers=1)
        with torch.no_grad():
            self.bias_ih_l0[hidden_size : 2 * hidden_size].fill_(forget_bias)
            self.bias_hh_l0[hidden_size : 2 * hidden_size].zero_()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Runs the layer over a sequence.

        Args:
            x: ``(T, B, D)``.
            state: ``(h_0, c_0)``, each ``(B, H)``; ``None`` means zeros.

        Returns:
            ``y (T, B, H)`` and ``(h_T, c_T)``, each ``(B, H)``.
        """
        if state is not None:
            state = (state[0].unsqueeze(0), state[1].unsqueeze(0))
        y, (h, c) = super().forward(x, state)
        return y, (h[0], c[0])
