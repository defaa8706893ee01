"""Figures of a Raptor fit: the dissimilarity matrix with its phases, R² per layer, and the dynamics."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def plot_similarity(matrix: torch.Tensor, phases: list[int], path: Path, title: str = "") -> None:
    fig, ax = plt.subplots(figsize=(5, 4.2))
    image = ax.imshow(matrix, cmap="magma_r", extent=(0.5, len(matrix) + 0.5, len(matrix) + 0.5, 0.5))
    edge = 0.5
    for n in phases[:-1]:
        edge += n
        ax.axhline(edge, color="cyan", lw=1.5)
        ax.axvline(edge, color="cyan", lw=1.5)
    ax.set_xlabel("layer")
    ax.set_ylabel("layer")
    ax.set_title(title or f"1 − cos([cls, mean patch]); phases {phases}", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(curves: dict[str, torch.Tensor], path: Path, xlabel: str, ylabel: str, title: str, start: int = 0) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, values in curves.items():
        ax.plot(range(start, start + len(values)), [float(v) for v in values], "o-", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
