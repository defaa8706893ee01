import pytest
import torch
from torch import nn

from recurrent.conv_rnn import ConvGRUCell, ConvRNNCell
from recurrent.runner import StreamingRunner, run_sequence

CELLS = [ConvRNNCell, ConvGRUCell]


@pytest.mark.parametrize("cell_cls", CELLS)
@pytest.mark.parametrize("padding_mode", ["zeros", "circular", "reflect", "replicate"])
def test_shapes_and_zero_state(cell_cls, padding_mode):
    torch.manual_seed(0)
    cell = cell_cls(3, 5, kernel_size=3, padding_mode=padding_mode)
    x = torch.randn(2, 3, 6, 7)
    h = cell(x)
    assert h.shape == (2, 5, 6, 7)
    torch.testing.assert_close(cell(x, cell.init_state(x)), h)
    assert cell.init_state(x).shape == (2, 5, 6, 7) and not cell.init_state(x).any()
    assert not torch.allclose(cell(x, h), h)  # the state is used


def test_conv_rnn_matches_its_equation():
    torch.manual_seed(0)
    cell = ConvRNNCell(2, 3, kernel_size=1, activation=nn.Identity)
    x, h = torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4)
    w, b = cell.conv.weight[:, :, 0, 0], cell.conv.bias
    expected = torch.einsum("oc,bchw->bohw", w[:, :2], x) + torch.einsum("oc,bchw->bohw", w[:, 2:], h)
    torch.testing.assert_close(cell(x, h), expected + b.view(1, 3, 1, 1))


def test_gru_keeps_state_when_update_gate_closed():
    cell = ConvGRUCell(2, 3)
    nn.init.zeros_(cell.gates.weight)
    with torch.no_grad():
        cell.gates.bias[:3] = -1e4  # z = 0
    h = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(cell(torch.randn(1, 2, 4, 4), h), h)


@pytest.mark.parametrize("cell_cls", CELLS)
def test_circular_padding_is_exactly_roll_equivariant(cell_cls):
    torch.manual_seed(0)
    cell = cell_cls(2, 3, kernel_size=5, padding_mode="circular").double()
    x, h = torch.randn(2, 2, 7, 9, dtype=torch.float64), torch.randn(2, 3, 7, 9, dtype=torch.float64)
    shifts, dims = (3, -4), (-2, -1)
    rolled = cell(torch.roll(x, shifts, dims), torch.roll(h, shifts, dims))
    torch.testing.assert_close(rolled, torch.roll(cell(x, h), shifts, dims), rtol=0, atol=1e-12)
    # zero padding breaks it near the borders: the test can fail
    zero_cell = cell_cls(2, 3, kernel_size=5, padding_mode="zeros").double()
    zero_cell.load_state_dict(cell.state_dict())
    rolled = zero_cell(torch.roll(x, shifts, dims), torch.roll(h, shifts, dims))
    assert not torch.allclose(rolled, torch.roll(zero_cell(x, h), shifts, dims), atol=1e-6)


@pytest.mark.parametrize("cell_cls", CELLS)
def test_gradcheck(cell_cls):
    torch.manual_seed(0)
    cell = cell_cls(1, 2, kernel_size=3, padding_mode="circular").double()
    x = torch.randn(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cell, (x, h))


@pytest.mark.parametrize("cell_cls", CELLS)
def test_with_run_sequence_and_streaming(cell_cls):
    torch.manual_seed(0)
    cell = cell_cls(2, 4)

    def step(x, h):
        h = cell(x, h)
        return h, h

    xs = torch.randn(2, 5, 2, 6, 6)  # (B, T, C, H, W)
    hs, h_last = run_sequence(step, xs)
    assert hs.shape == (2, 5, 4, 6, 6)
    torch.testing.assert_close(hs[:, -1], h_last)
    runner = StreamingRunner(step)
    torch.testing.assert_close(torch.cat([runner.feed(c) for c in xs.split([2, 3], dim=1)], 1), hs)


def test_errors():
    with pytest.raises(ValueError, match="odd"):
        ConvRNNCell(2, 3, kernel_size=4)
    with pytest.raises(ValueError, match="padding_mode"):
        ConvGRUCell(2, 3, padding_mode="mirror")
    cell = ConvGRUCell(2, 3)
    with pytest.raises(ValueError, match="expects x"):
        cell(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="expects h"):
        cell(torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 5))


@pytest.mark.parametrize("cell_cls", CELLS)
def test_under_bf16_autocast(cell_cls):
    cell = cell_cls(2, 3, padding_mode="circular")
    x = torch.randn(1, 2, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = cell(x)
        h = cell(x, h)
    assert h.shape == (1, 3, 8, 8) and torch.isfinite(h).all()


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_split_input_and_hidden_terms_equal_the_cell(padding_mode):
    torch.manual_seed(0)
    cell = ConvRNNCell(3, 8, padding_mode=padding_mode).double()
    x, h = torch.randn(2, 3, 9, 11, dtype=torch.float64), torch.randn(2, 8, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(cell.act(cell.input_term(x) + cell.hidden_term(h)), cell(x, h))
