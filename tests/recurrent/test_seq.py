import pytest
import torch

from recurrent.seq import BiLSTMEncoder


def test_shapes_and_layers():
    encoder = BiLSTMEncoder(12, 16, 11, num_layers=3)
    assert encoder(torch.randn(2, 7, 12)).shape == (2, 7, 11)
    assert len(encoder.lstms) == 3 and encoder.lstms[1].input_size == 16


def test_padding_does_not_leak_into_valid_steps():
    torch.manual_seed(0)
    encoder = BiLSTMEncoder(4, 8, 5).eval()
    x = torch.randn(2, 9, 4)
    lengths = torch.tensor([9, 5])
    padded = x.clone()
    padded[1, 5:] = 100.0  # garbage after the valid length
    out = encoder(padded, lengths)
    alone = encoder(x[1:, :5])
    torch.testing.assert_close(out[1, :5], alone[0])
    # without lengths the backward direction does see the garbage
    assert not torch.allclose(encoder(padded)[1, :5], alone[0])


def test_bidirectional_context():
    torch.manual_seed(0)
    encoder = BiLSTMEncoder(3, 6, 4).eval()
    x = torch.randn(1, 6, 3)
    changed = x.clone()
    changed[0, -1] += 1.0
    assert not torch.allclose(encoder(x)[0, 0], encoder(changed)[0, 0])  # the first step sees the last


def test_gradcheck_float64():
    torch.manual_seed(0)
    encoder = BiLSTMEncoder(3, 4, 2).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(encoder, (x,))


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(B, T, C\)"):
        BiLSTMEncoder(3, 4, 2)(torch.randn(4, 3))
