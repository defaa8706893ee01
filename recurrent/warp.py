"""Dense-flow warping and flow resizing, in pixel units.

Conventions shared by every function here:

* flow is ``(B, 2, H, W)`` in **pixels**, channel order ``(x, y)``: ``flow[:, 0]`` moves along
  columns (width), ``flow[:, 1]`` along rows (height);
* pixel ``(x, y)`` is the centre of column ``x`` and row ``y``; sampling uses the
  ``align_corners=True`` convention, so pixel 0 and pixel ``W - 1`` are the first and last centres.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from kornia.geometry.transform import remap
from kornia.utils import create_meshgrid

from recurrent.backend import FusedForward, use_fused


def warp(
    image: torch.Tensor, flow_px: torch.Tensor, padding_mode: Literal["border", "zeros"] = "border"
) -> torch.Tensor:
    r"""Backward-warp an image or feature map by a dense flow in pixels.

    .. math:: \text{out}(p) = \text{image}(p + \text{flow}(p))

    sampled bilinearly (``align_corners=True``). With ``flow_px`` the flow from frame ``t`` to frame
    ``t-1``, ``warp(frame_prev, flow_px)`` brings frame ``t-1`` into the pixel grid of frame ``t``.

    Args:
        image: (B, C, H, W) image or features to sample from.
        flow_px: (B, 2, H, W) displacement in pixels, channels ``(x, y)``; any float dtype (sampling
            runs in at least float32).
        padding_mode: value of samples that fall outside the image: ``"border"`` repeats the
            nearest edge pixel, ``"zeros"`` reads zeros (bilinear weights still blend the edge pixel
            with zero within one pixel outside).

    Returns:
        (B, C, H, W) warped image, same dtype as ``image``.
    """
    if image.ndim != 4 or flow_px.ndim != 4:
        raise ValueError(f"warp expects (B, C, H, W) image and flow, got {tuple(image.shape)}, {tuple(flow_px.shape)}")
    b, _, h, w = image.shape
    if flow_px.shape != (b, 2, h, w):
        raise ValueError(f"flow must be (B, 2, H, W) = {(b, 2, h, w)} to match the image, got {tuple(flow_px.shape)}")
    if padding_mode not in ("border", "zeros"):
        raise ValueError(f"padding_mode must be 'border' or 'zeros', got {padding_mode!r}")
    return _sample(image, flow_px, (0, 0), padding_mode)


def _sample(image: torch.Tensor, flow_px: torch.Tensor, offset: tuple[int, int], padding_mode: str) -> torch.Tensor:
    """``image`` sampled at ``p + offset + flow(p)`` for p on the flow's grid; offset ``(top, left)`` in pixels.
    Coordinates and sampling are at least float32 whatever the dtypes (bf16 cannot hold pixel positions
    above 256, fp16 loses half pixels above 1024)."""
    h, w = flow_px.shape[-2:]
    work = torch.promote_types(torch.promote_types(image.dtype, flow_px.dtype), torch.float32)
    grid = create_meshgrid(h, w, normalized_coordinates=False, device=flow_px.device, dtype=work)
    top, left = offset
    coords = grid + flow_px.to(work).permute(0, 2, 3, 1)  # (B, H, W, 2) as (x, y)
    out = remap(image.to(work), coords[..., 0] + left, coords[..., 1] + top, padding_mode=padding_mode, align_corners=True)
    return out.to(image.dtype)


def upsample_flow(flow_px: torch.Tensor, scale: int, align_corners: bool = False) -> torch.Tensor:
    """Resize a pixel-unit flow field by an integer factor: bilinear resampling, vectors times ``scale``.

    Args:
        flow_px: (B, 2, H, W) flow in pixels of the low-resolution grid, channels ``(x, y)``.
        scale: integer factor >= 1.
        align_corners: grid convention of the resampling. ``False`` (default) treats pixels as
            areas, matching ``F.pixel_shuffle`` / ``F.interpolate`` image upscaling (FRVSR);
            ``True`` pins the corner pixels (RAFT's ``upflow8``).

    Returns:
        (B, 2, scale·H, scale·W) flow in pixels of the high-resolution grid.
    """
    if flow_px.ndim != 4 or flow_px.shape[1] != 2:
        raise ValueError(f"upsample_flow expects (B, 2, H, W), got {tuple(flow_px.shape)}")
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    h, w = flow_px.shape[-2:]
    up = F.interpolate(flow_px, size=(h * scale, w * scale), mode="bilinear", align_corners=align_corners)
    return up * scale


def space_to_depth(x: torch.Tensor, block: int) -> torch.Tensor:
    """Fold ``block × block`` spatial cells into channels (``F.pixel_unshuffle``; inverse ``F.pixel_shuffle``).

    Output channel ``c·block² + dy·block + dx`` holds ``x[:, c, block·i + dy, block·j + dx]`` at
    position ``(i, j)`` (FRVSR's space-to-depth of the warped high-resolution estimate).

    Args:
        x: (B, C, H, W) with H and W divisible by ``block``.
        block: cell size >= 1.

    Returns:
        (B, C·block², H / block, W / block).
    """
    if x.ndim != 4 or x.shape[-2] % block or x.shape[-1] % block:
        raise ValueError(f"space_to_depth expects (B, C, H, W) with H, W divisible by {block}, got {tuple(x.shape)}")
    return F.pixel_unshuffle(x, block)


def warp_to_depth_reference(
    image: torch.Tensor, flow_lr_px: torch.Tensor, scale: int, offset: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """PyTorch reference of :func:`warp_to_depth` (the flow is upsampled in at least float32, as it is sampled)."""
    flow_hr_px = upsample_flow(flow_lr_px.to(torch.promote_types(flow_lr_px.dtype, torch.float32)), scale)
    return space_to_depth(_sample(image, flow_hr_px, offset, "border"), scale)


def warp_to_depth(
    image: torch.Tensor, flow_lr_px: torch.Tensor, scale: int, offset: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """FRVSR's recurrent input in one pass: upsample the LR flow, backward-warp the HR image, space-to-depth.

    Equal to ``space_to_depth(warp(image, upsample_flow(flow_lr_px, scale)), scale)`` when ``offset`` is
    ``(0, 0)`` and the image matches the flow's HR grid. With an ``offset = (top, left)`` (HR pixels) the
    flow's grid is a tile of ``image`` starting there, and samples are read from the whole image with
    ``"border"`` padding at *its* edges — a tile warped exactly as if the whole frame had been warped.
    Fused on CUDA (one Triton kernel; no HR flow, coordinate grid or warped image in memory), PyTorch
    elsewhere; see :mod:`recurrent.backend`.

    Args:
        image: (B, C, H_img, W_img) previous high-resolution estimate.
        flow_lr_px: (B, 2, h, w) flow in LR pixels, channels ``(x, y)``, on the LR grid of the tile.
        scale: integer factor s; the tile covers HR rows ``top .. top + s·h`` and columns ``left .. left + s·w``.
        offset: ``(top, left)`` of the tile in ``image``, HR pixels.

    Returns:
        (B, C·s², h, w), channel ``c·s² + dy·s + dx`` as in :func:`space_to_depth`; dtype of ``image``.
    """
    if image.ndim != 4 or flow_lr_px.ndim != 4 or flow_lr_px.shape[1] != 2 or image.shape[0] != flow_lr_px.shape[0]:
        raise ValueError(f"warp_to_depth expects image (B, C, H, W) and flow (B, 2, h, w), got {tuple(image.shape)}, {tuple(flow_lr_px.shape)}")
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    if not use_fused(image, flow_lr_px):
        return warp_to_depth_reference(image, flow_lr_px, scale, offset)
    from recurrent.kernels.warp_to_depth import warp_to_depth_triton

    options = {"scale": scale, "offset": tuple(offset)}
    return FusedForward.apply(warp_to_depth_triton, warp_to_depth_reference, options, image, flow_lr_px)
