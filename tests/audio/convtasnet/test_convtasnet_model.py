import pytest
import torch

from audio.convtasnet.model import convtasnet, convtasnet_xs
from recurrent.registry import count_params


def test_parameter_counts():
    # torchaudio's implementation of the paper's best configuration (Table: N=512, L=16, B=128, H=512, P=3, X=8, R=3)
    assert count_params(convtasnet()) == 4_984_881
    assert count_params(convtasnet_xs()) == 793_905


@pytest.mark.parametrize("length", [1, 7, 8000, 8003])
def test_any_length_gives_sources_of_that_length(length):
    model = convtasnet_xs(layers=2, stacks=1, num_speakers=3)
    out = model(torch.randn(2, length))
    assert out.shape == (2, 3, length)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
