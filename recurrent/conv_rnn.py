"""Convolutional recurrent cells: a plain ConvRNN and a ConvGRU, with selectable spatial padding.

Both cells map ``(x, h)`` of shapes ``(B, C_in, H, W)``, ``(B, C_h, H, W)`` to ``h'`` of shape
``(B, C_h, H, W)`` with "same" padding (odd kernel). ``padding_mode="circular"`` makes a cell exactly
equivariant to circular spatial shifts of input and state together, which flow-equivariant RNNs need.
To drive a cell with :func:`recurrent.runner.run_sequence`, wrap it as
``def step(x, h): h = cell(x, h); return h, h``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

PaddingMode = Literal["zeros", "circular", "reflect", "replicate"]


class _ConvCell(nn.Module):
    def __init__(self, in_ch: int, hidden_ch: int, kernel_size: int, padding_mode: PaddingMode):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        if padding_mode not in ("zeros", "circular", "reflect", "replicate"):
            raise ValueError(f"unknown padding_mode {padding_mode!r}")
        self.in_ch, self.hidden_ch = in_ch, hidden_ch
        self.kernel_size, self.padding_mode = kernel_size, padding_mode

    def _conv(self, c_in: int, c_out: int) -> nn.Conv2d:
        return nn.Conv2d(c_in, c_out, self.kernel_size, padding=self.kernel_size // 2, padding_mode=self.padding_mode)

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        """Zero state (B, C_h, H, W) matching ``x`` (B, C_in, H, W) in batch, size, dtype and device."""
        b, _, h, w = x.shape
        return x.new_zeros(b, self.hidden_ch, h, w)

    def _check(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ValueError(f"{type(self).__name__} expects x (B, {self.in_ch}, H, W), got {tuple(x.shape)}")
        if h is None:
            return self.init_state(x)
        expected = (x.shape[0], self.hidden_ch, *x.shape[-2:])
        if h.shape != expected:
            raise ValueError(f"{type(self).__name__} expects h {expected}, got {tuple(h.shape)}")
        return h

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.hidden_ch}, kernel_size={self.kernel_size}, padding_mode={self.padding_mode!r}"


class ConvRNNCell(_ConvCell):
    r"""Elman cell with convolutions: :math:`h' = \phi(W_x * x + W_h * h + b)`.

    Implemented as one convolution over ``cat([x, h])`` (identical to the two-convolution sum).

    Args:
        in_ch: C_in, input channels.
        hidden_ch: C_h, state channels.
        kernel_size: odd spatial kernel size of both convolutions.
        activation: factory for :math:`\phi` (a module class or any zero-argument callable).
        padding_mode: spatial padding of the convolutions: ``"zeros"``, ``"circular"``, ``"reflect"``
            or ``"replicate"``.

    Shape:
        x: (B, C_in, H, W); h: (B, C_h, H, W) or ``None`` (zeros) -> h': (B, C_h, H, W).
    """

    def __init__(
        self,
        in_ch: int,
        hidden_ch: int,
        kernel_size: int = 3,
        activation: Callable[[], nn.Module] = nn.Tanh,
        padding_mode: PaddingMode = "zeros",
    ):
        super().__init__(in_ch, hidden_ch, kernel_size, padding_mode)
        self.conv = self._conv(in_ch + hidden_ch, hidden_ch)
        self.act = activation()

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = self._check(x, h)
        return self.act(self.conv(torch.cat([x, h], dim=1)))

    def input_term(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`W_x * x + b`, (B, C_in, H, W) -> (B, C_h, H, W): computed once when many states share
        one input (a FERNN's velocity copies); then ``act(input_term(x) + hidden_term(h))`` is the cell."""
        return self.conv._conv_forward(x, self.conv.weight[:, : self.in_ch], self.conv.bias)

    def hidden_term(self, h: torch.Tensor) -> torch.Tensor:
        """:math:`W_h * h`, (N, C_h, H, W) -> (N, C_h, H, W), no bias (see :meth:`input_term`)."""
        return self.conv._conv_forward(h, self.conv.weight[:, self.in_ch :], None)


class ConvGRUCell(_ConvCell):
    r"""Convolutional GRU (Ballas et al. 2016; the form RAFT uses).

    .. math::
        z = \sigma(W_z * [x, h]),\quad r = \sigma(W_r * [x, h]),\quad
        \tilde h = \phi(W_q * [x, r \odot h]),\quad h' = (1 - z) \odot h + z \odot \tilde h

    Args:
        in_ch: C_in, input channels.
        hidden_ch: C_h, state channels.
        kernel_size: odd spatial kernel size of all convolutions.
        activation: factory for the candidate activation :math:`\phi` (default ``nn.Tanh``).
        padding_mode: ``"zeros"``, ``"circular"``, ``"reflect"`` or ``"replicate"``.

    Shape:
        x: (B, C_in, H, W); h: (B, C_h, H, W) or ``None`` (zeros) -> h': (B, C_h, H, W).
    """

    def __init__(
        self,
        in_ch: int,
        hidden_ch: int,
        kernel_size: int = 3,
        activation: Callable[[], nn.Module] = nn.Tanh,
        padding_mode: PaddingMode = "zeros",
    ):
        super().__init__(in_ch, hidden_ch, kernel_size, padding_mode)
        self.gates = self._conv(in_ch + hidden_ch, 2 * hidden_ch)  # z then r
        self.candidate = self._conv(in_ch + hidden_ch, hidden_ch)
        self.act = activation()

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = self._check(x, h)
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], dim=1))).chunk(2, dim=1)
        q = self.act(self.candidate(torch.cat([x, r * h], dim=1)))
        return (1 - z) * h + z * q
