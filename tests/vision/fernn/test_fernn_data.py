"""Moving digits: wrap-around motion at the drawn velocities, reproducibility, and the split of digit
identities (real data files in their published formats, or the font fallback without them)."""

import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from vision.fernn.data import MovingDigits, MovingDigitsConfig, load_glyph_bank, multi_hot, render_sequence


@pytest.fixture(scope="module")
def fonts():
    return load_glyph_bank(None, "train", digit_px=6)


def _shift(frame, t, velocity):
    return np.roll(frame, (t * velocity[1], t * velocity[0]), axis=(0, 1))


def test_each_digit_moves_at_its_velocity_with_wraparound(fonts):
    config = MovingDigitsConfig(size=12, frames=9, num_digits=1, digit_px=6, vmax=2)
    for seed in range(6):
        frames, labels, velocities = render_sequence(np.random.default_rng(seed), fonts, config)
        assert frames.shape == (9, 1, 12, 12) and frames.dtype == np.float32 and 0 <= frames.min() <= frames.max() <= 1
        assert np.abs(velocities).max() <= 2 and 0 <= labels[0] <= 9
        for t in range(9):  # 9 frames at up to 2 px/frame on a 12 px canvas: wraps around
            np.testing.assert_array_equal(frames[t, 0], _shift(frames[0, 0], t, velocities[0]))


def test_fixed_velocity_and_two_digits_combine_by_maximum(fonts):
    config = MovingDigitsConfig(size=16, frames=5, num_digits=2, digit_px=6)
    frames, _, velocities = render_sequence(np.random.default_rng(0), fonts, config, velocity=(3, -1))
    assert velocities.tolist() == [[3, -1], [3, -1]]
    for t in range(5):
        np.testing.assert_array_equal(frames[t, 0], _shift(frames[0, 0], t, (3, -1)))
    assert frames.max() <= 1


def test_dataset_items_are_reproducible_and_vary(fonts):
    data = MovingDigits(fonts, MovingDigitsConfig(size=12, frames=4, digit_px=6), length=3, seed=5)
    first, again, other = data[1], data[1], data[2]
    assert first["frames"].shape == (4, 1, 12, 12) and first["labels"].shape == (2,) and first["velocities"].shape == (2, 2)
    assert torch.equal(first["frames"], again["frames"]) and not torch.equal(first["frames"], other["frames"])
    with pytest.raises(IndexError):
        data[3]


def test_font_fallback_splits_identities():
    banks = {split: load_glyph_bank(None, split, digit_px=8) for split in ("train", "val", "test")}
    assert all(bank.source == "fonts" for bank in banks.values())
    assert len(banks["train"]) == 54 and len(banks["val"]) == 6 and len(banks["test"]) == 60
    assert len(set(banks["val"].labels)) > 1
    keys = {split: {g.tobytes() for g in bank.glyphs} for split, bank in banks.items()}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["val"]
    assert all(max(g.shape) == 8 for g in banks["test"].glyphs)


def test_real_digit_files_are_read_and_split_by_identity(tmp_path):
    digits = tmp_path / "digits"
    (digits / "usps").mkdir(parents=True)
    (digits / "hwd1000" / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, label in (("train", 3), ("test", 7)):  # each line: label, then 16×16 values in [-1, 1], ink = +1
        rows = [[label, *rng.uniform(-1, 1, 256).round(3)] for _ in range(20)]
        with gzip.open(digits / "usps" / f"zip.{split}.gz", "wt") as f:
            f.write("\n".join(" ".join(str(v) for v in row) for row in rows) + "\n")
    page = np.full((28, 28), 255, np.uint8)
    page[6:22, 10:18] = 0  # dark ink on white
    for name in ("5-001.png", "5-085.png"):  # items 80-99 of each digit are held out
        Image.fromarray(page).save(digits / "hwd1000" / "img" / name)
    (digits / "hwd1000" / "labels.tsv").write_text("img/5-001.png\t5\nimg/5-085.png\t5\n")
    train, val, test = (load_glyph_bank(tmp_path, split, digit_px=10) for split in ("train", "val", "test"))
    assert train.source == val.source == test.source == "handwritten"
    assert len(train) + len(val) == 21 and len(val) == 2 and len(test) == 21
    assert set(train.labels) | set(val.labels) == {3, 5} and set(test.labels) == {5, 7}
    glyph = test.glyphs[-1]  # the held-out hwd1000 item: ink bright, longest side 10 px
    assert glyph.shape == (10, 5) and glyph.max() == pytest.approx(1.0)


def test_multi_hot_marks_the_digits_present():
    target = multi_hot(torch.tensor([[3, 3], [0, 9]]))
    assert target.shape == (2, 10) and target[0].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert target[1, 0] == target[1, 9] == 1 and target[1].sum() == 2
