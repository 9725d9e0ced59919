"""Draws a generated mini-IAM line and eight draws of ``augment=lines`` at the config's defaults, for the
README: ``python scripts/draw_line_augment.py docs/pictures/line_augment.png``."""

from __future__ import annotations

import argparse
import random
from importlib import resources

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from asr_lstm.data.features import FeatureConfig
from asr_lstm.data.generators.mini_iam import pen_strokes, random_hand, render_line
from asr_lstm.data.images import image_features
from asr_lstm.pictures.line_augment import draw_line_augment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("--text", default="A MOVE to stop Mr. Gaitskell")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    hand = random_hand(rng)
    image = render_line(pen_strokes(args.text, hand, rng), hand, rng)
    ink = 1.0 - torch.from_numpy(np.asarray(image, dtype=np.float32)) / 255.0
    features = FeatureConfig(kind="image", image_height=40, delta_order=0, cmvn="none")
    config = OmegaConf.create((resources.files("asr_lstm.conf") / "augment" / "lines.yaml").read_text(encoding="utf-8"))
    augment = instantiate(config)(features=features, cmvn_stats=None)
    torch.manual_seed(args.seed)
    print(draw_line_augment(image_features(ink, features.image_height), augment, args.out))


if __name__ == "__main__":
    main()
