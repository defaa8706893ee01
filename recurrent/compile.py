"""Compiled recurrent loops: one ``torch.compile`` call shared by every system.

Loops over time or depth with a fixed trip count (Raptor's depth schedule, FERNN's frames, a clip's
frames) unroll into one graph when the whole forward is compiled; streaming loops (FRVSR's
frame-by-frame upscaling) compile their step and replay it. On CUDA the graph runs under CUDA graphs
(Inductor's ``"reduce-overhead"`` mode): launches of the small per-step kernels, the bottleneck of
recurrent inference, are replayed as one. Fused Triton blocks (:mod:`recurrent.backend`) fall back to
their PyTorch reference inside the graph, which Inductor fuses itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_map


def compile_for(
    fn: Callable[..., Any], device: str | torch.device, backend: str = "inductor", fullgraph: bool = True
) -> Callable[..., Any]:
    """``fn`` (a module or function) compiled for ``device`` with static shapes.

    On CUDA with Inductor the graph is replayed with CUDA graphs; outputs are then cloned out of the
    graph's static memory, so tensors returned by one call (a carried state) survive the next call.
    A new input shape recompiles. ``backend="eager"`` only captures the graph (tests use it to check
    that a loop compiles without graph breaks). ``fullgraph=False`` lets Dynamo break around what it
    cannot trace (``nn.LSTM``, which stays on cuDNN) instead of failing.
    """
    cuda = torch.device(device).type == "cuda"
    mode = "reduce-overhead" if cuda and backend == "inductor" else None
    compiled = torch.compile(fn, backend=backend, mode=mode, fullgraph=fullgraph, dynamic=False)
    if mode is None:
        return compiled

    def replay(*args: Any, **kwargs: Any) -> Any:
        torch.compiler.cudagraph_mark_step_begin()
        return tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, compiled(*args, **kwargs))

    return replay
