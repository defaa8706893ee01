"""Flow-equivariant RNNs (Keller, NeurIPS 2025, "Flow Equivariant Recurrent Neural Networks").

A FERNN lifts its hidden state over a set of velocities ``V = {(vx, vy) : |vx|, |vy| <= r}`` (px/frame):
one copy per velocity, 9 for ``r = 1`` (the paper's FERNN-V1^T), 25 for ``r = 2`` (FERNN-V2^T). Each step
(paper Eq. 10, translation flows)::

    h_{t+1}[ν] = σ( W_u * f_t  +  W_h * S_ν h_t[ν] )

``S_ν`` shifts copy ν circularly by its own velocity, the same circular convolutions run on every
copy (velocities folded into the batch), and the input ``W_u * f_t`` is the same for every copy (the
"lift" of the input is a broadcast: a frame at rest belongs to every velocity frame of reference).
The frame readout max-pools over velocities and decodes with a small circular CNN; the classifier
max-pools over velocities, then a small CNN, a global average pool and a linear layer. With ``r = 0``
it is the G-RNN baseline with exactly the same parameters.

Conventions (all tensors):
    frames ``(B, T, C_in, H, W)``; hidden state ``(B, |V|, C_h, H, W)``; velocities are ordered as
    :func:`velocity_grid` returns them, ``(vx, vy)`` with x along W (columns) and y along H (rows).
    Shift convention: :math:`S_ν` moves content by ``+vx`` columns (right for vx > 0) and ``+vy`` rows
    (down for vy > 0) per frame, with wrap-around: ``(S_ν h)[y, x] = h[(y - vy) mod H, (x - vx) mod W]``,
    the same as ``torch.roll(h, shifts=(vy, vx), dims=(-2, -1))``.

Equivariance: if frame t of the input moves by ``t·ν̂`` (content at x goes to x + t·ν̂), the hidden state
after that frame equals the original moved by ``t·ν̂`` in space and by ``ν̂`` along the velocity axis:
``h'_t[ν] = S_{t·ν̂} h_t[ν - ν̂]`` for every ν with ν - ν̂ in V (checked by
:func:`vision.fernn.metrics.equivariance_error`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from recurrent.conv_rnn import ConvRNNCell
from recurrent.registry import make_config, register_model
from recurrent.runner import run_sequence

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class FERNNConfig:
    """``v_range`` is the velocity radius r (px/frame): FERNN-V1 = 1, FERNN-V2 = 2, G-RNN = 0. The paper's
    V1/V2 differ only in r; every other field, and so the parameter count, is shared."""

    v_range: int = 1
    in_channels: int = 1
    hidden_channels: int = 32
    kernel_size: int = 3
    activation: Literal["relu", "tanh"] = "relu"  # the paper: ReLU on translating MNIST, tanh on KTH
    decoder_layers: int = 2  # hidden circular conv+ReLU layers before the output conv (paper: 4)
    head_layers: int = 1  # circular conv+ReLU layers of the classifier before pooling
    num_classes: int = 10


def velocity_grid(v_range: int) -> torch.Tensor:
    """All integer velocities ``(vx, vy)`` with ``|vx|, |vy| <= v_range``, shape ``(|V|, 2)`` long, ordered
    row-major in (vy, vx): index ``(vy + r) * (2r + 1) + (vx + r)``; ``(0, 0)`` is the middle one."""
    steps = torch.arange(-v_range, v_range + 1)
    vy, vx = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([vx.flatten(), vy.flatten()], dim=1)


def shift_frames(x: torch.Tensor, shift_xy: tuple[int, int]) -> torch.Tensor:
    """Circularly move the content of ``x (..., H, W)`` by ``shift_xy = (dx, dy)`` pixels (right, down)."""
    dx, dy = shift_xy
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


class VelocityShift(nn.Module):
    """Move copy ν of a lifted state by its own velocity, in one gather (no loop over velocities).

    Shape:
        h: (B, |V|, C, H, W) -> (B, |V|, C, H, W), ``out[:, i] = torch.roll(h[:, i], (vy_i, vx_i), (-2, -1))``.
    """

    def __init__(self, v_range: int):
        super().__init__()
        self.register_buffer("velocities", velocity_grid(v_range), persistent=False)
        self._cache: dict[tuple, torch.Tensor] = {}

    def _index(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        key = (height, width, device)
        if key not in self._cache:
            v = self.velocities.to(device)
            rows = (torch.arange(height, device=device)[None, :] - v[:, 1:2]) % height  # (V, H) source rows
            cols = (torch.arange(width, device=device)[None, :] - v[:, 0:1]) % width  # (V, W) source cols
            self._cache[key] = (rows[:, :, None] * width + cols[:, None, :]).flatten(1)  # (V, H·W)
        return self._cache[key]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, v, c, height, width = h.shape
        if v == 1 and not self.velocities.any():
            return h
        index = self._index(height, width, h.device)[None, :, None, :].expand(b, v, c, height * width)
        return torch.gather(h.reshape(b, v, c, height * width), 3, index).view(b, v, c, height, width)


def _circular_cnn(in_ch: int, hidden_ch: int, out_ch: int, layers: int, kernel_size: int = 3) -> nn.Sequential:
    pad = kernel_size // 2
    modules: list[nn.Module] = []
    width = in_ch
    for _ in range(layers):
        modules += [nn.Conv2d(width, hidden_ch, kernel_size, padding=pad, padding_mode="circular"), nn.ReLU()]
        width = hidden_ch
    if out_ch:
        modules.append(nn.Conv2d(width, out_ch, kernel_size, padding=pad, padding_mode="circular"))
    return nn.Sequential(*modules)


class FERNN(nn.Module):
    """Flow-equivariant RNN with a next-frame decoder and a sequence classifier (G-RNN when ``v_range=0``).

    Shape:
        frames: (B, T, C_in, H, W), any H, W (circular convolutions; trained at one size).
        state: (B, |V|, C_h, H, W) or ``None`` (zeros).
        :meth:`forward` / :meth:`predict` return predicted frames (B, steps, C_in, H, W);
        :meth:`classify` returns logits (B, num_classes).
    """

    def __init__(self, config: FERNNConfig):
        super().__init__()
        if config.v_range < 0:
            raise ValueError(f"v_range must be >= 0, got {config.v_range}")
        if config.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {config.activation!r}")
        self.config = config
        c = config
        self.cell = ConvRNNCell(c.in_channels, c.hidden_channels, c.kernel_size, ACTIVATIONS[c.activation], "circular")
        self.shift = VelocityShift(c.v_range)
        self.decoder = _circular_cnn(c.hidden_channels, c.hidden_channels, c.in_channels, c.decoder_layers)
        self.head = _circular_cnn(c.hidden_channels, c.hidden_channels, 0, c.head_layers)
        self.classifier = nn.Linear(c.hidden_channels, c.num_classes)

    @property
    def num_velocities(self) -> int:
        return (2 * self.config.v_range + 1) ** 2

    def init_state(self, frame: torch.Tensor) -> torch.Tensor:
        """Zero state (B, |V|, C_h, H, W) for a frame (B, C_in, H, W)."""
        b, _, h, w = frame.shape
        return frame.new_zeros(b, self.num_velocities, self.config.hidden_channels, h, w)

    def cell_step(self, frame: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        """One recurrence: shift each copy by its velocity, lift the frame to all copies, run the cell.

        frame (B, C_in, H, W), state (B, |V|, C_h, H, W) or None -> new state (B, |V|, C_h, H, W).
        """
        state = self.init_state(frame) if state is None else state
        b, v, c, h, w = state.shape
        shifted = self.shift(state).view(b * v, c, h, w)
        lifted = frame.unsqueeze(1).expand(b, v, *frame.shape[1:]).reshape(b * v, *frame.shape[1:])
        return self.cell(lifted, shifted).view(b, v, c, h, w)

    def readout(self, state: torch.Tensor) -> torch.Tensor:
        """Velocity-invariant features: max over the velocity axis, (B, |V|, C_h, H, W) -> (B, C_h, H, W)."""
        return state.amax(dim=1)

    def decode(self, state: torch.Tensor) -> torch.Tensor:
        """Next-frame prediction (B, C_in, H, W) from a state (B, |V|, C_h, H, W)."""
        return self.decoder(self.readout(state))

    def classify_state(self, state: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes): max over velocities -> circular CNN -> global average pool -> linear."""
        return self.classifier(self.head(self.readout(state)).mean(dim=(-2, -1)))

    def _check(self, frames: torch.Tensor) -> None:
        if frames.ndim != 5 or frames.shape[2] != self.config.in_channels:
            raise ValueError(f"FERNN expects frames (B, T, {self.config.in_channels}, H, W), got {tuple(frames.shape)}")

    def encode(self, frames: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over ``frames`` (B, T, C_in, H, W): returns the readout after every frame (B, T, C_h, H, W)
        and the final state (B, |V|, C_h, H, W)."""
        self._check(frames)

        def step(frame: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.cell_step(frame, h)
            return self.readout(h), h

        return run_sequence(step, frames, state)

    def hidden_states(self, frames: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """Every state, (B, T, |V|, C_h, H, W): entry t is the state after frame t (for analysis, small inputs)."""
        self._check(frames)

        def step(frame: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.cell_step(frame, h)
            return h, h

        return run_sequence(step, frames, state)[0]

    def rollout(self, state: torch.Tensor, steps: int, detach_feedback: bool = True) -> torch.Tensor:
        """Autoregressive prediction from ``state`` (after the last observed frame): predict the next
        frame, feed it back, repeat. Returns (B, steps, C_in, H, W). ``detach_feedback`` (the paper's
        training): no gradient through the fed-back predictions."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        outputs = []
        for k in range(steps):
            frame = self.decode(state)
            outputs.append(frame)
            if k + 1 < steps:
                state = self.cell_step(frame.detach() if detach_feedback else frame, state)
        return torch.stack(outputs, dim=1)

    def predict(self, frames: torch.Tensor, steps: int, detach_feedback: bool = True) -> torch.Tensor:
        """Observe ``frames`` (B, T, C_in, H, W), predict the next ``steps`` frames (B, steps, C_in, H, W)."""
        _, state = self.encode(frames)
        return self.rollout(state, steps, detach_feedback)

    def classify(self, frames: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) from the state after the last frame of ``frames`` (B, T, C_in, H, W)."""
        _, state = self.encode(frames)
        return self.classify_state(state)

    def forward(self, frames: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Both tasks in one pass: (predicted frames (B, steps, C_in, H, W), logits (B, num_classes) from the
        state after the observed frames)."""
        _, state = self.encode(frames)
        return self.rollout(state, steps), self.classify_state(state)


@register_model("fernn-v1")
def fernn_v1(**overrides) -> FERNN:
    """FERNN-V1^T: 9 velocity copies, |vx|, |vy| <= 1 px/frame."""
    return FERNN(make_config(FERNNConfig(v_range=1), overrides))


@register_model("fernn-v2")
def fernn_v2(**overrides) -> FERNN:
    """FERNN-V2^T: 25 velocity copies, |vx|, |vy| <= 2 px/frame."""
    return FERNN(make_config(FERNNConfig(v_range=2), overrides))


@register_model("grnn")
def grnn(**overrides) -> FERNN:
    """G-RNN: the same network without velocity copies (v_range = 0), identical parameter count."""
    return FERNN(make_config(FERNNConfig(v_range=0), overrides))
