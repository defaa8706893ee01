from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from vision.digits import data
from vision.digits.ink import crop_to_ink


def _cheque(text: str, gap: int, rule: bool = True) -> np.ndarray:
    """Dark digits drawn on light paper, ``gap`` pixels apart, with a full-width rule under them."""
    image = np.full((60, 40 + len(text) * (28 + gap)), 230, np.uint8)
    for i, digit in enumerate(text):
        cv2.putText(image, digit, (20 + i * (28 + gap), 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 20, 3)
    if rule:
        cv2.line(image, (0, 52), (image.shape[1], 52), 40, 2)
    return image


def test_separated_digits_are_cut_left_to_right_despite_the_rule():
    text = "3071"
    crops = data.segment_digits(_cheque(text, gap=10), len(text))
    assert crops is not None and len(crops) == len(text)
    for digit, crop in zip(text, crops):  # each crop is the ink of one digit: compare with that digit alone
        alone = data.segment_digits(_cheque(digit, gap=10), 1)[0]
        assert abs(crop.shape[1] - alone.shape[1]) <= 2


def test_wrong_count_or_touching_digits_are_skipped_not_cut_wrongly():
    assert data.segment_digits(_cheque("3071", gap=10), 3) is None
    assert data.segment_digits(_cheque("3071", gap=-12), 4) is None  # strokes touch: fewer pieces


def test_writer_fraction_chooses_the_glyph_bank_per_string(monkeypatch):
    banks = []
    monkeypatch.setattr(data, "compose_handwritten", lambda rng, bank, text: banks.append(bank) or np.ones((64, 96), np.float32))
    glyphs = [(d, np.ones((20, 10), np.float32)) for d in range(10)]
    writers = [(d, np.ones((30, 12), np.float32)) for d in range(10)]
    for fraction, expected in [(0.0, 0.0), (1.0, 1.0), (0.5, 0.5)]:
        banks.clear()
        config = data.SyntheticConfig(handwritten_fraction=1.0, writer_fraction=fraction)
        synthetic = data.SyntheticDigits(glyphs, [], 32, config, writer_glyphs=writers)
        rng = np.random.default_rng(0)
        for _ in range(200):
            synthetic.render(rng)
        share = sum(bank is synthetic.writer_by_digit for bank in banks) / len(banks)
        assert abs(share - expected) < 0.1
    without = data.SyntheticDigits(glyphs, [], 32, data.SyntheticConfig(handwritten_fraction=1.0, writer_fraction=1.0))
    banks.clear()
    without.render(np.random.default_rng(0))
    assert banks == [without.by_digit]  # no writer glyphs given: the general bank serves


def test_fonts_without_digits_are_not_listed():
    import matplotlib
    from pathlib import Path

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    assert not data.draws_digits_and_separators(folder / "DejaVuSansDisplay.ttf")  # no digit glyphs in this cut
    assert data.draws_digits_and_separators(folder / "DejaVuSans.ttf")
    names = {font.name for font in data.list_fonts(None)}
    assert "DejaVuSans.ttf" in names and "DejaVuSansDisplay.ttf" not in names


def test_rotating_a_tightly_cropped_string_keeps_the_digits_at_its_ends():
    ink = 255 - _cheque("407193", gap=4, rule=False)  # ink bright, cropped to the digits
    ys, xs = np.nonzero(ink > 100)
    ink = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) - 25  # paper 0
    h, w = ink.shape
    rotated = data.warp_whole(ink, cv2.getRotationMatrix2D((w / 2, h / 2), 4.0, 1.0))
    assert rotated.shape[0] > h + 2 * (w / 2) * np.sin(np.radians(4)) - 2  # grown to hold the ends
    assert abs(rotated.sum() - ink.sum()) < 0.01 * ink.sum()  # no ink lost off the canvas
    assert np.median(rotated) == np.median(ink)  # new corners are paper


def test_scan_augmentation_keeps_every_digit_of_a_tight_crop():
    image = _cheque("407193", gap=12, rule=False)
    ys, xs = np.nonzero(image < 128)
    image = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]  # ink touches all four edges
    for seed in range(10):
        augmented = data.augment_scan(np.random.default_rng(seed), image)
        assert augmented.dtype == np.uint8
        assert data.segment_digits(augmented, 6) is not None, seed  # still six separate digits


def test_grey_paper_and_dim_scans_come_out_ink_bright():
    scan = _cheque("407", gap=10).astype(np.float32)  # paper 230, ink 20
    for paper, ink in ((230, 20), (110, 10), (60, 5)):  # white, grey and dim paper
        image = (scan - 20) / 210 * (paper - ink) + ink
        normalised = data.normalize_image(image.astype(np.uint8), 32)
        assert np.median(normalised) < 0.2 and normalised.max() > 0.9, paper


def test_percentiles_of_uint8_images_match_numpy():
    rng = np.random.default_rng(0)
    images = [np.full((3, 4), 7, np.uint8), np.uint8([[0, 255]]), np.uint8([[9]])]
    images += [(rng.random((rng.integers(1, 90), rng.integers(1, 300))) ** 3 * 255).astype(np.uint8) for _ in range(50)]
    for image in images:
        q = (0, 2, 50, 98, 100)
        np.testing.assert_allclose(data.percentiles(image, q), np.percentile(image, q), rtol=0, atol=1e-9)


def test_paper_exactly_midway_between_the_ink_and_the_light_counts_as_light():
    # median 155, 2nd percentile 87, 98th 223: a tie that float rounding once settled either way (an ORAND scan)
    image = np.concatenate([np.full(50, 87), np.full(101, 155), np.full(49, 223)]).astype(np.uint8).reshape(10, 20)
    assert tuple(data.percentiles(image, (2, 50, 98))) == (87, 155, 223)
    normalised = data.normalize_image(image, 32)  # rows 0-1 hold the darkest value, rows 7-9 the lightest
    assert normalised[0, 0] > 0.99 and normalised[-1, -1] < 0.01  # dark is ink, so bright


def test_a_space_between_handwritten_groups_is_only_a_gap():
    assert not data._separator(np.random.default_rng(0), " ", 40).any()
    for token in "/$#":  # drawn, and never as tall as a digit (a full-height stroke reads as a 1)
        rows = np.nonzero(data._separator(np.random.default_rng(0), token, 40).any(axis=1))[0]
        assert 0 < rows.max() - rows.min() + 1 <= 0.8 * 40, token


@pytest.mark.parametrize("suffix, dtype", [(".png", np.uint16), (".tif", np.uint16), (".tif", np.float32)])
def test_high_bit_depth_scans_keep_their_contrast(tmp_path, suffix, dtype):
    scan = _cheque("407", gap=10).astype(np.float64) / 255
    values = (scan * 65535).astype(dtype) if dtype is np.uint16 else scan.astype(dtype)
    path = tmp_path / f"scan{suffix}"
    Image.fromarray(values).save(path)
    gray = data.load_image_gray(path)
    assert gray.dtype == np.uint8 and gray.shape == scan.shape
    assert np.abs(gray.astype(np.float64) - (scan - scan.min()) / np.ptp(scan) * 255).max() <= 1


def test_phone_photos_are_read_upright_by_their_exif_orientation(tmp_path):
    scan = _cheque("407", gap=10)
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(scan)))  # stored a quarter turn anticlockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    sideways.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    gray = data.load_image_gray(tmp_path / "photo.jpg")
    assert gray.shape == scan.shape
    assert np.abs(gray.astype(int) - scan.astype(int)).mean() < 4


def test_recrop_cuts_to_the_ink_with_margins_in_the_drawn_ranges():
    loose = np.pad(_cheque("407193", gap=8, rule=False), 60, constant_values=230)  # paper far beyond the ink
    ys, xs = np.nonzero(loose < 128)
    ink_h, ink_w = ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()
    (row_low, row_high), (col_low, col_high) = data.RECROP_MARGINS
    shapes = {data.recrop(np.random.default_rng(seed), loose).shape for seed in range(20)}
    assert len(shapes) > 10  # margins differ from draw to draw
    for height, width in shapes:
        assert ink_h * (1 + 2 * row_low) - 2 <= height <= ink_h * (1 + 2 * row_high) + 2
        assert ink_w + 2 * col_low * ink_h - 2 <= width <= ink_w + 2 * col_high * ink_h + 2


def test_recrop_fraction_of_training_reads_are_cut_to_their_ink(monkeypatch):
    loose = np.pad(_cheque("407", gap=8, rule=False), 60, constant_values=230)
    monkeypatch.setattr(data.SyntheticDigits, "render", lambda self, rng: (loose, "407"))
    widths = {}
    for fraction in (0.0, 0.5, 1.0):
        synthetic = data.SyntheticDigits([], [], 32, data.SyntheticConfig(recrop_fraction=fraction))
        rng = np.random.default_rng(0)
        widths[fraction] = [synthetic.sample(rng)[0].shape[1] for _ in range(100)]
    full = data.normalize_image(loose, 32).shape[1]
    assert set(widths[0.0]) == {full}  # read as rendered
    assert min(widths[1.0]) > 1.3 * full  # every read cut to the ink: wider at the same height
    assert 0.3 < np.mean(np.array(widths[0.5]) == full) < 0.7
    torch.manual_seed(0)  # the scans' jitter stream follows the torch seed: a fixed draw, not a new one per run
    scans = data.LabelledImages([], 32, augment=True, recrop_fraction=1.0)
    scans.images, scans.texts = [loose], ["407"]
    assert scans[0][0].shape[1] > 1.3 * full


def _dejavu(name: str):
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


def test_segment_fraction_picks_the_display_fonts_per_printed_string(monkeypatch):
    calls = []
    monkeypatch.setattr(data, "render_printed", lambda rng, fonts, text, segment=False, sign=False, font_probabilities=None, **words: calls.append((fonts, segment)) or np.ones((40, 90), np.float32))
    printed, display = [_dejavu("DejaVuSerif.ttf")], [_dejavu("DejaVuSansMono.ttf")]
    for fraction, expected in [(0.0, 0.0), (1.0, 1.0), (0.3, 0.3)]:
        calls.clear()
        config = data.SyntheticConfig(handwritten_fraction=0.0, segment_fraction=fraction)
        synthetic = data.SyntheticDigits([], printed, 32, config, segment_fonts=display)
        rng = np.random.default_rng(0)
        for _ in range(300):
            synthetic.render(rng)
        assert all((fonts == display) == segment for fonts, segment in calls)  # display fonts <=> display rules
        assert abs(np.mean([segment for _, segment in calls]) - expected) < 0.07


def test_segment_fonts_leave_the_other_strings_as_drawn_before():
    """The benchmark's printed strings (segment_fraction 0) are the same images with or without display fonts."""
    printed = [_dejavu("DejaVuSerif.ttf"), _dejavu("DejaVuSans.ttf")]
    plain = data.SyntheticDigits([], printed, 32, data.SyntheticConfig(handwritten_fraction=0.0))
    with_display = data.SyntheticDigits([], printed, 32, data.SyntheticConfig(handwritten_fraction=0.0),
                                        segment_fonts=[_dejavu("DejaVuSansMono.ttf")])
    for i in range(20):
        a, b = plain.render(np.random.default_rng([7, i])), with_display.render(np.random.default_rng([7, i]))
        assert a[1] == b[1] and np.array_equal(a[0], b[0])


def test_stroke_width_orders_faces_from_light_to_bold():
    light, book, bold = (data.stroke_width(_dejavu(n)) for n in ("cmr10.ttf", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
    assert light < book < bold
    assert 0.09 < book < 0.13 and 0.15 < bold < 0.22


def test_thin_font_weight_and_font_boost_draw_those_fonts_that_much_more_often():
    fonts = [_dejavu(n) for n in ("cmr10.ttf", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf",
                                  "DejaVuSansMono.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf")]
    assert data.font_weights(fonts, 1.0) is None  # uniform: the benchmark's draws stay as they were
    probabilities = data.font_weights(fonts, 3.0)
    assert np.isclose(probabilities.sum(), 1.0)
    assert probabilities[0] == probabilities.max() == 3 * probabilities.min()  # only Computer Modern is thin
    assert (probabilities == probabilities.max()).sum() == 1
    picked = []
    real_truetype = data.ImageFont.truetype
    def recording(path, size):
        picked.append(Path(path))
        return real_truetype(path, size)
    config = data.SyntheticConfig(handwritten_fraction=0.0, thin_font_weight=3.0)
    synthetic = data.SyntheticDigits([], fonts, 32, config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data.ImageFont, "truetype", recording)
        rng = np.random.default_rng(0)
        for _ in range(300):
            synthetic.render(rng)
    assert abs(np.mean([f == fonts[0] for f in picked]) - 3 / 9) < 0.08
    boosted = data.font_weights(fonts, 3.0, {"DejaVuSans.ttf": 4.0, "no such font.ttf": 9.0})
    assert boosted[1] == 4 * boosted[2] and boosted[0] == 3 * boosted[2] and np.isclose(boosted.sum(), 1.0)
    assert data.font_weights(fonts, 1.0, {"DejaVuSans.ttf": 2.0})[1] == 2 * data.font_weights(fonts, 1.0, {"DejaVuSans.ttf": 2.0})[0]


def test_thin_strokes_shaves_every_stroke_without_breaking_one():
    ink = data.render_printed(np.random.default_rng(3), [_dejavu("DejaVuSans-Bold.ttf")], "80513")
    mask = (ink > 0.5).astype(np.uint8)
    parts = cv2.connectedComponents(mask)[0]
    for seed in range(5):
        thinned = data.thin_strokes(np.random.default_rng(seed), ink)
        assert thinned.shape == ink.shape and thinned.min() >= 0.0 and thinned.max() <= 1.0
        thin_mask = (thinned > 0.5).astype(np.uint8)
        assert not (thin_mask & ~mask.astype(bool)).any()  # only shaved, never grown
        assert 1.5 <= data.mean_stroke(thin_mask) < 0.85 * data.mean_stroke(mask)
        assert cv2.connectedComponents(thin_mask)[0] == parts  # every stroke, dot and sign survives


def test_thin_stroke_fraction_thins_that_share_of_printed_strings_but_not_segment_displays(monkeypatch):
    thinned = []
    monkeypatch.setattr(data, "render_printed", lambda rng, fonts, text, segment=False, sign=False, font_probabilities=None, **words: np.full((40, 90), float(segment), np.float32))
    monkeypatch.setattr(data, "thin_strokes", lambda rng, ink: thinned.append(ink.max()) or ink)
    config = data.SyntheticConfig(handwritten_fraction=0.0, segment_fraction=0.5, thin_stroke_fraction=0.4)
    synthetic = data.SyntheticDigits([], [_dejavu("DejaVuSerif.ttf")], 32, config, segment_fonts=[_dejavu("DejaVuSansMono.ttf")])
    rng = np.random.default_rng(0)
    for _ in range(400):
        synthetic.render(rng)
    assert max(thinned) == 0.0  # no segment display string
    assert abs(len(thinned) / 200 - 0.4) < 0.1


def test_sign_fraction_leads_that_share_of_plain_printed_strings_with_a_sign(monkeypatch):
    calls = []
    monkeypatch.setattr(data, "render_printed", lambda rng, fonts, text, segment=False, sign=False, font_probabilities=None, **words: calls.append((segment, sign)) or np.ones((40, 90), np.float32))
    config = data.SyntheticConfig(handwritten_fraction=0.0, segment_fraction=0.5, sign_fraction=0.6)
    synthetic = data.SyntheticDigits([], [_dejavu("DejaVuSerif.ttf")], 32, config, segment_fonts=[_dejavu("DejaVuSansMono.ttf")])
    rng = np.random.default_rng(0)
    for _ in range(400):
        synthetic.render(rng)
    assert not any(segment and sign for segment, sign in calls)  # displays draw no dollar signs
    assert abs(np.mean([sign for segment, sign in calls if not segment]) - 0.6) < 0.08
    rng = np.random.default_rng(1)
    for _ in range(200):
        text = data.random_text(rng)
        tokens = data._punctuate(rng, text, sign=True)
        assert "".join(t for t in tokens if t.isdigit()) == text
        assert tokens[0] in ("$", "#", "-")  # the sign, or the mark drawn anyway in 10 % of strings


def test_display_strings_only_carry_separators_a_display_draws():
    allowed = set(data.SEGMENT_SEPARATOR_CHARS) | {" "}
    rng = np.random.default_rng(0)
    for _ in range(300):
        text = data.random_text(rng)
        tokens = data._punctuate(rng, text, segment=True)
        assert "".join(t for t in tokens if t.isdigit()) == text
        assert set("".join(t for t in tokens if not t.isdigit())) <= allowed


def test_segment_fonts_come_from_their_own_folder(tmp_path):
    import shutil

    (tmp_path / "fonts" / "segment").mkdir(parents=True)
    shutil.copy(_dejavu("DejaVuSansMono.ttf"), tmp_path / "fonts" / "segment")
    shutil.copy(_dejavu("DejaVuSansDisplay.ttf"), tmp_path / "fonts" / "segment")  # draws no digits
    assert [f.name for f in data.list_segment_fonts(tmp_path)] == ["DejaVuSansMono.ttf"]
    assert data.list_segment_fonts(None) == []
    assert data.list_fonts(tmp_path) == data.list_fonts(None)  # display fonts are not printed fonts


def test_known_label_errors_are_corrected_unless_asked_for_the_published_labels(tmp_path):
    folder = tmp_path / "digits" / "orand_car_a_train"
    folder.mkdir(parents=True)
    names = ["a_car_000340_png.rf.a.jpg", "a_car_000341_png.rf.b.jpg", "a_car_001165_png.rf.c.jpg"]
    (folder / "labels.tsv").write_text("".join(f"{n}\t{t}\n" for n, t in zip(names, ["7397", "52", "153"])))
    everything = set(range(data.NUM_FOLDS))
    corrected = {p.name: t for p, t in data.load_orand(tmp_path, everything)}
    published = {p.name: t for p, t in data.load_orand(tmp_path, everything, corrected=False)}
    assert corrected == dict(zip(names, ["7393", "52", "15371"]))
    assert published == dict(zip(names, ["7397", "52", "153"]))


def _photo(seed: int, size=(60, 80)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_photo_fraction_sets_that_share_of_strings_on_a_photo_and_samples_read_them_gray():
    printed = [_dejavu("DejaVuSans.ttf")]
    config = data.SyntheticConfig(handwritten_fraction=0.0, photo_fraction=0.4)
    synthetic = data.SyntheticDigits([], printed, 32, config, photos=[_photo(0), _photo(1, (20, 30))])
    rng = np.random.default_rng(0)
    images = [synthetic.render(rng)[0] for _ in range(200)]
    assert abs(np.mean([image.ndim == 3 for image in images]) - 0.4) < 0.08
    assert all(image.dtype == np.uint8 and (image.ndim == 2 or image.shape[2] == 3) for image in images)
    sample, _ = synthetic.sample(np.random.default_rng(1))
    assert sample.ndim == 2 and sample.shape[0] == 32


def test_photo_strings_leave_the_paper_strings_as_drawn_before():
    """The benchmark's document sets (photo_fraction 0) are the same images whether photos are loaded or not."""
    printed = [_dejavu("DejaVuSans.ttf")]
    plain = data.SyntheticDigits([], printed, 32, data.SyntheticConfig(handwritten_fraction=0.0))
    with_photos = data.SyntheticDigits([], printed, 32, data.SyntheticConfig(handwritten_fraction=0.0), photos=[_photo(0)])
    for i in range(10):
        a, b = plain.render(np.random.default_rng([7, i])), with_photos.render(np.random.default_rng([7, i]))
        assert a[1] == b[1] and np.array_equal(a[0], b[0])


@pytest.mark.parametrize("kind_seed", range(6))
def test_on_photo_puts_the_whole_string_inside_the_patch_in_its_colour(kind_seed):
    ink = np.zeros((30, 70), np.float32)
    ink[5:25, 10:14] = ink[5:25, 50:54] = 1.0  # two bars
    photo = np.full((40, 50, 3), 128, np.uint8)  # smaller than the string: enlarged, never tiled
    image = data.on_photo(np.random.default_rng(kind_seed), ink, [photo])
    assert image.dtype == np.uint8 and image.shape[2] == 3
    pad_y, pad_x = (image.shape[0] - 30) // 2, (image.shape[1] - 70) // 2
    assert pad_y == pad_x >= 30 * 0.2 - 1
    rows = slice(pad_y + 8, pad_y + 22)
    bars = image[rows, [pad_x + 11, pad_x + 51]].reshape(-1, 3).mean(0)
    between = image[rows, pad_x + 30].mean(0)
    assert np.abs(bars - between).max() > 10  # both bars drawn where the ink is, in a colour of their own


def test_photos_are_split_into_training_and_held_out_backgrounds(tmp_path):
    (tmp_path / "photos").mkdir()
    for name in ("mate_a.jpg", f"{data.HELD_OUT_PHOTOS}b.jpg", "skimage_c.png"):
        Image.fromarray(_photo(0, (2000, 100))).save(tmp_path / "photos" / name)
    train, held_out = data.load_photos(tmp_path), data.load_photos(tmp_path, held_out=True)
    assert len(train) == 2 and len(held_out) == 1
    assert max(train[0].shape[:2]) == data.PHOTO_SIDE and train[0].shape[2] == 3
    assert data.load_photos(None) == [] and data.load_photos(tmp_path / "none") == []


def test_words_are_printed_beside_the_digits_unlabelled_and_word_only_strings_are_labelled_empty():
    font = [_dejavu("DejaVuSans.ttf")]
    plain = data.render_printed(np.random.default_rng(5), font, "1250")
    worded = data.render_printed(np.random.default_rng(5), font, "1250", before="Total")
    assert worded.shape[0] == plain.shape[0] and worded.shape[1] > plain.shape[1] + 40  # same font and size, a word more
    assert data.draws_letters(font[0]) and not data.draws_letters(_dejavu("DejaVuSansDisplay.ttf"))
    fonts = [font[0], _dejavu("DejaVuSansDisplay.ttf")]  # the second draws no letters: never chosen for words
    words_only = data.SyntheticDigits([], fonts, 32, data.SyntheticConfig(handwritten_fraction=0.0, no_digits_fraction=1.0))
    rng = np.random.default_rng(0)
    for _ in range(20):
        image, text = words_only.render(rng)
        assert text == "" and image.std() > 10  # ink on the paper
    mixed = data.SyntheticDigits([], fonts, 32, data.SyntheticConfig(handwritten_fraction=0.0, no_digits_fraction=0.25))
    texts = [mixed.render(np.random.default_rng([1, i]))[1] for i in range(200)]
    assert 0.15 < np.mean([t == "" for t in texts]) < 0.35 and all(t == "" or t.isdigit() for t in texts)
    batch = data.collate([(np.zeros((32, 40), np.float32), ""), (np.zeros((32, 60), np.float32), "70")])
    assert batch["targets"].tolist() == [8, 1] and batch["target_lengths"].tolist() == [0, 2]


def _printed_draws(n: int, **option) -> list[tuple[tuple[np.ndarray, str], tuple[np.ndarray, str]]]:
    """``n`` printed strings rendered from the same seeds plain and with ``option`` (a SyntheticConfig field)."""
    fonts = [_dejavu("DejaVuSans.ttf")]
    plain, varied = (data.SyntheticDigits([], fonts, 32, data.SyntheticConfig(handwritten_fraction=0.0, **options))
                     for options in ({}, option))
    return [(plain.render(np.random.default_rng([3, i])), varied.render(np.random.default_rng([3, i]))) for i in range(n)]


def test_tilted_strings_are_the_same_draws_turned_on_a_larger_canvas():
    for (flat, text), (turned_image, turned_text) in _printed_draws(10, tilt=(5.0, 15.0)):
        assert turned_text == text and turned_image.shape[0] > flat.shape[0] + 0.08 * flat.shape[1]  # sin 5 deg


def test_shaded_strings_are_the_same_draws_with_the_light_falling_off():
    for (lit, text), (shadowed, shaded_text) in _printed_draws(10, shade=(0.3, 0.65)):
        assert shaded_text == text and shadowed.shape == lit.shape
        paper = lit > 100
        kept = (shadowed[paper] + 0.5) / lit[paper]
        assert kept.max() <= 1.01 and kept.min() < 0.8  # nowhere lighter, somewhere a quarter darker or more


def test_noisy_strings_are_the_same_draws_with_noise_added():
    for (clean, text), (grainy, noisy_text) in _printed_draws(10, noise=(15.0, 35.0)):
        added = grainy.astype(np.float32) - clean
        assert noisy_text == text and grainy.shape == clean.shape and 10 < added.std() < 40


def test_boxed_strings_sit_in_a_closed_rectangle_that_the_reader_leaves_out():
    ink = np.zeros((40, 130), np.uint8)
    ink = cv2.putText(ink, "4096", (8, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 255, 3).astype(np.float32) / 255
    on_paper = np.round(230 - 200 * ink).astype(np.uint8)
    for i in range(8):
        boxed = data.boxed(np.random.default_rng(i), ink)
        assert boxed.shape[0] > ink.shape[0] and boxed.shape[1] > ink.shape[1] and boxed.sum() > ink.sum()
        cut = crop_to_ink(np.round(230 - 200 * boxed).astype(np.uint8), margin=(0.0, 0.0))
        assert np.abs(np.subtract(cut.shape, crop_to_ink(on_paper, margin=(0.0, 0.0)).shape)).max() <= 2


def test_random_words_are_letters_that_every_letter_drawing_font_draws():
    rng = np.random.default_rng(0)
    words = [data.random_word(rng) for _ in range(300)]
    assert all(w and set(w) <= set(data.WORD_CHARS) for w in words)
    assert any(w.rstrip(":") in data.FORM_WORDS for w in words) and any(w.rstrip(":") not in data.FORM_WORDS for w in words)


def test_words_unlike_digits_draw_no_letter_like_a_digit_in_either_case():
    rng = np.random.default_rng(1)
    words = [data.random_word(rng, unlike_digits=True) for _ in range(300)]
    assert all(w and not set(w) & set(data.DIGIT_LIKE_LETTERS) for w in words)
    assert any(w.rstrip(":") in data.FORM_WORDS for w in words) and any(w.isupper() for w in words)
    every = "".join(data.random_word(rng) for _ in range(300))
    assert set(every) & set(data.DIGIT_LIKE_LETTERS)  # the default draws them


def test_width_batches_hold_every_item_once_the_narrowest_together():
    images = [np.zeros((h, w)) for h, w in [(10, 50), (20, 20), (5, 20), (30, 60), (10, 30)]]  # W/H 5, 1, 4, 2, 3
    batches = data.width_batches(images, 2)
    assert batches == [[1, 3], [4, 2], [0]]
    assert data.width_batches([], 2) == []
