"""Dynamics of a block-recurrent depth (Raptor paper, section on dynamics), as numbers per layer.

* :func:`angular_convergence` — the angle (degrees) between each image's [class, mean patch] feature at
  every layer and the final-layer centroid direction of its own class, and of the nearest other class:
  class-dependent basins show as the first falling and staying below the second.
* :func:`perturbation_recovery` — perturb the state at one layer by a relative amount, roll out, and
  follow the angle between perturbed and clean trajectories: below 1 (relative to its start) means the
  dynamics correct the perturbation.
* :func:`token_speeds` — relative update size ``‖x_{l+1} − x_l‖ / ‖x_l‖`` of class vs patch tokens.
* :func:`update_rank` — stable rank ``‖Δ‖_F² / σ_max²`` of each layer's update ``Δ = x_{l+1} − x_l``
  over all tokens (B·N × C): low at late depth in the paper.

Shapes: stacks of states (L + 1, B, N, C); ``num_prefix`` = class + register tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vision.raptor.phases import layer_features


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.arccos(F.cosine_similarity(a, b, dim=-1).clamp(-1, 1)))


def angular_convergence(states: torch.Tensor, labels: torch.Tensor, num_prefix: int) -> dict[str, torch.Tensor]:
    """{"own", "other"}: (L + 1,) mean angles to the own / nearest other final class centroid."""
    features = layer_features(states.double(), num_prefix).flatten(2)  # (L + 1, B, 2C)
    final = F.normalize(features[-1], dim=-1)
    classes = labels.unique()
    centroids = torch.stack([F.normalize(final[labels == k].mean(0), dim=0) for k in classes])  # (K, 2C)
    own_index = (labels[:, None] == classes[None]).float().argmax(1)
    angles = _angle(features[:, :, None], centroids[None, None])  # (L + 1, B, K)
    own = angles.gather(2, own_index[None, :, None].expand(len(features), -1, 1))[..., 0]
    other = angles.masked_fill(torch.nn.functional.one_hot(own_index, len(classes)).bool()[None], float("inf")).amin(2)
    return {"own": own.mean(1).float(), "other": other.mean(1).float()}


@torch.no_grad()
def perturbation_recovery(model, x0: torch.Tensor, layer: int, relative: float = 0.1, seed: int = 0) -> torch.Tensor:
    """(depth − layer + 1,) mean angle between perturbed and clean states from ``layer`` on, divided by the
    angle right after the perturbation; ``model(x, return_all=True, start=, stop=)`` as :class:`Raptor`."""
    clean = model(x0, return_all=True)
    start = clean[layer]
    noise = torch.randn(start.shape, generator=torch.Generator().manual_seed(seed)).to(start)
    noise = noise * (relative * start.norm(dim=-1, keepdim=True) / noise.norm(dim=-1, keepdim=True))
    perturbed = model(start + noise, return_all=True, start=layer, stop=len(clean) - 1)
    angles = _angle(perturbed.flatten(1, 2), clean[layer:].flatten(1, 2)).mean(1)
    return angles / angles[0]


def token_speeds(states: torch.Tensor, num_prefix: int) -> dict[str, torch.Tensor]:
    """{"cls", "patch"}: (L,) mean relative update sizes per layer."""
    steps = (states[1:] - states[:-1]).norm(dim=-1) / states[:-1].norm(dim=-1).clamp_min(1e-8)  # (L, B, N)
    return {"cls": steps[:, :, 0].mean(1), "patch": steps[:, :, num_prefix:].mean(dim=(1, 2))}


def update_rank(states: torch.Tensor) -> torch.Tensor:
    """(L,) stable rank of each layer's update over all images and tokens."""
    updates = (states[1:] - states[:-1]).double().flatten(1, 2)  # (L, B·N, C)
    singular = torch.linalg.svdvals(updates)
    return (singular.pow(2).sum(-1) / singular[:, 0].pow(2).clamp_min(1e-24)).float()
