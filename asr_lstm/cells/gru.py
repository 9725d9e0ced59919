"""``gru``: the gated recurrent unit of Cho et al. 2014 ("Learning phrase representations using RNN
encoder-decoder for statistical machine translation"), for comparison with the LSTM family.

    r_t = sigma_g(W_r x_t + U_r h_{t-1} + b_r)
    z_t = sigma_g(W_z x_t + U_z h_{t-1} + b_z)
    n_t = sigma_c(W_n x_t + U_n (r_t o h_{t-1}) + b_n)
    h_t = z_t o h_{t-1} + (1 - z_t) o n_t

The reset gate acts before U_n as in the paper (``torch.nn.GRU`` applies it after). Parameters, gate
order (r, z, n) as in ``torch.nn.GRU``: ``weight_ih (3H, D)``, ``weight_hh (3H, H)``, ``bias_ih (3H)``,
``bias_hh (3H)``. There is no cell state: the final state is ``(h_T, None)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from asr_lstm.cells.activations import activation


class GRU(nn.Module):
    """One unidirectional GRU layer.

    Args:
        input_size: D.
        hidden_size: H.
        sigma_g, sigma_c: gate and candidate activations (default sigmoid, tanh).
        sigma_h: accepted for a uniform cell interface; the GRU has no output activation, so only
            ``tanh`` (the default, ignored) is allowed.
        forget_bias: initial b_z: z_t is the GRU's "keep" gate, its analogue of the forget gate.
    """

    def __init__(self, input_size: int, hidden_size: int, sigma_g: str = "sigmoid", sigma_c: str = "tanh", sigma_h: str = "tanh", forget_bias: float = 1.0):
        super().__init__()
        if sigma_h != "tanh":
            raise ValueError("the GRU has no output activation; sigma_h does not apply")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.sigma_g, self.sigma_c = activation(sigma_g), activation(sigma_c)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        with torch.no_grad():
            self.bias_ih[hidden_size : 2 * hidden_size].fill_(forget_bias)
            self.bias_hh[hidden_size : 2 * hidden_size].zero_()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, None] | torch.Tensor | None = None):
        """Args: ``x (T, B, D)``; ``state`` h_0 ``(B, H)`` (or ``(h_0, None)``), ``None`` for zeros.

        Returns:
            ``y (T, B, H)`` and ``(h_T, None)``.
        """
        hidden = self.hidden_size
        if isinstance(state, tuple):
            state = state[0]
        h = x.new_zeros(x.shape[1], hidden) if state is None else state
        xw = torch.addmm(self.bias_ih + self.bias_hh, x.reshape(-1, self.input_size), self.weight_ih.t())
        xw = xw.view(x.shape[0], x.shape[1], 3 * hidden)
        u_rz, u_n = self.weight_hh[: 2 * hidden].t(), self.weight_hh[2 * hidden :].t()
        outputs = []
        for t in range(x.shape[0]):
            rz = self.sigma_g(torch.addmm(xw[t, :, : 2 * hidden], h, u_rz))
            r, z = rz.chunk(2, dim=1)
            n = self.sigma_c(torch.addmm(xw[t, :, 2 * hidden :], r * h, u_n))
            h = torch.lerp(n, h, z)  # z o h + (1 - z) o n
            outputs.append(h)
        return torch.stack(outputs), (h, None)
