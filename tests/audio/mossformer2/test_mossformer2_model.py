import math

import pytest
import torch

from audio.mossformer2.model import (
    MossFormer2,
    MossFormer2Config,
    MossFormerAttention,
    RotaryEmbedding,
    ScaleNorm,
    joint_attention,
)
from recurrent.registry import count_params, get_model, list_models

TINY = MossFormer2Config(
    channels=16,
    num_layers=2,
    query_key_dim=8,
    rotary_dim=4,
    group_size=8,
    fsmn_channels=8,
    fsmn_lorder=3,
    dropout=0.0,
)


def tiny(**overrides) -> MossFormer2:
    return MossFormer2(MossFormer2Config(**{**TINY.__dict__, **overrides}))


@pytest.mark.parametrize("speakers", [2, 3])
@pytest.mark.parametrize("length", [1, 15, 16, 17, 161, 403])
def test_output_shape_for_any_length(speakers, length):
    torch.manual_seed(0)
    model = tiny(num_speakers=speakers).eval()
    out = model(torch.randn(2, length))
    assert out.shape == (2, speakers, length)
    assert torch.isfinite(out).all()


def test_frames_cover_the_padded_input():
    model = tiny()
    assert [model.num_frames(t) for t in (1, 16, 24, 25, 32, 33)] == [2, 2, 2, 3, 3, 4]


def test_bad_input():
    model = tiny()
    for bad in (torch.randn(40), torch.randn(1, 1, 40), torch.zeros(2, 0), torch.ones(2, 40, dtype=torch.long)):
        with pytest.raises(ValueError, match=r"\(B, T\)"):
            model(bad)
    with pytest.raises(ValueError, match="rotary_dim"):
        MossFormer2Config(query_key_dim=16, rotary_dim=32)
    with pytest.raises(ValueError, match="even"):
        MossFormer2Config(channels=15)


def test_batch_items_are_independent():
    torch.manual_seed(0)
    model = tiny().eval()
    x = torch.randn(3, 203)
    torch.testing.assert_close(model(x)[1:2], model(x[1:2]), rtol=1e-4, atol=1e-5)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = tiny(num_speakers=3)
    model(torch.randn(2, 181)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_published_parameter_counts():
    # Official MossFormer2 (N = 512, R = 24, qk 128, hidden 4N = 2048, FFConvM kernel 17), per layer:
    #   FLASH_ShareA_FFConvM: to_hidden ScaleNorm 1 + Linear 512·2048+2048 + dwconv 2048·17 = 1,085,441
    #                         to_qk 1 + 512·128+128 + 128·17 = 67,841; OffsetScale 2·4·128 = 1,024
    #                         to_out 1 + 1024·512+512 + 512·17 = 533,505               -> 1,687,811
    #   Gated_FSMN_Block_Dilated(512): 568,065 (tests/recurrent/test_fsmn.py)    -> 2,255,876 · 24 = 54,141,024
    # MaskNet rest: GroupNorm 1,024 + conv1d_encoder 262,144 + pos scale 1 + LayerNorm 1,024 + GroupNorm 1,024
    #   + PReLU 1 + conv1d_out 512·1024+1024 = 525,312 + output 262,656 + gate 262,656 + conv1_decoder 262,144
    # encoder 512·16 = 8,192, decoder 8,192 -> 55,735,394 (paper: 55.7 M).
    # A third speaker widens conv1d_out by 512·512+512 = 262,656 -> 55,998,050 (paper: 56.0 M).
    # The official code's parameters() also lists rotary_embedding_torch's frozen 16 frequencies (one shared
    # module); ours are a buffer, so its sum(p.numel()) is 16 higher: 55,735,410 / 55,998,066.
    with torch.device("meta"):
        two, three = get_model("mossformer2"), get_model("mossformer2", num_speakers=3)
        small, smallest = get_model("mossformer2-s"), get_model("mossformer2-xs")
    assert count_params(two) == 55_735_394
    assert count_params(three) == 55_998_050
    assert count_params(three) - count_params(two) == 512 * 512 + 512
    assert round(count_params(two) / 1e6, 1) == 55.7 and round(count_params(three) / 1e6, 1) == 56.0
    assert all(p.requires_grad for p in two.parameters())
    assert count_params(small) == 4_035_866 and count_params(smallest) == 757_266
    assert {"mossformer2", "mossformer2-s", "mossformer2-xs"} <= set(list_models())
    assert two.config.sample_rate == 8000 and two.config.kernel_size == 16 and two.config.stride == 8


def _naive_joint_attention(qq, qk, lq, lk, v, g, causal):
    """Frame by frame: local relu² attention inside the frame's group, plus global linear attention."""
    B, T, E = v.shape
    out = torch.zeros(B, T, E, dtype=v.dtype)
    for i in range(T):
        start = i // g * g
        local_keys = range(start, i + 1) if causal else range(start, min(start + g, T))
        for j in local_keys:
            w = torch.relu((qq[:, i] * qk[:, j]).sum(-1) / g) ** 2
            out[:, i] += w[:, None] * v[:, j]
        global_keys = range(0, start) if causal else range(T)
        scale = g if causal else T
        for j in global_keys:
            out[:, i] += ((lq[:, i] * lk[:, j]).sum(-1) / scale)[:, None] * v[:, j]
    return out


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("T, g", [(13, 4), (8, 4), (5, 8)])
def test_joint_attention_matches_frame_by_frame_reference(causal, T, g):
    torch.manual_seed(0)
    qq, qk, lq, lk = torch.randn(4, 2, T, 3, dtype=torch.float64)
    v = torch.randn(2, T, 5, dtype=torch.float64)
    expected = _naive_joint_attention(qq, qk, lq, lk, v, g, causal)
    torch.testing.assert_close(joint_attention(qq, qk, lq, lk, v, g, causal), expected)


def test_group_padding_is_invisible():
    # T = 13 frames in groups of 4: the last group is padded with 3 frames that must add nothing, so the
    # local attention of the whole equals that of its pieces (the global part is checked frame by frame above).
    torch.manual_seed(0)
    qq, qk, lq, lk = torch.randn(4, 1, 13, 3, dtype=torch.float64)
    v = torch.randn(1, 13, 2, dtype=torch.float64)
    zeros = torch.zeros_like(lq)

    def local(frames):
        return joint_attention(qq[:, frames], qk[:, frames], zeros[:, frames], zeros[:, frames], v[:, frames], 4)

    whole = local(slice(None))
    torch.testing.assert_close(whole[:, :12], local(slice(0, 12)))
    torch.testing.assert_close(whole[:, 12:], local(slice(12, None)))


def _rotate_half_reference(x, dim):
    """rotary_embedding_torch's formulation: x·cos + rotate_half(x)·sin on the first ``dim`` features."""
    T = x.shape[-2]
    freqs = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * freqs
    angles = angles.repeat_interleave(2, dim=-1)
    rot = x[..., :dim]
    pairs = rot.unflatten(-1, (-1, 2))
    half = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return torch.cat((rot * angles.cos() + half * angles.sin(), x[..., dim:]), dim=-1)


def test_rotary_embedding():
    torch.manual_seed(0)
    rotary = RotaryEmbedding(4).double()
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    torch.testing.assert_close(rotary(x), _rotate_half_reference(x, 4))
    # dot products of rotated vectors depend on the frame offset only
    q, k = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    rq, rk = rotary(q.expand(9, 6)), rotary(k.expand(9, 6))
    torch.testing.assert_close(rq[5] @ rk[2], rq[3] @ rk[0])
    assert not torch.allclose(rq[5] @ rk[2], rq[5] @ rk[4])
    assert not rotary.state_dict()  # computed, not stored


def test_scale_norm():
    x = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(ScaleNorm(2)(x), x / (5.0 / math.sqrt(2)))


def _future_changes_past(module, x, t0):
    x2 = x.clone()
    x2[:, t0 + 1 :] += torch.randn_like(x2[:, t0 + 1 :])
    return not torch.allclose(module(x)[:, : t0 + 1], module(x2)[:, : t0 + 1], atol=1e-6)


def test_causal_flag_is_honoured():
    torch.manual_seed(0)
    x = torch.randn(2, 21, 16)  # 21 frames, groups of 8: the last group is padded
    for t0 in (3, 9, 16):
        causal = MossFormerAttention(16, group_size=8, query_key_dim=8, rotary_dim=4, causal=True).eval()
        assert not _future_changes_past(causal, x, t0)
        assert _future_changes_past(MossFormerAttention(16, group_size=8, query_key_dim=8, rotary_dim=4).eval(), x, t0)
    layers = tiny(causal=True).mask_net.eval()

    def stack(h):
        for attention, fsmn in zip(layers.attention, layers.fsmn):
            h = fsmn(attention(h))
        return h

    assert not _future_changes_past(stack, x, 9)


def test_attention_gradcheck():
    torch.manual_seed(0)
    layer = MossFormerAttention(4, group_size=3, query_key_dim=4, rotary_dim=2, conv_kernel_size=3, dropout=0.0)
    layer = layer.double()
    x = torch.randn(1, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


def test_builders_accept_overrides():
    model = get_model("mossformer2-s", num_layers=1, num_speakers=3)
    assert model.config.num_layers == 1 and len(model.mask_net.attention) == 1
    assert model(torch.randn(1, 100)).shape == (1, 3, 100)
