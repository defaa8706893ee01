"""Python API of the digit reader: ``read_digits(images) -> list[Reading]``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from recurrent.registry import load_model
from vision.digits.data import collate, gray_array, load_image_gray, normalize_image
from vision.digits.decode import beam_decode, greedy_decode, string_probability
from vision.digits.ink import crop_to_ink
from vision.digits.model import CRNN

DEFAULT_WEIGHTS = "crnn-digits"


@dataclass
class Reading:
    path: str | None
    text: str
    confidence: float  # P(text | image) under the model, summed over CTC alignments; low means "check this"


@torch.inference_mode()
def read_batch(
    model: CRNN, images: Sequence[np.ndarray], beam: int = 1, min_len: int = 0, max_len: int | None = None
) -> list[tuple[str, float]]:
    """Read grayscale uint8/float images (any size, either polarity); returns (text, confidence) each."""
    device = next(model.parameters()).device
    batch = collate([(normalize_image(image, model.config.height), "") for image in images])
    images = batch["images"].to(device).contiguous(memory_format=torch.channels_last)
    log_probs = model(images, batch["widths"]).float().cpu()
    lengths = model.time_steps(batch["widths"])
    constrained = min_len > 0 or max_len is not None
    texts = [
        beam_decode(lp[:n], beam=max(beam, 2) if constrained else beam, min_len=min_len, max_len=max_len)
        if beam > 1 or constrained
        else greedy_decode(lp[:n])
        for lp, n in zip(log_probs, lengths)
    ]
    confidences = string_probability(log_probs, lengths, texts)
    return list(zip(texts, confidences.tolist()))


def read_digits(
    images: Sequence[str | Path | np.ndarray],
    model: CRNN | str = DEFAULT_WEIGHTS,
    device: str | torch.device = "cpu",
    beam: int = 1,
    batch_size: int = 32,
    min_len: int = 0,
    max_len: int | None = None,
    on_batch: Callable[[int], None] | None = None,
    crop: bool = True,
) -> list[Reading]:
    """Read the digit string in each image (paths, or arrays: gray (H, W), colour (H, W, 3) or with alpha).

    With ``crop`` each image is first cut to its ink (:func:`~vision.digits.ink.crop_to_ink`), so that a
    loose crop reads as well as a tight one. Images are batched by similar width to limit padding; results
    come back in the input order. ``on_batch(n)`` is called after each batch of n images (for progress
    bars). Unreadable files raise.
    """
    if isinstance(model, str):
        model = load_model(model, device=device)
    arrays = [load_image_gray(x) if isinstance(x, (str, Path)) else gray_array(x) for x in images]
    if crop:
        arrays = [crop_to_ink(array) for array in arrays]
    order = sorted(range(len(arrays)), key=lambda i: arrays[i].shape[1] / arrays[i].shape[0])
    results: dict[int, tuple[str, float]] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for index, result in zip(chunk, read_batch(model, [arrays[i] for i in chunk], beam, min_len, max_len)):
            results[index] = result
        if on_batch:
            on_batch(len(chunk))
    return [
        Reading(str(x) if isinstance(x, (str, Path)) else None, *results[i]) for i, x in enumerate(images)
    ]
