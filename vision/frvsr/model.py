"""FRVSR: frame-recurrent video super-resolution (Sajjadi, Vemulapalli & Brown, CVPR 2018).

One step of the recurrence (paper Sec. 3, Fig. 2)::

    flow_lr_px     = FNet(lr_prev, lr_cur)                      # LR pixels, current -> previous
    flow_hr_px     = upsample_flow(flow_lr_px, s)               # bilinear, vectors × s
    hr_prev_warped = warp(hr_prev, flow_hr_px)                  # backward warp, border padding
    hr_prev_depth  = space_to_depth(hr_prev_warped, s)          # (B, 3·s², H, W)
    hr_cur         = SRNet(cat(lr_cur, hr_prev_depth)) + upsample_lr(lr_cur)

Lines 2–4 run as one fused pass, :func:`recurrent.warp.warp_to_depth` (a Triton kernel on CUDA).

The first frame starts from a zero (black) previous estimate and needs no flow.

Contracts, for every tensor here:

* frames are **RGB**, channels in the order (R, G, B), float in **[0, 1]**; LR ``(B, 3, H, W)`` or
  clips ``(B, T, 3, H, W)``; HR is ``(B, 3, s·H, s·W)`` with ``s = config.scale`` (4). Outputs are
  not clamped: clamp to [0, 1] before display or quantisation.
* flow is ``(B, 2, H, W)`` in **LR pixels**, channels ``(x, y)``, from the current frame to the previous
  one: ``warp(lr_prev, flow_lr_px) ≈ lr_cur`` (``recurrent/warp.py`` conventions).
* LR/HR grid (``config.degradation``): ``"BD"`` — LR pixel ``(i, j)`` *is* the blurred HR pixel
  ``(s·i, s·j)`` (Gaussian blur, then every s-th pixel from offset 0; :mod:`vision.frvsr.data`);
  ``"BI"`` — LR pixel ``(i, j)`` covers HR pixels ``s·i … s·i + s - 1`` (antialiased bicubic resize,
  the ``align_corners=False`` convention). :func:`upsample_lr` follows the same grid, so the residual
  SRNet learns detail, not a shift.
* any H, W >= 1: FNet pads its input (replicate) to a multiple of ``2 ** len(fnet_channels[:-1])``
  and crops the flow back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from recurrent.registry import make_config, register_model
from recurrent.runner import run_sequence
from recurrent.warp import warp_to_depth


@dataclass(frozen=True)
class FRVSRConfig:
    """``num_blocks``/``channels`` are SRNet's residual blocks and width (the paper's "FRVSR 10-128");
    ``fnet_channels`` are FNet's encoder widths and its bottleneck width (the paper: 32, 64, 128, 256)."""

    scale: int = 4
    num_blocks: int = 10
    channels: int = 128
    fnet_channels: tuple[int, ...] = (32, 64, 128, 256)
    max_flow_px: float = 24.0  # FNet's tanh output times this: the largest motion, LR px per frame
    # SRNet's upsampling: "deconv" — ×2 transposed conv + ReLU stages at full width, then a 3×3 conv at HR
    # (the paper); "pixelshuffle" — the same with conv + pixel shuffle stages; "espcn" — one 3×3 conv to
    # 3·scale² channels and a pixel shuffle (Shi et al. 2016): no convolution runs at HR resolution.
    upsample: Literal["deconv", "pixelshuffle", "espcn"] = "deconv"
    degradation: Literal["BD", "BI"] = "BD"  # which LR/HR pixel grid upsample_lr follows (module docstring)


class FRVSRState(NamedTuple):
    """What the recurrence carries: the previous LR frame ``(B, 3, H, W)`` and HR estimate ``(B, 3, sH, sW)``."""

    lr: torch.Tensor
    hr: torch.Tensor


class FRVSROutput(NamedTuple):
    """``hr``: (B, T, 3, sH, sW) estimates; ``flow_lr_px``: (B, T, 2, H, W) flows current -> previous
    (zeros at t = 0 when the clip starts without a state); ``state``: after the last frame."""

    hr: torch.Tensor
    flow_lr_px: torch.Tensor
    state: FRVSRState


def _cubic(x: float, a: float = -0.75) -> float:
    """Keys' cubic convolution kernel (``a = -0.75``, as OpenCV and ``F.interpolate(mode="bicubic")``)."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def _corner_bicubic_kernels(scale: int) -> torch.Tensor:
    """(scale, 4) weights of LR neighbours i-1 … i+2 for HR pixel ``scale·i + d``, i.e. LR position i + d/scale."""
    return torch.tensor([[_cubic(d / scale + 1 - k) for k in range(4)] for d in range(scale)], dtype=torch.float64)


def upsample_lr(lr: torch.Tensor, scale: int, degradation: str = "BD") -> torch.Tensor:
    """Bicubic ×``scale`` upsampling of LR frames on the grid of ``degradation`` (module docstring).

    ``"BD"``: HR pixel ``scale·i + d`` interpolates LR position ``i + d / scale`` (so
    ``upsample_lr(x)[..., ::scale, ::scale] == x``), replicate padding at the borders. ``"BI"``:
    ``F.interpolate(mode="bicubic", align_corners=False)``.

    Args:
        lr: (B, C, H, W).
    Returns:
        (B, C, scale·H, scale·W), same dtype.
    """
    if degradation == "BI":
        return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
    if degradation != "BD":
        raise ValueError(f"degradation must be 'BD' or 'BI', got {degradation!r}")
    b, c, h, w = lr.shape
    kernels = _corner_bicubic_kernels(scale).to(lr)
    x = F.pad(lr.reshape(b * c, 1, h, w), (1, 2, 1, 2), mode="replicate")
    x = F.conv2d(x, kernels.view(scale, 1, 4, 1))  # (BC, s, H, W + 3): rows i + d/s
    x = x.transpose(1, 2).reshape(b * c, 1, h * scale, w + 3)
    x = F.conv2d(x, kernels.view(scale, 1, 1, 4))  # (BC, s, sH, W): columns j + d/s
    return x.permute(0, 2, 3, 1).reshape(b, c, h * scale, w * scale)


def _upsample2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def _conv_pair(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
    )


class FNet(nn.Module):
    """The paper's flow network (Table 1): an encoder of conv-conv-maxpool levels, a decoder of
    conv-conv-bilinear×2 levels, two output convolutions and ``tanh × max_flow_px``.

    Shape:
        lr_prev, lr_cur: (B, 3, H, W) with H, W divisible by ``2 ** (len(channels) - 1)``.
        returns flow (B, 2, H, W) in LR pixels, (x, y), current -> previous, |flow| < ``max_flow_px``.
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256), max_flow_px: float = 24.0, in_channels: int = 3):
        super().__init__()
        self.max_flow_px = max_flow_px
        widths = [2 * in_channels, *channels[:-1]]
        self.encoder = nn.ModuleList(_conv_pair(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        dec_widths = [channels[-1], *reversed(channels[1:-1])]
        self.bottleneck = _conv_pair(channels[-2], channels[-1])
        self.decoder = nn.ModuleList(_conv_pair(a, b) for a, b in zip(dec_widths[:-1], dec_widths[1:], strict=True))
        self.head = nn.Sequential(
            nn.Conv2d(dec_widths[-1], channels[0], 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels[0], 2, 3, padding=1),
        )
        with torch.no_grad():  # start near zero flow so early training warps gently
            self.head[-1].weight.mul_(0.01)
            self.head[-1].bias.zero_()

    @property
    def multiple(self) -> int:
        return 2 ** len(self.encoder)

    def forward(self, lr_prev: torch.Tensor, lr_cur: torch.Tensor) -> torch.Tensor:
        x = torch.cat([lr_prev, lr_cur], dim=1)
        for level in self.encoder:
            x = F.max_pool2d(level(x), 2)
        x = _upsample2(self.bottleneck(x))
        for level in self.decoder:
            x = _upsample2(level(x))
        return torch.tanh(self.head(x)) * self.max_flow_px


class ResidualBlock(nn.Module):
    """conv-ReLU-conv plus the input (no normalisation), as in the paper's SRNet."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRNet(nn.Module):
    """The paper's SRNet: conv, residual blocks, log2(scale) ×2 upsampling stages, output conv.

    Shape:
        lr_cur: (B, 3, H, W); hr_prev_depth: (B, 3·scale², H, W) (space-to-depth of the warped estimate).
        returns (B, 3, scale·H, scale·W), the residual over the upsampled LR frame.
    """

    def __init__(self, scale: int = 4, num_blocks: int = 10, channels: int = 128, upsample: str = "deconv"):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"SRNet upsamples in ×2 stages: scale must be a power of 2, got {scale}")
        if upsample not in ("deconv", "pixelshuffle", "espcn"):
            raise ValueError(f"upsample must be 'deconv', 'pixelshuffle' or 'espcn', got {upsample!r}")
        self.head = nn.Sequential(nn.Conv2d(3 + 3 * scale**2, channels, 3, padding=1), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(num_blocks)))
        stages: list[nn.Module] = []
        if upsample == "espcn":
            self.tail = nn.Conv2d(channels, 3 * scale**2, 3, padding=1)
            stages.append(nn.PixelShuffle(scale))
        else:
            for _ in range(int(math.log2(scale))):
                if upsample == "deconv":
                    stages.append(nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1))
                else:
                    stages += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2)]
                stages.append(nn.ReLU(inplace=True))
            self.tail = nn.Conv2d(channels, 3, 3, padding=1)
        self.upsample = nn.Sequential(*stages)
        self.espcn = upsample == "espcn"
        with torch.no_grad():  # start near the upsampled LR frame
            self.tail.weight.mul_(0.1)
            self.tail.bias.zero_()

    def forward(self, lr_cur: torch.Tensor, hr_prev_depth: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.head(torch.cat([lr_cur, hr_prev_depth], dim=1)))
        return self.upsample(self.tail(x)) if self.espcn else self.tail(self.upsample(x))


def _check_frames(x: torch.Tensor, ndim: int, what: str) -> None:
    layout = "(B, T, 3, H, W)" if ndim == 5 else "(B, 3, H, W)"
    if x.ndim != ndim or x.shape[-3] != 3:
        raise ValueError(f"{what} must be RGB {layout}, got {tuple(x.shape)}")


class FRVSR(nn.Module):
    """Frame-recurrent ×``config.scale`` video super-resolution; contracts in the module docstring.

    ``forward`` runs a clip for training (FNet on all frame pairs in one batch, then the recurrence
    through :func:`recurrent.runner.run_sequence`, optionally with truncated BPTT); ``step`` runs one
    frame for streaming. Both give the same estimates.
    """

    def __init__(self, config: FRVSRConfig):
        super().__init__()
        self.config = config
        self.scale = config.scale
        self.fnet = FNet(config.fnet_channels, config.max_flow_px)
        self.srnet = SRNet(config.scale, config.num_blocks, config.channels, config.upsample)

    def flow(self, lr_prev: torch.Tensor, lr_cur: torch.Tensor) -> torch.Tensor:
        """FNet flow ``(B, 2, H, W)`` in LR px, current -> previous, for any H, W (replicate padding)."""
        h, w = lr_cur.shape[-2:]
        m = self.fnet.multiple
        pad = (0, -w % m, 0, -h % m)
        if any(pad):
            lr_prev, lr_cur = F.pad(lr_prev, pad, mode="replicate"), F.pad(lr_cur, pad, mode="replicate")
        return self.fnet(lr_prev, lr_cur)[..., :h, :w]

    def warp_previous(
        self, hr_prev: torch.Tensor, flow_lr_px: torch.Tensor, offset: tuple[int, int] = (0, 0)
    ) -> torch.Tensor:
        """The previous HR estimate moved onto the current frame, in space-to-depth form (B, 3·s², H, W).
        ``offset``: HR ``(top, left)`` of the flow's tile in ``hr_prev`` (see :func:`recurrent.warp.warp_to_depth`)."""
        return warp_to_depth(hr_prev, flow_lr_px, self.scale, offset)

    def reconstruct(self, lr_cur: torch.Tensor, hr_prev_depth: torch.Tensor) -> torch.Tensor:
        """SRNet on the current frame and the warped estimate (space-to-depth), plus the upsampled frame:
        (B, 3, sH, sW)."""
        residual = self.srnet(lr_cur, hr_prev_depth)
        return residual + upsample_lr(lr_cur, self.scale, self.config.degradation)

    def zero_estimate(self, lr_cur: torch.Tensor) -> torch.Tensor:
        """The first frame's previous estimate: zeros in space-to-depth form (B, 3·s², H, W)."""
        b, c, h, w = lr_cur.shape
        return lr_cur.new_zeros(b, c * self.scale**2, h, w)

    def _step_with_flow(self, lr_and_flow: torch.Tensor, state: FRVSRState | None) -> tuple[torch.Tensor, FRVSRState]:
        lr_cur, flow_lr_px = lr_and_flow[:, :3], lr_and_flow[:, 3:]
        hr_prev_depth = self.zero_estimate(lr_cur) if state is None else self.warp_previous(state.hr, flow_lr_px)
        hr_cur = self.reconstruct(lr_cur, hr_prev_depth)
        return hr_cur, FRVSRState(lr_cur, hr_cur)

    def step(self, lr_cur: torch.Tensor, state: FRVSRState | None = None) -> tuple[torch.Tensor, FRVSRState]:
        """One frame: ``lr_cur`` (B, 3, H, W) RGB [0, 1] -> (hr_cur (B, 3, sH, sW), new state).
        ``state=None`` starts a sequence (zero previous estimate)."""
        _check_frames(lr_cur, 4, "lr_cur")
        if state is None:
            return self._step_with_flow(torch.cat([lr_cur, lr_cur.new_zeros(lr_cur.shape[0], 2, *lr_cur.shape[-2:])], 1), None)
        flow_lr_px = self.flow(state.lr, lr_cur)
        return self._step_with_flow(torch.cat([lr_cur, flow_lr_px], 1), state)

    def forward(self, lr_seq: torch.Tensor, state: FRVSRState | None = None, tbptt: int | None = None) -> FRVSROutput:
        """A clip ``lr_seq`` (B, T, 3, H, W) RGB [0, 1] -> :class:`FRVSROutput`.

        ``tbptt``: detach the carried state every ``tbptt`` frames (gradients reach back at most that
        far); FNet's flows keep their gradients from every frame's loss.
        """
        _check_frames(lr_seq, 5, "lr_seq")
        b, t, c, h, w = lr_seq.shape
        prev = lr_seq[:, :-1] if state is None else torch.cat([state.lr[:, None], lr_seq[:, :-1]], 1)
        cur = lr_seq[:, 1:] if state is None else lr_seq
        flows = []
        if cur.shape[1]:
            flows.append(self.flow(prev.flatten(0, 1), cur.flatten(0, 1)).reshape(b, -1, 2, h, w))
        if state is None:
            flows.insert(0, lr_seq.new_zeros(b, 1, 2, h, w))
        flow_lr_px = torch.cat(flows, 1)
        hr, state = run_sequence(self._step_with_flow, torch.cat([lr_seq, flow_lr_px], 2), state, tbptt=tbptt)
        return FRVSROutput(hr, flow_lr_px, state)


PAPER_10_128 = FRVSRConfig(num_blocks=10, channels=128)
PAPER_3_64 = FRVSRConfig(num_blocks=3, channels=64)
SHIPPED_X4 = FRVSRConfig(num_blocks=5, channels=48, fnet_channels=(16, 32, 64, 128), upsample="espcn")


@register_model("frvsr-10-128")
def frvsr_10_128(**overrides) -> FRVSR:
    """The paper's FRVSR 10-128: SRNet with 10 residual blocks of 128 channels, the full FNet."""
    return FRVSR(make_config(PAPER_10_128, overrides))


@register_model("frvsr-3-64")
def frvsr_3_64(**overrides) -> FRVSR:
    """The paper's FRVSR 3-64: SRNet with 3 residual blocks of 64 channels, the full FNet."""
    return FRVSR(make_config(PAPER_3_64, overrides))


@register_model("frvsr-x4")
def frvsr_x4(**overrides) -> FRVSR:
    """The shipped CPU model (0.69 M parameters): SRNet with 5 residual blocks of 48 channels and an
    ESPCN output (no convolution at HR resolution), FNet at half width (16–128): 0.28 M multiply-adds
    per LR pixel against FRVSR 3-64's 0.59 M and 10-128's 3.9 M, for about 1 frame/s at 1280×720
    output on one CPU thread."""
    return FRVSR(make_config(SHIPPED_X4, overrides))
