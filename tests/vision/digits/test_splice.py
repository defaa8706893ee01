from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from vision.digits.data import MAX_DIGITS
from vision.digits.ink import true_runs
from vision.digits.splice import SplicedStrings, align_cuts, digit_cuts, drop_misread_cuts

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


def _slanted(text: str) -> tuple[np.ndarray, list[int]]:
    """Like :func:`_blocks` with every digit leaning right (half a column per row) and set 2 columns
    after the previous one in each row: neighbours overlap in columns but never touch."""
    widths = [3 + int(d) for d in text]
    image = np.zeros((32, 12 + sum(widths) + 2 * len(text)), np.float32)
    x, centres = GAP, []
    for w in widths:
        for row in range(16):
            lean = (15 - row) // 2
            image[8 + row, x + lean : x + lean + w] = 1.0
        centres.append(x + 4 + w // 2)
        x += w + 2
    return image, centres


def _peaks(text: str, centres: list[int], steps: int) -> torch.Tensor:
    """Log-probabilities (steps, 11) with one step per column: blank everywhere but a spike per digit."""
    logits = torch.full((steps, 11), -8.0)
    logits[:, 0] = 0.0
    for digit, column in zip(text, centres):
        logits[column] = -8.0
        logits[column, int(digit) + 1] = 0.0
    return logits.log_softmax(-1)


def _ink_runs(image: np.ndarray) -> list[tuple[int, int]]:
    """(left, right) column ranges of the inked runs of ``image``, left to right."""
    return true_runs(image.max(axis=0) > 0.5)


def _strokes(image: np.ndarray) -> list[tuple[float, int]]:
    """(centroid column, pixel count) of each 8-connected stroke of ``image`` 16 rows tall (a digit of
    :func:`_blocks` or :func:`_slanted`, not a line or a point), left to right."""
    _, _, stats, centroids = cv2.connectedComponentsWithStats((image > 0.5).astype(np.uint8), connectivity=8)
    return sorted(
        (float(c[0]), int(s[cv2.CC_STAT_AREA])) for c, s in zip(centroids[1:], stats[1:]) if s[cv2.CC_STAT_HEIGHT] == 16
    )


def _read_blocks(image: np.ndarray, start: float = 0, stop: float = np.inf) -> str:
    """Inverse of :func:`_blocks` and :func:`_slanted` for unjoined scans, over the digit strokes whose
    centroid lies in [start, stop): each has 16 rows of 3 + d pixels."""
    return "".join(str(area // 16 - 3) for x, area in _strokes(image) if start <= x < stop)


def _pieces_read_as_their_digits(image: np.ndarray, text: str, cuts: list[int | None]) -> bool:
    bounds = [0, *cuts, image.shape[1]]
    clean = [k for k, column in enumerate(bounds) if column is not None]
    return all(_read_blocks(image, bounds[a], bounds[b]) == text[a:b] for a, b in zip(clean, clean[1:]))


def test_cuts_fall_in_blank_gaps_and_joined_digits_are_not_cut():
    text = "40719"
    image, centres = _blocks(text, joined={1})
    cuts = digit_cuts(image, _peaks(text, centres, image.shape[1]), text)
    assert len(cuts) == len(text) - 1 and cuts[1] is None and sum(c is not None for c in cuts) == 3
    for i, cut in enumerate(cuts):
        if cut is not None:
            assert centres[i] < cut < centres[i + 1] and image[:, cut].max() == 0


@pytest.mark.parametrize(("scan", "least"), [(_blocks, 300), (_slanted, 150)])
def test_spikes_off_their_digits_never_cut_a_wrong_piece(scan, least):
    # A reader's spike may sit on the margin or the gap beside its digit; a cut taken from such a span
    # would give a blank piece labelled with a digit, or two digits labelled with one.
    rng = np.random.default_rng(0)
    made = 0
    for _ in range(300):
        text = "".join(map(str, rng.integers(0, 10, int(rng.integers(2, 7)))))
        image, centres = scan(text)
        widths = [3 + int(d) for d in text]
        shifted = [int(np.clip(c + rng.integers(-(w // 2) - GAP, w // 2 + GAP + 1), 0, image.shape[1] - 1))
                   for c, w in zip(centres, widths)]
        if any(b - a < 2 for a, b in zip(shifted, shifted[1:])):
            continue  # a CTC alignment needs a blank between repeated digits: the spikes would not be kept
        cuts = digit_cuts(image, _peaks(text, shifted, image.shape[1]), text)
        assert _pieces_read_as_their_digits(image, text, cuts), (text, shifted, cuts)
        made += sum(c is not None for c in cuts)
    assert made > least


def test_slanted_digits_are_cut_between_their_strokes_and_spliced_without_touching():
    texts = ["30518", "2964", "77"]
    scans = [_slanted(t) for t in texts]
    cuts = [digit_cuts(image, _peaks(t, c, image.shape[1]), t) for t, (image, c) in zip(texts, scans)]
    for text, (image, _), c in zip(texts, scans, cuts):
        inked = np.flatnonzero(image.max(axis=0) > 0)
        assert inked[-1] - inked[0] + 1 == inked.size  # no ink-free column to cut at
        assert None not in c and _pieces_read_as_their_digits(image, text, c)
    spliced = SplicedStrings([image for image, _ in scans], texts, cuts, height=32, middle=0.5)
    rng = np.random.default_rng(2)
    for _ in range(100):
        image, text = spliced.splice(rng)
        assert _read_blocks(image) == text and len(_strokes(image)) == len(text)


def test_a_detached_upper_stroke_beside_a_cut_forbids_it_but_a_decimal_point_does_not():
    # The flag of a 5 written apart from its body could go to either side; a point sits low and is no digit.
    image, centres = _blocks("35")
    flagged, pointed = image.copy(), image.copy()
    flagged[3:6, 10:16] = 1.0  # from the gap over the 5, not touching it
    pointed[21:24, 10:12] = 1.0  # a point in the gap
    assert digit_cuts(flagged, _peaks("35", centres, image.shape[1]), "35") == [None]
    assert digit_cuts(pointed, _peaks("35", centres, image.shape[1]), "35") != [None]


def test_a_line_under_the_string_is_cut_to_each_piece():
    texts = ["4071", "2964"]
    scans = [_blocks(t) for t in texts]
    for image, _ in scans:
        image[26:28, 1:-1] = 1.0  # touches no digit, leaves no ink-free column
    cuts = [digit_cuts(image, _peaks(t, c, image.shape[1]), t) for t, (image, c) in zip(texts, scans)]
    assert all(None not in c for c in cuts)
    spliced = SplicedStrings([image for image, _ in scans], texts, cuts, height=32, middle=1.0)
    rng = np.random.default_rng(3)
    for _ in range(50):
        image, text = spliced.splice(rng)
        runs = _ink_runs(image[8:24])
        gaps = [left - right for (_, right), (left, _) in zip(runs, runs[1:])]
        assert _read_blocks(image) == text and max(gaps) <= 2 * GAP + 6  # the lines run into the margins


def test_where_pieces_share_columns_the_paper_is_the_previous_ones():
    first, _ = _slanted("3")
    second, _ = _slanted("6")
    second = np.maximum(second, 0.3)  # grey paper
    pieces = [(first[:, :-3], first[:, :-3] > 0.5, "3"), (second[:, 3:], second[:, 3:] > 0.5, "6")]
    joined = SplicedStrings([first], ["3"], [[]], height=32, gap=1)._join(np.random.default_rng(0), pieces)
    width = pieces[0][0].shape[1]
    assert joined.shape[1] < width + pieces[1][0].shape[1]  # the slanted pieces share columns
    assert (joined[:4, :width] == 0).all() and (joined[:4, width:] == 0.3).all()
    assert _read_blocks(joined) == "36"


def test_a_piece_holding_only_a_separator_is_not_cut_out():
    # The reader put the "0" on the decimal point: the point alone would become a piece labelled "0".
    image = np.zeros((32, 46), np.float32)
    image[8:24, 3:11] = image[8:24, 24:27] = image[8:24, 32:43] = 1.0  # 5, 0, 8 as blocks
    image[21:24, 16:19] = 1.0  # a point between the 5 and the 0
    cuts = digit_cuts(image, _peaks("508", [6, 17, 25], image.shape[1]), "508")
    assert cuts == [None, None]


class _BlockReader(torch.nn.Module):
    """Reads :func:`_blocks` scans perfectly, one CTC step per 3 columns (not the shipped reader's 4)."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(height=32)
        self.device_marker = torch.nn.Parameter(torch.zeros(()))  # where read_batch looks for the device

    def time_steps(self, widths: torch.Tensor) -> torch.Tensor:
        return widths // 3

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        steps = int(self.time_steps(widths).max())
        out = torch.stack([_peaks("", [], steps)] * len(images))
        for b, (image, width) in enumerate(zip(images[:, 0].numpy(), widths.tolist())):
            runs = _ink_runs(image[:, :width])
            out[b] = _peaks(_read_blocks(image[:, :width]), [(left + right) // 2 // 3 for left, right in runs], steps)
        return out


def test_align_cuts_reads_batches_of_any_width_and_skips_labels_too_long_for_the_image():
    texts = ["31", "9046", "2", "777777", "58812"]
    images = [_blocks(t)[0] for t in texts]
    images[3] = images[3][:, :24]  # 8 steps cannot hold six 7s and the blanks between them
    cuts = align_cuts(_BlockReader(), images, texts, batch_size=2)
    assert cuts[3] is None and cuts[2] == [] and [len(c) for c in cuts if c is not None] == [1, 3, 0, 4]
    for image, text, c in zip(images, texts, cuts):
        if c is not None:
            assert _pieces_read_as_their_digits(image, text, c)
    assert sum(column is not None for c in cuts if c is not None for column in c) >= 5
    mislabelled = align_cuts(_BlockReader(), images[4:], ["58819"])  # the reader sees a 2 where the label has 9
    assert mislabelled[0][:3] == cuts[4][:3] and mislabelled[0][3] is None


def test_cuts_around_a_piece_read_otherwise_than_its_label_are_dropped():
    image, centres = _blocks("4071")
    cuts = digit_cuts(image, _peaks("4071", centres, image.shape[1]), "4071")
    assert None not in cuts
    assert drop_misread_cuts(_BlockReader(), [image], ["4071"], [list(cuts)]) == [cuts]  # narrow "1" too
    assert drop_misread_cuts(_BlockReader(), [image], ["4091"], [list(cuts)]) == [[cuts[0], None, None]]
    assert drop_misread_cuts(_BlockReader(), [image], ["9071"], [list(cuts)]) == [[None, cuts[1], cuts[2]]]
    assert drop_misread_cuts(_BlockReader(), [image], ["4079"], [list(cuts)]) == [[cuts[0], cuts[1], None]]


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
