"""Phases of depth: which consecutive layers of a ViT compute alike.

Features per layer and image are the class token and the mean patch token (register tokens excluded), as
in Raptor (Jacobs et al.). The layer-by-layer dissimilarity ``D[i, j]`` is the cosine distance
``1 − cos`` between layers i and j, averaged over the two features and over images; ``"cka"`` uses
``1 − linear CKA`` of the images' [cls, mean patch] features instead.

Two ways to cut layers into contiguous phases:

* :func:`recursive_bisection` — the paper's recursive max-cut, restricted to contiguous cuts: repeatedly
  split the phase whose best cut is largest at the boundary maximising the dissimilarity summed across it,
  until that cut falls to ``stop_fraction`` of the matrix's total (``D.sum() / 2``) or phases would get
  smaller than ``min_size``.
* :func:`optimal_phases` — exactly ``k`` phases minimising the squared deviations of ``D`` from their
  block mean inside the diagonal blocks (dynamic programming over boundaries, as the reference code's
  "blockiness"), with ``1 − that / the matrix's total squared deviation``.
"""

from __future__ import annotations

import heapq
from typing import Literal

import torch


def layer_features(states: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """(L, B, N, C) token states -> (L, B, 2, C): the class token (index 0) and the mean of the patch
    tokens (after the ``num_prefix`` class + register tokens)."""
    return torch.stack([states[:, :, 0], states[:, :, num_prefix:].mean(2)], 2)


def _linear_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x, y = x - x.mean(0), y - y.mean(0)
    return (x.T @ y).norm() ** 2 / ((x.T @ x).norm() * (y.T @ y).norm())


def dissimilarity(
    states: torch.Tensor, num_prefix: int, measure: Literal["cosine", "cka"] = "cosine"
) -> torch.Tensor:
    """Layer-by-layer dissimilarity (L, L), symmetric with a zero diagonal, from states (L, B, N, C)."""
    features = layer_features(states.double(), num_prefix)  # (L, B, 2, C)
    if measure == "cosine":
        unit = torch.nn.functional.normalize(features, dim=-1)
        similarity = torch.einsum("ibfc,jbfc->ij", unit, unit) / (features.shape[1] * features.shape[2])
        matrix = 1 - similarity
    elif measure == "cka":
        flat = features.flatten(2)  # (L, B, 2C)
        matrix = torch.stack([torch.stack([1 - _linear_cka(a, b) for b in flat]) for a in flat])
    else:
        raise ValueError(f"measure must be 'cosine' or 'cka', got {measure!r}")
    matrix = (matrix + matrix.T) / 2
    matrix.fill_diagonal_(0)
    return matrix.clamp_min(0).float()


def _best_cut(matrix: torch.Tensor, start: int, stop: int, min_size: int) -> tuple[float, int]:
    """Largest dissimilarity summed across one boundary inside [start, stop), and that boundary."""
    best = (float("-inf"), -1)
    for boundary in range(start + min_size, stop - min_size + 1):
        best = max(best, (float(matrix[start:boundary, boundary:stop].sum()), boundary))
    return best


def recursive_bisection(matrix: torch.Tensor, stop_fraction: float = 0.1, min_size: int = 2) -> list[int]:
    """Contiguous phases by recursive max-cut bisection; returns their lengths (summing to L)."""
    n = matrix.shape[0]
    threshold = stop_fraction * float(matrix.sum()) / 2
    phases: list[tuple[int, int]] = []
    queue: list[tuple[float, int, int, int]] = []

    def push(start: int, stop: int) -> None:
        cut, boundary = _best_cut(matrix, start, stop, min_size) if stop - start >= 2 * min_size else (float("-inf"), -1)
        if cut > threshold:
            heapq.heappush(queue, (-cut, start, stop, boundary))
        else:
            phases.append((start, stop))

    push(0, n)
    while queue:
        _, start, stop, boundary = heapq.heappop(queue)
        push(start, boundary)
        push(boundary, stop)
    return [stop - start for start, stop in sorted(phases)]


def optimal_phases(matrix: torch.Tensor, k: int) -> tuple[list[int], float]:
    """Exactly ``k`` contiguous phases minimising the squared deviation of each diagonal block of
    ``matrix`` from its mean; returns (phase lengths, blockiness: 1 − that minimum over the matrix's
    total squared deviation; 0 for one phase, 1 for one phase per layer)."""
    n = matrix.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= {n} phases, got {k}")
    m = matrix.double()
    sse = torch.full((n + 1, n + 1), float("inf"), dtype=torch.float64)  # sse[i, j]: block of layers i..j-1
    for i in range(n):
        for j in range(i + 1, n + 1):
            block = m[i:j, i:j]
            sse[i, j] = ((block - block.mean()) ** 2).sum()
    cost = torch.full((k + 1, n + 1), float("inf"), dtype=torch.float64)
    split = torch.zeros((k + 1, n + 1), dtype=torch.long)
    cost[0, 0] = 0
    for phases in range(1, k + 1):
        for j in range(phases, n + 1):
            candidates = cost[phases - 1, :j] + sse[:j, j]
            split[phases, j] = int(candidates.argmin())
            cost[phases, j] = candidates.min()
    bounds, j = [], n
    for phases in range(k, 0, -1):
        i = int(split[phases, j])
        bounds.append(j - i)
        j = i
    total = float(((m - m.mean()) ** 2).sum())
    return bounds[::-1], 1 - float(cost[k, n]) / total if total > 0 else 1.0
