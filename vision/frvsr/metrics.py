"""Image-quality measures used by validation and ``bench/``: Y-channel PSNR with a border crop."""

from __future__ import annotations

import torch


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of RGB in [0, 1], on the [16, 235]/255 range (MATLAB ``rgb2ycbcr``, the VSR
    papers' convention). (..., 3, H, W) -> (..., H, W)."""
    r, g, b = rgb.unbind(-3)
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def psnr_y(pred: torch.Tensor, target: torch.Tensor, border: int = 8) -> torch.Tensor:
    """PSNR (dB) of the Y channel per image, after clamping ``pred`` to [0, 1] and cropping ``border``
    pixels from each side. (..., 3, H, W) -> (...)."""
    pred = pred.clamp(0, 1)
    if border:
        pred, target = pred[..., border:-border, border:-border], target[..., border:-border, border:-border]
    mse = (rgb_to_y(pred) - rgb_to_y(target)).pow(2).mean(dim=(-2, -1))
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
