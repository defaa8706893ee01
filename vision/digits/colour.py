"""Gray views of a colour image, for digits that stand out in colour more than in brightness.

A red number on a green sign, or yellow paint on a grey wall, can all but vanish in luma (the gray image
the reader is trained on) while standing out on another axis of colour. :func:`colour_views` gives the
image projected on the first two principal axes of its pixels' colours and its first and last channels
(the set is the same for RGB and BGR input); :func:`~vision.digits.reader.read_digits` reads them when
its luma reading is unsure and keeps the most confident reading.
"""

from __future__ import annotations

import numpy as np

from vision.digits.data import white_level

GRAY_TOLERANCE = 2  # channels this close everywhere (in 0..255 levels) make a gray image


def is_colour(image: np.ndarray) -> bool:
    """Whether an image array has colour: (H, W, 3) with some pixel's channels more than ``GRAY_TOLERANCE``
    levels of 255 apart (a gray scan saved as RGB has none)."""
    if image.ndim != 3:
        return False
    spread = image.max(axis=2).astype(np.float64) - image.min(axis=2)
    return float(spread.max()) > GRAY_TOLERANCE * white_level(image.dtype) / 255


def stretch(values: np.ndarray) -> np.ndarray:
    """Any float array -> uint8, its 0.5th..99.5th percentiles mapped to 0..255 (clipped beyond)."""
    low, high = np.percentile(values, [0.5, 99.5])
    return np.clip((values - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8)


def colour_views(image: np.ndarray) -> list[np.ndarray]:
    """(H, W, 3) colour image (any dtype) -> four (H, W) gray views: the projections of its pixels on their
    first and second principal colour axes (uint8, stretched by :func:`stretch`), then its first and last
    channels as they are. Polarity is left as it falls (the reader decides it per image)."""
    pixels = image.reshape(-1, 3).astype(np.float64)
    centred = pixels - pixels.mean(axis=0)
    _, axes = np.linalg.eigh(centred.T @ centred)  # eigenvalues ascending: the last axis varies most
    principal = [stretch((pixels @ axes[:, -k]).reshape(image.shape[:2])) for k in (1, 2)]
    return principal + [np.ascontiguousarray(image[..., c]) for c in (0, 2)]
