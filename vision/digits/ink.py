"""Ink of a digit-string image: its connected components, and the crop to its extent.

:class:`InkComponents` reads images as :mod:`vision.digits.data` makes them: float32 (H, W) in [0, 1], ink
bright; :func:`crop_to_ink` takes any grayscale image.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import cv2
import numpy as np

from vision.digits.lighting import EVEN_FROM, even_lighting

HALO = np.ones((5, 5), np.uint8)  # a stroke's anti-aliased edge
DEFAULT_MARGIN = (0.1, 0.05)  # (rows, columns) in ink heights: the ORAND training scans' median margins
LINE_ASPECT = 4  # width / height from which a long, low component is a rule line (InkComponents.lines)
FRAME_INSIDE = 0.05  # at most this share of the framed ink's box may belong to its frame (_framed)
FRAMED_HEIGHT = 0.2  # and that box at least this share of the image height
BOX_CORNER = 0.1  # a drawn box has ink this near (a share of its height or width) to each corner of its least rectangle
APART = 0.5  # ink this many string heights above or below the string's rows is not the string's (_apart)
LOOSE_BELOW = 0.5  # ink lies apart from the string only in an image at least 1 / LOOSE_BELOW times its height


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

    @property
    def lines(self) -> np.ndarray:
        """Labels of the rule lines (underlines, strike-throughs, box edges): components that are not tall,
        at least :data:`LINE_ASPECT` times as wide as high and at least half as wide as the image (so that
        the separate horizontal bars of a segment display are not lines)."""
        width = self.right - self.left
        line = (width >= LINE_ASPECT * (self.bottom - self.top)) & (width >= self._image.shape[1] / 2) & ~self.tall
        line[0] = False
        return np.flatnonzero(line)

    def owner(self, column: int) -> int:
        """The label with the most ink in ``column`` (0 where it has none)."""
        counts = np.bincount(self.labels[:, column], minlength=2)
        return int(counts[1:].argmax() + 1) if counts[1:].any() else 0

    def between(self, start: float, stop: float) -> np.ndarray:
        """Labels of the components whose centroid column lies in [start, stop)."""
        return np.flatnonzero((self.centre_x >= start) & (self.centre_x < stop))


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Any grayscale image (H, W) -> float32 (H, W) in [0, 1], ink bright: how far each pixel stands out
    from the paper around it. The image is stretched between the extremes of a 3×3 median-filtered copy
    (so a few ink pixels in a wide page still reach 1, and lone noise pixels do not set the range) and
    inverted when its median (the paper) lies on the light side; its top-hat with a square a third of its
    height keeps strokes narrower than the square and drops paper of any tone (a lighter strip along a
    border, shading), which a global threshold would split from the rest of the paper."""
    image = gray.astype(np.float32)
    smooth = cv2.medianBlur(image, 3) if min(image.shape) >= 3 else image
    low, high = float(smooth.min()), float(smooth.max())
    image = np.clip((image - low) / max(high - low, 1e-6), 0.0, 1.0)
    if np.median(image) > 0.5:
        image = 1.0 - image
    size = max(3, image.shape[0] // 3) | 1
    return cv2.morphologyEx(image, cv2.MORPH_TOPHAT, np.ones((size, size), np.uint8))


def crop_to_ink(
    gray: np.ndarray,
    margin: tuple[float, float] = DEFAULT_MARGIN,
    min_area: float = 0.02,
    locate_height: int = 256,
) -> np.ndarray:
    """``gray`` (H, W) cut to the bounding box of its ink plus ``margin`` (rows above and below, columns
    at each side) times the ink's height, so that the digits fill the reader's input height however
    loosely the image was cropped.

    The ORAND-CAR training scans the reader learnt from have median margins of about 0.11 of the ink
    height above, 0.02-0.05 below and 0.02-0.05 at the sides. Ink is located on a copy at most
    ``locate_height`` rows high (:func:`ink_map`, then :class:`InkComponents`); components smaller
    than ``min_area`` times the largest do not count (specks, noise), nor does a solid block at the
    border holding over half of all the ink (a table or scanner edge in a photo), nor a box drawn around
    the string (a form's field: :func:`_drawn_box`); where rule lines hold
    over half the ink, it is located again without them (a dark underline would otherwise set the
    threshold above pale digits and keep only itself). An image without ink is returned unchanged; so is
    any dtype.
    """
    return crops_to_ink(gray, [margin], min_area, locate_height)[0]


def ink_tilt(gray: np.ndarray, min_area: float = 0.02, locate_height: int = 256, min_aspect: float = 1.5) -> float:
    """:meth:`StringInk.tilt` of the string in ``gray`` (H, W) (:func:`locate_string`)."""
    return locate_string(gray, min_area, locate_height).tilt(min_aspect)


def turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) turned counter-clockwise by ``degrees`` about its centre, on a canvas
    grown to hold all of it, the new corners filled with the median tone (the paper); same dtype."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(np.ceil(height * sin + width * cos)), int(np.ceil(height * cos + width * sin)))
    matrix[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
    paper = np.median(image.reshape(height * width, -1), axis=0).tolist()
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=paper)


def crops_to_ink(
    gray: np.ndarray,
    margins: Sequence[tuple[float, float]],
    min_area: float = 0.02,
    locate_height: int = 256,
    inside_frame: bool = False,
) -> list[np.ndarray]:
    """:func:`crop_to_ink` with each of ``margins`` in turn, the ink located once. With ``inside_frame``,
    the crops of the ink inside a frame (the edge of a label, a display or a box around the digits, which
    touches the image border: :func:`_framed`), leaving the frame and all else at the border out; no
    crops (``[]``) where nothing is framed."""
    string = locate_string(gray, min_area, locate_height, inside_frame)
    return [] if string is None else string.crops(margins)


class StringInk:
    """The ink of the digit string in a grayscale image, located once (:func:`locate_string`) for the crops
    to it, its tilt and its lighting: ``ink``, the components of a copy ``scale`` times the image's size,
    and ``labels``, those that belong to the string."""

    def __init__(self, gray: np.ndarray, ink: InkComponents, labels: np.ndarray, scale: float):
        self.gray, self.ink, self.labels, self.scale = gray, ink, labels, scale

    def crops(self, margins: Sequence[tuple[float, float]]) -> list[np.ndarray]:
        """The image cut to the string's ink plus each of ``margins`` (:func:`crop_to_ink`); the whole
        image for each where there is no ink."""
        if not len(self.labels):
            return [self.gray for _ in margins]
        return [self.gray[self.box(margin)] for margin in margins]

    def evened(self, min_spread: float = EVEN_FROM) -> np.ndarray | None:
        """The image with its paper's lighting evened (:func:`~vision.digits.lighting.even_lighting`) where the
        paper's tone under the string varies by ``min_spread`` of its lightest or more; else None. Locate
        the string again on it: a shadow misleads the location too."""
        if not len(self.labels):
            return None
        top, bottom = self._extent()[:2]
        return even_lighting(self.gray, bottom - top, self.box(DEFAULT_MARGIN), min_spread)

    def _extent(self) -> tuple[float, float, float, float]:
        """(top, bottom, left, right) of the string's ink in the image's pixels, ends exclusive."""
        ink, labels, scale = self.ink, self.labels, self.scale
        return (ink.top[labels].min() / scale, ink.bottom[labels].max() / scale,
                ink.left[labels].min() / scale, ink.right[labels].max() / scale)

    def box(self, margin: tuple[float, float]) -> tuple[slice, slice]:
        """Rows and columns of the string's ink plus ``margin`` (rows, columns) times its height."""
        top, bottom, left, right = self._extent()
        rows, columns = (m * (bottom - top) for m in margin)
        return (slice(max(int(top - rows), 0), int(np.ceil(bottom + rows))),
                slice(max(int(left - columns), 0), int(np.ceil(right + columns))))

    def columns(self) -> np.ndarray:
        """Whether each column of the image holds ink of the string: bool (W,)."""
        held = np.isin(self.ink.labels, self.labels).any(axis=0)
        return held[np.minimum((np.arange(self.gray.shape[1]) * self.scale).astype(int), len(held) - 1)]

    def glyphs(self) -> list[tuple[int, int]]:
        """The column range [left, right) of each of the string's components, in the image's pixels."""
        ink, scale = self.ink, self.scale
        return [(int(ink.left[k] / scale), int(np.ceil(ink.right[k] / scale))) for k in self.labels]

    def tilt(self, min_aspect: float = 1.5) -> float:
        """The angle in degrees (counter-clockwise, as :func:`cv2.getRotationMatrix2D` turns) by which the
        string rises from left to right: the slope of the line fitted, by least squares weighted by each
        column's ink, through the middle row of the ink in each column (slanted digits lean about that
        middle, so slant does not count as tilt; the slope is the same at any scale); 0 where the ink is
        less than ``min_aspect`` times as wide as high (one or two digits: no line to fit)."""
        if not len(self.labels):
            return 0.0
        mask = np.isin(self.ink.labels, self.labels)
        columns = np.flatnonzero(mask.any(axis=0))
        rows = np.flatnonzero(mask.any(axis=1))
        if columns[-1] - columns[0] + 1 < min_aspect * (rows[-1] - rows[0] + 1):
            return 0.0
        weight = mask[:, columns].sum(axis=0).astype(np.float64)
        middle = (mask[:, columns] * np.arange(mask.shape[0])[:, None]).sum(axis=0) / weight
        slope = np.polyfit(columns.astype(np.float64), middle, 1, w=np.sqrt(weight))[0]
        return float(np.degrees(np.arctan(-slope)))


def locate_string(
    gray: np.ndarray, min_area: float = 0.02, locate_height: int = 256, inside_frame: bool = False
) -> StringInk | None:
    """The ink of the digit string in ``gray`` (H, W), located on a copy at most ``locate_height`` rows high
    (:func:`ink_map`, then :class:`InkComponents`): not a solid block at the border holding over half of all
    the ink, nor a box drawn around the rest (:func:`_drawn_box`), nor components smaller than ``min_area``
    times the largest, nor a rule line or a speck well above or below the string (:func:`_apart`); with
    ``inside_frame``, only the ink inside a frame (None where nothing is framed)."""
    height, width = gray.shape
    scale = min(1.0, locate_height / height)
    small = gray.astype(np.float32)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    ink = _located(ink_map(small))
    labels = np.arange(1, len(ink.area))
    boxes = (ink.right - ink.left) * (ink.bottom - ink.top)
    at_border = (ink.left == 0) | (ink.top == 0) | (ink.right == small.shape[1]) | (ink.bottom == small.shape[0])
    edge = at_border & (ink.area >= 0.7 * boxes) & (ink.area > 0.5 * ink.area[1:].sum())
    labels = labels[~edge[labels]]
    labels = labels[labels != _drawn_box(ink, labels, min_area)]
    if inside_frame:
        inner = labels[~at_border[labels]]
        if not _framed(ink, inner, labels[at_border[labels]], min_area):
            return None
        labels = inner
    if len(labels):
        labels = labels[ink.area[labels] >= min_area * ink.area[labels].max()]
        labels = labels[~_apart(ink, labels)]
    return StringInk(gray, ink, labels, scale)


def _apart(ink: InkComponents, labels: np.ndarray) -> np.ndarray:
    """Which of ``labels`` lie apart from the string (bool, one per label). Rows are taken by the boxes of the
    components that are not rule lines (:attr:`InkComponents.lines`); the string's rows are the run of taken
    rows holding the most ink, joined with each run less than :data:`APART` of its height away. Apart: a rule
    line or a speck (less than that high) in the rows beyond; only where the string's rows are under
    :data:`LOOSE_BELOW` of the image's height (a string cut close has no room for such marks). Glyphs apart
    from the string stay (a second line of digits: reading one line alone would drop the other unseen)."""
    top, bottom, area = ink.top[labels], ink.bottom[labels], ink.area[labels]
    line = np.isin(labels, ink.lines)
    taken = np.zeros(ink.labels.shape[0], bool)
    for start, stop in zip(top[~line], bottom[~line]):
        taken[start:stop] = True
    runs = true_runs(taken)
    if not runs:
        return np.zeros(len(labels), bool)
    held = [area[~line & (top >= start) & (bottom <= stop)].sum() for start, stop in runs]
    first, last = runs[int(np.argmax(held))]
    while True:  # join the runs within reach
        near = [(a, b) for a, b in runs if a - last < APART * (last - first) and first - b < APART * (last - first)]
        grown = min(a for a, _ in near), max(b for _, b in near)
        if grown == (first, last):
            break
        first, last = grown
    if last - first >= LOOSE_BELOW * len(taken):
        return np.zeros(len(labels), bool)
    reach = APART * (last - first)
    apart = (bottom <= first - reach) | (top >= last + reach)
    return apart & (line | (bottom - top < reach))


def true_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """The [start, stop) of each run of true ``flags`` (bool (N,))."""
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _located(ink_image: np.ndarray) -> InkComponents:
    """The components of ``ink_image``; where rule lines hold over half the ink, a dark line may have set
    the threshold above faint digits (which then break into specks): the components found again with the
    lines (and their halo) masked out, if that finds a tall one."""
    ink = InkComponents(ink_image)
    lines = ink.lines
    if ink.area[lines].sum() <= 0.5 * ink.area[1:].sum():
        return ink
    masked = cv2.dilate(np.isin(ink.labels, lines).astype(np.uint8), HALO).astype(bool)
    rest = InkComponents(np.where(masked, 0.0, ink_image).astype(np.float32))
    return rest if rest.tall.any() else ink


def _drawn_box(ink: InkComponents, labels: np.ndarray, min_area: float) -> int:
    """The label of a box drawn around the rest of the ink (a form's field, a cheque's amount box), 0 if none:
    the component with the largest box, where it surrounds the others (:func:`_surrounds`), has ink near
    each corner of its least rectangle (within :data:`BOX_CORNER` of its box's height or width: a rectangle,
    upright or askew, not a digit's loop around specks, which leaves those corners empty; :func:`_has_corners`),
    and a hole of it holds the others' box (it is closed around the string, not a ruled line that digits touch)."""
    if len(labels) < 2:
        return 0
    frame = labels[np.argmax((ink.bottom[labels] - ink.top[labels]) * (ink.right[labels] - ink.left[labels]))]
    inner_top, inner_bottom, inner_left, inner_right = extent = _extent_of(ink, labels[labels != frame], min_area)
    if not _surrounds(ink, frame, extent):
        return 0
    top, bottom, left, right = ink.top[frame], ink.bottom[frame], ink.left[frame], ink.right[frame]
    reach = max(2, round(BOX_CORNER * min(bottom - top, right - left)))
    own = ink.labels[top:bottom, left:right] == frame
    if not _has_corners(own, reach):
        return 0
    contours, hierarchy = cv2.findContours(own.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    holes = [cv2.boundingRect(c) for c, h in zip(contours, hierarchy[0]) if h[3] >= 0]  # (x, y, w, h) in its box
    encloses = any(
        left + x <= inner_left and top + y <= inner_top and left + x + w >= inner_right and top + y + h >= inner_bottom
        for x, y, w, h in holes
    )
    return int(frame) if encloses else 0


def _has_corners(own: np.ndarray, reach: int) -> bool:
    """Whether the ink of ``own`` (bool (H, W), a component in its box) lies within ``reach`` pixels of each
    corner of its least rectangle (turned as the component is: a box drawn or scanned a few degrees askew)."""
    rows, columns = np.nonzero(own)
    corners = cv2.boxPoints(cv2.minAreaRect(np.stack([columns, rows], axis=1).astype(np.float32)))
    near = [own[max(0, round(y) - reach) : round(y) + reach, max(0, round(x) - reach) : round(x) + reach] for x, y in corners]
    return all(window.any() for window in near)


def _framed(ink: InkComponents, inner: np.ndarray, border: np.ndarray, min_area: float) -> bool:
    """Whether one of the ``border`` components (touching the image border) frames the ``inner`` ones: the
    edge of a label, a display or a box around the digits. It surrounds them (:func:`_surrounds`), and their
    box is at least :data:`FRAMED_HEIGHT` of the image high."""
    if not len(inner) or not len(border):
        return False
    extent = _extent_of(ink, inner, min_area)
    if extent[1] - extent[0] < FRAMED_HEIGHT * ink.labels.shape[0]:
        return False
    return any(_surrounds(ink, f, extent) for f in border)


def _extent_of(ink: InkComponents, labels: np.ndarray, min_area: float) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the box of ``labels`` with at least ``min_area`` of the largest one's area."""
    labels = labels[ink.area[labels] >= min_area * ink.area[labels].max()]
    return ink.top[labels].min(), ink.bottom[labels].max(), ink.left[labels].min(), ink.right[labels].max()


def _surrounds(ink: InkComponents, frame: int, extent: tuple[int, int, int, int]) -> bool:
    """Whether the box of component ``frame`` holds the box ``extent`` (top, bottom, left, right) and the
    component covers at most :data:`FRAME_INSIDE` of it."""
    top, bottom, left, right = extent
    holds = (ink.top[frame] <= top and ink.bottom[frame] >= bottom
             and ink.left[frame] <= left and ink.right[frame] >= right)
    return holds and (ink.labels[top:bottom, left:right] == frame).mean() <= FRAME_INSIDE
