"""Streaming FRVSR inference, whole-frame or in overlapping tiles with bounded memory.

:class:`Upscaler` takes frames one at a time and carries the recurrent state, so memory does not grow
with the video's length. With ``tile`` set, each frame is cut into tiles of ``tile``² LR pixels that
each see ``pad`` extra LR pixels of context on every side; the recurrent state stays **whole-frame**
(the previous LR frame and the previous full HR estimate), because the warp can fetch previous-estimate
pixels from up to ``max_flow_px`` LR pixels outside a tile:

* FNet and SRNet run on the tile with its context (the previous LR frame cropped the same way);
* the warp samples the full previous estimate at the tile's offset (:func:`recurrent.warp.warp_to_depth`),
  however far FNet's flow reaches outside the tile, which gives exactly the untiled warp;
* tile outputs are blended with a window that is 1 over the tile, ramps linearly across a band of
  ``pad`` LR pixels centred on each seam, and 0 in the outer ``pad / 2`` (where the tile's own border
  effects are): neighbouring ramps sum to 1.

Tiles start at multiples of FNet's pooling factor (8) so max-pooling sees the same windows as untiled;
the frame is first padded (replicate) to a multiple of 8 in both modes and the output cropped back.
Away from the frame's borders tiled and untiled outputs agree within the influence of context beyond
``pad`` (``tests/vision/frvsr/test_frvsr_infer.py`` measures it).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from recurrent.compile import compile_for
from vision.frvsr.model import FRVSR, FRVSRState


def tile_spans(size: int, tile: int, pad: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis of ``size`` LR pixels: ``(core_start, core_end, input_start, input_end)``,
    cores partitioning ``[0, size)``, inputs the cores widened by ``pad`` and clipped to the frame."""
    spans = []
    for start in range(0, size, tile):
        end = min(start + tile, size)
        spans.append((start, end, max(start - pad, 0), min(end + pad, size)))
    return spans


def _ramp(size_hr: int, scale: int, span: tuple[int, int, int, int], total: int, pad: int) -> torch.Tensor:
    """Blend weights along one axis of a tile's HR output (module docstring)."""
    core_start, core_end, in_start, _ = span
    u = in_start + (torch.arange(size_hr, dtype=torch.float32) + 0.5) / scale  # LR position of each HR pixel
    weight = torch.ones(size_hr)
    if core_start > 0:
        weight *= ((u - (core_start - pad / 2)) / pad).clamp(0, 1) if pad else (u >= core_start).float()
    if core_end < total:
        weight *= (((core_end + pad / 2) - u) / pad).clamp(0, 1) if pad else (u < core_end).float()
    return weight


class Upscaler:
    """Stream frames through an FRVSR model; call :meth:`reset` between videos.

    Args:
        model: an :class:`~vision.frvsr.model.FRVSR` (put in eval mode here).
        device: where to run.
        tile: tile size in LR (input) pixels, a multiple of 8; ``None`` or 0: whole frames.
        pad: context around each tile in LR pixels, a multiple of 8.
        fp16: float16 autocast (CUDA only).
        compile: run whole-frame steps through :func:`recurrent.compile.compile_for` (CUDA graphs on
            CUDA; the first frames pay the compilation).
    """

    def __init__(
        self,
        model: FRVSR,
        device: str | torch.device = "cpu",
        tile: int | None = None,
        pad: int = 16,
        fp16: bool = False,
        compile: bool = False,
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        self.scale = model.scale
        m = model.fnet.multiple
        if tile and (tile < m or tile % m):
            raise ValueError(f"tile must be a positive multiple of {m} LR pixels, got {tile}")
        if pad < 0 or pad % m:
            raise ValueError(f"pad must be a non-negative multiple of {m} LR pixels, got {pad}")
        if fp16 and self.device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device")
        self.tile, self.pad, self.fp16, self.multiple = tile or None, pad, fp16, m
        self.state: FRVSRState | None = None
        self._step = compile_for(self.model.step, self.device) if compile else self.model.step

    def reset(self) -> None:
        self.state = None

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.fp16 else contextlib.nullcontext()

    @torch.inference_mode()
    def upscale(self, lr: torch.Tensor) -> torch.Tensor:
        """One frame (1, 3, H, W) RGB in [0, 1] -> (1, 3, sH, sW) float32, not clamped."""
        if lr.ndim != 4 or lr.shape[:2] != (1, 3):
            raise ValueError(f"expected one RGB frame (1, 3, H, W), got {tuple(lr.shape)}")
        h, w = lr.shape[-2:]
        lr = lr.to(self.device, torch.float32)
        m = self.multiple
        lr = F.pad(lr, (0, -w % m, 0, -h % m), mode="replicate").contiguous(memory_format=torch.channels_last)
        if self.state is not None and self.state.lr.shape != lr.shape:
            raise ValueError(f"frame size changed from {tuple(self.state.lr.shape[-2:])} to {tuple(lr.shape[-2:])}; call reset()")
        with self._autocast():
            if self.tile is None or (lr.shape[-2] <= self.tile and lr.shape[-1] <= self.tile):
                hr, self.state = self._step(lr, self.state)
            else:
                hr = self._tiled(lr)
                self.state = FRVSRState(lr, hr)
        return hr[..., : h * self.scale, : w * self.scale].float()

    def _tiled(self, lr: torch.Tensor) -> torch.Tensor:
        s, model, pad = self.scale, self.model, self.pad
        hp, wp = lr.shape[-2:]
        out = lr.new_zeros(1, 3, hp * s, wp * s)
        total = lr.new_zeros(1, 1, hp * s, wp * s)
        for ys in tile_spans(hp, self.tile, pad):
            for xs in tile_spans(wp, self.tile, pad):
                y0, y1, x0, x1 = ys[2], ys[3], xs[2], xs[3]
                lr_cur = lr[..., y0:y1, x0:x1]
                if self.state is None:
                    hr_prev_depth = model.zero_estimate(lr_cur)
                else:
                    flow_lr_px = model.flow(self.state.lr[..., y0:y1, x0:x1], lr_cur)
                    hr_prev_depth = model.warp_previous(self.state.hr, flow_lr_px, (y0 * s, x0 * s))
                hr = model.reconstruct(lr_cur, hr_prev_depth).float()
                weight = _ramp(hr.shape[-2], s, ys, hp, pad).to(hr)[:, None] * _ramp(hr.shape[-1], s, xs, wp, pad).to(hr)[None]
                out[..., y0 * s : y1 * s, x0 * s : x1 * s] += hr * weight
                total[..., y0 * s : y1 * s, x0 * s : x1 * s] += weight
        return out / total

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (sH, sW, 3) uint8 RGB (any strides: ``bgr[..., ::-1]`` is fine)."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.dtype} {frame.shape}")
        lr = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).permute(2, 0, 1)[None].float().div_(255)
        hr = self.upscale(lr)
        return hr[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
