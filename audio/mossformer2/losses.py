"""Separation losses: SI-SNR and an utterance-level permutation-invariant training (PIT) wrapper.

The PIT wrapper is separate from the loss (as asteroid's ``PITLossWrapper(pairwise_loss)``): it takes any
pairwise loss, builds the (B, S, S) matrix of losses between every estimate and every reference, and picks
per utterance the speaker assignment with the lowest mean loss.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn
from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio

PairwiseLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def si_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    r"""Scale-invariant signal-to-noise ratio in dB (Le Roux et al. 2019), higher is better.

    Both signals are made zero-mean, then :math:`10 \log_{10} \lVert \alpha s \rVert^2 / \lVert \alpha s - \hat s
    \rVert^2` with :math:`\alpha = \langle \hat s, s \rangle / \lVert s \rVert^2` (torchmetrics'
    ``scale_invariant_signal_noise_ratio``, which adds ``finfo(dtype).eps`` to numerators and denominators).

    Shape:
        est, ref: (..., T), same shape -> (...,).
    """
    if est.shape != ref.shape:
        raise ValueError(f"si_snr needs est and ref of the same shape, got {tuple(est.shape)} and {tuple(ref.shape)}")
    return scale_invariant_signal_noise_ratio(est, ref)


def pairwise_neg_si_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Negative SI-SNR (dB) of every estimate against every reference.

    Shape:
        est, ref: (B, S, T) -> (B, S, S), entry ``[b, i, j]`` = −SI-SNR(est[b, i], ref[b, j]).
    """
    est_b, ref_b = torch.broadcast_tensors(est.unsqueeze(2), ref.unsqueeze(1))
    return -si_snr(est_b, ref_b)


class PITLoss(nn.Module):
    """Utterance-level permutation-invariant training loss around any pairwise loss.

    For each utterance the assignment of estimates to references with the lowest mean pairwise loss is
    chosen by exhaustive search over the ``S!`` permutations (fine for S <= 4).

    Args:
        pairwise_loss: ``(est, ref)`` of shape (B, S, T) -> (B, S, S) losses, entry ``[b, i, j]`` comparing
            estimate ``i`` with reference ``j`` (default: :func:`pairwise_neg_si_snr`, dB).

    Shape:
        est, ref: (B, S, T) -> ``(loss, perm)``: the batch mean of the per-utterance minimum (scalar) and
        ``perm`` (B, S) long, ``perm[b, j]`` = index of the estimate assigned to reference ``j``;
        :meth:`reorder` applies it.
    """

    def __init__(self, pairwise_loss: PairwiseLoss = pairwise_neg_si_snr):
        super().__init__()
        self.pairwise_loss = pairwise_loss

    def forward(self, est: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if est.ndim != 3 or est.shape != ref.shape:
            shapes = f"{tuple(est.shape)} and {tuple(ref.shape)}"
            raise ValueError(f"PITLoss expects est and ref (B, S, T) of one shape, got {shapes}")
        matrix = self.pairwise_loss(est, ref)  # (B, S_est, S_ref)
        loss, perm = self.best_permutation(matrix)
        return loss.mean(), perm

    @staticmethod
    def best_permutation(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, S) pairwise losses -> per-utterance minimal mean loss (B,) and permutation (B, S)."""
        B, S, _ = matrix.shape
        perms = torch.tensor(list(itertools.permutations(range(S))), device=matrix.device)  # (P, S)
        refs = torch.arange(S, device=matrix.device)
        per_perm = matrix[:, perms, refs].mean(dim=-1)  # (B, P): mean_j matrix[b, perm[j], j]
        loss, best = per_perm.min(dim=1)
        return loss, perms[best]

    @staticmethod
    def reorder(est: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        """Estimates in reference order: ``out[b, j] = est[b, perm[b, j]]``. Shape (B, S, ...) -> (B, S, ...)."""
        index = perm.reshape(*perm.shape, *([1] * (est.ndim - 2))).expand_as(est)
        return est.gather(1, index)
