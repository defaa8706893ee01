"""FERNN model: the shift convention, exact flow equivariance (and the G-RNN's lack of it), shapes,
gradients, parameter parity and error paths."""

import pytest
import torch
from torch.autograd import gradcheck

from recurrent.registry import count_params, get_model
from vision.fernn.metrics import equivariance_error
from vision.fernn.model import VelocityShift, fernn_v1, fernn_v2, grnn, shift_frames, velocity_grid

TINY = {"hidden_channels": 3, "decoder_layers": 1, "head_layers": 1, "recurrent_init": "default"}  # random recurrent weights


def test_velocity_grid_is_row_major_in_vy_then_vx():
    grid = velocity_grid(1)
    assert grid.shape == (9, 2)
    assert grid[4].tolist() == [0, 0] and grid[5].tolist() == [1, 0] and grid[7].tolist() == [0, 1]
    assert velocity_grid(0).tolist() == [[0, 0]] and len(velocity_grid(2)) == 25


def test_shift_moves_content_right_and_down_for_positive_velocity_with_wraparound():
    h = torch.zeros(1, 9, 1, 5, 5)
    h[..., 2, 2] = 1  # a dot in the middle of every copy
    out = VelocityShift(1)(h)
    for i, (vx, vy) in enumerate(velocity_grid(1).tolist()):
        assert out[0, i, 0, 2 + vy, 2 + vx] == 1 and out[0, i].sum() == 1
    corner = torch.zeros(1, 9, 1, 5, 5)
    corner[..., 4, 4] = 1
    assert VelocityShift(1)(corner)[0, 8, 0, 0, 0] == 1  # (vx, vy) = (1, 1) wraps to the top-left
    frame = torch.zeros(5, 5)
    frame[1, 1] = 1
    assert shift_frames(frame, (2, -1))[0, 3] == 1  # (dx, dy) = (2, -1): 2 right, 1 up


def test_velocity_shift_equals_a_roll_per_copy():
    h = torch.randn(2, 25, 3, 6, 7)
    out = VelocityShift(2)(h)
    for i, (vx, vy) in enumerate(velocity_grid(2).tolist()):
        torch.testing.assert_close(out[:, i], torch.roll(h[:, i], (vy, vx), (-2, -1)), rtol=0, atol=0)


@pytest.mark.parametrize("builder", [fernn_v1, fernn_v2])
def test_fernn_hidden_state_moves_exactly_with_the_input_in_float64(builder):
    torch.manual_seed(0)
    model = builder(**TINY)
    frames = torch.rand(2, 6, 1, 9, 10, dtype=torch.float64)
    for nu in [(1, 0), (0, -1), (1, 1), (-1, 1)]:
        assert equivariance_error(model, frames, nu) <= 1e-6
    assert equivariance_error(model, frames, (0, 0)) == 0


def test_grnn_hidden_state_does_not_move_with_the_input():
    torch.manual_seed(0)
    frames = torch.rand(2, 6, 1, 9, 10, dtype=torch.float64)
    assert equivariance_error(grnn(**TINY), frames, (1, 0)) > 0.05
    assert equivariance_error(grnn(**TINY), frames, (0, 0)) == 0


def test_fernn_and_grnn_have_identical_parameter_counts():
    for config in ({}, TINY):
        counts = {count_params(builder(**config)) for builder in (fernn_v1, fernn_v2, grnn)}
        assert len(counts) == 1
    assert [get_model(name).num_velocities for name in ("grnn", "fernn-v1", "fernn-v2")] == [1, 9, 25]


def test_shapes_and_gradients():
    model = fernn_v1(**TINY)
    frames = torch.rand(2, 4, 1, 8, 9)
    out = model(frames, steps=3)
    assert out.observed_next.shape == (2, 3, 1, 8, 9) and out.predicted.shape == (2, 3, 1, 8, 9)
    assert out.logits.shape == (2, 10) and model.classify(frames).shape == (2, 10)
    assert model.hidden_states(frames).shape == (2, 4, 9, 3, 8, 9)
    (out.observed_next.sum() + out.predicted.sum() + out.logits.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_identity_init_makes_every_copy_a_memory_flowing_at_its_velocity():
    model = fernn_v2(hidden_channels=3)
    state = torch.rand(1, 25, 3, 7, 7)
    torch.testing.assert_close(model.cell_step(torch.zeros(1, 1, 7, 7), state), VelocityShift(2)(state))
    with pytest.raises(ValueError, match="recurrent_init"):
        fernn_v2(recurrent_init="orthogonal")


def test_gradcheck_float64():
    torch.manual_seed(0)
    model = fernn_v1(hidden_channels=2, decoder_layers=0, head_layers=0, activation="tanh", recurrent_init="default").double()
    frames = torch.rand(1, 2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda f: model(f, 2, detach_feedback=False).predicted, (frames,))


def test_chunked_encoding_equals_whole_sequence():
    model = fernn_v2(**TINY)
    frames = torch.rand(2, 7, 1, 6, 6)
    whole, state = model.encode(frames)
    first, mid = model.encode(frames[:, :3])
    rest, end = model.encode(frames[:, 3:], mid)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole)
    torch.testing.assert_close(end, state)


def test_error_paths():
    model = fernn_v1(**TINY)
    with pytest.raises(ValueError, match=r"\(B, T>=1, 1, H, W\)"):
        model(torch.rand(2, 4, 2, 8, 8), 2)
    with pytest.raises(ValueError, match="steps"):
        model(torch.rand(1, 2, 1, 8, 8), 0)
    with pytest.raises(ValueError, match="v_range"):
        fernn_v1(v_range=-1)
    with pytest.raises(TypeError, match="no field"):
        fernn_v1(velocity_radius=2)


def test_overfits_a_tiny_batch():
    torch.manual_seed(0)
    model = fernn_v1(**TINY)
    frames = torch.zeros(2, 6, 1, 8, 8)
    for t in range(6):
        frames[0, t, 0, 2, (1 + t) % 8] = 1  # a dot moving right
        frames[1, t, 0, (5 - t) % 8, 4] = 1  # a dot moving up
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.mse_loss(model(frames[:, :4], 2).predicted, frames[:, 4:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]  # 0.018 (about the all-zero prediction) -> 0.004


def test_an_index_cached_during_inference_serves_training():
    model = fernn_v1(hidden_channels=4)
    frames = torch.rand(1, 3, 1, 8, 8)
    with torch.inference_mode():
        model.classify(frames)
    model.classify(frames).sum().backward()  # raised "Inference tensors cannot be saved for backward"
    assert all(p.grad is not None for p in model.cell.parameters())
