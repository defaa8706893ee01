"""The FERNN benchmark: every metric of :mod:`vision.fernn.metrics` for a few models on the held-out digit
identities, as a table, a JSON-able dict and plots (length curves, velocity heat maps, sample rollouts)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recurrent.registry import count_params
from vision.fernn.data import GlyphBank, MovingDigits, MovingDigitsConfig
from vision.fernn.metrics import equivariance_error, ring_means, rollout_errors, time_per_step, velocity_generalisation
from vision.fernn.model import FERNN


@dataclass(frozen=True)
class BenchSettings:
    n: int = 256  # test sequences (10 → 10 and 10 → 30)
    n_per_velocity: int = 32  # sequences per velocity of the heat map
    v_train: int = 1  # velocities seen in training: |vx|, |vy| <= v_train
    v_test: int = 3  # heat map up to |vx|, |vy| <= v_test
    input_frames: int = 10
    long_frames: int = 40  # length generalisation: observe input_frames, predict up to this many frames in all
    batch_size: int = 32
    time_batch: int = 16


def evaluate(model: FERNN, bank: GlyphBank, data_config: MovingDigitsConfig, settings: BenchSettings, device: str = "cpu") -> dict[str, Any]:
    """All metrics of one model (see :func:`format_table` for their meaning)."""
    s = settings
    seen = replace(data_config, vmax=s.v_train)
    short = rollout_errors(model, bank, seen, s.n, s.input_frames, seed=1, batch_size=s.batch_size, device=device)
    long = rollout_errors(
        model, bank, replace(seen, frames=s.long_frames), s.n, s.input_frames, seed=1, batch_size=s.batch_size, device=device
    )
    grid = velocity_generalisation(model, bank, data_config, s.v_test, s.n_per_velocity, s.input_frames, seed=2, batch_size=s.batch_size, device=device)
    rings = ring_means(grid)
    seen_mse = float(np.mean([rings[k] for k in range(s.v_train + 1)]))
    frames = MovingDigits(bank, replace(seen, frames=s.input_frames), 2, seed=3)
    clip = torch.stack([frames[i]["frames"] for i in range(2)]).double()
    model = model.cpu()
    return {
        "params": count_params(model),
        "velocities": model.num_velocities,
        "test_mse": short["mse"],
        "accuracy": short["accuracy"],
        "digit_accuracy": short["digit_accuracy"],
        "len_mse_per_step": long["mse_per_step"].tolist(),
        "len_mse_mean": long["mse"],
        "len_mse_last": float(long["mse_per_step"][-1]),
        "vgen_grid": grid.tolist(),
        "vgen_ring_mse": {str(k): v for k, v in rings.items()},
        "vgen_unseen_over_seen": {str(k): rings[k] / seen_mse for k in range(s.v_train + 1, s.v_test + 1)},
        "equivariance_error": {
            "(1,0)": equivariance_error(model, clip, (1, 0)),
            "(1,1)": equivariance_error(model, clip, (1, 1)),
        },
        "ms_per_step": 1e3 * time_per_step(model, s.time_batch, data_config.size, device=device),
    }


def format_table(results: dict[str, dict[str, Any]], settings: BenchSettings) -> str:
    s = settings
    base = results.get("grnn", {}).get("ms_per_step")
    head = (
        f"{'model':<9} {'params':>7} {'|V|':>4} | {'test MSE':>9} {'MSE 10→30':>9} {'@step 40':>9} | "
        + " ".join(f"{f'|v|={k}':>8}" for k in range(s.v_train + 1, s.v_test + 1))
        + f" {'×seen':>11} | {'set acc':>7} {'digit':>6} | {'equiv err':>9} | {'ms/step':>7} {'/(|V|·G)':>8}"
    )
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        unseen = " ".join(f"{r['vgen_ring_mse'][str(k)]:>8.2e}" for k in range(s.v_train + 1, s.v_test + 1))
        ratios = "/".join(f"{v:.1f}" for v in r["vgen_unseen_over_seen"].values())
        per_copy = f"{r['ms_per_step'] / (r['velocities'] * base):>8.2f}" if base else f"{'':>8}"
        lines.append(
            f"{name:<9} {r['params']:>7} {r['velocities']:>4} | {r['test_mse']:>9.2e} {r['len_mse_mean']:>9.2e} "
            f"{r['len_mse_last']:>9.2e} | {unseen} {ratios:>11} | {r['accuracy']:>7.1%} {r['digit_accuracy']:>6.1%} | "
            f"{max(r['equivariance_error'].values()):>9.1e} | {r['ms_per_step']:>7.2f} {per_copy}"
        )
    lines.append(
        f"test MSE: {s.input_frames} observed → {s.input_frames} predicted, |v| <= {s.v_train} (seen), held-out digits; "
        f"MSE 10→30: mean over {s.long_frames - s.input_frames} predicted steps, @step 40: the last one; "
        f"|v|=k: MSE with both digits at each velocity of max(|vx|,|vy|) = k (unseen), ×seen: ratio to |v| <= {s.v_train}; "
        "set acc: exact set of digits present (sigmoid > 0.5), digit: share of the digits present among the top-k logits; equiv err: float64, ν̂ ∈ {(1,0), (1,1)}, worst; "
        "/(|V|·G): time per step over |V| × G-RNN's"
    )
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Any]], settings: BenchSettings, path: Path) -> None:
    """One figure: length curves, then a velocity heat map per model (log10 MSE, shared colour scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.2 * (n + 1), 3.6))
    steps = np.arange(settings.input_frames + 1, settings.long_frames + 1)
    for name, r in results.items():
        axes[0].plot(steps, r["len_mse_per_step"], label=name)
    axes[0].axvline(20.5, color="gray", lw=0.8, ls="--")
    axes[0].set(yscale="log", xlabel="frame (trained up to 20)", ylabel="MSE", title="length generalisation")
    axes[0].legend()
    grids = {name: np.log10(np.asarray(r["vgen_grid"])) for name, r in results.items()}
    low, high = min(g.min() for g in grids.values()), max(g.max() for g in grids.values())
    v = settings.v_test
    for ax, (name, grid) in zip(axes[1:], grids.items()):
        image = ax.imshow(grid, vmin=low, vmax=high, cmap="viridis", extent=[-v - 0.5, v + 0.5, v + 0.5, -v - 0.5])
        ax.add_patch(matplotlib.patches.Rectangle((-settings.v_train - 0.5,) * 2, 2 * settings.v_train + 1, 2 * settings.v_train + 1, fill=False, ec="white", lw=1.5))
        ax.set(xlabel="vx (px/frame)", ylabel="vy (px/frame, down)", title=f"{name}: log10 MSE by velocity")
    fig.colorbar(image, ax=axes[1:].tolist(), shrink=0.85)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


@torch.no_grad()
def rollout_figure(models: dict[str, FERNN], frames: torch.Tensor, input_frames: int, path: Path, every: int = 3) -> dict[str, float]:
    """PNG grid: the true sequence then each model's prediction (every ``every``-th frame after the
    observed ones). ``frames``: (1, T, 1, H, W). Returns each model's MSE on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = frames.shape[1] - input_frames
    shown = list(range(0, input_frames, every)) + list(range(input_frames, frames.shape[1], every))
    rows = {"truth": frames[0, :, 0]}
    errors = {}
    for name, model in models.items():
        predicted = model.eval().cpu().predict(frames[:, :input_frames], steps)
        errors[name] = float(((predicted - frames[:, input_frames:]) ** 2).mean())
        rows[name] = torch.cat([frames[0, :input_frames, 0], predicted[0, :, 0].clamp(0, 1)])
    fig, axes = plt.subplots(len(rows), len(shown), figsize=(0.9 * len(shown), 1.0 * len(rows)), squeeze=False)
    for r, (name, sequence) in enumerate(rows.items()):
        for c, t in enumerate(shown):
            axes[r, c].imshow(sequence[t].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(f"t={t + 1}" + ("*" if t >= input_frames else ""), fontsize=7)
        label = name if name == "truth" else f"{name}\n{errors[name]:.1e}"
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.suptitle(f"{input_frames} frames observed, * = predicted (row label: MSE)", fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return errors
