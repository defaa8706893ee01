"""Words beside digits: which columns of a string image hold letters, so that the reader leaves them out.

The reader knows only digits and reads a label or unit beside a number ("Total", "kg") as digits. The word
tagger (``word-tagger``, :func:`vision.digits.model.word_tagger`) marks each time step of a string image as
letters or not; :func:`letter_columns` turns that into a probability per image column and :func:`without_words`
paints the columns of the words with the paper.

Training lines (:class:`TaggedLines`) are printed strings with words before or after them, or words alone,
each with the columns its words cover (:func:`tagged_line`), mixed with strings of digits alone (synthetic
and real), none of whose columns are letters. Their words are drawn by :func:`training_word` and never
from :data:`~vision.digits.data.FORM_WORDS`, which the benchmark's ``synth-words`` set draws half of its words from.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import IterableDataset

from recurrent.streams import pass_rng, worker_share
from vision.digits import data
from vision.digits.ink import locate_string, true_runs, turned
from vision.digits.model import CRNN

VOWELS = "aeiouy"
CONSONANTS = "".join(c for c in string.ascii_lowercase if c not in VOWELS)
LETTER_GAP = 0.15  # of a line's height: gaps between a word's letters narrower than this belong to the word
IGNORE = -100  # the target of padded time steps (cross-entropy's ignore_index)


def training_word(rng: np.random.Generator) -> str:
    """A word to print beside digits in training: 1-8 random letters, a pronounceable made-up word of 1-4
    syllables, or a capital abbreviation with a full stop; in lower, upper or title case, sometimes
    ending in ``:``; never one of :data:`~vision.digits.data.FORM_WORDS`."""
    forms = {w.lower() for w in data.FORM_WORDS}
    while True:
        kind = int(rng.integers(3))
        if kind == 0:
            word = "".join(rng.choice(list(string.ascii_lowercase), int(rng.integers(1, 9))))
        elif kind == 1:
            syllables = int(rng.integers(1, 5))
            word = "".join(str(rng.choice(list(CONSONANTS))) * int(rng.random() < 0.8) + str(rng.choice(list(VOWELS)))
                           + str(rng.choice(list(CONSONANTS))) * int(rng.random() < 0.4) for _ in range(syllables))
        else:
            word = "".join(rng.choice(list(string.ascii_lowercase), int(rng.integers(1, 4)))) + "."
        word = (str.lower, str.upper, str.title)[int(rng.integers(3))](word)
        if word.strip(".").lower() not in forms:
            return word + ":" * int(rng.random() < 0.2)


def tagged_line(
    rng: np.random.Generator, fonts: list, font_probabilities: np.ndarray | None, alone_fraction: float = 0.2,
    tilt: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A printed string with one or two words before it, after it or both (``alone_fraction`` of them words
    alone, with no digits), turned ``tilt`` degrees counter-clockwise (:func:`~vision.digits.ink.turned`) and
    degraded as a scan or photo (:func:`~vision.digits.data.degrade`): (uint8 (H, W), bool (W0,) whether each
    column lies within a word: its ink, or a gap between its letters narrower than :data:`LETTER_GAP` of the
    line's height). W0 is the line's width before it was degraded, which may have scaled it down: column j of
    the image is column j * W0 / W of ``letters``."""
    words = " ".join(training_word(rng) for _ in range(int(rng.integers(1, 3))))
    if rng.random() < alone_fraction:
        text, before, after = "", words, ""
    else:
        text, where = data.random_text(rng), rng.random()
        before, after = (words, "") if where < 0.45 else ("", words) if where < 0.8 else (words, training_word(rng))
    ink, word_ink = data.render_printed(rng, fonts, text, sign=rng.random() < 0.1, font_probabilities=font_probabilities,
                                        before=before, after=after, word_mask=True)
    gap = 2 * round(LETTER_GAP * ink.shape[0] / 2) + 1  # of the line's height before it is turned
    if tilt:
        ink, word_ink = turned(ink, tilt), turned(word_ink, tilt)
    return data.degrade(rng, ink), gaps_closed((word_ink > 0.2).any(axis=0), gap)


def gaps_closed(runs: np.ndarray, size: int) -> np.ndarray:
    """``runs`` (bool (W,)) with every gap narrower than ``size`` (odd) columns between two runs filled: a
    morphological closing, the ends padded so that a run near an end is not stretched to it."""
    padded = np.pad(runs.astype(np.uint8)[None], ((0, 0), (size, size)))
    return cv2.morphologyEx(padded, cv2.MORPH_CLOSE, np.ones((1, size), np.uint8))[0, size:-size].astype(bool)


def recropped(rng: np.random.Generator, image: np.ndarray, letters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A grayscale line (H, W) and its ``letters`` (W0,) cut to the line's ink as the reader cuts it
    (:func:`~vision.digits.ink.locate_string`), with margins drawn as :func:`~vision.digits.data.recrop` draws them."""
    line = locate_string(image)
    if not len(line.labels):
        return image, letters
    rows, columns = line.box(tuple(rng.uniform(*margins) for margins in data.RECROP_MARGINS))
    scale = len(letters) / image.shape[1]
    start = int(columns.start * scale)
    return image[rows, columns], letters[start : max(start + 1, round(min(columns.stop, image.shape[1]) * scale))]


def step_targets(letters: np.ndarray, width: int, steps: int) -> np.ndarray:
    """Per time step of a ``width``-column image read in ``steps`` steps: 1 where most of its columns are
    letters, else 0 (``letters`` (W0,) bool: the image's columns before it was resized to ``width``)."""
    columns = np.interp(np.arange(width) * len(letters) / width, np.arange(len(letters)), letters.astype(np.float32))
    edges = np.linspace(0, width, steps + 1).round().astype(int)
    return np.array([columns[a:max(b, a + 1)].mean() > 0.5 for a, b in zip(edges[:-1], edges[1:])], np.int64)


class TaggedLines(IterableDataset):
    """Items (image (height, W) float32 normalised, letters (W0,) bool over its width in proportion):
    ``word_fraction`` of them :func:`tagged_line`, the rest digit strings without words (no column a letter)
    drawn from ``real`` images with probability ``real_fraction`` when given, else from ``digits``;
    ``tilt_fraction`` of all of them turned by ``tilt`` (least, most) degrees either way, and
    ``recrop_fraction`` of all of them cut to their ink as the reader cuts them (:func:`recropped`). Each pass
    yields ``length`` items: with ``seed`` the same ones each time (for validation), else new ones each pass."""

    def __init__(
        self,
        digits: data.SyntheticDigits,
        real: Sequence[np.ndarray] = (),
        word_fraction: float = 0.5,
        real_fraction: float = 0.2,
        length: int = 1000,
        seed: int | None = None,
        recrop_fraction: float = 0.0,
        tilt_fraction: float = 0.0,
        tilt: tuple[float, float] = (3.0, 15.0),
    ):
        self.digits, self.real, self.word_fraction, self.real_fraction = digits, list(real), word_fraction, real_fraction
        self.recrop_fraction, self.tilt_fraction, self.tilt = recrop_fraction, tilt_fraction, tilt
        self.word_fonts = data.word_font_weights(digits.fonts)
        self.seed, self.length = seed, length

    def item(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        tilt = 0.0  # drawn only when asked for, so that lines without tilt are drawn as before
        if self.tilt_fraction and rng.random() < self.tilt_fraction:
            tilt = rng.uniform(*self.tilt) * rng.choice([-1, 1])
        if rng.random() < self.word_fraction:
            image, letters = tagged_line(rng, self.digits.fonts, self.word_fonts, tilt=tilt)
        else:
            real = bool(self.real) and rng.random() < self.real_fraction
            image = data.gray_array(self.real[int(rng.integers(len(self.real)))] if real else self.digits.render(rng)[0])
            image = turned(image, tilt) if tilt else image
            letters = np.zeros(image.shape[1], bool)
        if rng.random() < self.recrop_fraction:
            image, letters = recropped(rng, image, letters)
        return data.normalize_image(image, self.digits.height), letters

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        if self.seed is not None:
            for i in range(self.length):
                yield self.item(np.random.default_rng([self.seed, i]))
            return
        rng = pass_rng(self)
        for _ in range(worker_share(self.length)):
            yield self.item(rng)


def collate_tagged(batch: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor | list[np.ndarray]]:
    """Images padded as :func:`~vision.digits.data.collate` pads them, with their ``letters`` (a list)."""
    collated = data.collate([(image, "") for image, _ in batch])
    return {"images": collated["images"], "widths": collated["widths"], "letters": [letters for _, letters in batch]}


def step_target_batch(letters: Sequence[np.ndarray], widths: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """(B, T) targets per time step (:func:`step_targets`) of images ``widths`` wide read in ``steps`` steps,
    :data:`IGNORE` past each image's end."""
    targets = torch.full((len(letters), int(steps.max())), IGNORE, dtype=torch.long)
    for i, (columns, width, n) in enumerate(zip(letters, widths.tolist(), steps.tolist())):
        targets[i, :n] = torch.from_numpy(step_targets(columns, width, n))
    return targets


@torch.inference_mode()
def letter_columns(tagger: CRNN, crops: Sequence[np.ndarray], batch_size: int = 32) -> list[np.ndarray]:
    """P(letters) of each column of each grayscale crop (H, W_i), any polarity -> float32 (W_i,) each; read in
    batches of ``batch_size`` crops of similar width, to limit padding."""
    columns: list[np.ndarray] = [np.empty(0, np.float32)] * len(crops)
    for chunk in data.width_batches(crops, batch_size):
        log_probs, time_steps, widths = data.run_reader(tagger, [crops[i] for i in chunk])
        for i, p, steps, resized in zip(chunk, log_probs[..., 1].exp().numpy(), time_steps.tolist(), widths.tolist()):
            width = crops[i].shape[1]
            at = (np.arange(width) + 0.5) * resized / width  # each crop column's centre, resized
            columns[i] = p[np.minimum((at * steps / resized).astype(int), steps - 1)]  # float32
    return columns


def word_columns(
    letters: np.ndarray,
    threshold: float,
    min_width: float,
    weak: float | None = None,
    glyphs: Sequence[tuple[int, int]] = (),
    letter_width: float | None = None,
) -> np.ndarray:
    """Which columns lie in a word: runs of columns whose P(letters) (``letters``, one per column) is at least
    ``threshold``, joined across gaps narrower than ``min_width`` (a letter the tagger is less sure of, inside a
    word), and kept where at least ``min_width`` wide (one round digit taken for an ``o`` is not a word), or at
    least ``letter_width`` wide where the run is a lone letter at an end of the string (:func:`_end_letter` of
    ``glyphs``, the string's ink components as column ranges [left, right)): a unit or label ("5 V", "g 300").
    Each word kept then grows over the neighbouring columns of at least ``weak`` (its less sure letters;
    hysteresis that grows words but makes none)."""
    words = np.zeros(len(letters), bool)
    for start, stop in true_runs(gaps_closed(letters >= threshold, 2 * int(np.ceil(min_width / 2)) + 1)):
        words[start:stop] = stop - start >= min_width or (
            letter_width is not None and stop - start >= letter_width and _end_letter(start, stop, glyphs)
        )
    if weak is not None:
        for start, stop in true_runs(letters >= weak):
            words[start:stop] = words[start:stop].any()
    return words


def _end_letter(start: int, stop: int, glyphs: Sequence[tuple[int, int]]) -> bool:
    """Whether columns [start, stop) cover at least half of the first or the last of ``glyphs`` while at least
    two glyphs lie outside them (a unit or label stands beside a number; a lone "1" is no letter)."""
    if not glyphs:
        return False
    ends = (min(glyphs), max(glyphs, key=lambda glyph: glyph[1]))
    covered = any(right > left and (min(right, stop) - max(left, start)) / (right - left) >= 0.5 for left, right in ends)
    return covered and sum(not start <= (left + right) / 2 < stop for left, right in glyphs) >= 2


def grown_to_glyphs(words: np.ndarray, glyphs: Sequence[tuple[int, int]]) -> np.ndarray:
    """``words`` (one bool per column) grown to the whole column range [left, right) of each of ``glyphs``
    (ink components) that lies mostly in words, so that no edge of a letter is left to be read as a digit."""
    grown = words.copy()
    for left, right in glyphs:
        if right > left and words[left:right].mean() >= 0.5:
            grown[left:right] = True
    return grown


def without_words(gray: np.ndarray, box: tuple[slice, slice], letters: np.ndarray) -> np.ndarray:
    """``gray`` (H, W) with the rows of ``box`` (rows, columns) painted with the median tone of the box (its
    paper) in the columns of the box where ``letters`` (one bool per column of the box) is true; same dtype.
    The input is not changed."""
    painted = gray.copy()
    rows, columns = box
    region = painted[rows, columns]
    region[:, letters[: region.shape[1]]] = np.median(region)
    return painted
