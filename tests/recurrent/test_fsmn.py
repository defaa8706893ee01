import pytest
import torch
import torch.nn.functional as F
from torch import nn

from recurrent.fsmn import DilatedDenseFSMN, FFConvM, GatedFSMN, GatedFSMNBlock, UniDeepFSMN


def _support(y: torch.Tensor) -> list[int]:
    """Time indices where (B, C, T) ``y`` is non-zero in any batch / channel."""
    return torch.nonzero(y.abs().amax(dim=(0, 1)) > 0).flatten().tolist()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("lorder, depth", [(3, 1), (3, 2), (2, 3)])
def test_dilated_dense_receptive_field_is_exact(causal, lorder, depth):
    torch.manual_seed(0)
    m = DilatedDenseFSMN(4, lorder, depth, causal=causal, norm_layer=nn.Identity).double()
    past = (lorder - 1) * (2**depth - 1)
    assert m.context == (past, 0 if causal else past)
    t0, T = 30, 61
    x = torch.zeros(1, 4, T, dtype=torch.float64)
    x[:, :, t0] = 1.0
    y = m(x)
    assert y.shape == x.shape
    # output t sees inputs [t - past, t + future], so an impulse at t0 reaches outputs [t0 - future, t0 + past]
    assert _support(y) == list(range(t0 - m.context[1], t0 + m.context[0] + 1))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("depth", [None, 2])
def test_unideep_fsmn_receptive_field(causal, depth):
    torch.manual_seed(0)
    lorder = 3
    m = UniDeepFSMN(4, 6, lorder, depth, causal, norm_layer=nn.Identity).double()
    past = (lorder - 1) * (1 if depth is None else 2**depth - 1)
    t0, T = 20, 41
    x0 = torch.randn(1, T, 4, dtype=torch.float64)
    x1 = x0.clone()
    x1[:, t0] += 3.0 * torch.randn(4, dtype=torch.float64)
    diff = (m(x1) - m(x0)).transpose(1, 2)
    assert _support(diff) == list(range(t0 - (0 if causal else past), t0 + past + 1))


def _future_changes_past(block: nn.Module, t0: int = 9) -> bool:
    x = torch.randn(2, 16, block.dim)
    x2 = x.clone()
    x2[:, t0 + 1 :] += torch.randn_like(x2[:, t0 + 1 :])
    return not torch.equal(block(x)[:, : t0 + 1], block(x2)[:, : t0 + 1])


def test_causal_block_ignores_the_future():
    torch.manual_seed(0)
    assert not _future_changes_past(GatedFSMNBlock(6, 4, lorder=3, causal=True).eval())
    assert _future_changes_past(GatedFSMNBlock(6, 4, lorder=3, causal=False).eval())
    assert not _future_changes_past(GatedFSMNBlock(6, 4, lorder=3, depth=None, causal=True).eval())


def test_default_instance_norm_is_global():
    torch.manual_seed(0)
    m = DilatedDenseFSMN(3, lorder=2, depth=2)
    assert isinstance(m.norms[0], nn.InstanceNorm1d)
    x = torch.randn(1, 3, 40)
    x2 = x.clone()
    x2[..., -1] += 5.0  # far outside the convolutions' context of frame 0
    assert not torch.allclose(m(x)[..., 0], m(x2)[..., 0])


def _official_dilated_dense(x, convs, lorder):
    """Reference in the official layout: (B, C, T, 1) Conv2d kernels (K, 1), pad ``lorder + (d-1)(lorder-1) - 1``."""
    skip = x.unsqueeze(-1)
    for i, conv in enumerate(convs):
        d = 2**i
        pad = lorder + (d - 1) * (lorder - 1) - 1
        w = conv.weight.unsqueeze(-1)  # (C, i+1, K) -> (C, i+1, K, 1)
        out = F.conv2d(F.pad(skip, (0, 0, pad, pad)), w, dilation=(d, 1), groups=w.shape[0])
        out = F.prelu(F.instance_norm(out, eps=1e-5), torch.full((w.shape[0],), 0.25, dtype=x.dtype))
        skip = torch.cat([out, skip], dim=1)
    return out.squeeze(-1)


def test_dilated_dense_matches_official_layout():
    torch.manual_seed(0)
    m = DilatedDenseFSMN(4, lorder=3, depth=3).double()
    x = torch.randn(2, 4, 25, dtype=torch.float64)
    torch.testing.assert_close(m(x), _official_dilated_dense(x, m.convs, lorder=3))
    assert [c.weight.shape[1] for c in m.convs] == [1, 2, 3]


def test_shapes():
    torch.manual_seed(0)
    x = torch.randn(2, 11, 8)
    assert DilatedDenseFSMN(8, 3, 2)(x.transpose(1, 2)).shape == (2, 8, 11)
    assert UniDeepFSMN(8, 12, 3)(x).shape == x.shape
    assert FFConvM(8, 5, kernel_size=5)(x).shape == (2, 11, 5)
    assert GatedFSMN(8, 3, proj_layer=lambda c: nn.Linear(c, c))(x).shape == x.shape
    assert GatedFSMNBlock(8, 4, lorder=3)(x).shape == x.shape


def test_gated_fsmn_is_v_times_fsmn_of_u_plus_x():
    torch.manual_seed(0)
    g = GatedFSMN(5, 3, dropout=0.0)
    x = torch.randn(2, 7, 5)
    torch.testing.assert_close(g(x), g.to_v(x) * g.fsmn(g.to_u(x)) + x)


def test_parameter_count_matches_official_mossformer2():
    # Official Gated_FSMN_Block_Dilated(512): inner 256, lorder 20, DilatedDenseNet depth 2, FFConvM kernel 17.
    #   conv1 512·256+256 = 131328, PReLU 1, 2 CLayerNorm 2·512 = 1024, conv2 256·512+512 = 131584
    #   to_u = to_v = LN 512 + Linear 65792 + depthwise 256·17 = 70656
    #   UniDeepFsmn_dilated: linear 65792 + project 65536 + convs 256·39·(1+2) = 29952
    #                        + InstanceNorm 2·512 + PReLU 2·256 = 162816
    #   total 131328 + 1 + 1024 + 131584 + 2·70656 + 162816 = 568065
    assert sum(p.numel() for p in GatedFSMNBlock(512).parameters()) == 568065
    # non-dilated Gated_FSMN_Block: UniDeepFsmn = 65792 + 65536 + 256·39 = 141312 -> 546561
    assert sum(p.numel() for p in GatedFSMNBlock(512, depth=None).parameters()) == 546561


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    block = GatedFSMNBlock(6, 4, lorder=3)
    x = torch.randn(2, 12, 6, requires_grad=True)
    block(x).square().mean().backward()
    assert x.grad.abs().sum() > 0
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(causal):
    torch.manual_seed(0)
    block = GatedFSMNBlock(3, 2, lorder=2, causal=causal, dropout=0.0).double()
    x = torch.randn(1, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))


def test_errors():
    with pytest.raises(ValueError, match="expects"):
        GatedFSMNBlock(6, 4, lorder=3)(torch.randn(2, 6, 5))
    with pytest.raises(ValueError, match="odd"):
        FFConvM(4, 4, kernel_size=4)
    with pytest.raises(ValueError, match=">= 1"):
        DilatedDenseFSMN(4, lorder=0)


def test_block_under_bf16_autocast():
    block = GatedFSMNBlock(8, 4, lorder=3).eval()
    x = torch.randn(2, 10, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = block(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
