"""Python API of the digit reader: ``read_digits(images) -> list[Reading]``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from recurrent.registry import load_model
from vision.digits.colour import colour_views, is_colour
from vision.digits.data import colour_array, gray_array, load_image, pil_array, run_reader, width_batches
from vision.digits.decode import decode_string, string_probability
from vision.digits.ink import DEFAULT_MARGIN, StringInk, crops_to_ink, locate_string, turned
from vision.digits.model import CRNN
from vision.digits.noise import noise_level, smoothed
from vision.digits.words import grown_to_glyphs, letter_columns, without_words, word_columns

DEFAULT_WEIGHTS = "crnn-digits"
WORD_TAGGER_WEIGHTS = "word-tagger"  # the weights that find the words beside the digits (vision.digits.words)


@dataclass
class Reading:
    path: str | None
    text: str
    confidence: float  # P(text | crop) summed over CTC alignments, averaged over the crops; low: "check this"


# (rows, columns) margins of the crops read together, in ink heights (see :func:`read_digits`): the
# reader's usual crop first, then tighter, looser, taller and wider ones.
CROP_MARGINS = (DEFAULT_MARGIN, (0.04, 0.02), (0.2, 0.12), (0.18, 0.05), (0.1, 0.15))
# A colour image whose luma reading is less confident than UNSURE_BELOW is also read on its colour views
# (:func:`~vision.digits.colour.colour_views`), each cut with the first COLOUR_CROPS margins, and the most
# confident reading kept: on synthetic photographed strings +17 points at 2.5x the time of luma alone
# (chosen on draws apart from the benchmark's, README "Photographed strings"). Any image still read below it
# whose digits sit inside a frame is read again inside it (+1.7 points on fresh photographed draws, README).
UNSURE_BELOW = 0.5
LEVEL_FROM = 3.0  # degrees of tilt from which an image is also read turned level
LEVEL_MARGIN = 0.2  # how much more confident that reading must be to replace the plain one
EVEN_BELOW = 0.9  # an unevenly lit image read less confidently is read again with its lighting evened
COLOUR_CROPS = 2
LETTERS_FROM = 0.7  # a column the word tagger gives at least this P(letters) holds a word, in a run of such
WORD_WIDTH = 0.6  # columns at least this many times the string's crop height wide
LETTERS_JOIN = 0.4  # with its neighbouring columns of at least this P(letters) (a word's less sure letters)
LETTER_WIDTH = 0.2  # a run down to this many crop heights wide is a word where it is a lone letter at an end
WORDS_ALONE = 0.9  # an image with at least this share of its string's ink columns in words holds no digits
SMOOTH_BELOW = 0.9  # an image then read less confidently, and noisy (NOISY_FROM), is read again smoothed
NOISY_FROM = 15.0  # grey levels of noise (noise.noise_level) from which an image counts as noisy


def read_batch(
    model: CRNN, images: Sequence[np.ndarray], beam: int = 1, min_len: int = 0, max_len: int | None = None
) -> list[tuple[str, float]]:
    """Read grayscale uint8/float images (any size, either polarity); returns (text, confidence) each."""
    return read_views(model, [images], beam, min_len, max_len)


@torch.inference_mode()
def read_views(
    models: CRNN | Sequence[CRNN],
    views: Sequence[Sequence[np.ndarray]],
    beam: int = 1,
    min_len: int = 0,
    max_len: int | None = None,
) -> list[tuple[str, float]]:
    """Read N images each seen V ways (``views[v][i]``: view v of image i, e.g. crops with different
    margins) by one model or an ensemble of M. Each (model, view) pair is decoded; an image's reading
    is, of those readings, the one with the highest P(text | view, model) averaged over all M x V pairs
    (ties go to the earlier model, then the earlier view), and that average is its confidence. With
    ``min_len``, a pair's "" (nothing in the length range) is a candidate only when no pair found a
    string. Returns N (text, confidence)."""
    if not views or len({len(images) for images in views}) != 1:
        raise ValueError(f"read_views needs V >= 1 lists of the same N images, got lengths {[len(v) for v in views]}")
    models = [models] if isinstance(models, nn.Module) else list(models)
    if not models:
        raise ValueError("read_views needs at least one model")
    runs = []  # per (model, view): (log_probs (N, T, C), lengths (N,), texts)
    for model in models:
        for images in views:
            log_probs, lengths, _ = run_reader(model, images)
            texts = [decode_string(lp[:n], beam, min_len, max_len) for lp, n in zip(log_probs, lengths)]
            runs.append((log_probs, lengths, texts))
    candidates = [list(dict.fromkeys(texts[i] for _, _, texts in runs)) for i in range(len(views[0]))]
    if min_len > 0:
        candidates = [[t for t in texts if t] or texts for texts in candidates]
    owner = torch.tensor([i for i, texts in enumerate(candidates) for _ in texts], dtype=torch.long)
    flat = [text for texts in candidates for text in texts]
    scores = torch.stack([string_probability(lp[owner], n[owner], flat) for lp, n, _ in runs]).mean(0)
    readings, first = [], 0
    for texts in candidates:
        best = int(scores[first : first + len(texts)].argmax())
        readings.append((texts[best], float(scores[first + best])))
        first += len(texts)
    return readings


def read_digits(
    images: Iterable[str | Path | np.ndarray | Image.Image],
    model: CRNN | str | Sequence[CRNN | str] = DEFAULT_WEIGHTS,
    device: str | torch.device = "cpu",
    beam: int = 1,
    batch_size: int = 32,
    min_len: int = 0,
    max_len: int | None = None,
    on_batch: Callable[[int], None] | None = None,
    crop: bool = True,
    views: int = len(CROP_MARGINS),
    colour: bool = True,
    level: bool = True,
    even: bool = True,
    smooth: bool = True,
    words: bool = True,
    tagger: CRNN | str = WORD_TAGGER_WEIGHTS,
) -> list[Reading]:
    """Read the digit string in each image (paths, PIL images, or arrays: gray (H, W), colour (H, W, 3) or
    with alpha); a path or PIL image given alone is read as a list of one.

    With ``crop`` each image is cut to its ink (:func:`~vision.digits.ink.crops_to_ink`), so that a loose
    crop reads as well as a tight one: ``views`` crops, with the first ``views`` margins of
    :data:`CROP_MARGINS`, read together (:func:`read_views`), so that a reading that flips when the
    margin moves by a pixel is settled by the string most probable across the crops. Without ``crop``
    each image is read once as it is. With ``level``, an image whose string rises or falls by at least
    :data:`LEVEL_FROM` degrees (:meth:`~vision.digits.ink.StringInk.tilt`) is read again turned level, and that
    reading is kept when it is at least :data:`LEVEL_MARGIN` more confident (the reader learnt strings within
    a few degrees of level; the margin keeps the plain reading where the tilt is misjudged, as on busy
    photos). Images are read in luma (gray); with ``colour``, a colour image whose luma reading has confidence
    below :data:`UNSURE_BELOW` is read again on four gray views of its colours
    (:func:`~vision.digits.colour.colour_views`: digits that stand out in hue more than in brightness; each
    with the first :data:`COLOUR_CROPS` crops) and the most confident of the five readings is kept. With
    ``crop``, an image still read below :data:`UNSURE_BELOW` whose digits sit inside a frame (a label's or
    display's edge around them, touching the image border: ``crops_to_ink(..., inside_frame=True)``) is
    read again on the ``views`` crops of the ink inside it, and the more confident reading is kept. With
    ``even``, an image then read below :data:`EVEN_BELOW` whose paper's tone varies under the string by
    :data:`~vision.digits.lighting.EVEN_FROM` of its lightest or more (a shadow, light falling off towards an
    edge) is read again with its lighting evened (:meth:`~vision.digits.ink.StringInk.evened`), and the more
    confident reading is kept (evening busy photos in place of reading them as they are lost strings).
    With ``smooth``, an image then read below :data:`SMOOTH_BELOW` that carries at least :data:`NOISY_FROM` grey
    levels of noise (:func:`~vision.digits.noise.noise_level`: a photo in dim light) is read again smoothed
    (:func:`~vision.digits.noise.smoothed`), and the more confident reading is kept.
    With ``words`` (and ``crop``), the words beside the digits (a label or unit: ``Total``, ``kg``) are found
    first by ``tagger`` (:func:`~vision.digits.words.letter_columns`, for each column of the string's crop
    P(letters): runs of columns at least :data:`LETTERS_FROM` sure and :data:`WORD_WIDTH` crop heights wide, grown
    to the ink components lying mostly in them) and painted out with the paper
    (:func:`~vision.digits.words.without_words`) before anything is read; an image whose string lies at least
    :data:`WORDS_ALONE` in words reads "" (nothing to read), with the words' mean P(letters) as confidence.
    Several models (or weights names) read as an ensemble: every (model, crop) pair counts alike in that
    average. Images are batched by similar width to limit padding; results come back in the input order.
    ``on_batch(n)`` is called after each batch of n images (for progress bars).
    Unreadable files raise.
    """
    if not 1 <= views <= len(CROP_MARGINS):
        raise ValueError(f"views must be 1 to {len(CROP_MARGINS)}, got {views}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    images = [images] if isinstance(images, (str, Path, Image.Image)) else list(images)  # one image alone
    members = [model] if isinstance(model, (nn.Module, str)) else list(model)
    models = [load_model(m, device=device) if isinstance(m, str) else m for m in members]
    if not models:
        raise ValueError("read_digits needs at least one model")
    arrays = [load_image(x) if isinstance(x, (str, Path)) else pil_array(x) if isinstance(x, Image.Image) else colour_array(x)
              for x in images]
    grays = [gray_array(a) for a in arrays]
    strings = [locate_string(g) if crop or level or even else None for g in grays]
    wordless: dict[int, tuple[str, float]] = {}  # images that hold words alone: their readings
    if words and crop:
        wordless = _leave_out_words(load_model(tagger, device=device) if isinstance(tagger, str) else tagger, grays, strings)
    seen = [s.crops(CROP_MARGINS[:views]) if crop else [g] for g, s in zip(grays, strings)]  # seen[i][v]: view v of i
    results: dict[int, tuple[str, float]] = {}
    for chunk in width_batches([views[0] for views in seen], batch_size):
        for index, result in zip(chunk, _read_seen(models, [seen[i] for i in chunk], beam, min_len, max_len)):
            results[index] = result
        if level:
            tilts = {i: strings[i].tilt() for i in chunk}
            looks = {i: [_views(turned(grays[i], -t), crop, views)] for i, t in tilts.items() if abs(t) >= LEVEL_FROM}
            _keep_most_confident(results, looks, models, beam, min_len, max_len, margin=LEVEL_MARGIN)
        unsure = [i for i in chunk if colour and results[i][1] < UNSURE_BELOW and is_colour(arrays[i])]
        looks = {i: [_views(p, crop, min(views, COLOUR_CROPS)) for p in colour_views(arrays[i])] for i in unsure}
        _keep_most_confident(results, looks, models, beam, min_len, max_len)
        if crop:
            unsure = [i for i in chunk if results[i][1] < UNSURE_BELOW]
            framed = {i: crops_to_ink(grays[i], CROP_MARGINS[:views], inside_frame=True) for i in unsure}
            looks = {i: [crops] for i, crops in framed.items() if crops}
            _keep_most_confident(results, looks, models, beam, min_len, max_len)
        if even:
            evened = {i: strings[i].evened() for i in chunk if results[i][1] < EVEN_BELOW}
            looks = {i: [_views(image, crop, views)] for i, image in evened.items() if image is not None}
            _keep_most_confident(results, looks, models, beam, min_len, max_len)
        if smooth:
            noisy = [i for i in chunk if results[i][1] < SMOOTH_BELOW and noise_level(grays[i]) >= NOISY_FROM]
            _keep_most_confident(results, {i: [_views(smoothed(grays[i]), crop, views)] for i in noisy},
                                 models, beam, min_len, max_len)
        if on_batch:
            on_batch(len(chunk))
    results.update(wordless)
    return [
        Reading(str(x) if isinstance(x, (str, Path)) else None, *results[i]) for i, x in enumerate(images)
    ]


def _leave_out_words(tagger: CRNN, grays: list[np.ndarray], strings: list[StringInk]) -> dict[int, tuple[str, float]]:
    """Paint out, in place in ``grays`` (and ``strings``, located again), the words the tagger finds in each
    string's crop; returns the readings ("", confidence) of the images that hold words alone."""
    located = [i for i, s in enumerate(strings) if len(s.labels)]
    boxes = {i: strings[i].box(DEFAULT_MARGIN) for i in located}
    crops = [grays[i][boxes[i]] for i in located]
    alone = {}
    for i, crop, p in zip(located, crops, letter_columns(tagger, crops)):
        left = boxes[i][1].start
        glyphs = [(max(a - left, 0), b - left) for a, b in strings[i].glyphs()]
        height = crop.shape[0]
        columns = word_columns(p, LETTERS_FROM, WORD_WIDTH * height, LETTERS_JOIN, glyphs, LETTER_WIDTH * height)
        letters = grown_to_glyphs(columns, glyphs)
        ink = strings[i].columns()[boxes[i][1]]
        if not letters[ink].any():
            continue
        if letters[ink].mean() >= WORDS_ALONE:
            alone[i] = ("", float(p[ink].mean()))
            continue
        grays[i] = without_words(grays[i], boxes[i], letters)
        strings[i] = locate_string(grays[i])
    return alone


def _views(gray: np.ndarray, crop: bool, views: int) -> list[np.ndarray]:
    return crops_to_ink(gray, CROP_MARGINS[:views]) if crop else [gray]


def _keep_most_confident(
    results: dict[int, tuple[str, float]],
    looks: dict[int, list[list[np.ndarray]]],
    models: Sequence[CRNN],
    beam: int,
    min_len: int,
    max_len: int | None,
    margin: float = 0.0,
) -> None:
    """A second look: each image ``i`` of ``looks`` is read again on each of its ``looks[i]`` (a list of views,
    the same number for all), and ``results[i]`` becomes the most confident of those readings if that one is
    more than ``margin`` more confident than ``results[i]``."""
    seen = [views for alternatives in looks.values() for views in alternatives]
    readings = iter(_read_seen(models, seen, beam, min_len, max_len))
    for i, alternatives in looks.items():
        best = max((next(readings) for _ in alternatives), key=lambda r: r[1])
        if best[1] > results[i][1] + margin:
            results[i] = best


def _read_seen(
    models: Sequence[CRNN], seen: Sequence[Sequence[np.ndarray]], beam: int, min_len: int, max_len: int | None
) -> list[tuple[str, float]]:
    """:func:`read_views` of images given each as its list of views (``seen[i][v]``, the same V for all)."""
    if not seen:
        return []
    return read_views(models, [[views[v] for views in seen] for v in range(len(seen[0]))], beam, min_len, max_len)
