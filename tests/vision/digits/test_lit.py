import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vision.digits import data
from vision.digits.lit import DigitsData, _Mixture, focal_ctc_loss
from vision.digits.model import BLANK


def test_epoch_length_is_known_so_the_lr_schedule_spans_the_run(tmp_path):
    # An unsized training stream made Lightning size OneCycleLR to warm-up + 1 steps, which then
    # stopped training with "Tried to step 302 times": the loader must report its batches per epoch.
    module = DigitsData(data_root=str(tmp_path), batch_size=8, samples_per_epoch=64, num_workers=0, val_synthetic=4)
    module.setup("fit")
    loader = module.train_dataloader()
    assert len(loader) == 8
    assert sum(1 for _ in loader) == 8


def test_the_share_of_handwritten_synthetic_strings_is_a_data_option(tmp_path):
    module = DigitsData(data_root=str(tmp_path), samples_per_epoch=8, num_workers=0, val_synthetic=4, handwritten_fraction=0.25)
    module.setup("fit")
    assert module.train_set.synthetic.config.handwritten_fraction == 0.25


def test_splice_fraction_of_the_real_items_are_spliced(tmp_path):
    class Source:  # stands in for real scans and spliced strings, tagging what it gave
        def __init__(self, text):
            self.text = text

        def __len__(self):
            return 3

        def __getitem__(self, index):
            return np.zeros((32, 40), np.float32), self.text

        def sample(self, rng):
            return self[0]

    module = DigitsData(data_root=str(tmp_path), batch_size=8, samples_per_epoch=64, num_workers=0, val_synthetic=4)
    module.setup("fit")
    for fraction, expected in ((0.0, {"1"}), (1.0, {"2"})):
        mixture = _Mixture(module.train_set.synthetic, Source("1"), 1.0, 16, spliced=Source("2"), splice_fraction=fraction)
        assert {text for _, text in mixture} == expected
    mixed = _Mixture(module.train_set.synthetic, Source("1"), 1.0, 400, spliced=Source("2"), splice_fraction=0.5)
    assert 150 < sum(text == "2" for _, text in mixed) < 250


def _fake_orand(root, texts=("407", "2190", "35", "86", "7023", "519", "64", "8800"), margin=12):
    """Printed stand-ins for ORAND scans under ``root``, with ``margin`` px of paper at the sides."""
    folder = root / "digits" / "orand_car_a_train"
    folder.mkdir(parents=True)
    lines = []
    for number, text in enumerate(texts):
        image = np.full((48, 2 * margin + 6 + 34 * len(text)), 235, np.uint8)
        for i, digit in enumerate(text):
            cv2.putText(image, digit, (margin + 34 * i, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 25, 3)
        name = f"a_car_{number:06d}_png.rf.x.jpg"
        cv2.imwrite(str(folder / name), image)
        lines.append(f"{name}\t{text}")
    (folder / "labels.tsv").write_text("\n".join(lines) + "\n")


def test_real_cheques_are_spliced_at_the_boundaries_the_shipped_reader_finds(tmp_path):
    _fake_orand(tmp_path)
    module = DigitsData(data_root=str(tmp_path), samples_per_epoch=8, num_workers=0, val_synthetic=4, splice_fraction=1.0)
    module.setup("fit")
    spliced = module.train_set.spliced
    assert spliced is not None and len(spliced.texts) == len(module.train_set.real)
    assert sum(c is not None for bounds in spliced.bounds for c in bounds[1:-1]) > 0
    image, text = spliced.sample(np.random.default_rng(0))
    assert image.shape[0] == 32 and text.isdigit()


def test_the_orand_fold_is_validated_as_the_app_reads_it(tmp_path):
    """Validation images are cut to their ink (``read_digits`` crops), training scans are not."""
    from vision.digits.ink import crop_to_ink

    _fake_orand(tmp_path, texts=[str(1000 + 7 * k) for k in range(20)], margin=40)
    module = DigitsData(data_root=str(tmp_path), samples_per_epoch=8, num_workers=0, val_synthetic=4)
    module.setup("fit")
    val = module.val_sets[module.val_names.index("orand")]
    assert len(val) > 0
    for image, (path, _) in zip(val.images, data.load_orand(tmp_path, {data.VAL_FOLD}), strict=True):
        original = data.load_image_gray(path)
        np.testing.assert_array_equal(image, crop_to_ink(original))
        assert image.shape[1] < original.shape[1] - 40
    assert all(image.shape[1] == 2 * 40 + 6 + 34 * 4 for image in module.train_set.real.images)


def test_focal_ctc_is_plain_ctc_at_gamma_0_and_weighs_down_strings_already_read():
    torch.manual_seed(0)
    log_probs = torch.randn(3, 12, 11).log_softmax(-1)
    targets, target_lengths = torch.tensor([1, 2, 3, 4, 4, 5]), torch.tensor([1, 2, 3])
    lengths = torch.tensor([12, 12, 8])
    plain = F.ctc_loss(log_probs.transpose(0, 1), targets, lengths, target_lengths, blank=BLANK, zero_infinity=True)
    torch.testing.assert_close(focal_ctc_loss(log_probs, targets, lengths, target_lengths, 0.0), plain)
    peaked = torch.full((1, 12, 11), -8.0)
    peaked[0, :, BLANK], peaked[0, 5, BLANK], peaked[0, 5, 7] = 0.0, -8.0, 0.0  # "7" read all but surely
    peaked = peaked.log_softmax(-1)
    one, seven, steps = torch.tensor([1]), torch.tensor([7]), torch.tensor([12])
    read_plain, read_focal = (focal_ctc_loss(peaked, seven, steps, one, gamma) for gamma in (0.0, 2.0))
    assert 0 < read_focal <= 0.01 * read_plain
    misread_plain, misread_focal = (focal_ctc_loss(peaked, one, steps, one, gamma) for gamma in (0.0, 2.0))
    torch.testing.assert_close(misread_focal, misread_plain, rtol=1e-3, atol=0)  # (1 - e^-8)^2 of it
