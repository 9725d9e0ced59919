"""Small recognizers with random weights, for tests that follow a model's arithmetic (ONNX export,
streaming) rather than what it learnt."""

from __future__ import annotations

import torch

from asr_lstm.data.features import FeatureConfig
from asr_lstm.recognizer import Recognizer

FEATURES = FeatureConfig(num_mel_bins=4, delta_order=1)  # D = 2 * (4 + energy) = 10
TOKENS = ["<blk>", "aa", "b", "d", "iy", "s", "sil"]


def random_recognizer(
    cell: str,
    seed: int = 0,
    conv: dict | None = None,
    dnn: dict | None = None,
    bidirectional: bool = True,
    features: FeatureConfig = FEATURES,
    latency: tuple[int, int] | None = None,
    **cell_options,
) -> Recognizer:
    """A 2-layer model with frame stacking (or ``conv`` blocks), every weight random (peepholes
    included, which start at zero), so that each term of the cell's equations shows in the output.
    ``latency``: N_c and N_r of a latency-controlled model."""
    options = {"name": cell, **({"frequency_bins": 5} if cell == "conv_peephole" else {}), **cell_options}
    model_options = {
        "input_size": features.dim,
        "num_classes": len(TOKENS),
        "hidden_size": 10,
        "num_layers": 2,
        **({"stack": 3, "stride": 2} if conv is None else {"conv": conv}),
        **({"dnn": dnn} if dnn is not None else {}),
        "bidirectional": bidirectional,
        **({"chunk_frames": latency[0], "right_context_frames": latency[1]} if latency else {}),
    }
    net = Recognizer.build_net(model_options, options)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=generator))
    return Recognizer(
        net, model_options, options, TOKENS, features, torch.zeros(features.dim), torch.ones(features.dim), "39"
    )
