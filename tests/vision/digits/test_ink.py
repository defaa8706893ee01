"""Cropping a digit-string image to its ink, and reading loose crops like tight ones."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.digits.data import load_image_gray
from vision.digits.ink import crop_to_ink
from vision.digits.reader import read_digits

SAMPLES = Path(__file__).resolve().parents[3] / "apps" / "samples" / "digits"


def _string_on_paper(dark_ink=True, size=(120, 400), box=(40, 80, 100, 300)):
    """Paper with digits drawn in ``box`` (top, bottom, left, right), a few specks far from it."""
    paper, ink = (200, 30) if dark_ink else (30, 220)
    image = np.full(size, paper, np.uint8)
    top, bottom, left, right = box
    cv2.putText(image, "4096", (left, bottom), cv2.FONT_HERSHEY_SIMPLEX, (bottom - top) / 22, ink, 4)
    rows, cols = np.nonzero(image == ink)
    for y, x in ((5, 5), (110, 390), (10, 380)):
        image[y, x] = ink
    return image, (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)


@pytest.mark.parametrize("dark_ink", [True, False])
def test_the_crop_is_the_ink_extent_plus_its_margins_and_ignores_specks(dark_ink):
    image, (top, bottom, left, right) = _string_on_paper(dark_ink)
    crop = crop_to_ink(image, margin=(0.1, 0.05))
    height = bottom - top
    expected = (height + 2 * round(0.1 * height), right - left + 2 * round(0.05 * height))
    assert abs(crop.shape[0] - expected[0]) <= 2 and abs(crop.shape[1] - expected[1]) <= 2
    assert crop.dtype == image.dtype


def test_an_image_without_ink_or_already_tight_is_kept():
    blank = np.full((30, 90), 255, np.uint8)
    assert crop_to_ink(blank) is blank
    image, (top, bottom, left, right) = _string_on_paper()
    tight = image[top:bottom, left:right]
    assert crop_to_ink(tight, margin=(0.0, 0.0)).shape == tight.shape


def test_columns_are_right_for_images_narrower_than_half_their_height():
    image = np.full((100, 30), 255, np.uint8)
    image[20:80, 12:18] = 0  # a "1"
    crop = crop_to_ink(image, margin=(0.0, 0.0))
    assert crop.shape == (60, 6) and crop.max() == 0


def test_loose_crops_read_like_tight_ones():
    """The bundled samples read right as they are and with 40 % of their height of paper around them."""
    files = sorted(SAMPLES.glob("*.png"))
    images = [load_image_gray(path) for path in files]
    loose = [np.pad(g, int(0.4 * g.shape[0]), constant_values=np.median(g)).astype(g.dtype) for g in images]
    truths = [path.stem.split("_")[1] for path in files]
    assert [r.text for r in read_digits(images)] == truths
    assert [r.text for r in read_digits(loose)] == truths
