"""Uneven lighting: the paper's polarity judged locally, and its tone evened."""

from pathlib import Path

import numpy as np
import pytest

from vision.digits.data import load_image_gray
from vision.digits.ink import locate_string
from vision.digits.lighting import even_lighting, paper_is_light

SAMPLE = Path(__file__).resolve().parents[3] / "apps" / "samples" / "digits" / "06_3141592.png"
EVERYWHERE = (slice(None), slice(None))


def _sample() -> np.ndarray:
    return load_image_gray(SAMPLE)  # dark ink on light paper, evenly lit


def _shadowed(image: np.ndarray, darkest: float = 0.35) -> np.ndarray:
    """``image`` with the light falling off from its left edge to ``darkest`` of it at its right."""
    return np.round(image * np.linspace(1.0, darkest, image.shape[1])[None]).astype(np.uint8)


def test_polarity_is_judged_where_the_global_test_is_fooled_by_a_shadow():
    shaded = _shadowed(_sample(), 0.3)
    low, median, high = np.percentile(shaded, (2, 50, 98))
    assert 2 * median < low + high  # the global test takes this paper for dark
    assert paper_is_light(shaded, 9) and not paper_is_light(255 - shaded, 9)


@pytest.mark.parametrize("dark_paper", [False, True])
def test_a_shadow_is_evened_out_and_the_ink_keeps_its_side(dark_paper):
    """The paper's tone at the left and right of the string ends within 10 % of each other (65 % apart
    shaded), and the ink stays darker (lighter, on dark paper) than the paper around it."""
    image = _sample()
    ink = image < 128
    shaded = _shadowed(image)
    if dark_paper:
        shaded = 255 - shaded
    evened = even_lighting(shaded, ink_height=0.8 * image.shape[0], box=EVERYWHERE)
    assert evened is not None and evened.dtype == np.uint8 and evened.shape == image.shape
    quarter = image.shape[1] // 4
    paper_at = [np.median(evened[:, ends][~ink[:, ends]]) for ends in (slice(0, quarter), slice(-quarter, None))]
    ink_at = [np.median(evened[:, ends][ink[:, ends]]) for ends in (slice(0, quarter), slice(-quarter, None))]
    assert abs(paper_at[0] - paper_at[1]) < 0.1 * max(paper_at)
    assert all((i > p) if dark_paper else (i < p) for i, p in zip(ink_at, paper_at))


def test_evenly_lit_paper_is_left_alone_and_any_dtype_is_kept():
    image = _sample()
    assert even_lighting(image, 0.8 * image.shape[0], EVERYWHERE) is None
    evened = even_lighting(_shadowed(image).astype(np.float32) / 255, 0.8 * image.shape[0], EVERYWHERE)
    assert evened.dtype == np.float32 and 0.0 <= evened.min() and evened.max() <= 1.0


def test_the_located_string_evens_its_own_image_for_a_fresh_location():
    shaded = _shadowed(_sample())
    evened = locate_string(shaded).evened()
    assert evened is not None and evened.shape == shaded.shape
    assert locate_string(_sample()).evened() is None
