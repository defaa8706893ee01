"""Cropping a digit-string image to its ink, and reading loose crops like tight ones."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.digits.data import load_image_gray
from vision.digits.ink import crop_to_ink, crops_to_ink, ink_tilt, turned
from vision.digits.reader import read_digits

SAMPLES = Path(__file__).resolve().parents[3] / "apps" / "samples" / "digits"


def _string_on_paper(dark_ink=True, size=(120, 400), box=(40, 80, 100, 300)):
    """Paper with digits drawn in ``box`` (top, bottom, left, right), a few specks far from it."""
    paper, ink = (200, 30) if dark_ink else (30, 220)
    image = np.full(size, paper, np.uint8)
    top, bottom, left, right = box
    cv2.putText(image, "4096", (left, bottom), cv2.FONT_HERSHEY_SIMPLEX, (bottom - top) / 22, ink, 4)
    rows, cols = np.nonzero(image == ink)
    for y, x in ((5, 5), (110, 390), (10, 380)):
        image[y, x] = ink
    return image, (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)


@pytest.mark.parametrize("dark_ink", [True, False])
def test_the_crop_is_the_ink_extent_plus_its_margins_and_ignores_specks(dark_ink):
    image, (top, bottom, left, right) = _string_on_paper(dark_ink)
    crop = crop_to_ink(image, margin=(0.1, 0.05))
    height = bottom - top
    expected = (height + 2 * round(0.1 * height), right - left + 2 * round(0.05 * height))
    assert abs(crop.shape[0] - expected[0]) <= 2 and abs(crop.shape[1] - expected[1]) <= 2
    assert crop.dtype == image.dtype


def test_crops_with_several_margins_share_one_ink_box():
    """Each crop is the zero-margin crop with its own margins around it (ink far from the borders)."""
    image, _ = _string_on_paper()
    margins = [(0.0, 0.0), (0.04, 0.02), (0.2, 0.12), (0.1, 0.3)]
    tight, *crops = crops_to_ink(image, margins)
    height = tight.shape[0]
    for crop, (rows, columns) in zip(crops, margins[1:]):
        top, left = int(np.ceil(rows * height)), int(np.ceil(columns * height))
        assert abs(crop.shape[0] - (height + 2 * rows * height)) <= 2
        assert abs(crop.shape[1] - (tight.shape[1] + 2 * columns * height)) <= 2
        located = cv2.matchTemplate(crop, tight, cv2.TM_SQDIFF)
        found_top, found_left = np.unravel_index(located.argmin(), located.shape)
        assert abs(found_top - top) <= 1
        assert abs(found_left - left) <= 1


def test_an_image_without_ink_or_already_tight_is_kept():
    blank = np.full((30, 90), 255, np.uint8)
    assert crop_to_ink(blank) is blank
    assert all(crop is blank for crop in crops_to_ink(blank, [(0.1, 0.05), (0.2, 0.1)]))
    image, (top, bottom, left, right) = _string_on_paper()
    tight = image[top:bottom, left:right]
    assert crop_to_ink(tight, margin=(0.0, 0.0)).shape == tight.shape


def test_columns_are_right_for_images_narrower_than_half_their_height():
    image = np.full((100, 30), 255, np.uint8)
    image[20:80, 12:18] = 0  # a "1"
    crop = crop_to_ink(image, margin=(0.0, 0.0))
    assert crop.shape == (60, 6) and crop.max() == 0


def test_a_dark_edge_in_a_photo_is_not_taken_for_ink():
    image, (top, bottom, left, right) = _string_on_paper(size=(300, 800), box=(120, 160, 350, 500))
    image[:, :60] = 10  # a table's edge beside the page
    crop = crop_to_ink(image, margin=(0.0, 0.0))
    assert abs(crop.shape[0] - (bottom - top)) <= 2 and abs(crop.shape[1] - (right - left)) <= 2


def test_a_lighter_strip_along_the_border_is_paper_not_a_reason_to_call_all_the_rest_ink():
    """Grey paper with a lighter strip along two borders, as some ORAND-CAR scans have: one threshold for
    the whole image splits strip from paper, and the digits drown in the "ink"."""
    image = np.full((80, 160), 255, np.uint8)
    cv2.putText(image, "20151", (14, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 3)
    rows, cols = np.nonzero(image == 0)
    tone = np.full(image.shape, 152.0)
    tone[:20], tone[:, :10] = 210, 210
    tone[image == 0] = 85
    noisy = tone + np.random.default_rng(0).normal(0, 6, tone.shape)
    crop = crop_to_ink(np.clip(noisy, 0, 255).astype(np.uint8), margin=(0.0, 0.0))
    assert abs(crop.shape[0] - (rows.max() + 1 - rows.min())) <= 2
    assert abs(crop.shape[1] - (cols.max() + 1 - cols.min())) <= 2


def test_a_few_ink_pixels_on_a_large_page_are_found_and_located_at_full_resolution():
    image, (top, bottom, left, right) = _string_on_paper(size=(1200, 3000), box=(500, 540, 1400, 1600))
    assert (image < 100).mean() < 0.002
    crop = crop_to_ink(image, margin=(0.0, 0.0))  # located on a 256-row copy, cut from the original
    assert abs(crop.shape[0] - (bottom - top)) <= 6 and abs(crop.shape[1] - (right - left)) <= 6


def test_a_dark_rule_line_does_not_hide_faint_digits_above_it():
    """Thin pale digits over a black underline wider than them: a threshold set by the line alone breaks the
    digits into specks and the crop keeps only the line; the crop is the digits' (the line, not ink of any
    digit, is left out of the box)."""
    image = np.full((60, 360), 215, np.uint8)
    cv2.putText(image, "5831880771", (20, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 165, 1, cv2.LINE_AA)
    rows, cols = np.nonzero(image < 200)
    image[46:51, 2:358] = 25
    crop = crop_to_ink(image, margin=(0.0, 0.0))
    assert abs(crop.shape[0] - (rows.max() + 1 - rows.min())) <= 2
    assert abs(crop.shape[1] - (cols.max() + 1 - cols.min())) <= 2


def _in_a_label(gray, rows=2.5, border=0.12):
    """``gray`` (dark ink on light paper) in the middle of a label of its paper ``rows`` times its height,
    inside a dark, textured border ``border`` of the label's height wide (a photographed label or display)."""
    height, width = gray.shape
    label_height, label_width = int(rows * height), int(width + (rows - 1) * height)
    edge = int(border * label_height)
    noise = np.random.default_rng(0).integers(0, 90, (label_height + 2 * edge, label_width + 2 * edge))
    image = cv2.GaussianBlur(noise.astype(np.uint8), (0, 0), 3)
    image[edge : edge + label_height, edge : edge + label_width] = np.median(gray)
    top, left = edge + (label_height - height) // 2, edge + (label_width - width) // 2
    image[top : top + height, left : left + width] = gray
    return image


def test_the_framed_crop_is_the_ink_inside_a_label_and_none_without_a_frame():
    """The label's dark border is one component around the digits. Closed all round, it is a drawn box, which
    every crop leaves out; cut open at the bottom, every crop keeps it and the framed crop leaves it out.
    Digits touching the image border frame nothing, nor does a digit around a speck in its loop, nor strokes
    crossing the ink between them."""
    sample = load_image_gray(SAMPLES / "03_10248.png")
    tight = crop_to_ink(sample, margin=(0.0, 0.0)).shape
    labelled = _in_a_label(sample)
    assert np.abs(np.subtract(crop_to_ink(labelled, margin=(0.0, 0.0)).shape, tight)).max() <= 2
    assert crops_to_ink(labelled, [(0.0, 0.0)], inside_frame=True) == []
    opened = labelled[: -int(0.12 * 2.5 * sample.shape[0]) - 2]  # the label's bottom border cut off
    assert crop_to_ink(opened).shape == opened.shape
    (framed,) = crops_to_ink(opened, [(0.0, 0.0)], inside_frame=True)
    assert np.abs(np.subtract(framed.shape, tight)).max() <= 2
    image, (top, bottom, left, right) = _string_on_paper()
    assert crops_to_ink(image[top:bottom, left:right], [(0.0, 0.0)], inside_frame=True) == []
    ring = np.full((40, 30), 220, np.uint8)
    cv2.ellipse(ring, (15, 20), (13, 18), 0, 0, 360, 20, 3)
    ring[20, 15] = 20
    assert crops_to_ink(ring, [(0.0, 0.0)], inside_frame=True) == []
    crossed = np.full((40, 60), 220, np.uint8)
    crossed[19:22, :] = crossed[:, 29:32] = 20  # strokes from border to border between the inner ink
    crossed[3:15, 8:18] = crossed[25:37, 40:50] = 20
    assert crops_to_ink(crossed, [(0.0, 0.0)], inside_frame=True) == []


@pytest.mark.parametrize("name", ["03_10248", "04_25441", "06_3141592"])
def test_digits_on_a_framed_label_read_right(name):
    """Read whole, the label's digits fill a third of the reader's rows and read wrong, unsure; read again
    inside the frame they read right."""
    assert read_digits([_in_a_label(load_image_gray(SAMPLES / f"{name}.png"))])[0].text == name.split("_")[1]


def _in_a_drawn_box(gray, outside):
    """``gray`` with paper a third of its height around it, in a dark rectangle 3 px thick, and ``outside``
    times its height of paper around that: a form's field cut out at or beyond its box."""
    boxed = np.pad(_loose(gray, 0.3), 3, constant_values=20)
    return np.pad(boxed, round(outside * gray.shape[0]), constant_values=np.median(gray)).astype(gray.dtype)


@pytest.mark.parametrize("outside", [0.0, 0.2])
def test_a_box_drawn_around_the_string_is_left_out_of_its_ink_and_a_loop_around_a_speck_is_not(outside):
    sample = load_image_gray(SAMPLES / "03_10248.png")
    crop = crop_to_ink(_in_a_drawn_box(sample, outside), margin=(0.0, 0.0))
    assert np.abs(np.subtract(crop.shape, crop_to_ink(sample, margin=(0.0, 0.0)).shape)).max() <= 2
    ring = np.full((60, 50), 220, np.uint8)
    cv2.ellipse(ring, (25, 30), (13, 18), 0, 0, 360, 20, 3)
    ring[30, 25] = 20
    assert min(crop_to_ink(ring, margin=(0.0, 0.0)).shape) > 25  # the loop's extent, not the speck's


@pytest.mark.parametrize("degrees", [-4.0, 4.0])
def test_a_box_drawn_askew_is_left_out_of_the_ink_too(degrees):
    sample = load_image_gray(SAMPLES / "03_10248.png")
    unboxed = np.pad(_loose(sample, 0.3), 3 + round(0.2 * sample.shape[0]), constant_values=np.median(sample))
    boxed, plain = (crop_to_ink(turned(image.astype(sample.dtype), degrees), margin=(0.0, 0.0))
                    for image in (_in_a_drawn_box(sample, 0.2), unboxed))
    assert np.abs(np.subtract(boxed.shape, plain.shape)).max() <= 3


@pytest.mark.parametrize("name", ["03_10248", "04_25441", "06_3141592"])
def test_digits_in_a_drawn_box_read_right(name):
    assert read_digits([_in_a_drawn_box(load_image_gray(SAMPLES / f"{name}.png"), 0.2)])[0].text == name.split("_")[1]


def _loose(gray, margin):
    return np.pad(gray, round(margin * gray.shape[0]), constant_values=np.median(gray)).astype(gray.dtype)


def _edged(gray):
    gray = _loose(gray, 1.0)
    gray[:, : gray.shape[1] // 12] = 20
    return gray


@pytest.mark.parametrize("loosen", [lambda g: g, lambda g: _loose(g, 0.4), lambda g: _loose(g, 3.0), _edged],
                         ids=["as-is", "margins-0.4", "margins-3", "dark-edge"])
def test_loose_crops_read_like_tight_ones(loosen):
    """The bundled samples read right as they are, with paper around them, and beside a dark edge."""
    files = sorted(SAMPLES.glob("*.png"))
    truths = [path.stem.split("_")[1] for path in files]
    assert [r.text for r in read_digits([loosen(load_image_gray(path)) for path in files])] == truths


def test_colour_arrays_read_as_their_files_do(tmp_path):
    """An RGB or RGBA array gives the gray image ``load_image_gray`` gives for the same pixels saved."""
    from PIL import Image

    from vision.digits.data import gray_array

    rng = np.random.default_rng(0)
    for mode, channels in (("RGB", 3), ("RGBA", 4)):
        pixels = rng.integers(0, 256, (20, 30, channels), dtype=np.uint8)
        Image.fromarray(pixels, mode).save(tmp_path / f"{mode}.png")
        from_file = load_image_gray(tmp_path / f"{mode}.png").astype(int)
        assert np.abs(gray_array(pixels).astype(int) - from_file).max() <= 1
    assert gray_array(pixels[..., :1]).shape == (20, 30)
    with pytest.raises(ValueError, match="image"):
        gray_array(np.zeros((4, 5, 2)))


@pytest.mark.parametrize("degrees", [-12.0, -6.0, 0.0, 4.0, 15.0])
def test_the_tilt_of_a_string_is_found_and_turning_it_back_levels_it(degrees):
    image = np.full((120, 560), 215, np.uint8)
    cv2.putText(image, "4096 3178", (20, 85), cv2.FONT_HERSHEY_SIMPLEX, 2.4, 25, 5)
    tilted = turned(image, degrees)
    assert tilted.dtype == np.uint8 and tilted.shape[1] > image.shape[1] - 2 and tilted.shape[0] >= image.shape[0]
    assert tilted[0, 0] == 215  # the new corners are paper
    assert ink_tilt(tilted) == pytest.approx(degrees, abs=1.0)
    assert ink_tilt(turned(tilted, -ink_tilt(tilted))) == pytest.approx(0.0, abs=1.0)


def test_slant_is_not_tilt_and_one_digit_has_none():
    image = np.full((120, 560), 215, np.uint8)
    cv2.putText(image, "4096 3178", (20, 85), cv2.FONT_HERSHEY_SIMPLEX, 2.4, 25, 5)
    shear = np.float32([[1, -0.35, 30], [0, 1, 0]])  # every digit leans right by about 19 degrees
    slanted = cv2.warpAffine(image, shear, (600, 120), borderValue=215)
    assert ink_tilt(slanted) == pytest.approx(0.0, abs=1.0)
    digit = np.full((120, 120), 215, np.uint8)
    cv2.putText(digit, "7", (30, 90), cv2.FONT_HERSHEY_SIMPLEX, 2.4, 25, 5)
    assert ink_tilt(turned(digit, 10.0)) == 0.0


def test_a_colour_image_turns_with_its_paper_colour():
    image = np.zeros((60, 200, 3), np.uint8)
    image[:] = (200, 180, 40)
    assert turned(image, 10.0)[0, 0].tolist() == [200, 180, 40]


def _page(*marks):
    """A white 300×500 page with "3902" in rows ~130-175 and the given (rows, columns) slices inked."""
    page = np.full((300, 500), 255, np.uint8)
    cv2.putText(page, "3902", (160, 175), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 0, 5)
    for rows, columns in marks:
        page[rows, columns] = 0
    return page


def test_marks_apart_from_the_string_are_left_out_of_its_crop_but_a_second_line_of_digits_is_not():
    clean = crop_to_ink(_page()).shape
    for marks in [[(slice(278, 281), slice(10, -10))], [(slice(40, 43), slice(10, -10))],
                  [(slice(30, 36), slice(450, 456))]]:
        assert np.allclose(crop_to_ink(_page(*marks)).shape, clean, atol=2), marks  # a pixel: Otsu on other ink
    second = _page()
    cv2.putText(second, "4711", (160, 275), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 0, 5)
    assert crop_to_ink(second).shape[0] > 2 * clean[0]  # both lines kept: one alone would drop the other unseen
    tight = crop_to_ink(_page(), margin=(0.0, 0.0))
    ruled = np.vstack([tight, np.full((4, tight.shape[1]), 255, np.uint8), np.zeros((2, tight.shape[1]), np.uint8)])
    assert crop_to_ink(ruled).shape[0] > tight.shape[0]  # an underline close below the digits stays


def test_a_page_with_a_rule_line_or_a_speck_apart_from_its_number_reads_as_the_clean_page():
    """The shipped reader: one stray mark on the page had made "3902" read "3", "000" or "390"."""
    speck = _page()
    cv2.putText(speck, "x", (450, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1)
    pages = [_page(), _page((slice(278, 281), slice(10, -10))), _page((slice(40, 43), slice(10, -10))), speck]
    readings = read_digits(pages)
    assert [r.text for r in readings] == ["3902"] * 4
    assert min(r.confidence for r in readings[1:]) >= readings[0].confidence - 0.05
