"""Conv-TasNet (Luo & Mesgarani, 2019) — torchaudio's implementation behind the separator interface used
here, as the benchmark's baseline for MossFormer2.

``(B, T)`` waveform at ``config.sample_rate`` in, ``(B, S, T)`` sources out (torchaudio's model takes and
returns a channel axis and needs the length padded to its encoder stride; this wrapper does both).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchaudio.models import ConvTasNet as _TorchaudioConvTasNet

from recurrent.registry import make_config, register_model


@dataclass(frozen=True)
class ConvTasNetConfig:
    num_speakers: int = 2  # S
    kernel_size: int = 16  # L, encoder filter length (stride L/2)
    channels: int = 512  # N, encoder filters
    bottleneck: int = 128  # B
    hidden: int = 512  # H, channels inside each convolutional block
    block_kernel: int = 3  # P
    layers: int = 8  # X, blocks per stack (dilations 1 … 2^(X-1))
    stacks: int = 3  # R
    sample_rate: int = 8000  # Hz


class ConvTasNet(nn.Module):
    """Shape: mixture (B, T) float -> (B, S, T)."""

    def __init__(self, config: ConvTasNetConfig):
        super().__init__()
        self.config = config
        self.net = _TorchaudioConvTasNet(
            config.num_speakers, config.kernel_size, config.channels, config.block_kernel, config.bottleneck,
            config.hidden, config.layers, config.stacks,
        )

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        if mixture.ndim != 2 or mixture.shape[1] == 0:
            raise ValueError(f"ConvTasNet expects a waveform (B, T) with T >= 1, got {tuple(mixture.shape)}")
        return self.net(mixture.unsqueeze(1))[..., : mixture.shape[1]]


@register_model("convtasnet")
def convtasnet(**overrides) -> ConvTasNet:
    """The paper's best non-causal configuration (N=512, L=16, B=128, H=512, P=3, X=8, R=3): 4,984,881 parameters."""
    return ConvTasNet(make_config(ConvTasNetConfig(), overrides))


@register_model("convtasnet-xs")
def convtasnet_xs(**overrides) -> ConvTasNet:
    """A Conv-TasNet of about mossformer2-xs's size (N=128, B=64, H=160): 793,905 parameters, for equal-budget
    comparisons."""
    return ConvTasNet(make_config(ConvTasNetConfig(channels=128, bottleneck=64, hidden=160), overrides))
