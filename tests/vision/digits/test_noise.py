"""Sensor noise: its estimate, and the smoothed second look of the reader."""

from pathlib import Path

import numpy as np
import pytest

from vision.digits.data import load_image_gray, noisy
from vision.digits.noise import noise_level, smoothed
from vision.digits.reader import read_digits

SAMPLES = Path(__file__).resolve().parents[3] / "apps" / "samples" / "digits"


@pytest.mark.parametrize("sigma", [5.0, 15.0, 30.0])
def test_the_noise_level_of_white_noise_on_flat_paper_is_its_sigma(sigma):
    image = noisy(np.random.default_rng(0), np.full((200, 300), 128, np.uint8), sigma)
    assert noise_level(image) == pytest.approx(sigma, rel=0.1)


def test_strokes_and_a_ramp_of_light_are_not_noise():
    sample = load_image_gray(SAMPLES / "06_3141592.png")
    ramp = (sample * np.linspace(0.6, 1.0, sample.shape[1])).astype(np.uint8)
    assert noise_level(sample) < 3 and noise_level(ramp) < 3 and noise_level(sample[:2]) == 0.0
    assert noise_level(noisy(np.random.default_rng(1), sample, 20.0)) > 15


def test_smoothing_keeps_the_image_and_lowers_its_noise():
    image = noisy(np.random.default_rng(2), np.full((40, 120), 200, np.uint8), 20.0)
    smooth = smoothed(image)
    assert smooth.shape == image.shape and smooth.dtype == image.dtype
    assert noise_level(smooth) < 0.5 * noise_level(image)


def test_a_noisy_image_is_read_again_smoothed_only_with_smooth(monkeypatch):
    import vision.digits.reader as reader

    looked = []
    monkeypatch.setattr(reader, "smoothed", lambda gray: looked.append(gray.shape) or smoothed(gray))
    monkeypatch.setattr(reader, "SMOOTH_BELOW", 1.01)  # every reading is unsure enough
    sample = load_image_gray(SAMPLES / "06_3141592.png")
    images = [noisy(np.random.default_rng(3), sample, 30.0), sample]
    read_digits(images, smooth=False)
    assert not looked
    read_digits(images)
    assert looked == [sample.shape]  # the noisy image only
