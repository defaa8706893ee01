"""FRVSR's training objective (paper Sec. 3.2): an SR loss on every frame plus the flow loss."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from recurrent.warp import warp


class FlowWarpLoss(nn.Module):
    r"""Mean squared error between each LR frame and its predecessor warped by FNet's flow (paper Eq. 5):

    .. math:: \frac{1}{T-1} \sum_{t \ge 1} \lVert \mathrm{warp}(I^{LR}_{t-1}, F_t) - I^{LR}_t \rVert^2

    Args (forward):
        lr_seq: (B, T, 3, H, W) LR clip; T >= 2.
        flow_lr_px: (B, T, 2, H, W) flows current -> previous in LR pixels, (x, y); index 0 is unused.
    """

    def forward(self, lr_seq: torch.Tensor, flow_lr_px: torch.Tensor) -> torch.Tensor:
        if lr_seq.ndim != 5 or flow_lr_px.shape != (*lr_seq.shape[:2], 2, *lr_seq.shape[-2:]):
            got = f"{tuple(lr_seq.shape)}, {tuple(flow_lr_px.shape)}"
            raise ValueError(f"expected lr (B, T, C, H, W) and flow (B, T, 2, H, W), got {got}")
        if lr_seq.shape[1] < 2:
            return lr_seq.new_zeros(())
        prev_warped = warp(lr_seq[:, :-1].flatten(0, 1), flow_lr_px[:, 1:].flatten(0, 1))
        return F.mse_loss(prev_warped, lr_seq[:, 1:].flatten(0, 1))


class FRVSRLoss(nn.Module):
    """``sr + flow_weight · flow``: the SR loss (``"mse"``, the paper's, or ``"charbonnier"``,
    ``sqrt(d² + ε²)``, which trains faster on small budgets) averaged over every frame and pixel, and
    :class:`FlowWarpLoss`. Returns ``(total, {"sr": …, "flow": …})``."""

    def __init__(self, flow_weight: float = 1.0, sr_loss: Literal["mse", "charbonnier"] = "mse", eps: float = 1e-3):
        super().__init__()
        if sr_loss not in ("mse", "charbonnier"):
            raise ValueError(f"sr_loss must be 'mse' or 'charbonnier', got {sr_loss!r}")
        self.flow_weight, self.sr_loss, self.eps = flow_weight, sr_loss, eps
        self.flow = FlowWarpLoss()

    def forward(
        self, hr_pred: torch.Tensor, hr_true: torch.Tensor, lr_seq: torch.Tensor, flow_lr_px: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if hr_pred.shape != hr_true.shape:
            raise ValueError(f"prediction {tuple(hr_pred.shape)} and target {tuple(hr_true.shape)} differ")
        diff = hr_pred - hr_true
        sr = diff.pow(2).mean() if self.sr_loss == "mse" else torch.sqrt(diff.pow(2) + self.eps**2).mean()
        flow = self.flow(lr_seq, flow_lr_px)
        return sr + self.flow_weight * flow, {"sr": sr, "flow": flow}
