"""Grouped "same"-length temporal convolution, the memory of every FSMN block.

Covers MossFormer2's three temporal convolutions with one function: FFConvM's depthwise kernel-17
convolution with its residual, the plain FSMN memory ``p + w * p``, and the dilated dense FSMN layers
whose group ``g`` reads ``cpg`` consecutive input channels. Fused on CUDA (one Triton kernel: zero
padding, taps, dilation and the residual in one pass, any input strides so (B, T, C) views need no
copy), PyTorch elsewhere; see :mod:`recurrent.backend`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recurrent.backend import FusedForward, use_fused


def pad_time(x: torch.Tensor, kernel_size: int, dilation: int, causal: bool) -> torch.Tensor:
    """Zero-pad the last (time) axis of (B, C, T) so a stride-1 conv keeps length T: symmetric, or
    all on the left when ``causal`` (output t then depends on inputs <= t only)."""
    total = dilation * (kernel_size - 1)
    return F.pad(x, (total, 0) if causal else (total // 2, total - total // 2))


def temporal_conv_reference(
    x: torch.Tensor, weight: torch.Tensor, dilation: int = 1, causal: bool = False, residual: bool = False
) -> torch.Tensor:
    """PyTorch reference of :func:`temporal_conv` (``F.conv1d`` with ``groups = G``)."""
    out = F.conv1d(pad_time(x, weight.shape[-1], dilation, causal), weight, dilation=dilation, groups=weight.shape[0])
    return x + out if residual else out


def temporal_conv(
    x: torch.Tensor, weight: torch.Tensor, dilation: int = 1, causal: bool = False, residual: bool = False
) -> torch.Tensor:
    r"""``out[b, g, t] = Σ_j Σ_k weight[g, j, k] · x[b, g·cpg + j, t + k·dilation − left]`` (+ ``x[b, g, t]``).

    Zero padding keeps length T: ``left = dilation·(K − 1) // 2`` (centred) or ``dilation·(K − 1)``
    (``causal``).

    Args:
        x: (B, G·cpg, T); any strides (a transposed (B, T, C) tensor is read in place).
        weight: (G, cpg, K), a grouped ``nn.Conv1d`` weight without bias.
        dilation: tap spacing in frames.
        causal: left-only padding.
        residual: add ``x`` (needs cpg = 1).

    Returns:
        (B, G, T), the dtype of ``x``.
    """
    groups, per_group, _ = weight.shape
    if x.ndim != 3 or x.shape[1] != groups * per_group:
        raise ValueError(f"temporal_conv expects x (B, {groups * per_group}, T) for weight {tuple(weight.shape)}, got {tuple(x.shape)}")
    if residual and per_group != 1:
        raise ValueError("residual needs one input channel per group")
    if not use_fused(x, weight):
        return temporal_conv_reference(x, weight, dilation, causal, residual)
    from recurrent.kernels.temporal_conv import temporal_conv_triton

    options = {"dilation": dilation, "causal": causal, "residual": residual}
    return FusedForward.apply(temporal_conv_triton, temporal_conv_reference, options, x, weight.to(x.dtype))
