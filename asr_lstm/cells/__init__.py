"""Recurrent cells: one layer, one direction, time-major, chosen by name.

Interface shared by every cell: ``forward(x, state=None) -> (y, (h_T, c_T))`` with ``x`` of shape
``(T, B, input_size)`` and ``y`` of shape ``(T, B, output_size)`` (``hidden_size``, or ``proj_size`` with a
recurrent projection, plus ``nonrecurrent_proj_size`` with a non-recurrent one); ``state=None`` means zeros; the GRU
and the Li-GRU return ``c_T = None``. ``NAMES`` maps a registry name to its class, so configs and exported models
rebuild a cell by name. Each class's docstring states its equations and the paper they come from.
"""

from __future__ import annotations

from torch import nn

from asr_lstm.cells.conv_peephole import ConvPeepholeLSTM
from asr_lstm.cells.greff import CIFG, FGR, NFG, NIAF, NIG, NOAF, NOG, NP
from asr_lstm.cells.gru import GRU
from asr_lstm.cells.ligru import LiGRU
from asr_lstm.cells.lstm import LSTM, DiagonalPeepholeLSTM, PeepholeLSTM, ProjectedLSTM

NAMES: dict[str, type[nn.Module]] = {
    "lstm": LSTM,
    "peephole": PeepholeLSTM,
    "peephole_diag": DiagonalPeepholeLSTM,
    "lstmp": ProjectedLSTM,
    "conv_peephole": ConvPeepholeLSTM,
    "nig": NIG,
    "nfg": NFG,
    "nog": NOG,
    "niaf": NIAF,
    "noaf": NOAF,
    "np": NP,
    "cifg": CIFG,
    "fgr": FGR,
    "gru": GRU,
    "ligru": LiGRU,
}


def build(name: str, input_size: int, hidden_size: int, **options) -> nn.Module:
    """Builds the cell registered as ``name`` for one layer and one direction."""
    if name not in NAMES:
        raise ValueError(f"unknown cell {name!r}; registered: {sorted(NAMES)}")
    return NAMES[name](input_size, hidden_size, **options)
