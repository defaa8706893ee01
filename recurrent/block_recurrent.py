r"""Block-recurrent depth (Raptor-style): a few distinct transformer blocks applied recurrently.

A *phase schedule* ``(n_0, n_1, …)`` applies block 0 ``n_0`` times, then block 1 ``n_1`` times, and
so on — e.g. ``(7, 5)`` approximates a 12-layer ViT with two weight-tied phases. Iteration ``i``
(global, ``0 <= i < depth = sum(schedule)``) is conditioned by per-channel gates ``g(i)`` from a
small MLP of ``i / (depth - 1)``, used as a gated residual update

.. math:: x \leftarrow x + g(i) \odot (\mathrm{block}(x) - x),

initialised so that ``g ≡ 1``: at start the model is exactly the plain repeated application.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import Attention, LayerScale, SwiGLU
from torch import nn


class Block(nn.Module):
    """Pre-norm transformer block: ``x + LS(Attn(LN(x)))`` then ``x + LS(SwiGLU(LN(x)))`` (timm layers).

    Args:
        dim: C, token width.
        heads: attention heads (C divisible by heads).
        mlp_ratio: SwiGLU hidden width = ``mlp_ratio · C``.
        layerscale_init: initial LayerScale value of both branches (DINOv2 uses 1e-5).

    Shape:
        (B, N, C) -> (B, N, C).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, layerscale_init: float = 1e-5):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads=heads, qkv_bias=True)
        self.ls1 = LayerScale(dim, init_values=layerscale_init)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = SwiGLU(dim, hidden_features=int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, init_values=layerscale_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class BlockRecurrent(nn.Module):
    """Apply ``blocks`` recurrently over depth following a phase ``schedule``, with per-iteration gates.

    Args:
        blocks: K distinct blocks, each (B, N, C) -> (B, N, C).
        schedule: K positive repeat counts; block k runs ``schedule[k]`` times, phases in order.
        dim: C, channels gated (the last axis of the tokens).
        gate_hidden: width of the gate MLP ``Linear(1, gate_hidden) → SiLU → Linear(gate_hidden, C)``;
            ``g(i) = 1 + MLP(i / (depth − 1))`` with the last layer zero-initialised.

    Shape:
        x: (B, N, C). ``forward`` returns the final tokens (B, N, C), or with ``return_all=True`` the
        stack (depth + 1, B, N, C) of every state: index 0 is the input, index k the state after k
        block applications (the last one equals the default output).
    """

    def __init__(self, blocks: nn.ModuleList, schedule: Sequence[int], dim: int, gate_hidden: int = 32):
        super().__init__()
        if len(blocks) != len(schedule) or any(n < 1 for n in schedule):
            raise ValueError(f"schedule must give a positive count per block: {len(blocks)} blocks, {list(schedule)}")
        self.blocks = blocks
        self.schedule = tuple(schedule)
        self.order = [k for k, n in enumerate(self.schedule) for _ in range(n)]  # block index per iteration
        self.dim = dim
        depth = len(self.order)
        progress = torch.arange(depth, dtype=torch.float32).unsqueeze(1) / max(depth - 1, 1)
        self.register_buffer("progress", progress, persistent=False)  # (depth, 1) normalised iteration index
        self.gate = nn.Sequential(nn.Linear(1, gate_hidden), nn.SiLU(), nn.Linear(gate_hidden, dim))
        nn.init.zeros_(self.gate[-1].weight)
        nn.init.zeros_(self.gate[-1].bias)

    def gates(self) -> torch.Tensor:
        """(depth, C) per-iteration, per-channel gates ``g(i)``."""
        return 1 + self.gate(self.progress)

    def step(self, x: torch.Tensor, i: int, gates: torch.Tensor | None = None) -> torch.Tensor:
        """Iteration ``i`` alone (block ``order[i]`` with gate ``g(i)``): the state after ``i`` applications
        -> the state after ``i + 1``; ``gates`` may pass :meth:`gates` computed once."""
        gate = (self.gates() if gates is None else gates)[i]
        return x + gate * (self.blocks[self.order[i]](x) - x)

    def forward(self, x: torch.Tensor, return_all: bool = False, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Iterations ``start … stop − 1`` (default: all) from state ``x``; ``return_all`` stacks the input
        and every state after it."""
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"BlockRecurrent expects (B, N, {self.dim}), got {tuple(x.shape)}")
        gates = self.gates()
        states = [x]
        for i in range(start, len(self.order) if stop is None else stop):
            x = self.step(x, i, gates)
            if return_all:
                states.append(x)
        return torch.stack(states) if return_all else x
