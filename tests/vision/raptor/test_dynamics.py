import torch

from vision.raptor.dynamics import angular_convergence, perturbation_recovery, token_speeds, update_rank


def test_angles_fall_into_class_basins_when_states_converge_to_class_centres():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    centres = torch.randn(3, 1, 8, generator=g).expand(3, 5, 8)
    start = torch.randn(60, 5, 8, generator=g)
    states = torch.stack([(1 - a) * start + a * centres[labels] for a in torch.linspace(0, 1, 7)])
    angles = angular_convergence(states, labels, num_prefix=1)
    assert angles["own"][0] > 30 and angles["own"][-1] < 1
    assert (angles["own"][1:] <= angles["own"][:-1] + 1e-6).all()
    assert angles["other"][-1] > 20


class Contraction:
    """x_{l+1} = 0.5 x_l + c: perturbations shrink by half per layer (in size, and so in angle)."""

    def __init__(self, depth=6):
        self.depth, self.c = depth, torch.randn(1, 1, 8, generator=torch.Generator().manual_seed(1))

    def __call__(self, x, return_all=False, start=0, stop=None):
        states = [x]
        for _ in range(start, self.depth if stop is None else stop):
            states.append(0.5 * states[-1] + self.c)
        return torch.stack(states)


def test_perturbations_decay_under_a_contraction():
    recovery = perturbation_recovery(Contraction(), torch.randn(4, 3, 8), layer=2, relative=0.05)
    assert recovery.shape == (5,) and recovery[0] == 1 and recovery[-1] < 0.3
    assert (recovery[1:] < recovery[:-1]).all()


def test_speeds_and_rank_of_known_updates():
    x = torch.ones(2, 2, 3, 4)
    x[1, :, 0] *= 3.0  # only the class token moves, by twice its size
    speeds = token_speeds(x, num_prefix=1)
    assert torch.allclose(speeds["cls"], torch.tensor([2.0])) and torch.allclose(speeds["patch"], torch.tensor([0.0]))
    g = torch.Generator().manual_seed(0)
    base = torch.randn(1, 5, 6, 16, generator=g)
    rank_one = torch.randn(5, 6, 1, generator=g) * torch.randn(16, generator=g)
    full = torch.randn(5, 6, 16, generator=g)
    ranks = update_rank(torch.cat([base, base + rank_one[None], base + rank_one[None] + full[None]]))
    assert abs(float(ranks[0]) - 1) < 1e-6 and ranks[1] > 3
