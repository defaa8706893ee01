"""New real-handwriting strings spliced from labelled scans at their digit boundaries.

A reader trained on the scans aligns each label to its columns (CTC forced alignment); two
neighbouring digits are cut apart only at an ink-free column with ink on both sides between their
aligned centres (:func:`digit_cuts`). :class:`SplicedStrings` then joins the start of a random scan
to the end of another (sometimes with a middle run of a third; scans are drawn independently): new
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
from vision.digits.model import BLANK, CRNN


def digit_cuts(image: np.ndarray, log_probs: torch.Tensor, text: str) -> list[int | None]:
    """The ``len(text) - 1`` boundaries between consecutive digits of ``text`` in ``image`` (H, W).

    ``log_probs`` (T, 11): a reader's output for the image, step t centred on column t·W/T. Between two
    digits' aligned centres the cut is the middle of the widest run of ink-free columns (Otsu threshold)
    with ink on both sides inside that span, so a margin or a gap beside a spike that missed its digit is
    never taken; a cut is then dropped where the piece it closes holds no ink a third of the height tall.
    None marks no clean cut: touching or joined digits, or an alignment that cannot be trusted there.
    """
    alignment, scores = AF.forced_align(log_probs[None].float(), torch.tensor([text_to_labels(text)]), blank=BLANK)
    spans = AF.merge_tokens(alignment[0], scores[0].exp(), blank=BLANK)
    columns_per_step = image.shape[1] / log_probs.shape[0]
    centres = [round((span.start + span.end - 1) / 2 * columns_per_step) for span in spans]
    _, mask = cv2.threshold(np.round(image * 255).astype(np.uint8), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    blank_columns = mask.sum(axis=0) == 0
    cuts: list[int | None] = []
    for left, right in zip(centres, centres[1:]):
        gap = _widest_inner_run_middle(blank_columns[left:right])
        cuts.append(None if gap is None else left + gap)
    bounds = [0, *cuts, image.shape[1]]
    clean = _clean_indices(bounds)
    for first, last in zip(clean, clean[1:]):
        rows = np.flatnonzero(mask[:, bounds[first] : bounds[last]].any(axis=1))
        if rows.size == 0 or rows[-1] - rows[0] + 1 < image.shape[0] / 3:
            for k in (first, last):
                if 0 < k < len(bounds) - 1:
                    cuts[k - 1] = None
    return cuts


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


@torch.inference_mode()
def align_cuts(
    model: CRNN, images: Sequence[np.ndarray], texts: Sequence[str], batch_size: int = 64
) -> list[list[int | None] | None]:
    """:func:`digit_cuts` of every image (normalised at ``model``'s height), read in batches by ``model``;
    None where the image is too narrow for its label under CTC."""
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
    return cuts


class SplicedStrings:
    """Random joins of labelled scans cut at digit boundaries; ``sample(rng) -> (image, text)``.

    ``images``: normalised scans (any one height); ``cuts[i]``: the boundaries of ``texts[i]`` in
    ``images[i]`` (:func:`digit_cuts`, None where no clean cut). A sample is the first digits of a
    random scan, with probability ``middle`` a run of digits of another, and the last digits of another
    (each scan drawn independently), cut only at clean boundaries, at most ``MAX_DIGITS`` in all; it is
    jittered like a rescan (:func:`augment_scan`) and normalised to ``height``.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        texts: Sequence[str],
        cuts: Sequence[Sequence[int | None]],
        height: int,
        middle: float = 0.2,
    ):
        self.images, self.texts, self.height, self.middle = list(images), list(texts), height, middle
        self.bounds = [[0, *c, image.shape[1]] for image, c in zip(images, cuts)]
        self.clean = [_clean_indices(bounds) for bounds in self.bounds]

    def _piece(self, rng: np.random.Generator, where: str) -> tuple[np.ndarray, str]:
        """A run of digits from a random scan, cut only where it has clean boundaries: its ``start``,
        its ``end`` or any ``middle`` run."""
        index = int(rng.integers(len(self.texts)))
        text, bounds, clean = self.texts[index], self.bounds[index], self.clean[index]
        first = 0 if where == "start" else int(rng.choice(clean[:-1]))
        last = len(text) if where == "end" else int(rng.choice([k for k in clean if k > first]))
        return self.images[index][:, bounds[first] : bounds[last]], text[first:last]

    def splice(self, rng: np.random.Generator, tries: int = 100) -> tuple[np.ndarray, str]:
        """The joined image (normalised, un-jittered) and its digits; one whole scan if ``tries`` joins
        all run past ``MAX_DIGITS``."""
        for _ in range(tries):
            parts = ["start", "middle", "end"] if rng.random() < self.middle else ["start", "end"]
            pieces = [self._piece(rng, where) for where in parts]
            text = "".join(t for _, t in pieces)
            if len(text) <= MAX_DIGITS:
                return np.concatenate([image for image, _ in pieces], axis=1), text
        index = int(rng.integers(len(self.texts)))
        return self.images[index], self.texts[index]

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        image, text = self.splice(rng)
        scan = np.round((1.0 - image) * 255).astype(np.uint8)  # back to dark ink on paper for the jitter
        return normalize_image(augment_scan(rng, scan), self.height), text
