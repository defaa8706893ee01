import pytest
import torch
import torch.nn.functional as F

from recurrent.backend import backend
from recurrent.warp import space_to_depth, upsample_flow, warp, warp_to_depth


def test_zero_flow_is_identity():
    image = torch.rand(2, 3, 5, 7)
    out = warp(image, torch.zeros(2, 2, 5, 7))
    assert out.shape == image.shape
    torch.testing.assert_close(out, image)


@pytest.mark.parametrize("dx, dy", [(1, 0), (0, 2), (-2, 1)])
def test_integer_flow_is_a_shift_away_from_borders(dx, dy):
    image = torch.rand(1, 2, 9, 11, dtype=torch.float64)
    flow = torch.zeros(1, 2, 9, 11, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = dx, dy
    out = warp(image, flow)
    # out(y, x) = image(y + dy, x + dx)  <=>  roll by (-dy, -dx)
    expected = torch.roll(image, shifts=(-dy, -dx), dims=(-2, -1))
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    torch.testing.assert_close(out[inner], expected[inner])


def test_padding_modes_outside_the_image():
    image = torch.rand(1, 1, 4, 4) + 1.0
    flow = torch.zeros(1, 2, 4, 4)
    flow[:, 0] = 10.0  # every sample far to the right of the image
    torch.testing.assert_close(warp(image, flow, "border"), image[..., -1:].expand(-1, -1, -1, 4))
    assert torch.equal(warp(image, flow, "zeros"), torch.zeros_like(image))


def test_half_pixel_flow_averages_neighbours():
    image = torch.arange(6.0).view(1, 1, 1, 6).expand(1, 1, 3, 6).contiguous()
    flow = torch.zeros(1, 2, 3, 6)
    flow[:, 0] = 0.5
    torch.testing.assert_close(warp(image, flow)[..., :-1], image[..., :-1] + 0.5)


def test_warp_errors():
    with pytest.raises(ValueError, match="match the image"):
        warp(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 5))
    with pytest.raises(ValueError, match="padding_mode"):
        warp(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 4), padding_mode="reflection")


def test_warp_gradcheck():
    torch.manual_seed(0)
    image = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    flow = (torch.rand(1, 2, 4, 5, dtype=torch.float64) - 0.5).requires_grad_()  # non-integer samples
    assert torch.autograd.gradcheck(warp, (image, flow))
    assert torch.autograd.gradcheck(lambda i, f: warp(i, f, "zeros"), (image, flow))


def test_upsample_constant_flow_scales_the_value():
    flow = torch.empty(2, 2, 3, 4)
    flow[:, 0], flow[:, 1] = 1.5, -0.25
    for align_corners in (False, True):
        up = upsample_flow(flow, 4, align_corners=align_corners)
        assert up.shape == (2, 2, 12, 16)
        torch.testing.assert_close(up[:, 0], torch.full((2, 12, 16), 6.0))
        torch.testing.assert_close(up[:, 1], torch.full((2, 12, 16), -1.0))


def test_upsample_flow_gradcheck_and_errors():
    flow = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: upsample_flow(f, 2), (flow,))
    with pytest.raises(ValueError):
        upsample_flow(torch.rand(1, 3, 4, 4), 2)
    with pytest.raises(ValueError):
        upsample_flow(torch.rand(1, 2, 4, 4), 0)


def test_space_to_depth_channel_order_and_inverse():
    x = torch.rand(2, 3, 4, 6)
    y = space_to_depth(x, 2)
    assert y.shape == (2, 12, 2, 3)
    c, dy, dx, i, j = 1, 1, 0, 1, 2
    assert y[0, c * 4 + dy * 2 + dx, i, j] == x[0, c, 2 * i + dy, 2 * j + dx]
    torch.testing.assert_close(F.pixel_shuffle(y, 2), x)
    with pytest.raises(ValueError):
        space_to_depth(torch.rand(1, 1, 5, 4), 2)


def test_warp_under_bf16_autocast():
    image, flow = torch.rand(1, 3, 8, 8), torch.rand(1, 2, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = warp(image, flow)
        up = upsample_flow(flow, 2)
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert up.shape == (1, 2, 16, 16)


def test_warp_to_depth_is_warp_then_space_to_depth():
    torch.manual_seed(0)
    image, flow = torch.rand(2, 3, 24, 32), torch.randn(2, 2, 6, 8) * 3
    expected = space_to_depth(warp(image, upsample_flow(flow, 4)), 4)
    torch.testing.assert_close(warp_to_depth(image, flow, 4), expected)


def test_warp_to_depth_of_a_tile_equals_the_crop_of_the_whole_warp():
    """A tile's flow placed into a whole-frame flow: the tile reads the same far-away pixels."""
    torch.manual_seed(0)
    image, tile_flow = torch.rand(1, 3, 40, 48), torch.randn(1, 2, 4, 4) * 6
    whole_flow = torch.zeros(1, 2, 40, 48)
    whole_flow[..., 12:28, 20:36] = upsample_flow(tile_flow, 4)
    expected = space_to_depth(warp(image, whole_flow)[..., 12:28, 20:36], 4)
    torch.testing.assert_close(warp_to_depth(image, tile_flow, 4, offset=(12, 20)), expected)


@pytest.mark.parametrize("scale, offset", [(4, (0, 0)), (2, (6, 3)), (3, (0, 9))])
def test_fused_warp_to_depth_equals_reference_forward_and_backward(scale, offset):
    torch.manual_seed(scale)
    image = torch.rand(2, 3, 30, 36)
    flow = torch.randn(2, 2, 5, 7) * 4
    results = []
    for name in ("torch", "triton"):
        im, fl = image.clone().requires_grad_(), flow.clone().requires_grad_()
        with backend(name):
            out = warp_to_depth(im, fl, scale, offset)
        out.backward(torch.sin(torch.arange(out.numel(), dtype=out.dtype)).view_as(out))
        results.append((out, im.grad, fl.grad))
    for fused, reference in zip(results[1], results[0]):
        torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-4)


def test_warp_to_depth_errors():
    with pytest.raises(ValueError, match="warp_to_depth expects"):
        warp_to_depth(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 2, 2), 4)
    with pytest.raises(ValueError, match="positive"):
        warp_to_depth(torch.rand(1, 3, 8, 8), torch.rand(1, 2, 2, 2), 0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_warps_keep_pixel_positions_exact_on_wide_images(dtype):
    """bf16 cannot hold x = 1,000 + 0.3: coordinates must be built in float32 whatever the image dtype."""
    image = (torch.arange(1920) % 2).float().expand(1, 1, 4, 1920).contiguous()
    flow = torch.zeros(1, 2, 4, 1920)
    flow[:, 0] = 0.3
    expected = warp(image, flow)
    torch.testing.assert_close(warp(image.to(dtype), flow.to(dtype)).float(), expected, atol=1e-2, rtol=0)
