"""Benchmark measurements on tiny inputs: sequences put in motion, velocity pairs, rollouts, heat map,
timing, and the report table."""

import numpy as np
import torch

from vision.fernn.data import MovingDigitsConfig, load_glyph_bank
from vision.fernn.metrics import equivariance_pairs, ring_means, rollout_errors, shift_sequence, time_per_step, velocity_generalisation
from vision.fernn.model import fernn_v1, grnn, velocity_grid
from vision.fernn.report import BenchSettings, evaluate, format_table

TINY = {"hidden_channels": 2, "decoder_layers": 0, "head_layers": 0}


def test_shift_sequence_moves_frame_t_by_t_times_velocity():
    frames = torch.zeros(1, 4, 1, 7, 7)
    frames[:, :, 0, 3, 3] = 1
    moved = shift_sequence(frames, (1, -2))
    for t in range(4):
        assert moved[0, t, 0, (3 - 2 * t) % 7, (3 + t) % 7] == 1 and moved[0, t].sum() == 1


def test_equivariance_pairs_map_each_velocity_to_the_one_minus_nu():
    grid = velocity_grid(1).tolist()
    pairs = equivariance_pairs(1, (1, 0))
    assert len(pairs) == 6  # vx in {0, 1}: 2 columns of 3
    assert all(grid[i][0] - 1 == grid[j][0] and grid[i][1] == grid[j][1] for i, j in pairs)
    assert equivariance_pairs(0, (1, 0)) == [] and len(equivariance_pairs(1, (0, 0))) == 9


def test_rollouts_velocity_grid_and_timing_on_tiny_inputs():
    bank = load_glyph_bank(None, "test", digit_px=4)
    config = MovingDigitsConfig(size=8, frames=5, digit_px=4)
    model = fernn_v1(**TINY)
    errors = rollout_errors(model, bank, config, n=3, input_frames=3, batch_size=2)
    assert errors["mse_per_step"].shape == (2,) and errors["mse"] > 0 and 0 <= errors["accuracy"] <= 1
    grid = velocity_generalisation(model, bank, config, v_test=1, n=1, input_frames=3)
    assert grid.shape == (3, 3) and (grid > 0).all()
    rings = ring_means(np.arange(25.0).reshape(5, 5))
    assert rings == {0: 12.0, 1: 12.0, 2: 12.0}
    assert time_per_step(model, batch=1, size=8, repeats=2) > 0


def test_report_table_lists_every_model():
    bank = load_glyph_bank(None, "test", digit_px=4)
    settings = BenchSettings(n=2, n_per_velocity=1, v_test=2, input_frames=3, long_frames=6, batch_size=2, time_batch=1)
    config = MovingDigitsConfig(size=8, frames=5, digit_px=4)
    results = {name: evaluate(builder(**TINY), bank, config, settings) for name, builder in (("grnn", grnn), ("fernn-v1", fernn_v1))}
    assert len(results["grnn"]["len_mse_per_step"]) == 3 and np.asarray(results["grnn"]["vgen_grid"]).shape == (5, 5)
    assert max(results["fernn-v1"]["equivariance_error"].values()) < 1e-9 < min(results["grnn"]["equivariance_error"].values())
    table = format_table(results, settings)
    assert "grnn" in table and "fernn-v1" in table and "|v|=2" in table
