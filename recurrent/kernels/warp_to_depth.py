"""Triton kernel of :func:`recurrent.warp.warp_to_depth` (forward; contracts there).

One program handles a block of LR pixels of one batch item and writes all ``C·s²`` output channels:
per HR sub-pixel ``(dy, dx)`` it upsamples the LR flow bilinearly (``align_corners=False``, as
``F.interpolate``), scales it by s, clamps the sampling point to the image (``"border"``) and reads
the four neighbours of every channel (``align_corners=True`` pixel centres, as ``grid_sample``).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _bilinear(p00, p01, p10, p11, wx, wy, mask):
    """Bilinear blend of the values at four pointers: rows 0/1 weighted by ``wy``, columns 0/1 by ``wx``."""
    top = (1 - wx) * tl.load(p00, mask=mask, other=0.0).to(tl.float32) + wx * tl.load(p01, mask=mask, other=0.0).to(tl.float32)
    bottom = (1 - wx) * tl.load(p10, mask=mask, other=0.0).to(tl.float32) + wx * tl.load(p11, mask=mask, other=0.0).to(tl.float32)
    return (1 - wy) * top + wy * bottom


@triton.jit
def _warp_to_depth_kernel(
    img_ptr, flow_ptr, out_ptr,
    H, W, h, w, top, left,
    stride_ib, stride_ic, stride_iy, stride_ix, stride_fb, stride_fc, stride_fy, stride_fx,
    C: tl.constexpr, S: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(1).to(tl.int64)
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = p < h * w
    i, j = p // w, p % w
    flow = flow_ptr + b * stride_fb
    img = img_ptr + b * stride_ib
    out = out_ptr + b * (C * S * S * h * w) + p
    for dy in tl.static_range(S):
        src_y = tl.maximum((i * S + dy + 0.5) / S - 0.5, 0.0)
        fy0 = src_y.to(tl.int32)
        fy1 = tl.minimum(fy0 + 1, h - 1)
        ly = src_y - fy0
        for dx in tl.static_range(S):
            src_x = tl.maximum((j * S + dx + 0.5) / S - 0.5, 0.0)
            fx0 = src_x.to(tl.int32)
            fx1 = tl.minimum(fx0 + 1, w - 1)
            lx = src_x - fx0
            f00 = flow + fy0 * stride_fy + fx0 * stride_fx
            f01 = flow + fy0 * stride_fy + fx1 * stride_fx
            f10 = flow + fy1 * stride_fy + fx0 * stride_fx
            f11 = flow + fy1 * stride_fy + fx1 * stride_fx
            u = _bilinear(f00, f01, f10, f11, lx, ly, ok)
            v = _bilinear(f00 + stride_fc, f01 + stride_fc, f10 + stride_fc, f11 + stride_fc, lx, ly, ok)
            x = tl.minimum(tl.maximum(left + j * S + dx + u * S, 0.0), W - 1.0)
            y = tl.minimum(tl.maximum(top + i * S + dy + v * S, 0.0), H - 1.0)
            x0, y0 = x.to(tl.int32), y.to(tl.int32)
            x1, y1 = tl.minimum(x0 + 1, W - 1), tl.minimum(y0 + 1, H - 1)
            wx, wy = x - x0, y - y0
            for c in tl.static_range(C):
                plane = img + c * stride_ic
                value = _bilinear(
                    plane + y0 * stride_iy + x0 * stride_ix, plane + y0 * stride_iy + x1 * stride_ix,
                    plane + y1 * stride_iy + x0 * stride_ix, plane + y1 * stride_iy + x1 * stride_ix, wx, wy, ok,
                )  # fmt: skip
                tl.store(out + ((c * S + dy) * S + dx) * h * w, value.to(out_ptr.dtype.element_ty), mask=ok)


def warp_to_depth_triton(
    image: torch.Tensor, flow_lr_px: torch.Tensor, scale: int, offset: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    batch, channels, height, width = image.shape
    h, w = flow_lr_px.shape[-2:]
    out = image.new_empty(batch, channels * scale * scale, h, w)
    block = 128
    _warp_to_depth_kernel[(triton.cdiv(h * w, block), batch)](
        image, flow_lr_px, out,
        height, width, h, w, offset[0], offset[1],
        *image.stride(), *flow_lr_px.stride(),
        C=channels, S=scale, BLOCK=block,
    )  # fmt: skip
    return out
