"""Ink of a digit-string image: its connected components, and the crop to its extent.

Images follow :mod:`vision.digits.data`: float32 (H, W) in [0, 1], ink bright (``normalize_image``).
"""

from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np

from vision.digits.data import normalize_image

HALO = np.ones((5, 5), np.uint8)  # a stroke's anti-aliased edge


class InkComponents:
    """The 8-connected components of an image's ink (Otsu threshold): ``labels`` (H, W) int32 (0 is
    paper) and, per label, its column range ``left``/``right`` and row range ``top``/``bottom`` (ends
    exclusive), ``area`` in pixels, centroid column ``centre_x`` and whether it is ``tall`` (at least a
    third of the image height, as a digit is); index 0 is the paper. ``paper``: the image without ink."""

    def __init__(self, image: np.ndarray):
        _, ink = cv2.threshold(np.round(image * 255).astype(np.uint8), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        _, self.labels, stats, centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
        self.left, self.top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        self.area = stats[:, cv2.CC_STAT_AREA]
        self.right, self.bottom = self.left + stats[:, cv2.CC_STAT_WIDTH], self.top + stats[:, cv2.CC_STAT_HEIGHT]
        self.centre_x = centroids[:, 0]
        self.centre_x[0] = np.nan  # the paper belongs to no digit
        self.tall = self.bottom - self.top >= image.shape[0] / 3
        self.tall[0] = False
        self._image = image

    @cached_property
    def paper(self) -> np.ndarray:
        """The paper's local tone (H, W) float32: the image with its ink (and the pixels around it) set to
        the median paper, median-filtered."""
        strokes = cv2.dilate((self.labels > 0).astype(np.uint8), HALO).astype(bool)
        if strokes.all():
            return np.zeros_like(self._image, dtype=np.float32)
        flat = np.where(strokes, np.median(self._image[~strokes]), self._image).astype(np.float32)
        return cv2.medianBlur(flat, 5)

    def owner(self, column: int) -> int:
        """The label with the most ink in ``column`` (0 where it has none)."""
        counts = np.bincount(self.labels[:, column], minlength=2)
        return int(counts[1:].argmax() + 1) if counts[1:].any() else 0

    def between(self, start: float, stop: float) -> np.ndarray:
        """Labels of the components whose centroid column lies in [start, stop)."""
        return np.flatnonzero((self.centre_x >= start) & (self.centre_x < stop))


def crop_to_ink(
    gray: np.ndarray, margin: tuple[float, float] = (0.1, 0.05), min_area: float = 0.02
) -> np.ndarray:
    """``gray`` (H, W) cut to the bounding box of its ink plus ``margin`` (rows, columns) times the ink's
    height, so that the digits fill the reader's input height however loosely the image was cropped.

    The defaults are the median margins of the ORAND-CAR training scans the reader learnt from (the ink
    fills their height but for ~0.1 of it above and a few hundredths at the sides). Ink is found as in
    :class:`InkComponents` on the image normalised at its own height (either polarity); components
    smaller than ``min_area`` times the largest (specks, noise) do not count. An image without ink is
    returned unchanged; so is any dtype.
    """
    height, width = gray.shape[:2]
    image = normalize_image(gray, height, max_width=max(width, height))
    ink = InkComponents(image)
    if len(ink.area) < 2:
        return gray
    keep = np.flatnonzero(ink.area >= min_area * ink.area[1:].max())
    keep = keep[keep > 0]
    top, bottom = int(ink.top[keep].min()), int(ink.bottom[keep].max())
    x_scale = width / image.shape[1]  # normalize_image widens images narrower than half their height
    left, right = int(ink.left[keep].min() * x_scale), int(np.ceil(ink.right[keep].max() * x_scale))
    rows, columns = (round(m * (bottom - top)) for m in margin)
    return gray[max(top - rows, 0) : bottom + rows, max(left - columns, 0) : right + columns]
