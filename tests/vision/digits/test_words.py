"""Words beside digits: the tagger's training lines, its targets, and how the reader leaves words out."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recurrent.registry import get_model
from vision.digits import data
from vision.digits.reader import read_digits
from vision.digits.words import (
    IGNORE, TaggedLines, collate_tagged, gaps_closed, letter_columns, step_target_batch, step_targets, tagged_line,
    training_word, without_words, word_columns,
)
from vision.digits.words_lit import WordTaggerData, WordTaggerSystem

SAMPLE = Path(__file__).resolve().parents[3] / "apps" / "samples" / "digits" / "06_3141592.png"


def _fonts():
    return data.list_fonts(None)  # matplotlib's DejaVu faces


def _constant_tagger(letters: bool):
    """A ``word-tagger`` that says "letters" (or "not letters") for every time step, sure of it."""
    tagger = get_model("word-tagger").eval()
    projection = tagger.encoder.projections[-1]
    torch.nn.init.zeros_(projection.weight)
    with torch.no_grad():
        projection.bias.copy_(torch.tensor([-20.0, 20.0] if letters else [20.0, -20.0]))
    return tagger


def test_training_words_are_never_the_benchmark_form_words():
    rng = np.random.default_rng(0)
    forms = {w.lower() for w in data.FORM_WORDS}
    drawn = [training_word(rng) for _ in range(2000)]
    assert not {w.rstrip(":").rstrip(".").lower() for w in drawn} & forms
    assert all(w.rstrip(":.").isalpha() for w in drawn) and len(set(drawn)) > 1500


def test_the_word_mask_covers_the_word_and_not_the_digits():
    font = [f for f in _fonts() if f.name == "DejaVuSans.ttf"]
    ink, words = data.render_printed(np.random.default_rng(5), font, "1250", before="Total", word_mask=True)
    assert ink.shape == words.shape and (words <= ink + 1e-6).all()
    inked, worded = (ink > 0.2).any(axis=0), (words > 0.2).any(axis=0)
    first_digit = np.flatnonzero(inked & ~worded).min()
    assert worded[:first_digit].sum() > 0.3 * inked.sum() and not worded[first_digit:].any()
    assert np.array_equal(ink, data.render_printed(np.random.default_rng(5), font, "1250", before="Total"))


def test_tagged_lines_mark_word_columns_and_leave_digit_strings_unmarked():
    fonts = _fonts()
    rng = np.random.default_rng(1)
    image, letters = tagged_line(rng, fonts, None, alone_fraction=1.0)
    assert image.dtype == np.uint8 and letters.dtype == bool and letters.mean() > 0.5
    lines = TaggedLines(data.SyntheticDigits([], fonts, 32), word_fraction=0.0, length=4, seed=3)
    items = list(lines)
    assert len(items) == 4 and all(image.shape[0] == 32 and not letters.any() for image, letters in items)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(items, lines))  # a seed: the same lines each pass


@pytest.mark.parametrize("tilt", [0.0, 12.0, -12.0])
def test_a_tilted_line_marks_every_column_its_turned_words_cover(tilt, monkeypatch):
    monkeypatch.setattr(data, "degrade", lambda rng, ink: (255 - 255 * ink).astype(np.uint8))  # the ink as drawn
    for seed in range(4):
        image, letters = tagged_line(np.random.default_rng(seed), _fonts(), None, alone_fraction=1.0, tilt=tilt)
        ink = (image < 180).any(axis=0)  # words alone: every ink column (drawn at > 0.2) is a word's
        assert len(letters) == image.shape[1] and letters[ink].all() and letters.mean() < 0.95


def test_tilted_lines_are_turned_and_keep_no_letters_without_words():
    fonts = _fonts()
    level, tilted = (TaggedLines(data.SyntheticDigits([], fonts, 32), word_fraction=0.0, length=8, seed=3,
                                 tilt_fraction=f, tilt=(14.0, 15.0)) for f in (0.0, 1.0))
    assert not any(letters.any() for _, letters in tilted)
    assert np.mean([i.shape[1] / i.shape[0] for i, _ in tilted]) < np.mean([i.shape[1] / i.shape[0] for i, _ in level])


def test_gaps_narrower_than_the_kernel_are_closed_and_no_run_moves_or_reaches_an_end():
    runs = np.zeros(40, bool)
    runs[[2, 3, 4, 8, 9, 20, 21, 36, 37]] = True  # gaps of 3 (closed by 5), 10 (kept); runs 2 from either end
    closed = gaps_closed(runs, 5)
    expected = runs.copy()
    expected[5:8] = True
    np.testing.assert_array_equal(closed, expected)


def test_word_columns_join_a_word_across_an_unsure_letter_and_drop_runs_narrower_than_a_word():
    p = np.zeros(60)
    p[5:15] = p[17:27] = 0.9  # a word whose letter at 15-16 the tagger is unsure of
    p[40:44] = 0.95  # one round digit taken for an "o"
    words = word_columns(p, 0.7, min_width=6)
    assert words[5:27].all() and not words[:5].any() and not words[27:].any()


def test_word_columns_grow_a_word_over_its_less_sure_letters_but_make_no_word_by_growing():
    p = np.zeros(60)
    p[10:20] = 0.9
    p[20:26] = 0.5  # the word's last letters, less sure
    p[40:50] = 0.5  # as unsure, but no sure column: digits
    assert word_columns(p, 0.7, min_width=6).sum() == 10
    words = word_columns(p, 0.7, min_width=6, weak=0.4)
    assert words[10:26].all() and words.sum() == 16
    p[44:46] = 0.9  # a round digit's sure columns among unsure ones: too narrow for a word, and not grown into one
    assert word_columns(p, 0.7, min_width=6, weak=0.4).sum() == 16


def test_word_columns_keep_a_lone_letter_at_an_end_of_a_number_only():
    p = np.zeros(60)
    p[2:6] = 0.9  # a letter 4 columns wide, narrower than a word
    glyphs = [(2, 6), (12, 20), (22, 30), (32, 40)]  # the letter, then three digits
    assert not word_columns(p, 0.7, min_width=12).any()
    assert word_columns(p, 0.7, min_width=12, glyphs=glyphs, letter_width=3)[2:6].all()
    assert not word_columns(p, 0.7, min_width=12, glyphs=glyphs, letter_width=5).any()  # narrower than a letter
    assert not word_columns(p, 0.7, min_width=12, glyphs=[(0, 2), (2, 6), (12, 20)], letter_width=3).any()  # not an end
    assert not word_columns(p, 0.7, min_width=12, glyphs=glyphs[:2], letter_width=3).any()  # "1" beside one digit


def test_step_targets_follow_the_majority_of_each_steps_columns():
    letters = np.r_[np.ones(40, bool), np.zeros(40, bool)]
    assert step_targets(letters, 80, 20).tolist() == [1] * 10 + [0] * 10
    assert step_targets(letters, 40, 10).tolist() == [1] * 5 + [0] * 5  # resized: the same share of the width
    targets = step_target_batch([letters, letters[:8]], torch.tensor([80, 8]), torch.tensor([20, 2]))
    assert targets.shape == (2, 20) and (targets[1, 2:] == IGNORE).all() and targets[1, :2].tolist() == [1, 1]


def test_the_tagger_learns_a_tiny_batch(tmp_path):
    module = WordTaggerData(data_root=str(tmp_path), batch_size=8, samples_per_epoch=8, val_samples=4, num_workers=0,
                            word_fraction=0.5)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    torch.manual_seed(0)
    system = WordTaggerSystem(lr=3e-3)
    optimizer = torch.optim.Adam(system.parameters(), lr=3e-3)
    first = system._loss(batch)[0].item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = system._loss(batch)[0]
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.3 * first


def test_letter_columns_give_one_probability_per_column_of_each_crop():
    crops = [np.full((40, 97), 200, np.uint8), np.full((25, 300), 30, np.uint8)]
    columns = letter_columns(_constant_tagger(True), crops)
    assert [c.shape for c in columns] == [(97,), (300,)] and all(np.allclose(c, 1.0) for c in columns)
    assert letter_columns(_constant_tagger(False), []) == []


def test_letter_columns_come_back_in_the_crops_order_whatever_the_batches():
    tagger = get_model("word-tagger").eval()
    crops = [np.asarray(Image.open(SAMPLE).convert("L")), *_wordy_crops()]
    alone = [letter_columns(tagger, [crop])[0] for crop in crops]
    for batch_size in (1, 2, 32):
        batched = letter_columns(tagger, crops, batch_size=batch_size)
        assert all(a.shape == b.shape for a, b in zip(alone, batched))
    assert all(np.allclose(a, b) for a, b in zip(alone, letter_columns(tagger, crops, batch_size=1)))


def _wordy_crops():
    return [tagged_line(np.random.default_rng(seed), _fonts(), None)[0] for seed in range(3)]


def test_without_words_paints_the_marked_columns_of_the_box_only():
    gray = np.random.default_rng(0).integers(0, 256, (30, 50)).astype(np.uint8)
    box = (slice(5, 25), slice(10, 40))
    letters = np.zeros(30, bool)
    letters[:10] = True
    painted = without_words(gray, box, letters)
    assert painted.dtype == gray.dtype and (painted[5:25, 10:20] == np.median(gray[box])).all()
    changed = painted != gray
    changed[5:25, 10:20] = False
    assert not changed.any()


def test_the_reader_reads_nothing_for_words_alone_and_as_before_without_words():
    image = np.asarray(Image.open(SAMPLE).convert("L"))
    plain = read_digits([image], words=False)[0]
    assert read_digits([image], tagger=_constant_tagger(False))[0] == plain
    assert read_digits([image], words=False, tagger=_constant_tagger(True))[0] == plain
    assert read_digits([image], crop=False, tagger=_constant_tagger(True))[0].text != ""  # no crop, no words
    alone = read_digits([image], tagger=_constant_tagger(True))[0]  # on by default
    assert alone.text == "" and alone.confidence == pytest.approx(1.0)


def test_collated_lines_keep_their_letters():
    items = [(np.zeros((32, 10), np.float32), np.ones(10, bool)), (np.zeros((32, 4), np.float32), np.zeros(4, bool))]
    batch = collate_tagged(items)
    assert batch["images"].shape == (2, 1, 32, 10) and batch["widths"].tolist() == [10, 4]
    assert [len(letters) for letters in batch["letters"]] == [10, 4]
