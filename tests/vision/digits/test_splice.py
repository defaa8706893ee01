import numpy as np
import torch

from vision.digits.data import MAX_DIGITS
from vision.digits.splice import SplicedStrings, digit_cuts

GAP = 3


def _blocks(text: str, joined: set[int] = frozenset()) -> tuple[np.ndarray, list[int]]:
    """A scan where digit d is an ink block 3 + d columns wide, GAP blank columns apart; a bar joins
    digit i to digit i + 1 for i in ``joined``. Returns the image (32, W) and each digit's centre column."""
    widths = [3 + int(d) for d in text]
    image = np.zeros((32, 2 * GAP + sum(widths) + GAP * (len(text) - 1)), np.float32)
    x, centres = GAP, []
    for i, w in enumerate(widths):
        image[8:24, x : x + w] = 1.0
        if i in joined:
            image[15:17, x + w : x + w + GAP] = 1.0
        centres.append(x + w // 2)
        x += w + GAP
    return image, centres


def _peaks(text: str, centres: list[int], steps: int) -> torch.Tensor:
    """Log-probabilities (steps, 11) with one step per column: blank everywhere but a spike per digit."""
    logits = torch.full((steps, 11), -8.0)
    logits[:, 0] = 0.0
    for digit, column in zip(text, centres):
        logits[column] = -8.0
        logits[column, int(digit) + 1] = 0.0
    return logits.log_softmax(-1)


def _read_blocks(image: np.ndarray) -> str:
    """Inverse of :func:`_blocks` for unjoined scans: the width of each inked run gives its digit."""
    inked = np.concatenate([[False], image.max(axis=0) > 0.5, [False]])
    edges = np.flatnonzero(np.diff(inked.astype(int)))
    return "".join(str(right - left - 3) for left, right in zip(edges[::2], edges[1::2]))


def test_cuts_fall_in_blank_gaps_and_joined_digits_are_not_cut():
    text = "40719"
    image, centres = _blocks(text, joined={1})
    cuts = digit_cuts(image, _peaks(text, centres, image.shape[1]), text)
    assert len(cuts) == len(text) - 1 and cuts[1] is None
    for i, cut in enumerate(cuts):
        if cut is not None:
            assert centres[i] < cut < centres[i + 1] and image[:, cut].max() == 0


def test_cuts_follow_a_reader_with_fewer_steps_than_columns():
    text = "2580"
    image, centres = _blocks(text)
    steps = image.shape[1] // 4
    cuts = digit_cuts(image, _peaks(text, [c // 4 for c in centres], steps), text)
    assert all(image[:, cut].max() == 0 and centres[i] < cut < centres[i + 1] for i, cut in enumerate(cuts))


def test_spliced_images_show_exactly_their_label():
    texts = ["123", "4567", "890", "5", "60206"]
    scans = [_blocks(t) for t in texts]
    cuts = [digit_cuts(image, _peaks(t, c, image.shape[1]), t) for t, (image, c) in zip(texts, scans)]
    spliced = SplicedStrings([image for image, _ in scans], texts, cuts, height=32, middle=0.5)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        image, text = spliced.splice(rng)
        assert 2 <= len(text) <= MAX_DIGITS and _read_blocks(image) == text
        seen.add(text)
    assert len(seen) > 50
    image, text = spliced.sample(rng)
    assert image.shape[0] == 32 and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1


def test_joined_digits_stay_together():
    spliced = SplicedStrings([_blocks("12", joined={0})[0]], ["12"], [[None]], height=32, middle=0.0)
    rng = np.random.default_rng(1)
    assert {spliced.splice(rng)[1] for _ in range(20)} == {"1212"}
