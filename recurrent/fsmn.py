"""FSMN memory blocks of MossFormer2's recurrent module (Zhao et al. 2024, "MossFormer2"), rewritten.

Layout follows ClearerVoice-Studio's ``fsmn.py`` / ``conv_module.py`` / ``mossformer2_block.py``
(``DilatedDenseNet``, ``UniDeepFsmn(_dilated)``, ``FFConvM``, ``Gated_FSMN(_dilated)``,
``Gated_FSMN_Block(_Dilated)``) so that official weights map one-to-one onto these modules; the
official (B, C, T, 1) ``Conv2d`` kernels become (B, C, T) ``Conv1d`` kernels (drop the last axis),
and its 1×1 ``Conv1d`` projections become ``nn.Linear`` (drop the last axis).

Tensor layout: sequence modules take **(B, T, C)** (time, then features) unless stated otherwise;
:class:`DilatedDenseFSMN` works on **(B, C, T)**. Temporal convolutions are "same" length:
non-causal ones pad symmetrically with zeros, causal ones (``causal=True``) pad on the left only,
so output frame t depends on input frames <= t only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from recurrent.temporal_conv import temporal_conv

NormFactory = Callable[[int], nn.Module]


def _instance_norm(channels: int) -> nn.Module:
    return nn.InstanceNorm1d(channels, affine=True)


class DilatedDenseFSMN(nn.Module):
    r"""Dilated, densely connected depthwise temporal convolutions (official ``DilatedDenseNet``).

    Layer ``i`` (0-based, ``depth`` layers) convolves the concatenation ``[out_{i-1}, …, out_0, x]``
    with dilation ``2**i`` and ``groups=channels``, then applies ``norm`` and a per-channel PReLU;
    the block returns the last layer's output only. As in the official code, group ``g`` of layer ``i``
    reads the ``i + 1`` *consecutive* channels ``[g(i+1), (g+1)(i+1))`` of that concatenation (not
    channel ``g`` of every earlier output) — kept for weight compatibility.

    Kernels: ``2·lorder − 1`` taps centred on t (non-causal, official), or ``lorder`` taps ending at t
    (causal). The convolutions alone see ``context = (past, future)`` frames around t with
    ``past = (lorder − 1)(2**depth − 1)`` and ``future = past`` (non-causal) or ``0`` (causal).

    Args:
        channels: C.
        lorder: memory order (the official default is 20; MossFormer2 uses 20 with ``depth=2``).
        depth: number of dilated layers (dilations 1, 2, …, 2**(depth−1)).
        causal: left-only padding and ``lorder``-tap kernels.
        norm_layer: ``norm_layer(C)`` applied to each layer's (B, C, T) output. ``None``: the official
            ``InstanceNorm1d(C, affine=True)`` when non-causal — its statistics span the whole
            sequence, so every output frame then depends on every input frame — and no norm when
            causal (instance statistics would leak the future).

    Shape:
        (B, C, T) -> (B, C, T).
    """

    def __init__(
        self,
        channels: int,
        lorder: int = 20,
        depth: int = 2,
        causal: bool = False,
        norm_layer: NormFactory | None = None,
    ):
        super().__init__()
        if lorder < 1 or depth < 1:
            raise ValueError(f"lorder and depth must be >= 1, got lorder={lorder}, depth={depth}")
        if norm_layer is None:
            norm_layer = nn.Identity if causal else _instance_norm
        self.causal = causal
        kernel_size = lorder if causal else 2 * lorder - 1
        self.dilations = [2**i for i in range(depth)]
        past = (lorder - 1) * (2**depth - 1)
        self.context = (past, 0 if causal else past)
        self.convs = nn.ModuleList(
            nn.Conv1d(channels * (i + 1), channels, kernel_size, dilation=d, groups=channels, bias=False)
            for i, d in enumerate(self.dilations)
        )
        self.norms = nn.ModuleList(norm_layer(channels) for _ in self.dilations)
        self.acts = nn.ModuleList(nn.PReLU(channels) for _ in self.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x
        for conv, norm, act, d in zip(self.convs, self.norms, self.acts, self.dilations):
            out = act(norm(temporal_conv(skip, conv.weight, d, self.causal)))
            skip = torch.cat([out, skip], dim=1)
        return out


class UniDeepFSMN(nn.Module):
    r"""FSMN layer: :math:`y = x + m(P\,\mathrm{ReLU}(W x + b))` (official ``UniDeepFsmn(_dilated)``).

    ``P`` is a bias-free projection back to C; the memory ``m`` is either

    * ``depth=None``: one depthwise convolution with a residual, :math:`m(p) = p + w * p`
      (``UniDeepFsmn``; kernel ``2·lorder − 1`` centred, or ``lorder`` taps causal), or
    * ``depth=int``: :class:`DilatedDenseFSMN` without residual (``UniDeepFsmn_dilated``, MossFormer2).

    Args:
        dim: C, input and output features.
        hidden_size: width of the ReLU layer.
        lorder: memory order (see :class:`DilatedDenseFSMN`).
        depth: ``None`` for the single-convolution memory, else the dilated dense depth.
        causal: left-only padding.
        norm_layer: passed to :class:`DilatedDenseFSMN` (ignored when ``depth=None``, which has no norm).

    Shape:
        (B, T, C) -> (B, T, C).
    """

    def __init__(
        self,
        dim: int,
        hidden_size: int,
        lorder: int = 20,
        depth: int | None = 2,
        causal: bool = False,
        norm_layer: NormFactory | None = None,
    ):
        super().__init__()
        self.linear = nn.Linear(dim, hidden_size)
        self.project = nn.Linear(hidden_size, dim, bias=False)
        self.causal = causal
        if depth is None:
            kernel_size = lorder if causal else 2 * lorder - 1
            self.memory: nn.Module = nn.Conv1d(dim, dim, kernel_size, groups=dim, bias=False)
        else:
            self.memory = DilatedDenseFSMN(dim, lorder, depth, causal, norm_layer)
        self.dilated = depth is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.project(F.relu(self.linear(x))).transpose(1, 2)  # (B, C, T)
        if self.dilated:
            m = self.memory(p)
        else:
            m = temporal_conv(p, self.memory.weight, causal=self.causal, residual=True)
        return x + m.transpose(1, 2)


class FFConvM(nn.Module):
    """Feed-forward convolution module: norm → Linear → SiLU → (x + depthwise conv) → dropout.

    The depthwise temporal convolution (official ``ConvModule``: kernel 17, no bias, residual) is
    centred, or left-only with ``causal=True``.

    Args:
        dim_in: input features.
        dim_out: output features.
        kernel_size: odd temporal kernel of the depthwise convolution.
        causal: left-only padding.
        dropout: dropout probability on the output.
        norm_layer: ``norm_layer(dim_in)`` on (B, T, dim_in); the official Gated FSMN uses LayerNorm.

    Shape:
        (B, T, dim_in) -> (B, T, dim_out).
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        kernel_size: int = 17,
        causal: bool = False,
        dropout: float = 0.1,
        norm_layer: NormFactory = nn.LayerNorm,
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.norm = norm_layer(dim_in)
        self.linear = nn.Linear(dim_in, dim_out)
        self.conv = nn.Conv1d(dim_out, dim_out, kernel_size, groups=dim_out, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.linear(self.norm(x))).transpose(1, 2)  # (B, C, T)
        h = temporal_conv(h, self.conv.weight, causal=self.causal, residual=True)
        return self.dropout(h.transpose(1, 2))


class GatedFSMN(nn.Module):
    r"""Gated FSMN unit (official ``Gated_FSMN(_dilated)``): :math:`y = v \odot \mathrm{FSMN}(u) + x`.

    :math:`u = \mathrm{to\_u}(x)`, :math:`v = \mathrm{to\_v}(x)`; the FSMN is a :class:`UniDeepFSMN`
    with hidden size C.

    Args:
        dim: C, features in and out (the official code needs in = out = hidden).
        lorder: FSMN memory order.
        depth: FSMN memory (``None``: single convolution, ``int``: dilated dense; MossFormer2: 2).
        causal: causal FSMN and causal default projections.
        dropout: dropout of the default projections.
        proj_layer: factory ``proj_layer(C)`` for ``to_u`` and ``to_v``, modules (B, T, C) -> (B, T, C).
            ``None``: :class:`FFConvM` (LayerNorm, kernel 17), as in the official code.
        norm_layer: FSMN norm, see :class:`DilatedDenseFSMN`.

    Shape:
        (B, T, C) -> (B, T, C).
    """

    def __init__(
        self,
        dim: int,
        lorder: int = 20,
        depth: int | None = 2,
        causal: bool = False,
        dropout: float = 0.1,
        proj_layer: Callable[[int], nn.Module] | None = None,
        norm_layer: NormFactory | None = None,
    ):
        super().__init__()
        if proj_layer is None:

            def proj_layer(c: int) -> nn.Module:
                return FFConvM(c, c, causal=causal, dropout=dropout)

        self.to_u = proj_layer(dim)
        self.to_v = proj_layer(dim)
        self.fsmn = UniDeepFSMN(dim, dim, lorder, depth, causal, norm_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_v(x) * self.fsmn(self.to_u(x)) + x


class GatedFSMNBlock(nn.Module):
    """Gated-FSMN block of MossFormer2's recurrent module (official ``Gated_FSMN_Block_Dilated``).

    ``x + W_2 · LN(GatedFSMN(LN(PReLU(W_1 x + b_1)))) + b_2`` with ``W_1: C -> inner`` and
    ``W_2: inner -> C`` (the official 1×1 ``Conv1d``), one shared-slope ``nn.PReLU()`` and
    per-frame LayerNorms over channels (official ``CLayerNorm``).

    Args:
        dim: C, model width (MossFormer2: 512).
        inner_channels: width inside the block (official default 256, = C/2 for MossFormer2).
        lorder: FSMN memory order (official 20).
        depth: FSMN memory depth (official 2; ``None`` gives the non-dilated ``Gated_FSMN_Block``).
        causal: every temporal convolution left-padded; with the default norms the block is causal.
        dropout: dropout of the projections inside :class:`GatedFSMN`.

    Shape:
        (B, T, C) -> (B, T, C).
    """

    def __init__(
        self,
        dim: int,
        inner_channels: int = 256,
        lorder: int = 20,
        depth: int | None = 2,
        causal: bool = False,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.dim = dim
        self.conv1 = nn.Linear(dim, inner_channels)
        self.act = nn.PReLU()
        self.norm1 = nn.LayerNorm(inner_channels)
        self.gated_fsmn = GatedFSMN(inner_channels, lorder, depth, causal, dropout)
        self.norm2 = nn.LayerNorm(inner_channels)
        self.conv2 = nn.Linear(inner_channels, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"GatedFSMNBlock expects (B, T, {self.dim}), got {tuple(x.shape)}")
        h = self.norm1(self.act(self.conv1(x)))
        return x + self.conv2(self.norm2(self.gated_fsmn(h)))
