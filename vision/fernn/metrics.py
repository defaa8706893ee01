"""What the FERNN benchmark measures: equivariance error of the hidden state, next-frame MSE (and its
length and velocity generalisation), classification accuracy and time per recurrent step.

All MSEs are over pixels in [0, 1] of predicted frames, averaged over sequences; "10 → 10" means 10
observed frames then 10 frames predicted autoregressively (the model's own predictions fed back).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from vision.fernn.data import GlyphBank, MovingDigits, MovingDigitsConfig, multi_hot
from vision.fernn.model import FERNN, shift_frames, velocity_grid


def shift_sequence(frames: torch.Tensor, nu: tuple[int, int]) -> torch.Tensor:
    """Put a sequence in motion: frame t of ``frames`` (B, T, C, H, W) moved by ``t·ν`` px, ``ν = (vx, vy)``
    (circular; right/down positive)."""
    return torch.stack([shift_frames(frames[:, t], (t * nu[0], t * nu[1])) for t in range(frames.shape[1])], dim=1)


def equivariance_pairs(v_range: int, nu: tuple[int, int]) -> list[tuple[int, int]]:
    """``(i, j)`` velocity indices with ``V[i] - ν̂ = V[j]``: the copies the flow maps onto each other."""
    grid = [tuple(v) for v in velocity_grid(v_range).tolist()]
    return [(i, grid.index((vx - nu[0], vy - nu[1]))) for i, (vx, vy) in enumerate(grid) if (vx - nu[0], vy - nu[1]) in grid]


@torch.no_grad()
def equivariance_error(model: FERNN, frames: torch.Tensor, nu: tuple[int, int]) -> float:
    """Relative error ``‖h'_t[ν] − S_{t·ν̂} h_t[ν − ν̂]‖ / ‖S_{t·ν̂} h_t[ν − ν̂]‖`` over all t and all interior
    ν (those with ν − ν̂ in V), where h' is the state for ``shift_sequence(frames, ν̂)``.

    A model with no interior velocity for ``ν̂`` (G-RNN, or |ν̂| > r) is compared copy by copy with the
    spatial shift alone (``h'_t[ν]`` vs ``S_{t·ν̂} h_t[ν]``), which is what equivariance would require of it.
    Computed in the dtype of ``frames`` (use float64 to test exactness).
    """
    model = copy.deepcopy(model).to(frames.dtype).eval()
    hidden = model.hidden_states(frames)  # (B, T, V, C, H, W)
    moved = model.hidden_states(shift_sequence(frames, nu))
    pairs = equivariance_pairs(model.config.v_range, nu) or [(i, i) for i in range(hidden.shape[2])]
    dst, src = (list(p) for p in zip(*pairs))
    expected = torch.stack(
        [shift_frames(hidden[:, t, src], (t * nu[0], t * nu[1])) for t in range(hidden.shape[1])], dim=1
    )
    return float((moved[:, :, dst] - expected).norm() / expected.norm().clamp_min(1e-30))


def _loader(bank: GlyphBank, config: MovingDigitsConfig, n: int, seed: int, batch_size: int, velocity=None) -> DataLoader:
    return DataLoader(MovingDigits(bank, config, n, seed, velocity), batch_size=batch_size)


@torch.no_grad()
def rollout_errors(
    model: FERNN, bank: GlyphBank, config: MovingDigitsConfig, n: int, input_frames: int = 10, seed: int = 1,
    batch_size: int = 32, velocity: tuple[int, int] | None = None, device: str | torch.device = "cpu",
) -> dict[str, np.ndarray | float]:
    """Observe ``input_frames`` of ``n`` sequences of ``config.frames`` frames, predict the rest.

    Returns ``mse_per_step`` (config.frames − input_frames,), its ``mse`` mean, ``accuracy``: the
    fraction of sequences whose set of digits (sigmoid > 0.5, from the state after the observed
    frames) is exactly right, and ``digit_accuracy``: the fraction of the k distinct digits present
    found among the k highest logits.
    """
    model.eval().to(device)
    steps = config.frames - input_frames
    sums, correct, found = torch.zeros(steps, dtype=torch.float64), 0, 0.0
    for batch in _loader(bank, config, n, seed, batch_size, velocity):
        frames = batch["frames"].to(device)
        out = model(frames[:, :input_frames], steps)
        predicted, logits = out.predicted, out.logits
        sums += ((predicted - frames[:, input_frames:]) ** 2).mean(dim=(2, 3, 4)).sum(0).double().cpu()
        target = multi_hot(batch["labels"].to(device), logits.shape[-1])
        correct += int(((logits > 0) == (target > 0)).all(dim=1).sum())
        ranks = logits.argsort(dim=1, descending=True).argsort(dim=1)  # 0 = highest logit
        k = target.sum(1, keepdim=True)
        found += float((((ranks < k) & (target > 0)).sum(1) / k.squeeze(1)).sum())
    per_step = (sums / n).numpy()
    return {"mse_per_step": per_step, "mse": float(per_step.mean()), "accuracy": correct / n, "digit_accuracy": found / n}


def velocity_generalisation(
    model: FERNN, bank: GlyphBank, config: MovingDigitsConfig, v_test: int = 3, n: int = 64, input_frames: int = 10,
    seed: int = 2, batch_size: int = 32, device: str | torch.device = "cpu",
) -> np.ndarray:
    """10 → 10 MSE with every digit moving at the same velocity, for each ``|vx|, |vy| <= v_test``.

    Returns (2·v_test + 1, 2·v_test + 1), entry ``[vy + v_test, vx + v_test]`` (rows: vy, down positive).
    """
    side = 2 * v_test + 1
    grid = np.zeros((side, side))
    for vy in range(-v_test, v_test + 1):
        for vx in range(-v_test, v_test + 1):
            errors = rollout_errors(model, bank, config, n, input_frames, seed, batch_size, (vx, vy), device)
            grid[vy + v_test, vx + v_test] = errors["mse"]
    return grid


def ring_means(grid: np.ndarray) -> dict[int, float]:
    """Mean of a velocity grid over each ring ``max(|vx|, |vy|) = k``."""
    c = grid.shape[0] // 2
    yy, xx = np.mgrid[-c : c + 1, -c : c + 1]
    ring = np.maximum(abs(yy), abs(xx))
    return {k: float(grid[ring == k].mean()) for k in range(c + 1)}


@torch.no_grad()
def time_per_step(
    model: FERNN, batch: int = 16, size: int = 28, repeats: int = 20, device: str | torch.device = "cpu"
) -> float:
    """Seconds per recurrent step (:meth:`FERNN.cell_step`, forward, no grad) on a (batch, C_in, size, size) frame."""
    model.eval().to(device)
    frame = torch.rand(batch, model.config.in_channels, size, size, device=device)
    state = model.cell_step(frame, None)
    for _ in range(3):
        state = model.cell_step(frame, state)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    sync()
    best = float("inf")
    for _ in range(3):  # best of 3 rounds: robust to other jobs on the machine
        start = time.perf_counter()
        for _ in range(repeats):
            state = model.cell_step(frame, state)
        sync()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best
