import pytest
import torch

from vision.raptor.surrogate import group_scales, phase_spans, raptor, rollout_loss, teacher_forced_loss, token_loss


def small(**kw):
    torch.manual_seed(0)
    model = raptor(dim=16, heads=2, schedule=(2, 3), register_tokens=2, layerscale_init=0.5, **kw)
    with torch.no_grad():
        model.recurrent.gate[-1].bias.normal_(0, 0.3)
        model.recurrent.gate[-1].weight.normal_(0, 0.3)
    return model


def test_losses_vanish_on_the_models_own_trajectory_and_differ_elsewhere():
    model = small()
    x0 = torch.randn(4, 1 + 2 + 6, 16)
    with torch.no_grad():
        own = model(x0, return_all=True)
    assert own.shape == (6, 4, 9, 16)
    assert teacher_forced_loss(model, own, 0, 5) < 1e-10 and rollout_loss(model, own, 0, 5) < 1e-10
    other = own + 0.1 * torch.randn_like(own)
    tf, ar = teacher_forced_loss(model, other, 0, 5), rollout_loss(model, other, 0, 5)
    assert tf > 1e-4 and ar > 1e-4 and not torch.isclose(tf, ar)
    # over a single layer, teacher forcing and rollout are the same computation
    torch.testing.assert_close(teacher_forced_loss(model, other, 2, 3, (0.3, 0.3, 0.4)), rollout_loss(model, other, 2, 3, (0.3, 0.3, 0.4)))


def test_token_loss_weights_groups_and_handles_no_registers():
    pred, target = torch.zeros(2, 6, 4), torch.zeros(2, 6, 4)
    target[:, 0] = 1.0  # only the class token is off, by 1
    assert token_loss(pred, target, registers=2, weights=(0.5, 0.25, 0.25)) == pytest.approx(0.5)
    assert token_loss(pred, target, registers=0, weights=(0.5, 0.25, 0.25)) == pytest.approx(0.5 / 0.75)


def test_group_scales_put_every_group_on_the_scale_of_one_minus_r2():
    torch.manual_seed(0)
    states = torch.randn(3, 500, 1 + 2 + 6, 4)
    states[:, :, 0] *= 0.01  # a class token 100x smaller than the rest, as in the embedded teacher
    scales = group_scales(states, registers=2)
    torch.testing.assert_close(scales, torch.tensor([1e-4, 1.0, 1.0]), rtol=0.15, atol=0)
    pred = states[0] + 0.1 * states[0].std(dim=0, keepdim=True) * torch.randn_like(states[0])
    # the same relative error in every group: equal terms once scaled, class token negligible without scaling
    scaled = [token_loss(pred, states[0], 2, w, scales) for w in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    torch.testing.assert_close(torch.stack(scaled), torch.full((3,), 0.01), rtol=0.15, atol=0)
    assert token_loss(pred, states[0], 2, (1, 0, 0)) < 1e-5
    assert group_scales(states[:, :, [0, 3, 4]], registers=0)[1] == 1.0  # no registers


def test_gradients_reach_every_block_and_the_gates():
    model = small()
    states = torch.randn(6, 2, 9, 16)
    (teacher_forced_loss(model, states, 0, 5) + rollout_loss(model, states, 0, 5)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_phase_spans():
    assert phase_spans((7, 5)) == [(0, 7), (7, 12)]
    assert phase_spans((4, 3, 5)) == [(0, 4), (4, 7), (7, 12)]
