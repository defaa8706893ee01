"""How much of the teacher a surrogate recovers: per-layer R² and a linear probe on frozen features.

* R² of layer l: ``1 − Σ(pred − target)² / Σ(target − mean)²`` over images, tokens and channels, the mean
  taken per channel over images and tokens (1 = exact, 0 = no better than the teacher's mean token).
* Probe features: the final tokens through the teacher's final norm, then [class token, mean patch token]
  (the DINOv2 linear-probe recipe, which Raptor follows); a linear classifier is fitted on one split and
  scored on another, for teacher and surrogate alike, and their accuracy ratio reported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def r2_per_layer(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(L, B, N, C) predicted and teacher states -> (L,) R² per layer."""
    target = target.double()
    error = (pred.double() - target).pow(2).sum(dim=(1, 2, 3))
    spread = (target - target.mean(dim=(1, 2), keepdim=True)).pow(2).sum(dim=(1, 2, 3))
    return (1 - error / spread.clamp_min(1e-12)).float()


def probe_features(tokens: torch.Tensor, norm: nn.Module, num_prefix: int) -> torch.Tensor:
    """(B, N, C) final tokens -> (B, 2C) [class, mean patch] after ``norm`` (the teacher's final norm)."""
    tokens = norm(tokens)
    return torch.cat([tokens[:, 0], tokens[:, num_prefix:].mean(1)], dim=1)


def linear_probe(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
    weight_decay: float = 1e-4, iterations: int = 200,
) -> float:
    """Test accuracy of a multinomial logistic regression fitted on standardised train features (full-batch
    L-BFGS, L2 ``weight_decay``); deterministic for given inputs."""
    train_x, test_x = train_x.detach(), test_x.detach()  # features may come with a graph
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    classes = int(max(train_y.max(), test_y.max())) + 1
    layer = nn.Linear(train_x.shape[1], classes).double()
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")
    x, y = train_x.double(), train_y.long()

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(x), y) + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return float((layer(test_x.double()).argmax(1) == test_y).float().mean())
