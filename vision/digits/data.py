"""Data for the digit reader: image normalisation, glyph banks of real handwritten digits, synthetic
handwritten and printed strings with document-like degradations, and the real ORAND-CAR-A crops.

Image convention everywhere: float32 arrays in [0, 1], ink bright (≈1) on a dark background (≈0);
:func:`normalize_image` brings any photo or scan to it at the model height.

Data root layout (``make data``): ``digits/usps/zip.{train,test}.gz``, ``digits/hwd1000/``,
``digits/opencv_digits.png``, ``digits/orand_car_a_train/`` (+ ``labels.tsv``), ``fonts/printed/``,
``fonts/handwriting/``, ``fonts/segment/`` (seven- and fourteen-segment display fonts: meters, clocks,
scales). Held out from training: the USPS test split, hwd1000 items 80–99 of each digit, OpenCV digits
columns 80–99, and the ORAND-CAR-A fold ``fold == VAL_FOLD`` (see :func:`orand_fold`).

Real cheque writers' digits also come cut out of the ORAND-CAR-A training folds
(:func:`cut_glyphs`), so synthetic strings can be composed in their handwriting too.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import string
from functools import cache
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from recurrent.streams import pass_rng
from vision.digits.ink import crop_to_ink, turned
from vision.paths import list_images

MAX_DIGITS = 12
VAL_FOLD = 0
NUM_FOLDS = 5
SEPARATORS = [".", ",", "-", ".-", "=", "/", "$"]
SEPARATOR_CHARS = ".,-=/$#"
SIGNS = ("$", "#")  # leading marks of amounts and numbers (unlabelled, like the separators)
SEGMENT_SEPARATORS = [".", "-", ".-"]  # what a segment display draws besides digits
SEGMENT_SEPARATOR_CHARS = ".-"
MAX_OVERLAP = 0.4  # of the narrower of two neighbouring handwritten pieces
RECROP_MARGINS = ((0.0, 0.3), (0.0, 0.25))  # ranges of the rows' and the columns' margins of :func:`recrop`
THIN_FONT_SHARE = 0.15  # the share of fonts with the thinnest strokes (:func:`stroke_width`) that ``thin_font_weight`` favours
HELD_OUT_PHOTOS = "plasma_"  # photos (``make data``: ``photos/``) kept out of training as backgrounds: the benchmark's
PHOTO_SIDE = 960  # photos are shrunk to at most this many pixels a side when loaded
FORM_WORDS = (  # labels and units printed beside numbers on forms, receipts, signs and displays
    "Total", "Amount", "Sum", "No.", "Nr", "Date", "Ref", "Tel", "Fax", "Invoice", "Order", "Account", "Phone", "ID",
    "PIN", "Code", "Box", "Apt", "Room", "Page", "Qty", "Price", "EUR", "USD", "kg", "km", "cm", "mm", "min", "Serial",
    "Model", "Lot", "Item", "Floor", "Street", "Route", "Bus", "Gate", "Seat", "Flight", "pcs", "Vol", "Balance", "Due",
)
WORD_CHARS = string.ascii_letters + ":."  # what a word of :func:`random_word` may draw
DIGIT_LIKE_LETTERS = "OoQDIlijSsZzBbGgqTt"  # letters many faces draw like a digit (0, 1, 5, 2, 8, 6, 9, 7)


def normalize_image(gray: np.ndarray, height: int, max_width: int = 640) -> np.ndarray:
    """Any grayscale image (H, W) uint8 or float -> (height, W') float32 in [0, 1], ink bright.

    Polarity is decided by where the median (documents are mostly background) lies between the 2nd and
    98th percentiles (light paper from the midpoint up), so grey paper and dim scans count as light paper;
    contrast is stretched between those percentiles; the aspect ratio is kept (width clamped to
    [height/2, max_width]).
    """
    image = gray.astype(np.float32)
    scale = 255.0 if image.max() > 1.0 else 1.0
    image /= scale
    low, median, high = percentiles(gray, (2, 50, 98))
    light_paper = 2 * median >= low + high  # a tie counts as light paper (dark ink on paper is the common case)
    low, high = low / scale, high / scale
    if light_paper:
        image, low, high = 1.0 - image, 1.0 - high, 1.0 - low
    image = np.clip((image - low) / max(high - low, 1e-3), 0.0, 1.0)
    h, w = image.shape
    width = int(np.clip(round(w * height / h), height // 2, max_width))
    interpolation = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation).astype(np.float32)


def percentiles(gray: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    """``np.percentile(gray, q)`` (linear interpolation, float64); for uint8 images from the histogram's
    cumulative counts, ten times faster on reader-sized crops (the same values up to float rounding)."""
    if gray.dtype != np.uint8:
        return np.percentile(gray.astype(np.float32), q)
    counts = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    positions = np.asarray(q, dtype=np.float64) / 100 * (counts[-1] - 1)
    below = np.floor(positions)
    lower = np.searchsorted(counts, below, side="right")
    upper = np.searchsorted(counts, np.minimum(below + 1, counts[-1] - 1), side="right")
    return lower + (positions - below) * (upper - lower)


def warp_whole(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine ``matrix`` to ``image`` (H, W) on a canvas grown to hold all of it, so that
    rotating or shearing a tightly cropped string never cuts digits at its ends; the new corners take
    the image's median (its paper)."""
    h, w = image.shape
    corners = matrix @ np.float32([[0, w, 0, w], [0, 0, h, h], [1, 1, 1, 1]])
    low, high = corners.min(axis=1), corners.max(axis=1)
    shifted = matrix.copy()
    shifted[:, 2] -= low
    size = tuple(int(np.ceil(v)) for v in high - low)
    paper = float(np.median(image))
    return cv2.warpAffine(image, shifted, size, flags=cv2.INTER_LINEAR, borderValue=paper)


HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I", "F")  # 16-bit, 32-bit integer and float grayscale
GRAY_MODES = ("1", "L", "LA", "La")


def load_image_gray(path: str | Path | BinaryIO) -> np.ndarray:
    """Read PNG/JPEG/BMP/TIFF (gray, RGB or RGBA; alpha composited on white; a path or a binary file) as
    uint8 (H, W), upright as a viewer shows it: a phone photo's EXIF orientation is applied, so a picture
    taken sideways reads level.

    16-bit, 32-bit and float grayscale (scanner TIFFs, 16-bit PNGs) are stretched from their own
    min..max to 0..255 rather than clipped at 255, which would leave a white page."""
    with Image.open(path) as opened:
        return pil_gray(opened)


def load_image(path: str | Path | BinaryIO) -> np.ndarray:
    """As :func:`load_image_gray`, with colour kept: uint8 (H, W) for a gray image, (H, W, 3) RGB for a
    colour one (palette, alpha, CMYK, … converted; alpha composited on white)."""
    with Image.open(path) as opened:
        return pil_array(opened)


def pil_gray(image: Image.Image) -> np.ndarray:
    """A PIL image (any mode: palette, alpha, 16-bit, CMYK, …) as uint8 (H, W), as :func:`load_image_gray`."""
    image = ImageOps.exif_transpose(image)
    if image.mode in HIGH_DEPTH_MODES:
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        return np.round((values - low) / max(high - low, 1e-12) * 255).astype(np.uint8)
    return np.asarray(_on_white(image).convert("L"))


def pil_array(image: Image.Image) -> np.ndarray:
    """A PIL image as :func:`load_image` gives it: uint8 (H, W) gray or (H, W, 3) RGB."""
    if image.mode in HIGH_DEPTH_MODES or image.mode in GRAY_MODES:
        return pil_gray(image)
    return np.asarray(_on_white(ImageOps.exif_transpose(image)).convert("RGB"))


def _on_white(image: Image.Image) -> Image.Image:
    """``image`` with any alpha (or palette transparency) composited on white."""
    if image.mode not in ("RGBA", "LA", "P"):
        return image
    image = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)


def colour_array(image: np.ndarray) -> np.ndarray:
    """An image array as gray (H, W) or colour (H, W, 3) of its dtype: (H, W) and (H, W, 3) as they are,
    (H, W, 1) squeezed, (H, W, 4) composited on white by its alpha. Other shapes raise ValueError."""
    image = np.asarray(image)
    if image.size == 0:
        raise ValueError(f"empty image, shape {image.shape}")
    if image.ndim != 2 and (image.ndim != 3 or image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected a gray (H, W) or colour (H, W, 3|4) image, got shape {image.shape}")
    if image.ndim == 2 or image.shape[2] == 3:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    white = white_level(image.dtype)
    alpha = image[..., 3:].astype(np.float64) / white
    return _as_dtype(image[..., :3].astype(np.float64) * alpha + white * (1 - alpha), image.dtype)


def gray_array(image: np.ndarray) -> np.ndarray:
    """An image array as grayscale (H, W) of its dtype: (H, W) as it is; (H, W, 3) RGB or BGR and (H, W, 4)
    with alpha (composited on white) by luma weights; (H, W, 1) squeezed. Other shapes raise ValueError."""
    image = colour_array(image)
    if image.ndim == 2:
        return image
    return _as_dtype(image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]), image.dtype)


def white_level(dtype: np.dtype) -> float:
    """The value of white in an image of ``dtype``: its maximum for integers, 1.0 for floats."""
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


def _as_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float ``values`` as ``dtype``, rounded to the nearest level first for an integer type."""
    return (np.round(values) if np.issubdtype(dtype, np.integer) else values).astype(dtype)


# ---------------------------------------------------------------------------------------------- glyphs


def _crop_ink(glyph: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(glyph > 0.2)
    if len(ys) == 0:
        return glyph
    return glyph[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def load_glyphs(data_root: str | Path, split: str) -> list[tuple[int, np.ndarray]]:
    """Real handwritten single digits as (label, ink-bright float crop), from USPS, hwd1000 and OpenCV.

    ``split`` is ``train`` or ``test`` (the held-out items listed in the module docstring).
    """
    root = Path(data_root) / "digits"
    glyphs: list[tuple[int, np.ndarray]] = []
    usps = root / "usps" / f"zip.{split}.gz"
    if usps.is_file():
        rows = np.loadtxt(gzip.open(usps), dtype=np.float32)
        for row in rows:
            glyphs.append((int(row[0]), _crop_ink((row[1:].reshape(16, 16) + 1) / 2)))
    hwd = root / "hwd1000" / "labels.tsv"
    if hwd.is_file():
        for line in hwd.read_text().splitlines():
            name, label = line.split("\t")
            index = int(Path(name).stem.split("-")[-1])
            if (index >= 80) == (split == "test"):
                ink = 1.0 - load_image_gray(root / "hwd1000" / name).astype(np.float32) / 255
                glyphs.append((int(label), _crop_ink(ink)))
    sheet = root / "opencv_digits.png"
    if sheet.is_file():
        image = load_image_gray(sheet).astype(np.float32) / 255
        columns = range(80, 100) if split == "test" else range(80)
        for row in range(50):
            for col in columns:
                glyphs.append((row // 5, _crop_ink(image[row * 20 : row * 20 + 20, col * 20 : col * 20 + 20])))
    return [(label, g) for label, g in glyphs if g.size > 4]


def segment_digits(gray: np.ndarray, count: int, height: int = 64) -> list[np.ndarray] | None:
    """Cut a digit-string image into ``count`` single-digit ink crops, or None where that is not clean.

    The image is normalised to ``height`` (ink bright), binarised (Otsu), long horizontal rules removed;
    connected components shorter than a third of the height (separators, dots, dashes) are dropped and
    components that overlap by more than half their width in x are merged (a 5's detached bar). Only
    when exactly ``count`` pieces remain are they returned, left to right, each masked to its own
    strokes — touching digits give fewer pieces and the image is skipped rather than cut wrongly.
    """
    image = normalize_image(gray, height, max_width=height * 40)
    ink = (image * 255).astype(np.uint8)
    _, mask = cv2.threshold(cv2.GaussianBlur(ink, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    rules = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (height * 3 // 4, 1)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.subtract(mask, rules), connectivity=8)
    boxes = sorted(
        [stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH], [i]]
        for i in range(1, n)
        if stats[i, cv2.CC_STAT_HEIGHT] >= height // 3 and stats[i, cv2.CC_STAT_AREA] >= height // 2
    )
    pieces: list[list] = []
    for box in boxes:
        if pieces:
            last = pieces[-1]
            overlap = min(last[1], box[1]) - max(last[0], box[0])
            if overlap > 0.5 * min(last[1] - last[0], box[1] - box[0]):
                last[1], last[2] = max(last[1], box[1]), last[2] + box[2]
                continue
        pieces.append(box)
    if len(pieces) != count:
        return None
    crops = []
    for left, right, ids in pieces:
        own = cv2.dilate(np.isin(labels, ids).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        crops.append(_crop_ink(np.where(own, image, 0.0)[:, left:right]))
    return crops


def cut_glyphs(images: list[np.ndarray], texts: list[str]) -> list[tuple[int, np.ndarray]]:
    """Single digits cut (:func:`segment_digits`) from the labelled string images that segment cleanly
    (about half of the ORAND-CAR-A crops), as (label, ink-bright float crop)."""
    glyphs = []
    for image, text in zip(images, texts):
        crops = segment_digits(image, len(text))
        glyphs += list(zip(map(int, text), crops)) if crops else []
    return glyphs


def draws_digits_and_separators(font_path: Path, separator_chars: str = SEPARATOR_CHARS) -> bool:
    """Whether the font draws ten different digits and every separator (display cuts such as DejaVu Sans
    Display have no digits and draw the same missing-glyph box for each, which looks like a 0; some fonts
    lack ``$`` or ``=``, or draw them blank): otherwise it would teach impossible labels."""
    font = ImageFont.truetype(str(font_path), 24)
    missing = bytes(font.getmask("\U0010fffd"))  # a private-use code point: the missing-glyph box
    digits = {bytes(font.getmask(str(d))) for d in range(10)}
    separators = [bytes(font.getmask(ch)) for ch in separator_chars]
    return len(digits) == 10 and missing not in digits and all(m != missing and any(m) for m in separators)


@cache
def draws_letters(font_path: Path) -> bool:
    """Whether the font draws every Latin letter (and ``:``, ``.``) as a glyph of its own, not the missing-glyph box
    or nothing (digit-only and symbol fonts do not): only such fonts draw the words of :func:`random_word`."""
    font = ImageFont.truetype(str(font_path), 24)
    missing = bytes(font.getmask("\U0010fffd"))
    masks = [bytes(font.getmask(ch)) for ch in WORD_CHARS]
    return all(m != missing and any(m) for m in masks)


def stroke_width(font_path: Path) -> float:
    """The font's stroke width relative to its digits' height: 2 x ink area / outline length of "0123456789"
    drawn at 64 px, over the digits' ink height (a hairline face about 0.02, a regular one 0.1, a bold one
    0.15-0.19; a sketched face, whose outline is long, counts as thin)."""
    font = ImageFont.truetype(str(font_path), 64)
    image = Image.new("L", (int(font.getlength("0123456789")) + 20, 140), 0)
    ImageDraw.Draw(image).text((10, 20), "0123456789", font=font, fill=255)
    ink = (np.asarray(image) > 127).astype(np.uint8)
    rows = np.flatnonzero(ink.any(axis=1))
    return mean_stroke(ink) / (rows[-1] - rows[0] + 1)


def mean_stroke(mask: np.ndarray) -> float:
    """The mean stroke width in pixels of a binary ink mask (H, W) uint8: 2 x ink area / outline length."""
    outlines, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    return 2 * float(mask.sum()) / max(sum(cv2.arcLength(c, True) for c in outlines), 1.0)


def thin_strokes(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """A printed ink map (H, W) in [0, 1] with every stroke shaved on both sides by 30-80 % of what would
    leave it 1.5 px wide: a light or hairline cut of the same face. The thinnest faces are the ones read
    worst, and there are few of them; this makes a thin variant of every face."""
    mask = (ink > 0.5).astype(np.uint8)
    if not mask.any():
        return ink
    shave = rng.uniform(0.3, 0.8) * max(mean_stroke(mask) / 2 - 0.75, 0.0)
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3)  # px to the nearest paper pixel, inside the ink
    return np.clip(depth - shave, 0.0, 1.0).astype(np.float32)


def font_weights(fonts: Sequence[Path], thin_weight: float, boost: Mapping[str, float] | None = None) -> np.ndarray | None:
    """Probabilities of drawing each of ``fonts``: the :data:`THIN_FONT_SHARE` with the thinnest strokes
    ``thin_weight`` times as likely as the others (their strokes blur away first, and they are read worst),
    and each font named (by file name) in ``boost`` that many times likelier again (the faces a reader
    misreads most, found on draws of its own); None (uniform) when neither changes anything."""
    if thin_weight == 1.0 and not boost:
        return None
    weights = np.array([(boost or {}).get(f.name, 1.0) for f in fonts], dtype=float)
    if thin_weight != 1.0:
        widths = np.array([stroke_width(f) for f in fonts])
        weights *= np.where(widths <= np.quantile(widths, THIN_FONT_SHARE), thin_weight, 1.0)
    return weights / weights.sum()


def word_font_weights(fonts: Sequence[Path], probabilities: np.ndarray | None = None) -> np.ndarray | None:
    """Probabilities of drawing each of ``fonts`` for words: ``probabilities`` (None: uniform) kept only for the
    fonts that draw letters (:func:`draws_letters`); None where none does."""
    weights = (np.ones(len(fonts)) if probabilities is None else probabilities.copy()) * [draws_letters(f) for f in fonts]
    return weights / weights.sum() if weights.sum() else None


def _font_files(data_root: str | Path, sub: str) -> list[Path]:
    folder = Path(data_root) / "fonts" / sub
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".ttf", ".otf"))


def list_fonts(data_root: str | Path | None) -> list[Path]:
    """Font files from ``fonts/printed`` and ``fonts/handwriting`` under the data root, plus the DejaVu
    fonts matplotlib ships (so printed strings work without a data root); only fonts that have digits."""
    import matplotlib

    fonts = sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("DejaVu*.ttf"))
    if data_root is not None:
        fonts += _font_files(data_root, "printed") + _font_files(data_root, "handwriting")
    return [font for font in fonts if draws_digits_and_separators(font)]


def list_segment_fonts(data_root: str | Path | None) -> list[Path]:
    """Segment display fonts from ``fonts/segment`` (``make data``: Debian fonts-dseg) that draw ten digits
    and the segment separators; empty without a data root."""
    if data_root is None:
        return []
    return [f for f in _font_files(data_root, "segment") if draws_digits_and_separators(f, SEGMENT_SEPARATOR_CHARS)]


def load_photos(data_root: str | Path | None, held_out: bool = False) -> list[np.ndarray]:
    """Photographs from ``photos/`` as (H, W, 3) uint8 RGB, at most ``PHOTO_SIDE`` a side, to set strings on
    (:func:`on_photo`): the training ones, or with ``held_out`` those named ``HELD_OUT_PHOTOS*``; empty
    without a data root."""
    if data_root is None:
        return []
    photos = []
    for path in list_images(Path(data_root) / "photos"):
        if path.name.startswith(HELD_OUT_PHOTOS) == held_out:
            with Image.open(path) as image:
                image = image.convert("RGB")
                image.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
                photos.append(np.asarray(image))
    return photos


# ------------------------------------------------------------------------------------------- synthesis


def random_text(rng: np.random.Generator, max_digits: int = MAX_DIGITS) -> str:
    length = int(rng.integers(1, max_digits + 1))
    return "".join(str(d) for d in rng.integers(0, 10, length))


def random_word(rng: np.random.Generator, unlike_digits: bool = False) -> str:
    """An unlabelled word to print beside (or instead of) digits: half the time a form label or unit of
    :data:`FORM_WORDS`, else 1-8 random letters in lower, upper or title case; sometimes ending in ``:``.
    ``unlike_digits``: only words with no letter of :data:`DIGIT_LIKE_LETTERS` in either case (a reader taught that
    an ``o`` or ``l`` beside digits is nothing learns to drop 0s and 1s)."""
    def allowed(word: str) -> bool:
        return not unlike_digits or not set(word + word.swapcase()) & set(DIGIT_LIKE_LETTERS)

    if rng.random() < 0.5:
        word = str(rng.choice([w for w in FORM_WORDS if allowed(w)]))
    else:
        letters = [c for c in string.ascii_lowercase if allowed(c)]
        word = "".join(rng.choice(letters, int(rng.integers(1, 9))))
        word = (str.lower, str.upper, str.title)[int(rng.integers(3))](word)
    return word + ":" * int(rng.random() < 0.2)


def _punctuate(rng: np.random.Generator, text: str, segment: bool = False, sign: bool = False) -> list[str]:
    """Tokens to draw: the digits plus unlabelled separators as on cheques (``25.574.-``); with ``segment``
    only those a segment display draws (``1.250.-``); with ``sign`` a leading ``$`` or ``#`` (unless another
    leading mark is drawn), often followed by a space."""
    tokens = list(text)
    if rng.random() < 0.4 and len(text) > 3:
        out, group = [], rng.choice([".", " "] if segment else [".", ",", " "])
        for i, ch in enumerate(text):
            if i and (len(text) - i) % 3 == 0:
                out.append(group)
            out.append(ch)
        tokens = out
    if rng.random() < 0.3:
        tokens.append(str(rng.choice(SEGMENT_SEPARATORS if segment else SEPARATORS)))
    if rng.random() < 0.1:
        tokens.insert(0, "-" if segment else str(rng.choice([*SIGNS, "-"])))
    elif sign:
        tokens[:0] = [str(rng.choice(SIGNS))] + [" "] * int(rng.random() < 0.4)
    return tokens


def compose_handwritten(rng: np.random.Generator, glyphs: list[list[np.ndarray]], text: str) -> np.ndarray:
    """Place real digit glyphs side by side with random size, slant, stroke width, spacing (including
    touching and overlap) and baseline jitter; separators are drawn as short strokes/dots."""
    height = 64
    digit_h = int(rng.integers(30, 50))
    slant = rng.uniform(-0.35, 0.35)
    stroke = int(rng.integers(-1, 3))
    gap_mean = rng.uniform(-0.12, 0.35) * digit_h
    pieces = []
    for token in _punctuate(rng, text):
        if token.isdigit():
            pool = glyphs[int(token)]
            glyph = pool[int(rng.integers(len(pool)))]
            h = int(digit_h * rng.uniform(0.85, 1.12))
            w = max(2, int(glyph.shape[1] * h / glyph.shape[0] * rng.uniform(0.85, 1.2)))
            piece = cv2.resize(glyph, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            piece = _separator(rng, token, digit_h)
            h = piece.shape[0]
        pieces.append((piece, h))
    total_w = int(sum(p.shape[1] for p, _ in pieces) + max(gap_mean, 0) * len(pieces) + 2 * digit_h)
    canvas = np.zeros((height, total_w + height), np.float32)
    x = int(rng.integers(2, 12))
    baseline = (height + digit_h) // 2
    for i, (piece, h) in enumerate(pieces):
        top = int(np.clip(baseline - h + rng.normal(0, 2.0), 0, height - piece.shape[0]))
        if piece.shape[0] < digit_h * 0.5:  # separators sit on the baseline
            top = int(np.clip(baseline - piece.shape[0] - rng.integers(0, 4), 0, height - piece.shape[0]))
        region = canvas[top : top + piece.shape[0], x : x + piece.shape[1]]
        np.maximum(region, piece[: region.shape[0], : region.shape[1]], out=region)
        narrower = min(piece.shape[1], pieces[i + 1][0].shape[1]) if i + 1 < len(pieces) else piece.shape[1]
        gap = max(rng.normal(gap_mean, 0.08 * digit_h), -MAX_OVERLAP * narrower)  # touching, never hidden
        x = max(x + piece.shape[1] + int(gap), 1)
    canvas = canvas[:, : max(x, 8) + int(rng.integers(2, 12))]
    canvas = warp_whole(canvas, np.float32([[1, slant, 0], [0, 1, 0]]))
    if stroke:
        kernel = np.ones((abs(stroke) + 1, abs(stroke) + 1), np.uint8)
        canvas = cv2.dilate(canvas, kernel) if stroke > 0 else cv2.erode(canvas, kernel)
    return canvas


def _separator(rng: np.random.Generator, token: str, digit_h: int) -> np.ndarray:
    """A handwritten separator (``digit_h`` tall, ink bright): dots, commas, dashes, a short slash,
    ``$`` and ``#`` in a script face; a space is just a gap. None of them may look like a digit."""
    size = max(3, digit_h // 6)
    thick = max(1, digit_h // 12)
    width = size * 2 + digit_h // 3 * (len(token) + (token in "-=/$#"))
    piece = np.zeros((digit_h, width), np.float32)
    for i, ch in enumerate(token):
        cx = size + i * digit_h // 3
        if ch in ".,":
            cv2.circle(piece, (cx, digit_h - size), thick, 1.0, -1)
            if ch == ",":
                cv2.line(piece, (cx, digit_h - size), (cx - thick, digit_h - 1), 1.0, thick)
        elif ch in "-=":
            y = digit_h // 2
            cv2.line(piece, (cx - size, y), (cx + size * 2, y), 1.0, thick)
            if ch == "=":
                cv2.line(piece, (cx - size, y + 2 * thick + 2), (cx + size * 2, y + 2 * thick + 2), 1.0, thick)
        elif ch == "/":  # shorter than a digit and sitting low, unlike a 1
            cv2.line(piece, (cx, digit_h - 2), (cx + size * 2, int(digit_h * rng.uniform(0.35, 0.5))), 1.0, thick)
        elif ch in "$#":
            scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, int(digit_h * 0.8), thick)
            drawn = np.zeros(piece.shape, np.uint8)  # putText draws on 8-bit images only
            cv2.putText(drawn, ch, (cx - size, int(digit_h * 0.9)), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, scale, 255, thick)
            np.maximum(piece, drawn / np.float32(255), out=piece)
    return piece


def render_printed(
    rng: np.random.Generator,
    fonts: list[Path],
    text: str,
    segment: bool = False,
    sign: bool = False,
    font_probabilities: np.ndarray | None = None,
    before: str = "",
    after: str = "",
    word_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render ``text`` (with unlabelled separators) in a random font (uniformly, or by
    ``font_probabilities``), size, tracking and weight. ``segment``: ``fonts`` are segment display fonts;
    only display separators, and often the unlit segments faintly visible behind each digit (an ``8`` at
    8-30 % of the ink), as on LCDs. ``sign``: a leading ``$``/``#``. ``before`` and ``after``: unlabelled
    words drawn a space before and after the digits (with an empty ``text``: the words alone). With
    ``word_mask``, returns (ink, the ink of those words alone, drawn and cut the same)."""
    index = rng.integers(len(fonts)) if font_probabilities is None else rng.choice(len(fonts), p=font_probabilities)
    font = ImageFont.truetype(str(fonts[int(index)]), int(rng.integers(28, 56)))
    tokens = _punctuate(rng, text, segment, sign) if text else []
    tokens = [before, " "] * bool(before) + tokens + [" ", after] * bool(after)
    ghost = int(255 * rng.uniform(0.08, 0.3)) if segment and rng.random() < 0.4 else 0
    tracking = rng.uniform(-0.05, 0.4) * font.size
    widths = [font.getlength(t) for t in tokens]
    width = int(sum(widths) + tracking * len(tokens) + font.size * 2)
    image, words = (Image.new("L", (max(width, 8), int(font.size * 1.8)), 0) for _ in range(2))
    draw, draw_words = ImageDraw.Draw(image), ImageDraw.Draw(words)
    word_tokens = set(range(2 * bool(before))) | set(range(len(tokens) - 2 * bool(after), len(tokens)))
    x = font.size * 0.4
    stroke = int(rng.random() < 0.2)
    for k, (token, w) in enumerate(zip(tokens, widths)):
        if ghost and token.isdigit():
            draw.text((x, font.size * 0.3), "8", fill=ghost, font=font, stroke_width=stroke, stroke_fill=ghost)
        for canvas in (draw, draw_words) if k in word_tokens else (draw,):
            canvas.text((x, font.size * 0.3), token, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
        x += w + tracking
    array, word_array = (np.asarray(canvas, np.float32) / 255 for canvas in (image, words))
    ys, xs = np.nonzero(array > 0.2)
    if len(ys) == 0:
        return (array, word_array) if word_mask else array
    pad = int(rng.integers(1, max(2, font.size // 3)))
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, array.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, array.shape[1])
    return (array[y0:y1, x0:x1], word_array[y0:y1, x0:x1]) if word_mask else array[y0:y1, x0:x1]


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """A uint8 image, gray (H, W) or colour (H, W, 3), as it comes back from JPEG at ``quality``."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)


def degrade(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """Turn an ink map into a document-like uint8 photo/scan: paper texture or guilloche, ink and paper
    tones (either polarity), underline, rotation, blur, noise and JPEG artefacts."""
    h, w = ink.shape
    paper = rng.uniform(0.55, 1.0)
    ink_tone = rng.uniform(0.0, min(0.45, paper - 0.25))
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(1, 8))
    background = paper + texture / (np.abs(texture).max() + 1e-6) * rng.uniform(0, 0.15)
    if rng.random() < 0.3:  # guilloche-like security pattern
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        freq, angle = rng.uniform(0.15, 0.6), rng.uniform(0, np.pi)
        waves = np.sin(freq * (xx * np.cos(angle) + yy * np.sin(angle)) + 3 * np.sin(0.05 * xx))
        background = background - rng.uniform(0.03, 0.15) * (waves > 0.6)
    if rng.random() < 0.25:  # underline / box line
        y = int(rng.integers(int(h * 0.75), h))
        ink = ink.copy()
        cv2.line(ink, (0, y), (w, y + int(rng.integers(-3, 4))), float(rng.uniform(0.5, 1)), int(rng.integers(1, 3)))
    image = background * (1 - ink) + ink_tone * ink
    if rng.random() < 0.5:
        angle = rng.uniform(-4, 4)
        image = warp_whole(image, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0))
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.5))
    image = image + rng.normal(0, rng.uniform(0, 0.06), image.shape)
    if rng.random() < 0.1:
        image = 1 - image
    image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    if rng.random() < 0.5:
        h, w = image.shape
        scale = rng.uniform(min(1.0, max(0.4, 14 / h)), 1.0)  # low resolution (never under 14 px) before the JPEG
        small = cv2.resize(image, (max(4, int(w * scale)), max(4, int(h * scale))), interpolation=cv2.INTER_AREA)
        image = jpeg_round_trip(small, int(rng.integers(20, 95)))
    return image


def on_photo(rng: np.random.Generator, ink: np.ndarray, photos: Sequence[np.ndarray]) -> np.ndarray:
    """An ink map (H, W) in 0..1 set in colour on a patch of a random photo, as a house number, sign or meter
    is photographed: dark digits on a light plate, digits of any colour straight on the photo, or light
    digits on a dark plate (a third each), the patch reaching 0.2-1 ink height past the ink; then blur,
    noise and JPEG as in :func:`degrade`. Returns (H', W', 3) uint8 RGB."""
    h, w = ink.shape
    pad = int(h * rng.uniform(0.2, 1.0))
    size = (h + 2 * pad, w + 2 * pad)
    photo = photos[int(rng.integers(len(photos)))]
    scale = max(1.0, size[0] / photo.shape[0], size[1] / photo.shape[1]) * rng.uniform(1.0, 2.0)
    if scale > 1:  # the string is large against this photo: enlarge the photo, never tile it
        photo = cv2.resize(photo, (int(photo.shape[1] * scale) + 1, int(photo.shape[0] * scale) + 1))
    y, x = int(rng.integers(0, photo.shape[0] - size[0] + 1)), int(rng.integers(0, photo.shape[1] - size[1] + 1))
    patch = photo[y : y + size[0], x : x + size[1]].astype(np.float32)
    kind = int(rng.integers(3))
    colour = rng.uniform(0, 255, 3)
    if kind != 1:
        rim = int(pad * rng.uniform(0.3, 0.8))
        plate = rng.uniform(170, 255, 3) if kind == 0 else rng.uniform(0, 80, 3)
        patch[rim : size[0] - rim, rim : size[1] - rim] = plate
        colour = rng.uniform(0, 70, 3) if kind == 0 else rng.uniform(190, 255, 3)
    alpha = np.zeros(size, np.float32)
    alpha[pad : pad + h, pad : pad + w] = ink
    image = patch * (1 - alpha[..., None]) + colour * alpha[..., None]
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.5))
    image = np.clip(image + rng.normal(0, rng.uniform(0, 8), image.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        image = jpeg_round_trip(image, int(rng.integers(30, 95)))
    return image


def boxed(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """An ink map (H, W) in a drawn box, as a form's field or a cheque's amount box is cut out: paper inside
    the box 10-50 % of the string's height above and below it and 5-60 % at its sides, a rectangle 2-8 % of that
    height thick (at least a pixel), and 0-20 % of paper outside it."""
    height, width = ink.shape
    rows, columns = (round(height * rng.uniform(*share)) for share in ((0.1, 0.5), (0.05, 0.6)))
    thickness = max(1, round(height * rng.uniform(0.02, 0.08)))
    outside = round(height * rng.uniform(0.0, 0.2))
    top, left = outside + thickness + rows, outside + thickness + columns
    framed = np.zeros((height + 2 * top, width + 2 * left), np.float32)
    framed[top : top + height, left : left + width] = ink
    inner = outside + thickness // 2
    cv2.rectangle(framed, (inner, inner), (framed.shape[1] - 1 - inner, framed.shape[0] - 1 - inner), 1.0, thickness)
    return framed


def shaded(rng: np.random.Generator, image: np.ndarray, depth: float) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) uint8 lit unevenly, as a phone photo of a page or a meter is: the light
    falls off by ``depth`` (its share lost at the darkest) along a straight ramp in any direction, or, half
    the time, across the soft edge of a shadow (a hand's, the phone's) crossing the image at any angle."""
    height, width = image.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    along = columns * np.cos(angle) + rows * np.sin(angle)
    along = (along - along.min()) / max(float(along.max() - along.min()), 1e-6)  # 0 to 1 across the image
    if rng.random() < 0.5:
        light = 1 - depth * along
    else:
        edge, softness = rng.uniform(0.3, 0.7), rng.uniform(0.03, 0.2)
        light = 1 - depth / (1 + np.exp(-(along - edge) / softness))
    light = light[..., None] if image.ndim == 3 else light
    return np.clip(image * light, 0, 255).astype(np.uint8)


def noisy(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) uint8 with Gaussian noise of ``sigma`` grey levels in every pixel (and
    channel), as a phone's sensor adds it in dim light."""
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def recrop(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """``image`` cut to its ink as the reader cuts it (:func:`~vision.digits.ink.crop_to_ink`), with margins
    drawn from ``RECROP_MARGINS`` around the reader's: the reader learns the crops it is given, and is not
    thrown by a pixel more or less of them."""
    return crop_to_ink(image, margin=(rng.uniform(*RECROP_MARGINS[0]), rng.uniform(*RECROP_MARGINS[1])))


@dataclass
class SyntheticConfig:
    handwritten_fraction: float = 0.6  # the rest are printed strings
    writer_fraction: float = 0.5  # of the handwritten strings, those composed from ``writer_glyphs``
    max_digits: int = MAX_DIGITS
    recrop_fraction: float = 0.0  # strings cut to their ink by :func:`recrop`
    segment_fraction: float = 0.0  # of the printed strings, those in a segment display font (``segment_fonts``)
    sign_fraction: float = 0.0  # of the other printed strings, those led by a ``$`` or ``#`` sign
    photo_fraction: float = 0.0  # strings set in colour on a photo (``photos``, :func:`on_photo`) instead of paper
    thin_font_weight: float = 1.0  # how much likelier the thinnest fonts are drawn (:func:`font_weights`)
    thin_stroke_fraction: float = 0.0  # of the printed strings not on segment displays, those thinned (:func:`thin_strokes`)
    font_boost: Mapping[str, float] = field(default_factory=dict)  # font file name -> times likelier drawn (:func:`font_weights`)
    word_fraction: float = 0.0  # of the printed strings not on segment displays, those with an unlabelled word before or after
    no_digits_fraction: float = 0.0  # strings that are printed words only, labelled "" (there is nothing to read)
    words_unlike_digits: bool = False  # those words draw no letter like a digit (:func:`random_word`)
    tilt: tuple[float, float] = (0.0, 0.0)  # degrees (least, most) by which every string is turned, either way
    shade: tuple[float, float] = (0.0, 0.0)  # (least, most) share of light lost where darkest (:func:`shaded`)
    box: bool = False  # every string in a drawn box (:func:`boxed`)
    noise: tuple[float, float] = (0.0, 0.0)  # (least, most) grey levels of noise added to every string (:func:`noisy`)


class SyntheticDigits(IterableDataset):
    """Endless synthetic digit strings; yields ``(image (H, W) float32, text)``, normalised.

    Handwritten strings are composed from ``glyphs`` or, for ``config.writer_fraction`` of them when
    given, from ``writer_glyphs`` (digits cut from real strings by the writers the reader must serve).
    Printed strings use ``fonts``, or for ``config.segment_fraction`` of them when given, ``segment_fonts``;
    ``config.word_fraction`` of the others have a word printed before or after them (``Total 1250``, ``12 kg``),
    and ``config.no_digits_fraction`` of all strings are words alone, labelled "" (both in the fonts that
    draw letters, :func:`draws_letters`), so that letters are not read as digits.
    ``config.photo_fraction`` of all strings, when ``photos`` are given, are set on one of them in colour
    (:meth:`render` gives those as RGB, as a user has them; :meth:`sample` reads them gray, as the reader does).
    Each worker gets its own random stream from ``seed``; with ``length`` set the dataset is finite and
    reproducible (for validation).
    """

    def __init__(
        self,
        glyphs: list[tuple[int, np.ndarray]],
        fonts: list[Path],
        height: int,
        config: SyntheticConfig = SyntheticConfig(),
        seed: int = 0,
        length: int | None = None,
        writer_glyphs: Sequence[tuple[int, np.ndarray]] = (),
        segment_fonts: Sequence[Path] = (),
        photos: Sequence[np.ndarray] = (),
    ):
        self.photos = list(photos)
        self.by_digit = [[g for label, g in glyphs if label == d] for d in range(10)]
        self.writer_by_digit = [[g for label, g in writer_glyphs if label == d] for d in range(10)]
        self.fonts = fonts
        self.font_probabilities = font_weights(fonts, config.thin_font_weight, config.font_boost)
        self.word_font_probabilities = None
        if config.word_fraction or config.no_digits_fraction:
            self.word_font_probabilities = word_font_weights(fonts, self.font_probabilities)
        self.segment_fonts = list(segment_fonts)
        self.height = height
        self.config = config
        self.seed = seed
        self.length = length
        self.use_handwritten = all(self.by_digit)
        self.use_writers = all(self.writer_by_digit)

    def render(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """One uint8 image as a user would have it — a document (H, W), or a photo (H, W, 3) RGB — and its
        digit string."""
        config, word_fonts = self.config, self.word_font_probabilities
        text = random_text(rng, config.max_digits)
        if word_fonts is not None and config.no_digits_fraction and rng.random() < config.no_digits_fraction:
            text, words = "", [random_word(rng, config.words_unlike_digits) for _ in range(int(rng.integers(1, 3)))]
            ink = render_printed(rng, self.fonts, text, font_probabilities=word_fonts, before=" ".join(words))
        elif self.use_handwritten and rng.random() < config.handwritten_fraction:
            writers = self.use_writers and rng.random() < config.writer_fraction
            ink = compose_handwritten(rng, self.writer_by_digit if writers else self.by_digit, text)
        else:
            segment = bool(config.segment_fraction and self.segment_fonts) and rng.random() < config.segment_fraction
            sign = not segment and bool(config.sign_fraction) and rng.random() < config.sign_fraction
            fonts, probabilities = (self.segment_fonts, None) if segment else (self.fonts, self.font_probabilities)
            before = after = ""
            if not segment and word_fonts is not None and config.word_fraction and rng.random() < config.word_fraction:
                probabilities = word_fonts
                word_first = rng.random() < 0.6  # drawn before the word: synth-words' benchmark draws depend on the order
                word = random_word(rng, config.words_unlike_digits)
                before, after = (word, "") if word_first else ("", word)
            ink = render_printed(rng, fonts, text, segment, sign, probabilities, before=before, after=after)
            if not segment and config.thin_stroke_fraction and rng.random() < config.thin_stroke_fraction:
                ink = thin_strokes(rng, ink)
        if config.box:
            ink = boxed(rng, ink)
        if self.photos and config.photo_fraction and rng.random() < config.photo_fraction:
            image = on_photo(rng, ink, self.photos)
        else:
            image = degrade(rng, ink)
        if config.tilt[1] > 0:  # drawn last: a tilted string is the same seed's untilted one, turned
            image = turned(image, rng.uniform(*config.tilt) * rng.choice([-1, 1]))
        if config.shade[1] > 0:  # drawn after the tilt: a shaded string is the same seed's unshaded one
            image = shaded(rng, image, rng.uniform(*config.shade))
        if config.noise[1] > 0:  # drawn last: a noisy string is the same seed's clean one, with noise
            image = noisy(rng, image, rng.uniform(*config.noise))
        return image, text

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        image, text = self.render(rng)
        image = gray_array(image)
        if self.config.recrop_fraction and rng.random() < self.config.recrop_fraction:
            image = recrop(rng, image)
        return normalize_image(image, self.height), text

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        if self.length is not None:
            for index in range(worker, self.length, workers):
                yield self.sample(np.random.default_rng([self.seed, index]))
            return
        rng = pass_rng(self, self.seed)
        while True:
            yield self.sample(rng)


# ------------------------------------------------------------------------------------------------ real


def orand_source(file_name: str) -> str:
    """The source number of an ORAND-CAR-A crop's file name (``a_car_000154_png.rf.<hash>.jpg`` -> ``a_car_000154``)."""
    return file_name.split("_png")[0]


def orand_fold(file_name: str) -> int:
    """Deterministic fold (0..4) of an ORAND-CAR-A crop from its source number (:func:`orand_source`)."""
    return int(hashlib.sha1(orand_source(file_name).encode()).hexdigest(), 16) % NUM_FOLDS


# ``labels.tsv`` entries that contradict their image, by source number -> the digits the image shows. The first
# four are listed in the data's README; the others were found by looking at every image beside its label, without
# any reader's output (fold 0, session 15: 5 of 213; the training folds, session 16: 6 more of 867).
ORAND_LABEL_FIXES = {
    "a_car_000768": "17146",  # "17.146", labelled 17746
    "a_car_001037": "110820",  # "110.820", labelled 110800
    "a_car_001165": "15371",  # "15.371", labelled 153
    "a_car_001167": "109",  # "109,", labelled 2
    "a_car_000340": "7393",  # "7.393", labelled 7397
    "a_car_000365": "13817",  # "13817.", labelled 13317
    "a_car_000498": "104927",  # labelled 104027
    "a_car_001027": "15775",  # "15.775", labelled 11775
    "a_car_001086": "97060",  # "97060.", labelled 97066
    "a_car_000414": "30880",  # "30.880", labelled 30000
    "a_car_000525": "22107",  # labelled 72107
    "a_car_000817": "1119",  # labelled 1111
    "a_car_000885": "40000",  # "40.000", labelled 44000
    "a_car_000977": "19620",  # labelled 11620
    "a_car_001192": "198",  # labelled 178
}


def load_orand(data_root: str | Path, folds: set[int], corrected: bool = True) -> list[tuple[Path, str]]:
    """ORAND-CAR-A crops of ``folds`` as (path, digits); ``corrected``: with ``ORAND_LABEL_FIXES`` applied."""
    folder = Path(data_root) / "digits" / "orand_car_a_train"
    fixes = ORAND_LABEL_FIXES if corrected else {}
    items = []
    for line in (folder / "labels.tsv").read_text().splitlines():
        name, text = line.split("\t")
        if orand_fold(name) in folds:
            items.append((folder / name, fixes.get(orand_source(name), text)))
    return items


class LabelledImages(Dataset):
    """Real labelled images ``[(path, text)]``; with ``augment`` each read is jittered (:func:`augment_scan`),
    and ``recrop_fraction`` of the reads are then cut to their ink (:func:`recrop`); with ``crop`` each
    image is cut to its ink first, as the reader cuts its first view (:func:`vision.digits.ink.crop_to_ink`)."""

    def __init__(
        self, items: list[tuple[Path, str]], height: int, augment: bool = False, seed: int = 0, crop: bool = False,
        recrop_fraction: float = 0.0,
    ):
        self.images = [load_image_gray(path) for path, _ in items]
        if crop:
            self.images = [crop_to_ink(image) for image in self.images]
        self.texts = [text for _, text in items]
        self.height = height
        self.augment = augment
        self.recrop_fraction = recrop_fraction
        self.seed = seed
        self._rng: tuple[int, np.random.Generator] | None = None  # (pid, generator): one stream per worker

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        image = self.images[index]
        if self.augment:
            if self._rng is None or self._rng[0] != os.getpid():
                self._rng = (os.getpid(), pass_rng(self, self.seed))
            image = augment_scan(self._rng[1], image)
            if self.recrop_fraction and self._rng[1].random() < self.recrop_fraction:
                image = recrop(self._rng[1], image)
        return normalize_image(image, self.height), self.texts[index]


def augment_scan(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Jitter a real uint8 scan (H, W) the way another writer, pen or scanner would: rotation, shear,
    independent x/y scale, smooth elastic warp, stroke width, blur, contrast, noise and JPEG. The canvas
    grows with the geometry, so no digit is cut off."""
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-3, 3), 1.0)
    matrix[:, :2] = matrix[:, :2] @ np.float32([[rng.uniform(0.8, 1.2), rng.uniform(-0.2, 0.2)], [0, rng.uniform(0.9, 1.1)]])
    image = warp_whole(image.astype(np.float32), matrix)
    if rng.random() < 0.5:  # elastic: a smooth random displacement field of a few pixels
        h, w = image.shape
        sigma, alpha = rng.uniform(4, 8), rng.uniform(1, 3) * h / 32
        field = [cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) for _ in range(2)]
        field = [f / (np.abs(f).max() + 1e-6) * alpha for f in field]
        grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
        image = cv2.remap(image, grid_x + field[0], grid_y + field[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.3:  # pen width: ink is dark, so dilating the paper thins strokes
        kernel = np.ones((2, 2), np.uint8)
        image = cv2.dilate(image, kernel) if rng.random() < 0.5 else cv2.erode(image, kernel)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2))
    image = (image - image.mean()) * rng.uniform(0.6, 1.2) + image.mean() + rng.normal(0, rng.uniform(0, 8), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        image = jpeg_round_trip(image, int(rng.integers(30, 95)))
    return image


def collate(batch: list[tuple[np.ndarray, str]]) -> dict[str, torch.Tensor | list[str]]:
    """Pad to the widest image (with background 0). Returns images (B, 1, H, W), widths (B,), texts,
    and CTC targets: labels concatenated (digit d -> d + 1) with their lengths."""
    width = max(image.shape[1] for image, _ in batch)
    images = torch.zeros(len(batch), 1, batch[0][0].shape[0], width)
    for i, (image, _) in enumerate(batch):
        images[i, 0, :, : image.shape[1]] = torch.from_numpy(image)
    texts = [text for _, text in batch]
    return {
        "images": images,
        "widths": torch.tensor([image.shape[1] for image, _ in batch]),
        "texts": texts,
        "targets": torch.tensor([int(ch) + 1 for text in texts for ch in text], dtype=torch.long),
        "target_lengths": torch.tensor([len(text) for text in texts], dtype=torch.long),
    }


def width_batches(images: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
    """The indices of ``images`` (H_i, W_i, ...) in batches of at most ``batch_size``, the narrowest for their height
    together (as wide as they will be once normalised to one height): a batch padded to its widest wastes least."""
    order = sorted(range(len(images)), key=lambda i: images[i].shape[1] / images[i].shape[0])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def run_reader(model: torch.nn.Module, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a CRNN (a reader or the word tagger) on grayscale images (H_i, W_i) of either polarity, normalised
    (:func:`normalize_image`) and padded into one batch: its log-probabilities (N, T, C) float32 on the CPU, the
    time steps (N,) of each image, and each image's width (N,) once normalised. Call under inference mode."""
    batch = collate([(normalize_image(image, model.config.height), "") for image in images])
    device = next(model.parameters()).device
    log_probs = model(batch["images"].to(device).contiguous(memory_format=torch.channels_last), batch["widths"])
    return log_probs.float().cpu(), model.time_steps(batch["widths"]), batch["widths"]
