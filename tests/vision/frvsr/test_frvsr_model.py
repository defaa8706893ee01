"""FRVSR model: shapes, grid conventions, zero motion, streaming == whole clip, gradients, losses."""

import pytest
import torch
import torch.nn.functional as F

from recurrent.registry import count_params, get_model
from recurrent.warp import space_to_depth, warp
from vision.frvsr.loss import FlowWarpLoss, FRVSRLoss
from vision.frvsr.model import (
    FRVSR,
    FRVSRConfig,
    _cubic,
    frvsr_3_64,
    frvsr_10_128,
    frvsr_x4,
    upsample_lr,
)

TINY = dict(num_blocks=1, channels=8, fnet_channels=(4, 4, 8, 8))


def tiny(**overrides) -> FRVSR:
    torch.manual_seed(0)
    return frvsr_x4(**{**TINY, **overrides}).eval()


def test_builders_and_parameter_counts():
    assert count_params(frvsr_10_128()) == 5_054_693  # FNet 1.75 M + SRNet 3.31 M
    assert count_params(frvsr_3_64()) == 2_072_101
    assert count_params(frvsr_x4()) == 688_002
    assert get_model("frvsr-x4", num_blocks=2).config.num_blocks == 2
    with pytest.raises(ValueError, match="power of 2"):
        FRVSR(FRVSRConfig(scale=3))


@pytest.mark.parametrize("upsample", ["deconv", "pixelshuffle", "espcn"])
@pytest.mark.parametrize("size", [(8, 16), (13, 19)])  # odd sizes: FNet pads to a multiple of 8 inside
def test_shapes(upsample, size):
    model = tiny(upsample=upsample)
    h, w = size
    out = model(torch.rand(2, 3, 3, h, w))
    assert out.hr.shape == (2, 3, 3, 4 * h, 4 * w)
    assert out.flow_lr_px.shape == (2, 3, 2, h, w)
    assert out.state.lr.shape == (2, 3, h, w) and out.state.hr.shape == (2, 3, 4 * h, 4 * w)
    assert torch.equal(out.flow_lr_px[:, 0], torch.zeros(2, 2, h, w))
    hr, state = model.step(torch.rand(1, 3, h, w))
    assert hr.shape == (1, 3, 4 * h, 4 * w)


def test_bad_shapes():
    model = tiny()
    with pytest.raises(ValueError, match=r"RGB \(B, T, 3, H, W\)"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"RGB \(B, 3, H, W\)"):
        model.step(torch.rand(1, 1, 8, 8))


def test_flow_is_bounded_and_starts_near_zero():
    model = tiny()
    flow = model.flow(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    assert flow.abs().max() < 1.0  # small output init: training starts from near-identity warps
    model.fnet.head[-1].bias.data.fill_(100.0)
    assert model.flow(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)).max() <= model.config.max_flow_px


def test_upsample_lr_grids():
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    up = upsample_lr(x, 4, "BD")
    assert up.shape == (2, 3, 20, 28)
    torch.testing.assert_close(up[..., ::4, ::4], x)  # BD: LR pixel i sits on HR pixel 4i
    # every HR pixel 4i + d interpolates LR position i + d/4 with Keys' cubic (a = -0.75), edges replicated
    small = torch.rand(3, 4, dtype=torch.float64)
    expected = torch.zeros(12, 16, dtype=torch.float64)
    for row in range(12):
        for col in range(16):
            for k in range(-1, 3):
                for m in range(-1, 3):
                    weight = _cubic((row % 4) / 4 - k) * _cubic((col % 4) / 4 - m)
                    expected[row, col] += weight * small[min(max(row // 4 + k, 0), 2), min(max(col // 4 + m, 0), 3)]
    torch.testing.assert_close(upsample_lr(small[None, None], 4, "BD")[0, 0], expected)
    constant = torch.full((1, 3, 4, 4), 0.3, dtype=torch.float64)
    torch.testing.assert_close(upsample_lr(constant, 4, "BD"), torch.full((1, 3, 16, 16), 0.3, dtype=torch.float64))
    torch.testing.assert_close(upsample_lr(x, 4, "BI"), F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False))


def test_zero_motion_warps_to_identity():
    """With FNet's output forced to zero, each step sees its previous estimate unmoved."""
    model = tiny()
    model.fnet.head[-1].weight.data.zero_()
    frame = torch.rand(1, 3, 8, 8)
    out = model(frame[:, None].expand(1, 4, 3, 8, 8).contiguous())
    assert torch.equal(out.flow_lr_px, torch.zeros_like(out.flow_lr_px))
    for t in range(1, 4):
        previous = space_to_depth(out.hr[:, t - 1], 4)
        torch.testing.assert_close(model.warp_previous(out.hr[:, t - 1], out.flow_lr_px[:, t]), previous)
        torch.testing.assert_close(out.hr[:, t], model.reconstruct(frame, previous))
    torch.testing.assert_close(out.hr[:, 0], model.reconstruct(frame, torch.zeros(1, 48, 8, 8)))


def test_streaming_step_equals_whole_clip():
    model = tiny().double()
    clip = torch.rand(2, 5, 3, 8, 16, dtype=torch.float64)
    whole = model(clip)
    state, frames = None, []
    for t in range(5):
        hr, state = model.step(clip[:, t], state)
        frames.append(hr)
    torch.testing.assert_close(torch.stack(frames, 1), whole.hr)
    first = model(clip[:, :2])
    second = model(clip[:, 2:], state=first.state)  # chunked with the carried state
    torch.testing.assert_close(torch.cat([first.hr, second.hr], 1), whole.hr)
    torch.testing.assert_close(torch.cat([first.flow_lr_px, second.flow_lr_px], 1), whole.flow_lr_px)
    torch.testing.assert_close(model(clip, tbptt=2).hr, whole.hr)  # truncation changes gradients only


def test_gradients_reach_every_parameter():
    model = tiny().train()
    clip = torch.rand(2, 3, 3, 8, 8)
    target = torch.rand(2, 3, 3, 32, 32)
    out = model(clip)
    loss, parts = FRVSRLoss()(out.hr, target, clip, out.flow_lr_px)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert set(parts) == {"sr", "flow"}


def test_tbptt_cuts_gradients_through_the_state():
    model = tiny().double()
    clip = torch.rand(1, 4, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    model(clip, tbptt=2).hr[:, 3].sum().backward()
    assert clip.grad[:, 0].abs().sum() == 0  # frame 0 only reaches frame 3 through the cut state
    assert clip.grad[:, 2].abs().sum() > 0


def test_gradcheck_through_a_step():
    model = tiny(num_blocks=1, channels=4).double()
    clip = torch.rand(1, 2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(x).hr, (clip,), eps=1e-6, atol=1e-4, fast_mode=True)


def test_flow_loss_zero_for_identical_frames_and_matched_shift():
    loss = FlowWarpLoss()
    frame = torch.rand(1, 3, 10, 12)
    still = frame[:, None].expand(1, 3, 3, 10, 12)
    assert loss(still, torch.zeros(1, 3, 2, 10, 12)) < 1e-12  # zero flow warps to identity (up to rounding)
    moved = torch.stack([frame, torch.roll(frame, shifts=-2, dims=-1)], 1)  # content moves 2 px left
    flow = torch.zeros(1, 2, 2, 10, 12)
    assert loss(moved, flow) > 0.01
    flow[:, 1, 0] = 2.0  # current pixel x comes from previous x + 2
    inner = (..., slice(None), slice(0, 9))
    torch.testing.assert_close(warp(moved[:, 0], flow[:, 1])[inner], moved[:, 1][inner])
    assert loss(torch.rand(1, 1, 3, 4, 4), torch.zeros(1, 1, 2, 4, 4)) == 0  # one frame: no pairs


def test_sr_loss_variants():
    pred, true = torch.rand(1, 2, 3, 8, 8), torch.rand(1, 2, 3, 8, 8)
    lr, flow = torch.rand(1, 2, 3, 2, 2), torch.zeros(1, 2, 2, 2, 2)
    mse, _ = FRVSRLoss(flow_weight=0.0)(pred, true, lr, flow)
    torch.testing.assert_close(mse, F.mse_loss(pred, true))
    charb, _ = FRVSRLoss(flow_weight=0.0, sr_loss="charbonnier")(pred, pred, lr, flow)
    torch.testing.assert_close(charb, torch.tensor(1e-3))
    with pytest.raises(ValueError):
        FRVSRLoss(sr_loss="l2")
