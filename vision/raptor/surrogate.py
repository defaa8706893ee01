"""The Raptor surrogate: k distinct pre-norm blocks applied recurrently over a ViT's depth, and its losses.

The surrogate maps the teacher's layer-0 tokens (its frozen patch embedding, class, register and position
tokens) to every later layer: iteration ``l`` (0-based) turns layer ``l`` into layer ``l + 1`` with block
``order[l]`` of the phase schedule (:class:`recurrent.block_recurrent.BlockRecurrent`, gated per
iteration). Blocks are attention + SwiGLU with LayerScale (``recurrent.block_recurrent.Block``).

Losses compare token states group by group — class token, registers, patches — each group's MSE averaged
over its tokens and weighted (the reference code's weights: stage 1 of the last phase 0.34 / 0.33 / 0.33,
stage 2 0.45 / 0.10 / 0.45). Optionally each group's MSE is first divided by that group's spread in the
teacher (:func:`group_scales`), which puts every group on the scale of 1 − R²: in a teacher whose class
token is small next to its patches (the embedded one: its class-token variance is ~1/100 of the patches')
raw MSEs would leave the class token, the one the probe reads, almost unfitted.

* teacher forcing: every iteration of a span starts from the teacher's state;
* autoregressive: one rollout from the teacher's state at the span's start, compared at every layer.

Shapes: token states (B, N, C) with N = 1 + registers + patches; stacks of layers (L + 1, B, N, C).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from recurrent.block_recurrent import Block, BlockRecurrent
from recurrent.registry import make_config, register_model

STAGE1_WEIGHTS = (0.34, 0.33, 0.33)
STAGE2_WEIGHTS = (0.45, 0.10, 0.45)


@dataclass(frozen=True)
class RaptorConfig:
    dim: int = 192  # C, the teacher's width
    heads: int = 3
    mlp_ratio: float = 4.0
    schedule: tuple[int, ...] = (7, 5)  # layers per phase = applications of each block (k = len)
    register_tokens: int = 4  # tokens 1 … R are registers, the rest after them patches
    gate_hidden: int = 16
    layerscale_init: float = 1e-5


class Raptor(nn.Module):
    """Shape: layer-0 tokens (B, N, C) -> final tokens (B, N, C), or (L + 1, B, N, C) with ``return_all``."""

    def __init__(self, config: RaptorConfig):
        super().__init__()
        self.config = config
        blocks = nn.ModuleList(
            [Block(config.dim, config.heads, config.mlp_ratio, config.layerscale_init) for _ in config.schedule]
        )
        self.recurrent = BlockRecurrent(blocks, config.schedule, config.dim, config.gate_hidden)

    @property
    def depth(self) -> int:
        return len(self.recurrent.order)

    def step(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Teacher layer ``layer`` -> layer ``layer + 1``."""
        return self.recurrent.step(x, layer)

    def forward(self, x: torch.Tensor, return_all: bool = False, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return self.recurrent(x, return_all=return_all, start=start, stop=stop)


@register_model("raptor")
def raptor(**overrides) -> Raptor:
    """A Raptor surrogate for the embedded teacher (``vit-fmnist``): C = 192, 3 heads, schedule (7, 5)."""
    return Raptor(make_config(RaptorConfig(), overrides))


TOKEN_GROUPS = ("cls", "registers", "patches")


def token_groups(registers: int) -> tuple[slice, slice, slice]:
    """Token slices of the class token, the registers and the patches (order of ``TOKEN_GROUPS``)."""
    return slice(0, 1), slice(1, 1 + registers), slice(1 + registers, None)


def group_scales(states: torch.Tensor, registers: int) -> torch.Tensor:
    """(L + 1, B, N, C) teacher states -> (3,) spread of the class token, registers and patches: the variance
    over images and tokens per channel, averaged over channels and layers (1 for a group without tokens)."""
    scales = []
    for group in token_groups(registers):
        tokens = states[:, :, group].float()
        scales.append(tokens.var(dim=(1, 2)).mean() if tokens.shape[2] else tokens.new_ones(()))
    return torch.stack(scales).clamp_min(1e-12)


def token_loss(pred: torch.Tensor, target: torch.Tensor, registers: int, weights=STAGE2_WEIGHTS,
               scales: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted sum of the class-token, register and patch MSEs (each a mean over its tokens and channels,
    divided by its ``scales`` entry when given); without registers their weight goes unused and the other
    two are renormalised."""
    scales = scales if scales is not None else (1.0, 1.0, 1.0)
    groups = [(g, w, sc) for g, w, sc in zip(token_groups(registers), weights, scales) if pred[:, g].shape[1] > 0]
    total = sum(w for _, w, _ in groups)
    return sum(w * (pred[:, g] - target[:, g]).pow(2).mean() / sc for g, w, sc in groups) / total


def teacher_forced_loss(model: Raptor, states: torch.Tensor, start: int, stop: int, weights=STAGE1_WEIGHTS,
                        scales: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over layers l in [start, stop) of loss(step(teacher_l), teacher_{l+1}); states (L + 1, B, N, C)."""
    r = model.config.register_tokens
    return torch.stack([token_loss(model.step(states[l], l), states[l + 1], r, weights, scales) for l in range(start, stop)]).mean()


def rollout_loss(model: Raptor, states: torch.Tensor, start: int, stop: int, weights=STAGE2_WEIGHTS,
                 scales: torch.Tensor | None = None) -> torch.Tensor:
    """One rollout from teacher_start; mean over layers l in (start, stop] of loss(rollout_l, teacher_l)."""
    r = model.config.register_tokens
    predicted = model(states[start], return_all=True, start=start, stop=stop)
    return torch.stack([token_loss(predicted[i], states[start + i], r, weights, scales) for i in range(1, stop - start + 1)]).mean()


def phase_spans(schedule: tuple[int, ...]) -> list[tuple[int, int]]:
    """(start, stop) layer spans of the phases: schedule (7, 5) -> [(0, 7), (7, 12)]."""
    bounds = [0]
    for n in schedule:
        bounds.append(bounds[-1] + n)
    return list(zip(bounds[:-1], bounds[1:]))
