"""Colour views (``vision.digits.colour``) and the reader's second look at unsure colour images."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apps.models import load_model
from vision.digits.colour import colour_views, is_colour
from vision.digits.data import gray_array, load_image, load_image_gray
from vision.digits.reader import UNSURE_BELOW, read_digits

SAMPLE = Path(__file__).resolve().parents[3] / "apps" / "samples" / "digits" / "04_25441.png"
RED, GREEN = np.array([220, 60, 60]), np.array([60, 140, 60])  # luma 107.8 and 106.9: the same brightness


def _isoluminant(gray: np.ndarray) -> np.ndarray:
    """The sample's dark ink in red on green paper of the same luma: (H, W, 3) uint8."""
    ink = 1.0 - gray.astype(np.float64)[..., None] / 255
    return np.round(RED * ink + GREEN * (1 - ink)).astype(np.uint8)


@pytest.fixture(scope="module")
def model():
    return load_model("crnn-digits")


def test_gray_saved_as_colour_is_gray_and_colour_is_colour():
    gray = np.random.default_rng(0).integers(0, 256, (20, 30)).astype(np.uint8)
    assert not is_colour(gray) and not is_colour(np.stack([gray] * 3, axis=2))
    nearly = np.stack([gray, np.clip(gray.astype(int) + 1, 0, 255).astype(np.uint8), gray], axis=2)
    assert not is_colour(nearly)  # JPEG's chroma rounding on a gray scan
    assert is_colour(_isoluminant(gray))
    assert is_colour(_isoluminant(gray).astype(np.float32) / 255) and not is_colour(np.stack([gray / 255.0] * 3, 2))


def test_isoluminant_digits_vanish_in_luma_and_stand_out_in_a_colour_view():
    image = _isoluminant(load_image_gray(SAMPLE))
    ink = load_image_gray(SAMPLE) < 128

    def contrast(view: np.ndarray) -> float:  # ink against paper, in levels of 255
        return abs(view[ink].astype(np.float64).mean() - view[~ink].mean())

    views = colour_views(image)
    assert [v.shape for v in views] == [image.shape[:2]] * 4
    assert contrast(gray_array(image)) < 2 and max(contrast(v) for v in views) > 100


def test_the_views_of_rgb_and_bgr_are_the_same_set():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (12, 16, 3)).astype(np.uint8)
    rgb, bgr = colour_views(image), colour_views(image[..., ::-1])
    np.testing.assert_array_equal(rgb[2], bgr[3])
    np.testing.assert_array_equal(rgb[3], bgr[2])
    for a, b in zip(rgb[:2], bgr[:2]):  # a principal axis may come back with the other sign
        flipped = 255 - b.astype(int)
        assert min(np.abs(a.astype(int) - b).max(), np.abs(a.astype(int) - flipped).max()) <= 2


def test_an_unsure_colour_image_is_read_on_its_colour_views(model):
    image = _isoluminant(load_image_gray(SAMPLE))
    (luma_only,) = read_digits([image], model, colour=False)
    (reading,) = read_digits([image], model)
    assert luma_only.confidence < UNSURE_BELOW and luma_only.text != "25441"
    assert reading.text == "25441" and reading.confidence > 0.9


def test_a_gray_image_reads_the_same_given_as_gray_rgb_or_rgba(model):
    gray = load_image_gray(SAMPLE)
    rgba = np.concatenate([np.stack([gray] * 3, 2), np.full(gray.shape + (1,), 255, np.uint8)], axis=2)
    readings = read_digits([gray, np.stack([gray] * 3, 2), rgba], model)
    assert len({(r.text, round(r.confidence, 5)) for r in readings}) == 1


def test_load_image_keeps_colour_and_gray(tmp_path):
    colour = _isoluminant(load_image_gray(SAMPLE))
    Image.fromarray(colour).save(tmp_path / "colour.png")
    Image.fromarray(colour).convert("RGBA").save(tmp_path / "alpha.png")
    Image.fromarray(load_image_gray(SAMPLE)).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(load_image(tmp_path / "colour.png"), colour)
    np.testing.assert_array_equal(load_image(tmp_path / "alpha.png"), colour)
    assert load_image(tmp_path / "gray.png").shape == colour.shape[:2]
