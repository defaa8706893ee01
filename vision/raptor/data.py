"""Images for the Raptor teacher and fits: Fashion-MNIST (``DATA_ROOT/images/fashion_mnist``, ``make data``).

Splits: ``train`` = the first 55,000 official training images, ``val`` = the last 5,000 (model selection),
``test`` = the official 10,000 test images (probe scores only). Images are (N, 1, 28, 28) float32 in [0, 1]
normalised with the training mean / std (``MEAN``, ``STD``); labels (N,) int64, 10 classes (``CLASSES``).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MEAN, STD = 0.2860, 0.3530
VAL_SIZE = 5000
FILES = {"train": "train", "val": "train", "test": "t10k"}


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion_mnist(data_root: str | Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 1, 28, 28) normalised float32, labels (N,) int64) of ``split`` (module docstring)."""
    if split not in FILES:
        raise ValueError(f"split must be one of {', '.join(FILES)}, got {split!r}")
    folder = Path(data_root) / "images" / "fashion_mnist"
    stem = FILES[split]
    images, labels = (_idx(folder / f"{stem}-{kind}-idx{d}-ubyte.gz") for kind, d in (("images", 3), ("labels", 1)))
    if split != "test":
        cut = len(images) - VAL_SIZE
        images, labels = (images[:cut], labels[:cut]) if split == "train" else (images[cut:], labels[cut:])
    x = (torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1) - MEAN) / STD
    return x, torch.from_numpy(labels.astype(np.int64))
