"""Moving handwritten digits with wrap-around: the translating-MNIST task of the FERNN paper, from the
real handwritten digit sets the suite ships (USPS, hwd1000, OpenCV ``digits.png``), not MNIST.

Each sequence: ``num_digits`` digit glyphs on a ``size × size`` black canvas (ink bright, values in
[0, 1], overlapping digits combine by maximum), each with a random integer start position and its own
integer velocity ``(vx, vy)``, ``|vx|, |vy| <= vmax`` px/frame; digit i sits at ``p_i + t·v_i`` (mod size)
in frame t, x along columns (right), y along rows (down) — the shift convention of
:mod:`vision.fernn.model`.

Digit identities (individual glyph images) are split: ``test`` uses only the held-out glyphs of
:func:`vision.digits.data.load_glyphs` (USPS test split, hwd1000 items 80-99, OpenCV columns 80-99);
``train`` and ``val`` split the remaining glyphs 9:1. Without the data files (tests, a fresh checkout)
the glyphs are digits rendered in matplotlib's DejaVu fonts, fonts split the same way.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")

SOURCES = [
    {"name": "USPS handwritten digits (Le Cun et al. 1990), train split; test split held out", "license": "not stated (AT&T Research)"},
    {"name": "hwd-1000 handwritten digits, items 0-79 per digit; 80-99 held out", "license": "MIT"},
    {"name": "OpenCV samples digits.png, columns 0-79; 80-99 held out (Debian opencv-doc)", "license": "Apache-2.0 (OpenCV)"},
]


@dataclass(frozen=True)
class MovingDigitsConfig:
    size: int = 28  # canvas side, px
    frames: int = 20
    num_digits: int = 2
    digit_px: int = 14  # longest side of a digit glyph, px
    vmax: int = 1  # |vx|, |vy| <= vmax px/frame


@dataclass
class GlyphBank:
    """Digit glyphs (float32 (h, w) in [0, 1], ink bright, longest side ``digit_px``) and their labels."""

    glyphs: list[np.ndarray]
    labels: np.ndarray  # (N,) int64
    source: str  # "handwritten" or "fonts" (the built-in fallback)

    def __len__(self) -> int:
        return len(self.glyphs)


def _fit(glyph: np.ndarray, digit_px: int) -> np.ndarray:
    h, w = glyph.shape
    scale = digit_px / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.clip(cv2.resize(glyph.astype(np.float32), size, interpolation=cv2.INTER_AREA), 0, 1)


@functools.lru_cache(maxsize=2)
def font_glyphs(split: str) -> list[tuple[int, np.ndarray]]:
    """Fallback: digits 0-9 in matplotlib's DejaVu fonts (even-numbered fonts train/val, odd test)."""
    import matplotlib

    fonts = sorted(p for p in (Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("DejaVu*.ttf") if "Display" not in p.name)
    chosen = fonts[1::2] if split == "test" else fonts[0::2]
    glyphs = []
    for path in chosen:
        font = ImageFont.truetype(str(path), 40)
        for digit in range(10):
            image = Image.new("L", (64, 64), 0)
            ImageDraw.Draw(image).text((12, 4), str(digit), fill=255, font=font)
            ink = np.asarray(image, np.float32) / 255
            ys, xs = np.nonzero(ink > 0.2)
            glyphs.append((digit, ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]))
    return glyphs


def load_glyph_bank(data_root: str | Path | None, split: str, digit_px: int = 14) -> GlyphBank:
    """Glyphs of one identity split (``train``, ``val`` or ``test``; see the module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    from vision.digits.data import load_glyphs

    real = load_glyphs(data_root, "test" if split == "test" else "train") if data_root is not None else []
    source = "handwritten" if real else "fonts"
    items = real or font_glyphs(split)
    if split != "test":  # a fixed random tenth of the training identities is the validation split
        val = set(np.random.default_rng(0).permutation(len(items))[: max(1, len(items) // 10)].tolist())
        items = [item for i, item in enumerate(items) if (i in val) == (split == "val")]
    return GlyphBank([_fit(g, digit_px) for _, g in items], np.array([label for label, _ in items], np.int64), source)


def render_sequence(
    rng: np.random.Generator,
    bank: GlyphBank,
    config: MovingDigitsConfig,
    velocity: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sequence: frames (T, 1, size, size) float32, labels (num_digits,), velocities (num_digits, 2)
    as (vx, vy) px/frame. ``velocity`` fixes every digit's velocity (velocity-generalisation tests)."""
    s, t = config.size, np.arange(config.frames)
    frames = np.zeros((config.frames, s, s), np.float32)
    labels = np.zeros(config.num_digits, np.int64)
    velocities = np.zeros((config.num_digits, 2), np.int64)
    grid = np.arange(s)
    for i in range(config.num_digits):
        index = int(rng.integers(len(bank)))
        glyph, labels[i] = bank.glyphs[index], bank.labels[index]
        canvas = np.zeros((s, s), np.float32)
        canvas[: glyph.shape[0], : glyph.shape[1]] = glyph[:s, :s]
        vx, vy = velocity if velocity is not None else rng.integers(-config.vmax, config.vmax + 1, 2)
        x0, y0 = rng.integers(0, s, 2)
        velocities[i] = vx, vy
        rows = (grid[None, :] - y0 - vy * t[:, None]) % s  # (T, S): source row of each target row
        cols = (grid[None, :] - x0 - vx * t[:, None]) % s
        np.maximum(frames, canvas[rows[:, :, None], cols[:, None, :]], out=frames)
    return frames[:, None], labels, velocities


class MovingDigits(Dataset):
    """``length`` reproducible sequences (item i depends only on ``seed`` and i).

    Items are dicts: ``frames`` (T, 1, S, S) float32, ``labels`` (num_digits,) int64, ``velocities``
    (num_digits, 2) int64 ``(vx, vy)``.
    """

    def __init__(
        self, bank: GlyphBank, config: MovingDigitsConfig = MovingDigitsConfig(), length: int = 1000, seed: int = 0,
        velocity: tuple[int, int] | None = None,
    ):
        if len(bank) == 0:
            raise ValueError("empty glyph bank")
        self.bank, self.config, self.length, self.seed, self.velocity = bank, config, length, seed, velocity

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        frames, labels, velocities = render_sequence(np.random.default_rng([self.seed, index]), self.bank, self.config, self.velocity)
        return {"frames": torch.from_numpy(frames), "labels": torch.from_numpy(labels), "velocities": torch.from_numpy(velocities)}


def multi_hot(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Digits present in each sequence: labels (B, num_digits) -> (B, num_classes) float in {0, 1}."""
    return torch.zeros(labels.shape[0], num_classes, device=labels.device).scatter_(1, labels, 1.0)
