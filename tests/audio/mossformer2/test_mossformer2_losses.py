import itertools
import math

import pytest
import torch

from audio.mossformer2.losses import PITLoss, pairwise_neg_si_snr, si_snr
from audio.mossformer2.model import MossFormer2, MossFormer2Config


def test_si_snr_hand_computed():
    # zero-mean reference s and an orthogonal zero-mean error e: alpha = 1, SI-SNR = 10 log10(|s|² / |e|²)
    s = torch.tensor([1.0, -1.0, 1.0, -1.0])
    e = 0.5 * torch.tensor([1.0, 1.0, -1.0, -1.0])
    torch.testing.assert_close(si_snr(s + e, s), torch.tensor(10 * math.log10(4.0 / 1.0)), atol=1e-4, rtol=0)
    # an estimate at 1/3 of the reference plus that error: alpha = 1/3, target = s/3
    torch.testing.assert_close(si_snr(s / 3 + e, s), torch.tensor(10 * math.log10((4 / 9) / 1.0)), atol=1e-4, rtol=0)


def test_si_snr_is_scale_and_offset_invariant():
    torch.manual_seed(0)
    ref = torch.randn(3, 400, dtype=torch.float64)
    est = ref + 0.3 * torch.randn_like(ref)
    base = si_snr(est, ref)
    for scale in (1e-3, 0.5, 7.0, -2.0):
        torch.testing.assert_close(si_snr(scale * est, ref), base)
        torch.testing.assert_close(si_snr(est, scale * ref), base)
    torch.testing.assert_close(si_snr(est + 0.7, ref - 0.2), base)


def test_si_snr_shape_error():
    with pytest.raises(ValueError, match="same shape"):
        si_snr(torch.randn(2, 10), torch.randn(2, 11))


def test_pairwise_matrix_layout():
    torch.manual_seed(0)
    est, ref = torch.randn(2, 3, 50), torch.randn(2, 3, 50)
    matrix = pairwise_neg_si_snr(est, ref)
    assert matrix.shape == (2, 3, 3)
    torch.testing.assert_close(matrix[1, 2, 0], -si_snr(est[1, 2], ref[1, 0]))


@pytest.mark.parametrize("speakers", [2, 3])
def test_pit_is_at_its_optimum_for_every_permutation_of_perfect_estimates(speakers):
    torch.manual_seed(0)
    ref = torch.randn(4, speakers, 320)
    pit = PITLoss()
    optimum = -si_snr(ref, ref).mean()  # SI-SNR of a perfect estimate: only eps limits it
    assert optimum < -80  # dB
    for order in itertools.permutations(range(speakers)):
        est = ref[:, list(order)]
        loss, perm = pit(est, ref)
        torch.testing.assert_close(loss, optimum)
        assert torch.equal(pit.reorder(est, perm), ref)  # the returned permutation undoes the shuffle
        # any other assignment is far worse
        others = [p for p in itertools.permutations(range(speakers)) if list(p) != perm[0].tolist()]
        for p in others:
            assert -si_snr(est[:, list(p)], ref).mean() > optimum + 80


def test_pit_permutation_is_per_utterance():
    torch.manual_seed(0)
    ref = torch.randn(3, 3, 200)
    orders = [[0, 1, 2], [2, 0, 1], [1, 2, 0]]
    est = torch.stack([ref[b, order] for b, order in enumerate(orders)]) + 0.1 * torch.randn(3, 3, 200)
    _, perm = PITLoss()(est, ref)
    # est[b, order[i]] = ref[b, i]... so reference j is found at estimate order.index(j)
    assert perm.tolist() == [[order.index(j) for j in range(3)] for order in orders]


def test_pit_equals_brute_force_minimum():
    torch.manual_seed(1)
    est, ref = torch.randn(5, 3, 100), torch.randn(5, 3, 100)
    loss, perm = PITLoss()(est, ref)
    best = []
    for b in range(5):
        candidates = {p: -si_snr(est[b, list(p)], ref[b]).mean() for p in itertools.permutations(range(3))}
        p = min(candidates, key=candidates.get)
        best.append(candidates[p])
        assert perm[b].tolist() == list(p)
    torch.testing.assert_close(loss, torch.stack(best).mean())


def test_pit_works_with_any_pairwise_loss():
    def pairwise_mse(est, ref):
        return (est.unsqueeze(2) - ref.unsqueeze(1)).square().mean(-1)

    torch.manual_seed(0)
    ref = torch.randn(2, 2, 30)
    est = ref.flip(1).clone().requires_grad_()
    loss, perm = PITLoss(pairwise_mse)(est, ref)
    assert loss.item() == 0.0 and perm.tolist() == [[1, 0], [1, 0]]
    PITLoss()(est + 0.1 * torch.randn_like(est), ref)[0].backward()
    assert est.grad is not None and est.grad.abs().sum() > 0


def test_pit_shape_errors():
    with pytest.raises(ValueError, match=r"\(B, S, T\)"):
        PITLoss()(torch.randn(2, 2, 10), torch.randn(2, 3, 10))
    with pytest.raises(ValueError, match=r"\(B, S, T\)"):
        PITLoss()(torch.randn(2, 10), torch.randn(2, 10))


def test_tiny_model_overfits_one_mixture():
    torch.manual_seed(0)
    config = MossFormer2Config(
        channels=32, num_layers=1, query_key_dim=16, rotary_dim=8, group_size=32, fsmn_channels=16, fsmn_lorder=3
    )
    config = MossFormer2Config(**{**config.__dict__, "dropout": 0.0})
    model = MossFormer2(config)
    t = torch.arange(1600) / config.sample_rate
    voice_a = torch.sin(2 * math.pi * 220 * t) * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))
    voice_b = 0.5 * torch.sign(torch.sin(2 * math.pi * 1250 * t + 1.0))
    ref = torch.stack([voice_a, voice_b]).unsqueeze(0)  # (1, 2, T)
    mixture = ref.sum(1)
    pit = PITLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss, _ = pit(model(mixture), ref)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < -15.0 and losses[-1] < losses[0] - 20.0, losses[::10]  # dB of negative SI-SNR
