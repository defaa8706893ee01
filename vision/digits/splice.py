"""New real-handwriting strings spliced from labelled scans at their digit boundaries.

A reader trained on the scans aligns each label to its columns (CTC forced alignment); two
neighbouring digits are cut apart where their ink does not touch (:func:`digit_cuts`): at an ink-free
column between them, or, for slanted and overlapping writing, between their connected components.
:class:`SplicedStrings` then joins the start of a random scan to the end of another (sometimes with a
middle run of a third; scans are drawn independently), each piece keeping only its own strokes: new
digit strings in the writers' own hands, ligatures (joined digits stay together) and pens, which the
few hundred real strings alone lack.

Images follow :mod:`vision.digits.data`: float32 (H, W) in [0, 1], ink bright.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torchaudio.functional as AF

from vision.digits.data import MAX_DIGITS, augment_scan, collate, normalize_image
from vision.digits.decode import text_to_labels
from vision.digits.ink import HALO, InkComponents
from vision.digits.model import BLANK, CRNN
from vision.digits.reader import read_batch

_NEIGHBOURS = np.ones((3, 3), np.uint8)


def digit_cuts(image: np.ndarray, log_probs: torch.Tensor, text: str) -> list[int | None]:
    """The ``len(text) - 1`` boundaries between consecutive digits of ``text`` in ``image`` (H, W).

    ``log_probs`` (T, 11): a reader's output for the image, step t centred on column t·W/T. A boundary
    is a column: the ink components (:class:`InkComponents`) whose centroid lies left of it belong to
    the digits before it. Between two digits' aligned centres it is the middle of the widest run of
    ink-free columns with ink on both sides inside that span (so a margin or a gap beside a spike that
    missed its digit is never taken); where there is none (slanted or overlapping digits), the middle of
    the span, provided the digit-height components on each side of it are exactly those holding most ink
    in the columns of that side's digit centres (else the two digits touch, a spike missed its digit, or
    a stroke is no digit; joined digits elsewhere share one component and stay together). A cut is then
    dropped where a short stroke starting in the upper half (a detached flag or bar of a 5, 7 or 4,
    unlike a decimal point) lies within H/8 columns of it, and where a piece it closes holds no
    digit-height ink. None marks no clean cut: touching or joined digits, a detached stroke of either
    side, or an untrustworthy alignment.
    """
    alignment, scores = AF.forced_align(log_probs[None].float(), torch.tensor([text_to_labels(text)]), blank=BLANK)
    spans = AF.merge_tokens(alignment[0], scores[0].exp(), blank=BLANK)
    columns_per_step = image.shape[1] / log_probs.shape[0]
    centres = [round((span.start + span.end - 1) / 2 * columns_per_step) for span in spans]
    height = image.shape[0]
    ink = InkComponents(image)
    blank_columns = ink.labels.max(axis=0) == 0
    stray = ~ink.tall & (ink.top < height / 2) & (ink.area >= height / 4)  # specks of paper texture are smaller
    stray[0] = False
    owners = [ink.owner(column) for column in centres]
    cuts: list[int | None] = []
    for k, (left, right) in enumerate(zip(centres, centres[1:])):
        gap = _widest_inner_run_middle(blank_columns[left:right])
        if gap is not None:
            cuts.append(left + gap)
            continue
        middle = (left + right + 1) // 2
        before = set(np.flatnonzero(ink.tall & (ink.centre_x < middle)))
        after = set(np.flatnonzero(ink.tall & (ink.centre_x >= middle)))
        cuts.append(middle if before == set(owners[: k + 1]) and after == set(owners[k + 1 :]) else None)
    for k, cut in enumerate(cuts):
        if cut is not None and (stray & (ink.left <= cut + height // 8) & (ink.right > cut - height // 8)).any():
            cuts[k] = None
    bounds = [0, *cuts, image.shape[1]]
    clean = _clean_indices(bounds)
    for first, last in zip(clean, clean[1:]):
        if not ink.tall[ink.between(bounds[first], bounds[last])].any():
            _drop_around(cuts, first, last)
    return cuts


def _drop_around(cuts: list[int | None], first: int, last: int) -> None:
    """Set to None (in place) the cuts that close the piece of digits ``first..last-1`` (not the string's ends)."""
    for k in (first, last):
        if 0 < k <= len(cuts):
            cuts[k - 1] = None


def _clean_indices(bounds: Sequence[int | None]) -> list[int]:
    """Indices of the boundaries (``[0, *cuts, W]``) where a string may be cut."""
    return [k for k, column in enumerate(bounds) if column is not None]


def _widest_inner_run_middle(flags: np.ndarray) -> int | None:
    """Middle index of the longest run of True in ``flags`` (1-D bool) that touches neither end."""
    best, start = None, None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if start > 0 and (best is None or i - start > best[1] - best[0]):
                best = (start, i)
            start = None
    return None if best is None else (best[0] + best[1] - 1) // 2


def cut_piece(
    image: np.ndarray, ink: InkComponents, bounds: Sequence[int | None], first: int, last: int
) -> tuple[np.ndarray, np.ndarray]:
    """Digits ``first..last-1`` of a scan (H, W) whose boundaries are ``bounds`` (``[0, *cuts, W]``, both
    ends clean): the columns of their digit-height ink components (from the scan's first or to its last
    column when the run starts or ends the string, so a line under the string is cut to the piece), the
    other components' strokes and their halo painted with the paper's local tone (``ink.paper``).
    Returns the piece (H, w) and its own ink (H, w) bool."""
    labels = ink.between(bounds[first], bounds[last])
    digits = labels[ink.tall[labels]] if ink.tall[labels].any() else labels
    x0 = 0 if first == 0 or digits.size == 0 else int(ink.left[digits].min())
    x1 = image.shape[1] if last == len(bounds) - 1 or digits.size == 0 else int(ink.right[digits].max())
    own = np.isin(ink.labels, labels)
    foreign = cv2.dilate(((ink.labels > 0) & ~own).astype(np.uint8), HALO).astype(bool) & ~own
    piece = np.where(foreign, ink.paper, image).astype(np.float32)
    return piece[:, x0:x1], own[:, x0:x1]


def drop_misread_cuts(
    model: CRNN, images: Sequence[np.ndarray], texts: Sequence[str], cuts: list[list[int | None] | None],
    batch_size: int = 64,
) -> list[list[int | None] | None]:
    """Check every piece between clean cuts by reading it alone with ``model``: where the reading is not
    the piece's digits (a stroke given to the wrong side, a misplaced alignment, a doubtful label), both
    cuts around it are dropped (set to None, in place). Returns ``cuts``."""
    model.eval()
    pieces, where = [], []
    for index, image_cuts in enumerate(cuts):
        if not image_cuts or all(cut is None for cut in image_cuts):
            continue
        bounds, ink = [0, *image_cuts, images[index].shape[1]], InkComponents(images[index])
        clean = _clean_indices(bounds)
        for first, last in zip(clean, clean[1:]):
            piece, own = cut_piece(images[index], ink, bounds, first, last)
            margin = max(3, (piece.shape[0] // 2 - piece.shape[1] + 1) // 2)  # as scanned, not stretched wide
            paper = float(np.median(piece[~own])) if not own.all() else 0.0
            pieces.append(np.pad(piece, ((0, 0), (margin, margin)), constant_values=paper))
            where.append((index, first, last))
    readings = []
    for start in range(0, len(pieces), batch_size):
        readings += [text for text, _ in read_batch(model, pieces[start : start + batch_size])]
    for (index, first, last), reading in zip(where, readings):
        if reading != texts[index][first:last]:
            _drop_around(cuts[index], first, last)
    return cuts


@torch.inference_mode()
def align_cuts(
    model: CRNN, images: Sequence[np.ndarray], texts: Sequence[str], batch_size: int = 64
) -> list[list[int | None] | None]:
    """:func:`digit_cuts` of every image (normalised at ``model``'s height), read in batches by ``model``,
    keeping only the cuts whose pieces ``model`` reads as their digits (:func:`drop_misread_cuts`); None
    where the image is too narrow for its label under CTC."""
    model.eval()
    cuts = []
    for start in range(0, len(images), batch_size):
        batch = collate([(image, "") for image in images[start : start + batch_size]])
        log_probs = model(batch["images"], batch["widths"])
        steps = model.time_steps(batch["widths"])
        for i, (lp, n) in enumerate(zip(log_probs, steps)):
            text = texts[start + i]
            feasible = n >= len(text) + sum(a == b for a, b in zip(text, text[1:]))  # a blank between repeats
            cuts.append(digit_cuts(images[start + i], lp[:n], text) if feasible else None)
    return drop_misread_cuts(model, images, texts, cuts, batch_size)


class SplicedStrings:
    """Random joins of labelled scans cut at digit boundaries; ``sample(rng) -> (image, text)``.

    ``images``: normalised scans (any one height); ``cuts[i]``: the boundaries of ``texts[i]`` in
    ``images[i]`` (:func:`digit_cuts`, None where no clean cut). A sample is the first digits of a
    random scan, with probability ``middle`` a run of digits of another, and the last digits of another
    (each scan drawn independently), cut only at clean boundaries, at most ``MAX_DIGITS`` in all. Each
    piece keeps only its own ink components (the neighbours' strokes that reach into its columns are
    erased) and is set after the previous one ``1..gap`` pixels away, row by row, without touching.
    The join is jittered like a rescan (:func:`augment_scan`) and normalised to ``height``.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        texts: Sequence[str],
        cuts: Sequence[Sequence[int | None]],
        height: int,
        middle: float = 0.2,
        gap: int = 6,
    ):
        self.images, self.texts, self.height, self.middle, self.gap = list(images), list(texts), height, middle, gap
        self.bounds = [[0, *c, image.shape[1]] for image, c in zip(images, cuts)]
        self.clean = [_clean_indices(bounds) for bounds in self.bounds]
        self.ink = [InkComponents(image) for image in self.images]

    def _piece(self, rng: np.random.Generator, where: str) -> tuple[np.ndarray, np.ndarray, str]:
        """A run of digits from a random scan, cut only where it has clean boundaries: its ``start``,
        its ``end`` or any ``middle`` run. Returns the piece (H, w), its own ink (H, w) bool, its digits."""
        index = int(rng.integers(len(self.texts)))
        text, bounds, clean, ink = self.texts[index], self.bounds[index], self.clean[index], self.ink[index]
        first = 0 if where == "start" else int(rng.choice(clean[:-1]))
        last = len(text) if where == "end" else int(rng.choice([k for k in clean if k > first]))
        return (*cut_piece(self.images[index], ink, bounds, first, last), text[first:last])

    def _join(self, rng: np.random.Generator, pieces: list[tuple[np.ndarray, np.ndarray, str]]) -> np.ndarray:
        """Set each piece right of the previous ones, its ink 1..``gap`` pixels from theirs in every row
        (never 8-connected to them); where they share columns the piece shows only its own ink (and the
        pixels around it), the paper there stays the previous ones'."""
        image, ink = pieces[0][0], pieces[0][1]
        for piece, own, _ in pieces[1:]:
            touching = cv2.dilate(np.pad(ink, ((0, 0), (0, 1))).astype(np.uint8), _NEIGHBOURS)  # 8 neighbours
            reach = _last_column(touching.astype(bool))
            start = _first_column(own)
            rows = (reach >= 0) & (start >= 0)
            if rows.any():
                offset = (reach[rows] - start[rows]).max()
            else:  # no row holds ink of both: clear the whole ink
                offset = reach.max() - (start[start >= 0].min() if (start >= 0).any() else 0)
            offset = max(0, int(offset)) + int(rng.integers(1, self.gap + 1))
            width = max(image.shape[1], offset + piece.shape[1])
            joined, joined_ink = np.zeros((len(image), width), np.float32), np.zeros((len(image), width), bool)
            joined[:, : image.shape[1]], joined_ink[:, : image.shape[1]] = image, ink
            placed = np.s_[:, offset : offset + piece.shape[1]]
            shown = cv2.dilate(own.astype(np.uint8), _NEIGHBOURS).astype(bool)
            shown[:, max(0, image.shape[1] - offset) :] = True  # past the previous pieces: all of it
            joined[placed] = np.where(shown, np.maximum(joined[placed], piece), joined[placed])
            joined_ink[placed] |= own
            image, ink = joined, joined_ink
        return image

    def splice(self, rng: np.random.Generator, tries: int = 100) -> tuple[np.ndarray, str]:
        """The joined image (normalised, un-jittered) and its digits; one whole scan if ``tries`` joins
        all run past ``MAX_DIGITS``."""
        for _ in range(tries):
            parts = ["start", "middle", "end"] if rng.random() < self.middle else ["start", "end"]
            pieces = [self._piece(rng, where) for where in parts]
            text = "".join(t for _, _, t in pieces)
            if len(text) <= MAX_DIGITS:
                return self._join(rng, pieces), text
        index = int(rng.integers(len(self.texts)))
        return self.images[index], self.texts[index]

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        image, text = self.splice(rng)
        scan = np.round((1.0 - image) * 255).astype(np.uint8)  # back to dark ink on paper for the jitter
        return normalize_image(augment_scan(rng, scan), self.height), text


def _last_column(mask: np.ndarray) -> np.ndarray:
    """Per row of ``mask`` (H, W) bool, the last True column, -1 where none."""
    return np.where(mask.any(axis=1), mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1), -1)


def _first_column(mask: np.ndarray) -> np.ndarray:
    """Per row of ``mask`` (H, W) bool, the first True column, -1 where none."""
    return np.where(mask.any(axis=1), np.argmax(mask, axis=1), -1)
