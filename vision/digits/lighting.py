"""Uneven lighting of a digit-string image: which way round its paper is, and the paper's tone evened out.

A phone photo of a cheque, form or meter is lit unevenly (a shadow across it, light falling off towards an
edge). The reader's normalisation (:func:`vision.digits.data.normalize_image`) decides the paper's polarity
and stretches the contrast over the whole image, so a shadow's dark side can pass for ink, or turn the
image inside out. Both functions take grayscale images (H, W), uint8 or float, paper either way round.
"""

from __future__ import annotations

import cv2
import numpy as np

EVEN_FROM = 0.25  # the share by which the paper's tone under the string may vary before it is evened
TONE_WINDOW = 0.5  # the square that finds the paper's tone, in ink heights: wider than any stroke
TONE_HEIGHT = 24  # the ink's height, in pixels, on the copy the tone is found on


def paper_is_light(gray: np.ndarray, size: int) -> bool:
    """Whether the paper is lighter than the ink, judged locally: in each ``size`` × ``size`` neighbourhood that
    holds some contrast, where a pixel lies between the darkest and the lightest around it; paper, the most
    of any neighbourhood, lies near the paper's side. A global test (the median against the extremes) flips
    where a shadow darkens part of the paper below the middle of the image's range."""
    image = gray.astype(np.float32)
    square = np.ones((size, size), np.uint8)
    low, high = cv2.erode(image, square), cv2.dilate(image, square)
    spread = high - low
    contrasted = spread > 0.25 * np.percentile(spread, 95)
    if not contrasted.any():
        return True
    return float(np.median((image - low)[contrasted] / spread[contrasted])) >= 0.5


def even_lighting(
    gray: np.ndarray, ink_height: float, box: tuple[slice, slice], min_spread: float = EVEN_FROM
) -> np.ndarray | None:
    """``gray`` (H, W) with its paper's tone made even, or None where it already is (varies by less than
    ``min_spread`` of its lightest inside ``box``, the rows and columns of the string).

    The paper's tone is the image with the strokes closed over (a square :data:`TONE_WINDOW` ink heights
    wide, on a copy where the ink is :data:`TONE_HEIGHT` pixels high), blurred; each pixel is divided by
    it and set on the tone of the lightest paper under the string, so ink keeps its contrast to the paper
    around it. Same dtype; paper of either polarity (:func:`paper_is_light`) keeps its polarity.
    """
    image = gray.astype(np.float32)
    top = 255.0 if gray.dtype == np.uint8 or image.max() > 1.0 else 1.0
    scale = min(1.0, TONE_HEIGHT / max(ink_height, 1.0))
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    size = max(3, round(TONE_WINDOW * ink_height * scale)) | 1
    light = paper_is_light(small, size)
    if not light:
        image, small = top - image, top - small
    square = np.ones((size, size), np.uint8)
    tone = cv2.blur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, square), (size, size))
    tone = cv2.resize(tone, image.shape[::-1], interpolation=cv2.INTER_LINEAR)
    under = tone[box]
    if under.size == 0 or under.max() <= 0 or (under.max() - under.min()) < min_spread * under.max():
        return None
    evened = np.clip(image / np.maximum(tone, top / 255) * under.max(), 0.0, top)
    if not light:
        evened = top - evened
    return np.round(evened).astype(np.uint8) if gray.dtype == np.uint8 else evened.astype(gray.dtype)
