"""Reading several views of each image together (``read_views``): the string most probable across them."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from apps.models import load_model
from vision.digits.data import collate, load_image_gray, normalize_image
from vision.digits.decode import greedy_decode, string_probability
from vision.digits.ink import turned
from vision.digits.reader import CROP_MARGINS, read_batch, read_digits, read_views

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "apps" / "samples" / "digits").glob("*.png"))


@pytest.fixture(scope="module")
def model():
    return load_model("crnn-digits")


@pytest.fixture(scope="module")
def images():
    return [load_image_gray(path) for path in SAMPLES]


def images_of(names: tuple[str, ...]) -> list[np.ndarray]:
    return [load_image_gray(SAMPLES[0].parent / name) for name in names]


def _alone(model, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's (1, T, C) log-probabilities for one image and its (1,) time steps, batch of one."""
    batch = collate([(normalize_image(image, model.config.height), "")])
    with torch.inference_mode():
        return model(batch["images"], batch["widths"]).float(), model.time_steps(batch["widths"])


def _probability(model, image: np.ndarray, text: str) -> float:
    return float(string_probability(*_alone(model, image), [text])[0])


def test_a_batch_reads_each_image_as_it_reads_alone(model, images):
    for image, (text, confidence) in zip(images, read_batch(model, images)):
        log_probs, steps = _alone(model, image)
        assert text == greedy_decode(log_probs[0, : steps[0]])
        assert confidence == pytest.approx(_probability(model, image, text), abs=1e-4)


def test_each_image_gets_the_candidate_most_probable_over_its_own_views(model, images):
    """Three images, two views each, the views disagreeing for two of them: each image's reading is its
    views' reading with the higher mean probability over its own two views, and that mean is its
    confidence."""
    first_views, second_views = [images[0], images[1], images[2]], [images[3], images[1], images[6]]
    for own in zip(first_views, second_views):
        candidates = {text for text, _ in read_batch(model, list(own))}
        means = {t: np.mean([_probability(model, view, t) for view in own]) for t in candidates}
        best = max(means, key=means.get)
        expected = (best, means[best])
        ((text, confidence),) = read_views(model, [[own[0]], [own[1]]])
        assert text == expected[0] and confidence == pytest.approx(expected[1], abs=1e-4)
    together = read_views(model, [first_views, second_views])
    alone = [read_views(model, [[a], [b]])[0] for a, b in zip(first_views, second_views)]
    assert [t for t, _ in together] == [t for t, _ in alone]
    assert [c for _, c in together] == pytest.approx([c for _, c in alone], abs=1e-4)


class _FixedOutputs(nn.Module):
    """Stands in for the CRNN: returns the given (1, T, C) log-probabilities, one per call (per view)."""

    def __init__(self, outputs: list[torch.Tensor]):
        super().__init__()
        self.outputs, self.anchor = outputs, nn.Parameter(torch.zeros(()))
        self.config = SimpleNamespace(height=32)

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        return self.outputs.pop(0)

    def time_steps(self, widths: torch.Tensor) -> torch.Tensor:
        return torch.tensor([4])


def _peaked(path: list[int], sharpness: float) -> torch.Tensor:
    logits = torch.zeros(len(path), 11)
    logits[torch.arange(len(path)), torch.tensor(path)] = sharpness
    return logits.log_softmax(-1)[None]


def test_with_a_length_range_an_empty_reading_does_not_outvote_a_string_in_range():
    """View 1 is all blank (nothing of length >= 2 in its beam: ""); view 2 reads "12" (labels 2, 3).
    "" has the higher mean probability, but it is not in the range, so "12" is the reading."""
    blank, twelve = _peaked([0, 0, 0, 0], 9.0), _peaked([2, 0, 3, 0], 3.0)
    image = [np.zeros((32, 16), np.uint8)]
    fake = _FixedOutputs([blank, twelve])
    ((text, _),) = read_views(fake, [image, image], min_len=2)
    assert text == "12"
    fake = _FixedOutputs([blank, twelve])
    ((text, _),) = read_views(fake, [image, image])  # no range: the most probable string wins
    assert text == ""


@pytest.mark.parametrize("degrees", [10.0, -14.0])
def test_a_tilted_string_is_read_again_turned_level(model, degrees):
    """The sample "3141592" turned 10-14 degrees: misread as it is, read right once levelled; and the
    second look never lowers the confidence of any image."""
    tilted = [turned(image, degrees) for image in images_of(("06_3141592.png", "00_2250.png", "07_80.png"))]
    plain, levelled = read_digits(tilted, model, level=False), read_digits(tilted, model)
    assert plain[0].text != "3141592" and levelled[0].text == "3141592"
    assert all(b.confidence >= a.confidence for a, b in zip(plain, levelled))


def test_an_ensemble_reads_the_string_most_probable_over_every_model_and_view():
    """Model A reads "1" weakly, model B reads "22" sharply, one view each: the reading is B's, the candidate
    with the higher probability averaged over both models, and that mean is its confidence."""
    one, twos = _peaked([2, 0, 0, 0], 2.0), _peaked([3, 0, 3, 0], 6.0)
    image = [np.zeros((32, 16), np.uint8)]
    steps = torch.tensor([4])
    means = {t: float(string_probability(one, steps, [t]) + string_probability(twos, steps, [t])) / 2
             for t in ("1", "22")}
    ((text, confidence),) = read_views([_FixedOutputs([one]), _FixedOutputs([twos])], [image])
    assert text == max(means, key=means.get) == "22" and confidence == pytest.approx(means["22"], abs=1e-5)


def test_an_ensemble_of_one_model_twice_reads_as_the_model_alone(model, images):
    alone, twice = read_digits(images, model), read_digits(images, [model, model])
    assert [r.text for r in twice] == [r.text for r in alone]
    assert [r.confidence for r in twice] == pytest.approx([r.confidence for r in alone], abs=1e-5)


def test_views_out_of_range_or_ragged_and_no_model_are_refused(model, images):
    with pytest.raises(ValueError, match="views"):
        read_digits(images[:1], model, views=0)
    with pytest.raises(ValueError, match="views"):
        read_digits(images[:1], model, views=len(CROP_MARGINS) + 1)
    with pytest.raises(ValueError, match="same N"):
        read_views(model, [images[:2], images[:1]])
    with pytest.raises(ValueError, match="at least one model"):
        read_views([], [images[:1]])
    with pytest.raises(ValueError, match="at least one model"):
        read_digits(images[:1], [])


def test_views_flag_runs_every_crop_through_the_model(model, images, monkeypatch):
    import vision.digits.reader as reader

    counts, real = [], reader.read_views

    def counting(model, views, *rest):
        counts.append(len(views))
        return real(model, views, *rest)

    monkeypatch.setattr(reader, "read_views", counting)
    for views in (1, 3, len(CROP_MARGINS)):
        counts.clear()
        assert len(read_digits(images[:3], model, views=views)) == 3 and set(counts) == {views}


def test_pil_images_and_any_iterable_read_as_their_arrays(model, images):
    from PIL import Image

    colour = [np.repeat(image[..., None], 3, axis=2) for image in images[:3]]
    palette = [Image.fromarray(c).convert("P", palette=Image.Palette.ADAPTIVE) for c in colour]  # indices, not tones
    texts = [r.text for r in read_digits(colour, model)]
    assert [r.text for r in read_digits(palette, model)] == texts
    assert [r.text for r in read_digits((c for c in colour), model)] == texts  # a generator is read, not skipped


def test_empty_images_and_batches_are_refused(model):
    with pytest.raises(ValueError, match="empty image"):
        read_digits([np.zeros((0, 0), np.uint8)], model)
    with pytest.raises(ValueError, match="batch_size"):
        read_digits([np.zeros((32, 32), np.uint8)], model, batch_size=0)


def test_a_shadowed_string_is_read_with_its_lighting_evened_and_an_evenly_lit_one_as_it_is(model, images):
    """Samples with the light falling off to 35 % across them: "3141592" misread as it is, all read right
    evened; the evenly lit samples read exactly as without evening."""
    names = ("06_3141592.png", "04_25441.png", "03_10248.png")
    shaded = [np.round(im * np.linspace(1.0, 0.35, im.shape[1])[None]).astype(np.uint8) for im in images_of(names)]
    plain, evened = read_digits(shaded, model, even=False), read_digits(shaded, model)
    assert plain[0].text != "3141592" and [r.text for r in evened] == ["3141592", "25441", "10248"]
    assert read_digits(images, model) == read_digits(images, model, even=False)
