"""Line-image distortions on a padded training batch: each line gets its own random affine map and
elastic field (one resampling), then erosion or dilation of its ink, a contrast change and noise.

The augment seam hands over normalised frames, so each line is first taken back to its ink map
``I`` (``(H, tau)``, 1 = ink, 0 = paper; frame t is column t, see :mod:`asr_lstm.data.images`) with
the training set's CMVN statistics, distorted there (paper stays paper wherever the map moves
content in from outside the line), and normalised again. A line keeps its width, so its length and
its labels' CTC frames do not change; padding is left as it is.

For a line of tau columns with centre c = ((tau - 1) / 2, (H - 1) / 2), in pixel coordinates p = (x, y):

- affine: ``A = R(theta) Sh(phi) S(s)``, s ~ U[1 - scale, 1] (shrinking only, so that no ink of the
  line's ends leaves it, which would leave its labels without their letters), shear (slant) angle
  phi ~ U[-shear, shear] (``Sh = [[1, tan phi], [0, 1]]``), rotation theta ~ U[-rotate, rotate], and a
  translation d ~ U[-translate, translate]^2 pixels: the output at p reads the input at
  ``A^-1 (p - c - d) + c``;
- elastic (Simard, Steinkraus & Platt 2003): per pixel a displacement ``G_sigma * U[-1, 1]`` in x and y
  (Gaussian smoothing of width ``elastic_sigma`` pixels), scaled to an RMS of ``elastic`` pixels over
  the line, added to where the output pixel reads;
- bilinear sampling of I there (``grid_sample``, zeros = paper outside);
- with probability ``morphology``, a 2 x 2 dilation (max-filter of the ink: thicker strokes) or
  erosion (min-filter: thinner), each half of the time (a 3 x 3 erosion wipes out the 1-2 pixel
  strokes of a 40-pixel line);
- contrast: ``I <- k I``, k ~ U[1 - contrast, 1] (fainter ink);
- noise: ``I <- clip(I + N(0, noise^2), 0, 1)``.

Every draw comes from torch's global generator, so a run's seed fixes them (and a resumed run
restores it). At zero strength each step is skipped, and all at zero return the batch unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from asr_lstm.data.features import FeatureConfig


class LineAugment(nn.Module):
    """Distortions of a batch ``(B, T, H)`` of normalised line-image frames in training mode; the
    identity in eval mode.

    Args:
        features: the feature configuration (``kind=image``, no deltas; CMVN ``global`` or ``none``).
        cmvn_stats: ``(mean, std)``, each ``(H,)``, of the training set (``global`` CMVN), or ``None``.
        scale, shear, rotate, translate: ranges of the affine map (the largest shrinking, a share;
            degrees; degrees; pixels).
        elastic, elastic_sigma: RMS displacement and smoothing width of the elastic field (pixels).
        morphology: probability of a 2 x 2 erosion or dilation.
        contrast: the largest share of ink darkness taken away.
        noise: standard deviation of the additive Gaussian noise (on the [0, 1] ink scale).
    """

    def __init__(
        self,
        features: FeatureConfig,
        cmvn_stats: tuple[torch.Tensor, torch.Tensor] | None,
        scale: float = 0.1,
        shear: float = 15.0,
        rotate: float = 0.5,
        translate: float = 2.0,
        elastic: float = 1.0,
        elastic_sigma: float = 6.0,
        morphology: float = 0.3,
        contrast: float = 0.3,
        noise: float = 0.02,
    ):
        super().__init__()
        if features.kind != "image" or features.delta_order:
            raise ValueError(
                f"augment=lines distorts line images; features.kind={features.kind} with "
                f"delta_order={features.delta_order} is not one (use features=image, or augment=specaugment)"
            )
        if features.cmvn == "speaker":
            raise ValueError(
                "augment=lines undoes the CMVN of each line to distort its ink, which per-writer statistics "
                "(features.cmvn=speaker) do not allow per batch: use features.cmvn=global or none"
            )
        if features.cmvn == "global" and cmvn_stats is None:
            raise ValueError("augment=lines with features.cmvn=global needs the training set's CMVN statistics")
        strengths = {"scale": scale, "shear": shear, "rotate": rotate, "translate": translate,
                     "elastic": elastic, "morphology": morphology, "contrast": contrast, "noise": noise}  # fmt: skip
        if min(strengths.values()) < 0 or elastic_sigma <= 0 or scale >= 1 or morphology > 1 or contrast > 1:
            raise ValueError(
                f"augment: strengths must be >= 0 (scale, contrast below 1, morphology a probability) and "
                f"elastic_sigma > 0; got {strengths}, elastic_sigma={elastic_sigma}"
            )
        mean, std = cmvn_stats if features.cmvn == "global" else (torch.zeros(1), torch.ones(1))
        self.register_buffer("mean", mean.float().reshape(-1), persistent=False)
        self.register_buffer("std", std.float().reshape(-1), persistent=False)
        self.scale, self.shear, self.rotate, self.translate = scale, shear, rotate, translate
        self.elastic, self.elastic_sigma = elastic, elastic_sigma
        self.morphology, self.contrast, self.noise = morphology, contrast, noise

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, T, H)`` with ``lengths`` ``(B,)`` -> distorted copy ``(B, T, H)`` (``x`` itself in
        eval mode or at zero strength)."""
        geometric = any((self.scale, self.shear, self.rotate, self.translate, self.elastic))
        if not self.training or not (geometric or self.morphology or self.contrast or self.noise):
            return x
        batch, frames, height = x.shape
        inside = (torch.arange(frames, device=x.device) < lengths.to(x.device).unsqueeze(1)).unsqueeze(1)  # (B, 1, T)
        ink = torch.where(inside, (x * self.std + self.mean).transpose(1, 2), 0.0).float()  # (B, H, T)
        if geometric:
            ink = F.grid_sample(ink.unsqueeze(1), self.sampling_grid(lengths, height, frames, x.device),
                                mode="bilinear", padding_mode="zeros", align_corners=False).squeeze(1)  # fmt: skip
        if self.morphology:
            ink = self.erode_or_dilate(ink)
        if self.contrast:
            ink = ink * (1.0 - self.contrast * torch.rand(batch, 1, 1, device=x.device))
        if self.noise:
            ink = (ink + self.noise * torch.randn_like(ink)).clamp(0.0, 1.0)
        distorted = ((ink.transpose(1, 2) - self.mean) / self.std).to(x.dtype)
        return torch.where(inside.transpose(1, 2), distorted, x)

    def sampling_grid(self, lengths: torch.Tensor, height: int, frames: int, device: torch.device) -> torch.Tensor:
        """``(B, H, T, 2)``: where each output pixel reads its line, in ``grid_sample``'s coordinates."""
        batch = len(lengths)
        centre = torch.stack(
            [(lengths.to(device).float() - 1) / 2, torch.full((batch,), (height - 1) / 2, device=device)], 1
        )
        scale = 1.0 - self.scale * torch.rand(batch, device=device)
        shear = torch.deg2rad(symmetric(self.shear, (batch,), device))
        rotation = torch.deg2rad(symmetric(self.rotate, (batch,), device))
        shift = symmetric(self.translate, (batch, 2), device)
        source = affine_source(height, frames, centre, scale, shear, rotation, shift)
        if self.elastic:
            source = source + self.elastic_field(lengths, height, frames, device)
        size = torch.tensor([frames, height], device=device, dtype=torch.float32)
        return (2 * source + 1) / size - 1  # pixel centres -> [-1, 1] (align_corners=False)

    def elastic_field(self, lengths: torch.Tensor, height: int, frames: int, device: torch.device) -> torch.Tensor:
        """``(B, H, T, 2)`` smooth random displacements, RMS ``elastic`` pixels over each line's columns."""
        field = 2 * torch.rand(len(lengths), 2, height, frames, device=device) - 1
        radius = math.ceil(3 * self.elastic_sigma)
        taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, device=device) / self.elastic_sigma) ** 2)
        taps = taps / taps.sum()
        field = F.conv2d(
            F.pad(field, (radius, radius, 0, 0), mode="replicate"), taps.view(1, 1, 1, -1).expand(2, 1, 1, -1), groups=2
        )
        field = F.conv2d(
            F.pad(field, (0, 0, radius, radius), mode="replicate"), taps.view(1, 1, -1, 1).expand(2, 1, -1, 1), groups=2
        )
        inside = (torch.arange(frames, device=device) < lengths.to(device).unsqueeze(1))[:, None, None, :]
        rms = ((field**2 * inside).sum((1, 2, 3)) / (inside.sum((1, 2, 3)) * 2 * height)).sqrt().clamp_min(1e-12)
        return (field * (self.elastic / rms)[:, None, None, None]).permute(0, 2, 3, 1)

    def erode_or_dilate(self, ink: torch.Tensor) -> torch.Tensor:
        """``(B, H, T)``: a 2 x 2 dilation or erosion of the ink of a ``morphology`` share of the lines."""
        picked = torch.rand(len(ink), device=ink.device) < self.morphology
        dilate = torch.rand(len(ink), device=ink.device) < 0.5
        padded = F.pad(ink.unsqueeze(1), (0, 1, 0, 1))  # paper past the last row and column
        dilated = F.max_pool2d(padded, 2, stride=1).squeeze(1)
        eroded = -F.max_pool2d(-padded, 2, stride=1).squeeze(1)
        changed = torch.where(dilate[:, None, None], dilated, eroded)
        return torch.where(picked[:, None, None], changed, ink)


def symmetric(bound: float, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Draws of U[-bound, bound] of ``shape``."""
    return (2 * torch.rand(shape, device=device) - 1) * bound


def affine_source(
    height: int,
    frames: int,
    centre: torch.Tensor,
    scale: torch.Tensor,
    shear: torch.Tensor,
    rotation: torch.Tensor,
    shift: torch.Tensor,
) -> torch.Tensor:
    """``(B, H, T, 2)`` pixel coordinates (x, y) that each output pixel p reads, ``A^-1 (p - c - d) + c``
    with ``A = R(rotation) Sh(shear) S(scale)``, for per-line ``centre`` c ``(B, 2)``, ``scale``,
    ``shear`` and ``rotation`` (radians) ``(B,)`` and ``shift`` d ``(B, 2)``."""
    device = centre.device
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=torch.float32),
                            torch.arange(frames, device=device, dtype=torch.float32), indexing="ij")  # fmt: skip
    cos, sin, tan = torch.cos(rotation), torch.sin(rotation), torch.tan(shear)
    # A^-1 = S^-1 Sh^-1 R^-1 in closed form, (B, 2, 2)
    inverse = torch.stack([
        torch.stack([(cos + tan * sin) / scale, (sin - tan * cos) / scale], -1),
        torch.stack([-sin / scale, cos / scale], -1),
    ], 1)  # fmt: skip
    out = torch.stack([xs, ys], -1).reshape(1, -1, 2) - (centre + shift).unsqueeze(1)  # (B, H*T, 2)
    return (out @ inverse.transpose(1, 2) + centre.unsqueeze(1)).reshape(len(centre), height, frames, 2)
