"""Triton kernel of :func:`recurrent.temporal_conv.temporal_conv` (forward; contracts there)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _temporal_conv_kernel(
    x_ptr, w_ptr, out_ptr,
    T, G, left, dilation,
    stride_xb, stride_xc, stride_xt, stride_ob, stride_oc, stride_ot,
    CPG: tl.constexpr, K: tl.constexpr, RESIDUAL: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_G: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(1).to(tl.int64)
    t = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    g = tl.program_id(2) * BLOCK_G + tl.arange(0, BLOCK_G)
    t_ok, g_ok = t < T, g < G
    acc = tl.zeros([BLOCK_T, BLOCK_G], dtype=tl.float32)
    for j in tl.static_range(CPG):
        rows = x_ptr + b * stride_xb + (g * CPG + j)[None, :] * stride_xc
        for k in tl.static_range(K):
            src = t + k * dilation - left
            inside = t_ok & (src >= 0) & (src < T)
            xv = tl.load(rows + src[:, None] * stride_xt, mask=inside[:, None] & g_ok[None, :], other=0.0)
            wv = tl.load(w_ptr + (g * CPG + j) * K + k, mask=g_ok, other=0.0)
            acc += xv.to(tl.float32) * wv.to(tl.float32)[None, :]
    mask = t_ok[:, None] & g_ok[None, :]
    if RESIDUAL:
        here = x_ptr + b * stride_xb + g[None, :] * stride_xc + t[:, None] * stride_xt
        acc += tl.load(here, mask=mask, other=0.0).to(tl.float32)
    out = out_ptr + b * stride_ob + g[None, :] * stride_oc + t[:, None] * stride_ot
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=mask)


def temporal_conv_triton(
    x: torch.Tensor, weight: torch.Tensor, dilation: int = 1, causal: bool = False, residual: bool = False
) -> torch.Tensor:
    batch, _, length = x.shape
    groups, per_group, taps = weight.shape
    channels_last = x.stride(1) == 1
    strides = (length * groups, 1, groups) if channels_last else (groups * length, length, 1)
    out = torch.empty_strided((batch, groups, length), strides, dtype=x.dtype, device=x.device)
    span = dilation * (taps - 1)
    block_t, block_g = (16, 64) if channels_last else (128, 1)
    grid = (triton.cdiv(length, block_t), batch, triton.cdiv(groups, block_g))  # long axis first: no 65,535 limit
    _temporal_conv_kernel[grid](
        x, weight.contiguous(), out,
        length, groups, span if causal else span // 2, dilation,
        *x.stride(), *out.stride(),
        CPG=per_group, K=taps, RESIDUAL=residual, BLOCK_T=block_t, BLOCK_G=block_g,
    )  # fmt: skip
    return out
