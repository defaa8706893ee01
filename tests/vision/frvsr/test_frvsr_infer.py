"""Streaming inference: tiled == untiled, exact warps from outside the tile, blend weights, uint8 path, errors."""

import numpy as np
import pytest
import torch

from vision.frvsr.infer import Upscaler, _ramp, tile_spans
from vision.frvsr.model import frvsr_x4


def moving_model(**overrides):
    """A tiny random model whose FNet gives varied flows of a pixel or two."""
    torch.manual_seed(0)
    model = frvsr_x4(**{"num_blocks": 2, "channels": 8, "fnet_channels": (4, 4, 8, 8), **overrides}).eval()
    model.fnet.head[-1].weight.data.mul_(100)
    return model


def run(upscaler, frames):
    return [upscaler.upscale(frame) for frame in frames]


@pytest.mark.parametrize("tile, pad, atol", [(16, 16, 1e-4), (24, 8, 1e-3), (32, 32, 1e-4)])
def test_tiled_equals_untiled(tile, pad, atol):
    model = moving_model()
    torch.manual_seed(1)
    frames = torch.rand(4, 1, 3, 40, 56)
    whole = run(Upscaler(model), frames)
    tiled = run(Upscaler(model, tile=tile, pad=pad), frames)
    assert model.flow(frames[0], frames[1]).abs().max() > 0.5  # the warps do move pixels
    for a, b in zip(whole, tiled, strict=True):
        assert a.shape == b.shape == (1, 3, 160, 224)
        torch.testing.assert_close(b, a, atol=atol, rtol=0)


def test_large_motion_is_fetched_from_outside_the_tile_exactly():
    """A constant flow of (+20, -17) LR px: tiles warp pixels from far outside themselves."""
    model = moving_model()
    model.fnet.head[-1].weight.data.zero_()
    model.fnet.head[-1].bias.data = torch.tensor([np.arctanh(20 / 24), np.arctanh(-17 / 24)], dtype=torch.float32)
    frames = torch.rand(3, 1, 3, 48, 64)
    assert torch.allclose(model.flow(frames[0], frames[1])[0, :, 10, 10], torch.tensor([20.0, -17.0]), atol=1e-4)
    whole = run(Upscaler(model), frames)
    tiled = run(Upscaler(model, tile=16, pad=8), frames)
    for a, b in zip(whole, tiled, strict=True):
        torch.testing.assert_close(b, a, atol=5e-5, rtol=0)  # float rounding of the offset coordinates


@pytest.mark.parametrize("size, tile, pad", [(64, 16, 16), (72, 32, 8), (40, 16, 0)])
def test_blend_weights_sum_to_one(size, tile, pad):
    total = torch.zeros(size * 4)
    for span in tile_spans(size, tile, pad):
        weights = _ramp((span[3] - span[2]) * 4, 4, span, size, pad)
        if span[0] > 0:
            assert weights[: (span[0] - span[2] - pad // 2) * 4].sum() == 0  # the outer pad/2 is never used
        total[span[2] * 4 : span[3] * 4] += weights
    torch.testing.assert_close(total, torch.ones(size * 4))


def test_streaming_upscaler_equals_the_whole_clip_forward():
    model = moving_model()
    clip = torch.rand(1, 4, 3, 16, 24)
    expected = model(clip).hr
    upscaler = Upscaler(model)
    got = torch.stack([upscaler.upscale(clip[:, t]) for t in range(4)], 1)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    upscaler.reset()
    torch.testing.assert_close(upscaler.upscale(clip[:, 0]), expected[:, 0], atol=1e-5, rtol=0)


def test_uint8_frames_and_odd_sizes():
    upscaler = Upscaler(moving_model(), tile=8, pad=8)
    frame = np.random.default_rng(0).integers(0, 256, (13, 19, 3), dtype=np.uint8)
    for _ in range(2):
        out = upscaler(frame)
        assert out.shape == (52, 76, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="frame size changed"):
        upscaler(frame[:8])
    bgr = np.ascontiguousarray(frame[..., ::-1])
    np.testing.assert_array_equal(Upscaler(moving_model())(bgr[..., ::-1]), Upscaler(moving_model())(frame))  # strides
    for wrong in (frame[..., 0], frame.astype(np.float32) / 255):
        with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB"):
            upscaler(wrong)


def test_errors():
    model = moving_model()
    with pytest.raises(ValueError, match="multiple of 8"):
        Upscaler(model, tile=12)
    with pytest.raises(ValueError, match="pad"):
        Upscaler(model, tile=16, pad=4)
    with pytest.raises(ValueError, match="CUDA"):
        Upscaler(model, fp16=True)
    with pytest.raises(ValueError, match="one RGB frame"):
        Upscaler(model).upscale(torch.rand(3, 8, 8))
