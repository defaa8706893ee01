"""Flow-equivariant RNNs (Keller, NeurIPS 2025, "Flow Equivariant Recurrent Neural Networks").

A FERNN lifts its hidden state over a set of velocities ``V = {(vx, vy) : |vx|, |vy| <= r}`` (px/frame):
one copy per velocity, 9 for ``r = 1`` (the paper's FERNN-V1^T), 25 for ``r = 2`` (FERNN-V2^T). Each step
(translation flows, as in the official code ``akandykeller/FERNN``)::

    h_{t+1}[ν] = σ( W_u * f_t  +  W_h * S_ν h_t[ν] )

``S_ν`` shifts copy ν circularly by its own velocity, the same circular convolutions run on every
copy (velocities folded into the batch), and the input ``W_u * f_t`` is the same for every copy (the
"lift" of the input is a broadcast: a frame at rest belongs to every velocity frame of reference).
The frame readout advances every copy by its velocity, max-pools over velocities and decodes with a
small circular CNN (see :class:`FERNN` for how this differs from the official code); the classifier
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
from typing import Literal, NamedTuple

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
    # "identity": IRNN start (Le, Jaitly & Hinton 2015): hidden->hidden centre tap = I, other hidden taps and
    # the bias 0, so every copy starts as a memory flowing at its velocity; "default": PyTorch's init (paper)
    recurrent_init: Literal["identity", "default"] = "identity"


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
            self._cache[key] = self._build_index(height, width, device)
        return self._cache[key]

    @torch.inference_mode(False)  # a cached index built during inference must also serve training
    def _build_index(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        v = self.velocities.to(device)
        rows = (torch.arange(height, device=device)[None, :] - v[:, 1:2]) % height  # (V, H) source rows
        cols = (torch.arange(width, device=device)[None, :] - v[:, 0:1]) % width  # (V, W) source cols
        return (rows[:, :, None] * width + cols[:, None, :]).flatten(1)  # (V, H·W)

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


class FERNNOutput(NamedTuple):
    """``observed_next`` (B, T_obs − 1, C_in, H, W): teacher-forced predictions of frames 1..T_obs−1, each
    from the frames before it; ``predicted`` (B, steps, C_in, H, W): frames T_obs.. predicted
    autoregressively; ``logits`` (B, num_classes) from the state after the observed frames."""

    observed_next: torch.Tensor
    predicted: torch.Tensor
    logits: torch.Tensor


class FERNN(nn.Module):
    """Flow-equivariant RNN with a next-frame decoder and a sequence classifier (G-RNN when ``v_range=0``).

    The next frame is read out from the state *advanced* by its own flow, ``max_ν S_ν h[ν]`` (what the
    next :meth:`cell_step` shifts the state to before adding the input), so that observed frames and fed
    back predictions always meet the memory aligned. The official code instead feeds the last observed
    frame a second time before reading out; both are exactly equivariant, ours has a single regime.

    Shape:
        frames: (B, T, C_in, H, W), any H, W (circular convolutions; trained at one size).
        state: (B, |V|, C_h, H, W) or ``None`` (zeros).
        :meth:`predict` returns (B, steps, C_in, H, W); :meth:`classify` logits (B, num_classes);
        :meth:`forward` a :class:`FERNNOutput`.
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
        if c.recurrent_init == "identity":
            with torch.no_grad():
                hidden = self.cell.conv.weight[:, c.in_channels :]  # (C_h, C_h, k, k)
                hidden.zero_()
                hidden[:, :, c.kernel_size // 2, c.kernel_size // 2] = torch.eye(c.hidden_channels)
                self.cell.conv.bias.zero_()
        elif c.recurrent_init != "default":
            raise ValueError(f"recurrent_init must be 'identity' or 'default', got {c.recurrent_init!r}")

    @property
    def num_velocities(self) -> int:
        return (2 * self.config.v_range + 1) ** 2

    def init_state(self, frame: torch.Tensor) -> torch.Tensor:
        """Zero state (B, |V|, C_h, H, W) for a frame (B, C_in, H, W)."""
        b, _, h, w = frame.shape
        return frame.new_zeros(b, self.num_velocities, self.config.hidden_channels, h, w)

    def cell_step(self, frame: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        """One recurrence: shift each copy by its velocity, add the frame's input term (computed once and
        shared by every copy: the lift is a broadcast), apply the activation.

        frame (B, C_in, H, W), state (B, |V|, C_h, H, W) or None -> new state (B, |V|, C_h, H, W).
        """
        state = self.init_state(frame) if state is None else state
        b, v, c, h, w = state.shape
        hidden = self.cell.hidden_term(self.shift(state).view(b * v, c, h, w)).view(b, v, c, h, w)
        return self.cell.act(hidden + self.cell.input_term(frame).unsqueeze(1))

    def readout(self, state: torch.Tensor) -> torch.Tensor:
        """Velocity-invariant features: max over the velocity axis, (B, |V|, C_h, H, W) -> (B, C_h, H, W)."""
        return state.amax(dim=1)

    def decode(self, state: torch.Tensor) -> torch.Tensor:
        """Prediction (B, C_in, H, W) of the frame after ``state`` (B, |V|, C_h, H, W): decoder(max_ν S_ν h[ν])."""
        return self.decoder(self.readout(self.shift(state)))

    def classify_state(self, state: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes): max over velocities -> circular CNN -> global average pool -> linear."""
        return self.classifier(self.head(self.readout(state)).mean(dim=(-2, -1)))

    def _check(self, frames: torch.Tensor) -> None:
        if frames.ndim != 5 or frames.shape[2] != self.config.in_channels or frames.shape[1] < 1:
            raise ValueError(f"FERNN expects frames (B, T>=1, {self.config.in_channels}, H, W), got {tuple(frames.shape)}")

    def encode(self, frames: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over ``frames`` (B, T, C_in, H, W). Returns the prediction of the next frame after every
        frame (B, T, C_in, H, W) (entry t predicts frame t + 1) and the final state (B, |V|, C_h, H, W)."""
        self._check(frames)

        def step(frame: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.cell_step(frame, h)
            return self.decode(h), h

        return run_sequence(step, frames, state)

    def hidden_states(self, frames: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """Every state, (B, T, |V|, C_h, H, W): entry t is the state after frame t (for analysis, small inputs)."""
        self._check(frames)

        def step(frame: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.cell_step(frame, h)
            return h, h

        return run_sequence(step, frames, state)[0]

    def rollout(self, first: torch.Tensor, state: torch.Tensor, steps: int, detach_feedback: bool = True) -> torch.Tensor:
        """Autoregressive prediction: ``first`` (B, C_in, H, W) is the prediction already read from ``state``;
        feed it back, predict the next, repeat. Returns (B, steps, C_in, H, W) starting with ``first``.
        ``detach_feedback`` (as the paper trains): no gradient through the fed-back predictions."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        outputs = [first]
        for _ in range(steps - 1):
            state = self.cell_step(outputs[-1].detach() if detach_feedback else outputs[-1], state)
            outputs.append(self.decode(state))
        return torch.stack(outputs, dim=1)

    def predict(self, frames: torch.Tensor, steps: int) -> torch.Tensor:
        """Observe ``frames`` (B, T, C_in, H, W), predict the next ``steps`` frames (B, steps, C_in, H, W)."""
        return self(frames, steps).predicted

    def classify(self, frames: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) from the state after the last frame of ``frames`` (B, T, C_in, H, W)."""
        self._check(frames)
        state = None
        for frame in frames.unbind(1):
            state = self.cell_step(frame, state)
        return self.classify_state(state)

    def forward(self, frames: torch.Tensor, steps: int, detach_feedback: bool = True) -> FERNNOutput:
        """Both tasks in one pass over the observed ``frames`` (B, T_obs, C_in, H, W); see :class:`FERNNOutput`."""
        next_frames, state = self.encode(frames)
        predicted = self.rollout(next_frames[:, -1], state, steps, detach_feedback)
        return FERNNOutput(next_frames[:, :-1], predicted, self.classify_state(state))


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


class PredictClassifyLoss(nn.Module):
    """Next-frame MSE plus ``class_weight`` × the multi-label BCE of the digits present.

    Args:
        class_weight: weight of the classification term (0: prediction only).

    Shape:
        predicted, target: (B, T, C, H, W); logits, present: (B, num_classes), ``present`` in {0, 1}.
        Either pair may be ``None`` (that term is left out). Returns ``(loss, {"mse": …, "bce": …})``.
    """

    def __init__(self, class_weight: float = 0.1):
        super().__init__()
        self.class_weight = class_weight

    def forward(
        self,
        predicted: torch.Tensor | None,
        target: torch.Tensor | None,
        logits: torch.Tensor | None,
        present: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        if predicted is not None:
            parts["mse"] = nn.functional.mse_loss(predicted, target)
        if logits is not None:
            parts["bce"] = nn.functional.binary_cross_entropy_with_logits(logits, present)
        if not parts:
            raise ValueError("nothing to score: give predicted frames, logits or both")
        loss = parts.get("mse", 0.0) + (self.class_weight if "mse" in parts else 1.0) * parts.get("bce", 0.0)
        return loss, parts
