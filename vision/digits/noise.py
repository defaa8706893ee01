"""Sensor noise in a digit-string image: how much there is, and a smoothed copy to read it from.

A phone's photo in dim light carries noise in every pixel, more than the reader learnt from (its training
strings have up to 15 grey levels). Both functions take grayscale images (H, W), uint8 or float in 0-255.
"""

from __future__ import annotations

import cv2
import numpy as np

SMOOTH_SIGMA = 0.8  # pixels: the Gaussian that smooths a noisy image before it is read again
# The discrete Laplacian difference of Immerkaer (1996): blind to flat paper and to linear ramps of light.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_level(gray: np.ndarray) -> float:
    """The standard deviation, in grey levels, of white Gaussian noise in ``gray`` (H, W): the median of
    the absolute response to Immerkaer's kernel (whose response to such noise has a standard deviation of 6
    times the noise's), so that the strokes' edges, a small share of the pixels, barely move it."""
    if min(gray.shape) < 3:
        return 0.0
    response = np.abs(cv2.filter2D(gray.astype(np.float32), -1, _NOISE_KERNEL, borderType=cv2.BORDER_REFLECT))
    return float(np.median(response[1:-1, 1:-1]) / (6 * 0.6745))


def smoothed(gray: np.ndarray) -> np.ndarray:
    """``gray`` (H, W) under a Gaussian of :data:`SMOOTH_SIGMA` pixels; same dtype."""
    return cv2.GaussianBlur(gray, (0, 0), SMOOTH_SIGMA)
