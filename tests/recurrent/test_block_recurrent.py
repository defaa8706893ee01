import pytest
import torch
from torch import nn

from recurrent.block_recurrent import Block, BlockRecurrent


class CountingBlock(nn.Module):
    """x -> tanh(Linear(x)); appends its name to a shared log on every call."""

    def __init__(self, name: str, log: list[str], dim: int = 4):
        super().__init__()
        self.name, self.log = name, log
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        self.log.append(self.name)
        return torch.tanh(self.fc(x))


def test_schedule_is_respected_in_order():
    log: list[str] = []
    model = BlockRecurrent(nn.ModuleList([CountingBlock("a", log), CountingBlock("b", log)]), (7, 5), dim=4)
    model(torch.randn(2, 3, 4))
    assert log == ["a"] * 7 + ["b"] * 5
    log.clear()
    BlockRecurrent(nn.ModuleList([CountingBlock(n, log) for n in "xyz"]), [1, 2, 1], dim=4)(torch.randn(1, 2, 4))
    assert log == ["x", "y", "y", "z"]


def test_gates_start_at_identity_to_plain_application():
    torch.manual_seed(0)
    blocks = nn.ModuleList([Block(8, 2, mlp_ratio=2.0, layerscale_init=1.0) for _ in range(2)])
    model = BlockRecurrent(blocks, (3, 2), dim=8)
    assert torch.equal(model.gates(), torch.ones(5, 8))
    x = torch.randn(2, 5, 8)
    expected = x
    for k in [0, 0, 0, 1, 1]:
        expected = blocks[k](expected)
    torch.testing.assert_close(model(x), expected)
    # once the gates move, the output differs: the test can fail
    with torch.no_grad():
        model.gate[-1].bias.fill_(-0.5)
    assert not torch.allclose(model(x), expected)


def test_shapes_and_return_all():
    torch.manual_seed(0)
    model = BlockRecurrent(nn.ModuleList([Block(8, 2), Block(8, 2)]), (2, 3), dim=8)
    x = torch.randn(2, 6, 8)
    y = model(x)
    states = model(x, return_all=True)
    assert y.shape == x.shape and states.shape == (6, 2, 6, 8)
    torch.testing.assert_close(states[0], x)
    torch.testing.assert_close(states[-1], y)
    assert Block(8, 2)(x).shape == x.shape
    assert "progress" not in model.state_dict()


def test_gradient_reaches_every_block_and_the_gates():
    torch.manual_seed(0)
    model = BlockRecurrent(nn.ModuleList([Block(8, 2, layerscale_init=0.1) for _ in range(2)]), (2, 2), dim=8)
    x = torch.randn(2, 5, 8)
    model(x).square().mean().backward()
    for name, p in model.blocks.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    out_layer = model.gate[-1]
    assert out_layer.weight.grad.abs().sum() > 0 and out_layer.bias.grad.abs().sum() > 0
    # the first gate layer only sees gradient through the zero-initialised output layer
    assert model.gate[0].weight.grad.abs().sum() == 0
    with torch.no_grad():
        out_layer.weight.normal_()
    model.zero_grad()
    model(x).square().mean().backward()
    assert model.gate[0].weight.grad.abs().sum() > 0


def test_gradcheck_tiny():
    torch.manual_seed(0)
    model = BlockRecurrent(nn.ModuleList([Block(4, 2, mlp_ratio=1.0, layerscale_init=0.5)]), (2,), dim=4).double()
    with torch.no_grad():
        model.gate[-1].weight.normal_()  # non-trivial gates
    x = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model, (x,))


def test_errors():
    blocks = nn.ModuleList([Block(4, 2)])
    with pytest.raises(ValueError, match="schedule"):
        BlockRecurrent(blocks, (2, 2), dim=4)
    with pytest.raises(ValueError, match="schedule"):
        BlockRecurrent(blocks, (0,), dim=4)
    with pytest.raises(ValueError, match="expects"):
        BlockRecurrent(blocks, (1,), dim=4)(torch.randn(1, 3, 5))


def test_under_bf16_autocast():
    model = BlockRecurrent(nn.ModuleList([Block(8, 2), Block(8, 2)]), (2, 1), dim=8)
    x = torch.randn(2, 5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x, return_all=True)
    assert y.shape == (4, 2, 5, 8) and torch.isfinite(y).all()


def test_one_block_per_layer_with_identity_gates_is_the_plain_stack():
    # k = number of layers, schedule (1, …, 1): Raptor degenerates to the ViT stack it was given
    torch.manual_seed(0)
    stack = nn.Sequential(*[Block(8, 2, layerscale_init=0.5) for _ in range(6)])
    model = BlockRecurrent(nn.ModuleList(list(stack)), [1] * 6, dim=8)
    x = torch.randn(3, 7, 8)
    torch.testing.assert_close(model(x), stack(x))


def test_steps_and_partial_rollouts_compose():
    torch.manual_seed(0)
    model = BlockRecurrent(nn.ModuleList([Block(8, 2, layerscale_init=0.5) for _ in range(2)]), (2, 2), dim=8)
    with torch.no_grad():
        model.gate[-1].bias.normal_()  # non-trivial gates
    x = torch.randn(2, 5, 8)
    states = model(x, return_all=True)
    for i in range(4):
        torch.testing.assert_close(model.step(states[i], i), states[i + 1])
    torch.testing.assert_close(model(states[1], start=1, stop=3), states[3])
