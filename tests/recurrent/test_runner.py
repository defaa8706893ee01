import pytest
import torch
from torch import nn

from recurrent.runner import StreamingRunner, detach_state, run_sequence


class TinyRNN(nn.Module):
    """h' = tanh(W x + U h); y = V h'. State is a tensor, or {"h": h, "n": steps} with ``dict_state``."""

    def __init__(self, c_in: int = 3, hidden: int = 4, dict_state: bool = False):
        super().__init__()
        self.w, self.u, self.v = nn.Linear(c_in, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 2)
        self.dict_state = dict_state

    def forward(self, x, state):
        if self.dict_state:
            h = x.new_zeros(x.shape[0], self.u.in_features) if state is None else state["h"]
            n = 0 if state is None else state["n"]
            h = torch.tanh(self.w(x) + self.u(h))
            return self.v(h), {"h": h, "n": n + 1}
        h = x.new_zeros(x.shape[0], self.u.in_features) if state is None else state
        h = torch.tanh(self.w(x) + self.u(h))
        return self.v(h), h


def test_run_sequence_shapes_and_time_dim():
    torch.manual_seed(0)
    step = TinyRNN()
    x = torch.randn(2, 5, 3)
    y, h = run_sequence(step, x)
    assert y.shape == (2, 5, 2) and h.shape == (2, 4)
    y0, h0 = run_sequence(step, x.transpose(0, 1), time_dim=0)
    torch.testing.assert_close(y0.transpose(0, 1), y)
    torch.testing.assert_close(h0, h)
    # the recurrence is real: the last output depends on the first input
    x2 = x.clone()
    x2[:, 0] += 1.0
    assert not torch.allclose(run_sequence(step, x2)[0][:, -1], y[:, -1])


@pytest.mark.parametrize("sizes", [[1] * 11, [3, 3, 3, 2], [7, 4], [2, 5, 1, 3]])
def test_streaming_equals_whole_sequence(sizes):
    torch.manual_seed(0)
    step = TinyRNN(dict_state=True)
    x = torch.randn(2, 11, 3)
    y_whole, state_whole = run_sequence(step, x)
    runner = StreamingRunner(step)
    y_stream = torch.cat([runner.feed(chunk) for chunk in x.split(sizes, dim=1)], dim=1)
    torch.testing.assert_close(y_stream, y_whole)
    torch.testing.assert_close(runner.state["h"], state_whole["h"])
    assert runner.state["n"] == state_whole["n"] == 11
    runner.reset()
    assert runner.state is None
    torch.testing.assert_close(runner.feed(x[:, :4]), y_whole[:, :4])


def test_streaming_with_initial_state_and_reset():
    step = TinyRNN()
    h0 = torch.randn(1, 4)
    x = torch.randn(1, 6, 3)
    runner = StreamingRunner(step, state=h0)
    first = runner.feed(x)
    runner.reset()
    torch.testing.assert_close(runner.feed(x), first)
    torch.testing.assert_close(first, run_sequence(step, x, h0)[0])


def _grads_from_last_output(tbptt):
    torch.manual_seed(0)
    step = TinyRNN()
    x = torch.randn(1, 6, 3, requires_grad=True)
    y, _ = run_sequence(step, x, tbptt=tbptt)
    y[:, -1].sum().backward()
    return x.grad[0].abs().sum(-1)  # (T,)


def test_tbptt_detaches_every_k_steps():
    full = _grads_from_last_output(None)
    assert (full > 0).all()
    truncated = _grads_from_last_output(2)  # state detached entering steps 2 and 4
    assert torch.equal(truncated[:4], torch.zeros(4))
    assert (truncated[4:] > 0).all()
    torch.testing.assert_close(truncated[4:], full[4:])
    with pytest.raises(ValueError):
        run_sequence(TinyRNN(), torch.randn(1, 3, 3), tbptt=0)


def test_tbptt_keeps_forward_values():
    step = TinyRNN()
    x = torch.randn(2, 7, 3)
    torch.testing.assert_close(run_sequence(step, x, tbptt=3)[0], run_sequence(step, x)[0])


def test_detach_state_pytree():
    a = torch.ones(2, requires_grad=True) * 2
    state = {"h": a, "pair": (a, [a]), "none": None, "n": 3}
    out = detach_state(state)
    assert not out["h"].requires_grad and not out["pair"][1][0].requires_grad
    assert out["none"] is None and out["n"] == 3
    assert detach_state(None) is None


def test_empty_sequence_is_an_error():
    with pytest.raises(ValueError, match="no time steps"):
        run_sequence(TinyRNN(), torch.randn(1, 0, 3))


def test_run_sequence_gradcheck():
    step = TinyRNN().double()
    x = torch.randn(1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: run_sequence(step, x)[0], (x,))


def test_runner_under_bf16_autocast():
    step = TinyRNN()
    x = torch.randn(2, 4, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, h = run_sequence(step, x)
        y_stream = StreamingRunner(step).feed(x)
    assert y.dtype == torch.bfloat16 and y.shape == (2, 4, 2)
    torch.testing.assert_close(y_stream, y)
