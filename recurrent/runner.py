"""Run a recurrent step function over time, whole-sequence or streaming, with explicit state.

A *step* is ``step(x_t, state) -> (y_t, new_state)``: ``x_t`` is one time slice (the input with the
time dimension removed), ``y_t`` a tensor, and ``state`` any pytree of tensors (a tensor, or nested
tuples / lists / dicts of tensors) or ``None`` before the first step. The runners hold no parameters;
the step (usually a bound ``nn.Module`` method or a closure over one) owns them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_map

State = Any  # a pytree of tensors, or None
Step = Callable[[torch.Tensor, State], tuple[torch.Tensor, State]]


def detach_state(state: State) -> State:
    """Detach every tensor in a state pytree from the autograd graph (``None`` stays ``None``)."""
    return tree_map(lambda t: t.detach() if isinstance(t, torch.Tensor) else t, state)


def run_sequence(
    step: Step, inputs: torch.Tensor, state: State = None, time_dim: int = 1, tbptt: int | None = None
) -> tuple[torch.Tensor, State]:
    """Apply ``step`` to every time slice of ``inputs`` in order, threading the state.

    Args:
        step: ``step(x_t, state) -> (y_t, new_state)``.
        inputs: tensor with T >= 1 steps along ``time_dim``, e.g. (B, T, C, H, W) with ``time_dim=1``.
        state: initial state passed to the first step (``None``: the step builds its own).
        time_dim: dimension of ``inputs`` that indexes time; outputs are stacked along the same one.
        tbptt: truncated back-propagation through time: when given, the state entering steps
            K, 2K, 3K, … is detached, so gradients flow back at most K steps. ``None``: full BPTT.

    Returns:
        ``(outputs, final_state)``: outputs are the ``y_t`` stacked along ``time_dim`` (e.g.
        (B, T, C', H', W')); ``final_state`` is what the last step returned (not detached).
    """
    if tbptt is not None and tbptt < 1:
        raise ValueError(f"tbptt must be a positive number of steps or None, got {tbptt}")
    if inputs.shape[time_dim] == 0:
        raise ValueError(f"inputs have no time steps along dim {time_dim}: {tuple(inputs.shape)}")
    outputs = []
    for t, x_t in enumerate(inputs.unbind(time_dim)):
        if tbptt is not None and t > 0 and t % tbptt == 0:
            state = detach_state(state)
        y_t, state = step(x_t, state)
        outputs.append(y_t)
    return torch.stack(outputs, time_dim), state


class StreamingRunner:
    """Feed a sequence chunk by chunk, carrying the state between chunks.

    Concatenating the outputs of ``feed`` over consecutive chunks equals ``run_sequence`` on the
    whole sequence, whatever the chunk sizes. The carried state keeps its autograd graph; assign
    ``runner.state = detach_state(runner.state)`` between chunks to truncate BPTT there.

    Args:
        step: ``step(x_t, state) -> (y_t, new_state)``.
        state: initial state (``None``: the step builds its own on the first slice).
        time_dim: time dimension of each chunk and of its outputs.
    """

    def __init__(self, step: Step, state: State = None, time_dim: int = 1):
        self.step = step
        self.time_dim = time_dim
        self.initial_state = state
        self.state = state

    def feed(self, chunk: torch.Tensor) -> torch.Tensor:
        """Process a chunk of >= 1 time steps along ``time_dim``; returns its outputs, stacked the same way."""
        outputs, self.state = run_sequence(self.step, chunk, self.state, self.time_dim)
        return outputs

    def reset(self) -> None:
        """Forget the carried state; the next chunk starts from the initial state again."""
        self.state = self.initial_state
