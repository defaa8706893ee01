"""Reading several views of each image together (``read_views``): the string most probable across them."""

from pathlib import Path

import numpy as np
import pytest
import torch

from apps.models import load_model
from vision.digits.data import collate, load_image_gray, normalize_image
from vision.digits.decode import string_probability
from vision.digits.ink import crops_to_ink
from vision.digits.reader import CROP_MARGINS, read_batch, read_digits, read_views

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "apps" / "samples" / "digits").glob("*.png"))


@pytest.fixture(scope="module")
def model():
    return load_model("crnn-digits")


def _probability(model, image: np.ndarray, text: str) -> float:
    batch = collate([(normalize_image(image, model.config.height), "")])
    with torch.inference_mode():
        log_probs = model(batch["images"], batch["widths"]).float()
    return float(string_probability(log_probs, model.time_steps(batch["widths"]), [text])[0])


def test_one_view_repeated_reads_as_that_view_alone(model):
    images = [load_image_gray(path) for path in SAMPLES[:4]]
    alone = read_batch(model, images)
    for (text, confidence), (text_3, confidence_3) in zip(alone, read_views(model, [images] * 3)):
        assert text_3 == text and confidence_3 == pytest.approx(confidence, abs=1e-6)


def test_the_reading_is_the_candidate_most_probable_on_average_over_the_views(model):
    """Two views showing different strings: each view's reading is a candidate; the one kept has the
    higher mean probability, and that mean is its confidence."""
    first, second = load_image_gray(SAMPLES[0]), load_image_gray(SAMPLES[3])
    candidates = [text for text, _ in read_batch(model, [first, second])]
    assert candidates[0] != candidates[1]
    means = {t: (_probability(model, first, t) + _probability(model, second, t)) / 2 for t in candidates}
    ((text, confidence),) = read_views(model, [[first], [second]])
    assert text == max(means, key=means.get) and confidence == pytest.approx(means[text], abs=1e-5)


def test_the_crops_share_one_ink_box_and_differ_by_their_margins():
    image = load_image_gray(SAMPLES[4])
    crops = crops_to_ink(image, CROP_MARGINS)
    ink_height = crops_to_ink(image, [(0.0, 0.0)])[0].shape[0]
    for crop, (rows, columns) in zip(crops, CROP_MARGINS):
        expected = np.minimum(
            (ink_height * (1 + 2 * rows), crops[0].shape[1] + 2 * ink_height * (columns - CROP_MARGINS[0][1])),
            image.shape,
        )
        assert np.all(np.abs(np.array(crop.shape) - expected) <= 2)


def test_views_flag_runs_every_crop_through_the_model(model, monkeypatch):
    import vision.digits.reader as reader

    counts, real = [], reader.read_views

    def counting(model, views, *rest):
        counts.append(len(views))
        return real(model, views, *rest)

    monkeypatch.setattr(reader, "read_views", counting)
    images = [load_image_gray(path) for path in SAMPLES[:3]]
    for views in (1, 3, len(CROP_MARGINS)):
        counts.clear()
        assert len(read_digits(images, model, views=views)) == 3 and set(counts) == {views}
