import torch
from torch import nn

from vision.raptor.evaluate import linear_probe, probe_features, r2_per_layer


def test_r2_is_one_for_exact_and_zero_for_the_mean_prediction():
    target = torch.randn(3, 8, 5, 4)
    assert torch.allclose(r2_per_layer(target, target), torch.ones(3))
    mean = target.mean(dim=(1, 2), keepdim=True).expand_as(target)
    assert torch.allclose(r2_per_layer(mean, target), torch.zeros(3), atol=1e-6)
    assert (r2_per_layer(target + torch.randn_like(target), target) < 0.5).all()


def test_probe_separates_separable_features_and_not_random_labels():
    g = torch.Generator().manual_seed(0)
    centres = 4 * torch.randn(5, 12, generator=g)
    labels = torch.arange(400) % 5
    features = centres[labels] + torch.randn(400, 12, generator=g)
    assert linear_probe(features[:300], labels[:300], features[300:], labels[300:]) == 1.0
    shuffled = labels[torch.randperm(400, generator=g)]
    assert linear_probe(features[:300], shuffled[:300], features[300:], shuffled[300:]) < 0.45


def test_probe_features_are_normed_cls_and_mean_patch():
    tokens = torch.randn(2, 7, 4)
    features = probe_features(tokens, nn.Identity(), num_prefix=3)
    assert features.shape == (2, 8)
    torch.testing.assert_close(features[:, 4:], tokens[:, 3:].mean(1))
