import pytest
import torch

from vision.raptor.phases import dissimilarity, layer_features, optimal_phases, recursive_bisection

PLANTED = [4, 5, 3]


def planted_matrix(lengths, within=0.1, across=1.0, noise=0.02, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    matrix = torch.where(labels[:, None] == labels[None], within, across) + noise * torch.rand(len(labels), len(labels), generator=g)
    matrix = (matrix + matrix.T) / 2
    return matrix.fill_diagonal_(0)


def planted_states(lengths, images=16, tokens=7, channels=32, seed=0):
    """Layers of one phase share a random token pattern (plus a little noise), phases differ."""
    g = torch.Generator().manual_seed(seed)
    states = []
    for n in lengths:
        base = torch.randn(images, tokens, channels, generator=g)
        states += [base + 0.05 * torch.randn(images, tokens, channels, generator=g) for _ in range(n)]
    return torch.stack(states)


def test_bisection_and_dynamic_programming_recover_planted_phases():
    matrix = planted_matrix(PLANTED)
    assert recursive_bisection(matrix, stop_fraction=0.1, min_size=2) == PLANTED
    lengths, blockiness = optimal_phases(matrix, 3)
    assert lengths == PLANTED and blockiness > 0.95


def test_bisection_respects_min_size_and_stop_fraction():
    assert recursive_bisection(planted_matrix(PLANTED), stop_fraction=0.9) == [12]  # no cut is worth 90 %
    assert all(n >= 4 for n in recursive_bisection(planted_matrix(PLANTED), stop_fraction=0.0, min_size=4))


def test_optimal_phases_extremes():
    matrix = planted_matrix(PLANTED)
    assert optimal_phases(matrix, 1) == ([12], pytest.approx(0.0, abs=1e-9))
    lengths, blockiness = optimal_phases(matrix, 12)
    assert lengths == [1] * 12 and blockiness == pytest.approx(1.0)
    with pytest.raises(ValueError):
        optimal_phases(matrix, 13)


@pytest.mark.parametrize("measure", ["cosine", "cka"])
def test_dissimilarity_of_planted_states_recovers_their_phases(measure):
    states = planted_states(PLANTED)
    matrix = dissimilarity(states, num_prefix=1, measure=measure)
    assert matrix.shape == (12, 12) and torch.allclose(matrix, matrix.T) and matrix.diagonal().abs().max() == 0
    assert optimal_phases(matrix, 3)[0] == PLANTED
    assert recursive_bisection(matrix, stop_fraction=0.1) == PLANTED


def test_features_are_cls_and_mean_patch_without_registers():
    states = torch.randn(3, 2, 9, 4)
    features = layer_features(states, num_prefix=5)
    assert torch.equal(features[:, :, 0], states[:, :, 0])
    assert torch.allclose(features[:, :, 1], states[:, :, 5:].mean(2))
