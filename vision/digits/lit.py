"""Lightning system and data module for the digit reader (``rsuite train digits``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset
from torchmetrics.functional.text import char_error_rate

from recurrent.registry import build_model, load_model
from recurrent.schedule import optimize_with_warmup_cosine
from recurrent.streams import pass_rng, worker_share
from vision.digits import data
from vision.digits.decode import greedy_decode
from vision.digits.model import BLANK
from vision.digits.splice import SplicedStrings, align_cuts
from vision.paths import default_data_root


def focal_ctc_loss(
    log_probs: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor, target_lengths: torch.Tensor, gamma: float
) -> torch.Tensor:
    """CTC loss of (B, T, C) ``log_probs`` (blank :data:`~vision.digits.model.BLANK`), each string's loss divided
    by its length as ``F.ctc_loss(reduction="mean")`` divides it, and weighted by ``(1 - p) ** gamma``, p the
    probability the model gives the whole string (focal CTC, Feng et al. 2019): strings the model already reads
    count less. ``gamma`` 0 is exactly ``F.ctc_loss``'s mean; infinite losses (too few steps) count as 0."""
    losses = F.ctc_loss(log_probs.transpose(0, 1), targets, lengths, target_lengths, blank=BLANK, reduction="none",
                        zero_infinity=True)
    if gamma:
        losses = losses * (-torch.expm1(-losses.detach())).pow(gamma)
    return (losses / target_lengths.clamp(min=1).to(losses)).mean()


class DigitsSystem(L.LightningModule):
    """CTC training of a registered digit reader (``crnn-digits`` by default)."""

    def __init__(
        self,
        model: str = "crnn-digits",
        model_config: dict[str, Any] | None = None,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        warmup_steps: int = 300,
        init_from: str | None = None,
        focal_gamma: float = 0.0,
    ):
        """``init_from``: start from the model weights in a Lightning checkpoint or shipped weights
        (name or path), e.g. to fine-tune; optimizer state is not taken (use ``--ckpt_path`` to resume).
        ``focal_gamma``: train on focal CTC (:func:`focal_ctc_loss`); 0 is plain CTC."""
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model, model_config, init_from)
        self.model.to(memory_format=torch.channels_last)  # ~1.5× faster convolutions on CPU

    def ctc_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_probs = self.model(batch["images"].contiguous(memory_format=torch.channels_last), batch["widths"])
        lengths = self.model.time_steps(batch["widths"]).to(log_probs.device)
        loss = focal_ctc_loss(log_probs, batch["targets"], lengths, batch["target_lengths"], self.hparams.focal_gamma)
        return loss, log_probs, lengths

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, _, _ = self.ctc_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["texts"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        loss, log_probs, lengths = self.ctc_loss(batch)
        predictions = [greedy_decode(lp[:n]) for lp, n in zip(log_probs, lengths)]
        texts = batch["texts"]
        correct = sum(p == t for p, t in zip(predictions, texts)) / len(texts)
        cer = char_error_rate(predictions, texts)
        name = self.trainer.datamodule.val_names[dataloader_idx]
        kwargs = {"batch_size": len(texts), "add_dataloader_idx": False}
        self.log(f"val/{name}_loss", loss, **kwargs)
        self.log(f"val/{name}_acc", correct, prog_bar=True, **kwargs)
        self.log(f"val/{name}_cer", cer, **kwargs)

    def configure_optimizers(self):
        return optimize_with_warmup_cosine(self)


class _Mixture(IterableDataset):
    """``steps`` items per epoch: real labelled images with probability ``real_fraction``, else synthetic;
    ``splice_fraction`` of the real items are new strings spliced from them (``spliced``) when given.

    Items come out in pools of ``pool`` sorted by width, so that consecutive items (one batch) have
    similar widths and little padding; the pool order itself is shuffled.
    """

    def __init__(
        self, synthetic: data.SyntheticDigits, real: data.LabelledImages | None, real_fraction: float, steps: int,
        pool: int = 256, spliced: SplicedStrings | None = None, splice_fraction: float = 0.0,
    ):
        self.synthetic, self.real, self.real_fraction, self.steps, self.pool = synthetic, real, real_fraction, steps, pool
        self.spliced, self.splice_fraction = spliced, splice_fraction

    def _real(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        if self.spliced is not None and rng.random() < self.splice_fraction:
            return self.spliced.sample(rng)
        return self.real[int(rng.integers(len(self.real)))]

    def __len__(self) -> int:  # lets Lightning size the epoch and the learning-rate schedule
        return self.steps

    def __iter__(self):
        rng = pass_rng(self)
        synthetic = iter(self.synthetic)
        remaining = worker_share(self.steps)
        while remaining > 0:
            size = min(self.pool, remaining)
            items = [
                self._real(rng)
                if self.real is not None and rng.random() < self.real_fraction
                else next(synthetic)
                for _ in range(size)
            ]
            items.sort(key=lambda item: item[0].shape[1])
            yield from items
            remaining -= size


class DigitsData(L.LightningDataModule):
    """Synthetic strings (real handwritten glyphs + fonts) mixed with the real ORAND-CAR-A training folds.

    ``writer_fraction`` of the synthetic handwritten strings are composed from digits cut out of those
    training folds (:func:`vision.digits.data.cut_glyphs`): new strings in the cheque writers' hands.

    Without a data root (or with an empty one) it falls back to printed strings in matplotlib's DejaVu
    fonts, which is what the tests use. Validation: the held-out ORAND fold (``orand``) when present and
    a fixed set of synthetic strings built from held-out glyphs (``synth``).
    """

    SOURCES = [
        {"name": "USPS handwritten digits, train split (Le Cun et al. 1990)", "license": "not stated (AT&T Research)"},
        {"name": "hwd-1000 handwritten digits, items 0-79 per digit", "license": "MIT"},
        {"name": "OpenCV samples digits.png, columns 0-79 (Debian opencv-doc)", "license": "Apache-2.0 (OpenCV)"},
        {"name": "ORAND-CAR-A training split, folds 1-4 (fold 0 held out): whole images, digits cut from them and strings spliced from them", "license": "MIT (Labeled_ORAND-CAR-A)"},
        {"name": "Debian font packages and matplotlib's DejaVu fonts; segment-display fonts (Debian fonts-dseg: DSEG7/DSEG14 Classic/Modern)", "license": "per font: OFL / GPL+FE / Bitstream Vera"},
        {"name": "With --data.photo_fraction, photos behind photographed strings: Debian mate-backgrounds 1.26 (12) and scikit-image 0.26 sample photos (Debian plasma-workspace wallpapers held out)", "license": "GPL-2+; public domain / CC0 (motorcycle: Middlebury 2014, no licence stated)"},
    ]

    def __init__(
        self,
        data_root: str | None = None,
        height: int = 32,
        batch_size: int = 64,
        real_fraction: float = 0.3,
        handwritten_fraction: float = data.SyntheticConfig.handwritten_fraction,
        writer_fraction: float = data.SyntheticConfig.writer_fraction,
        samples_per_epoch: int = 32000,
        val_synthetic: int = 512,
        num_workers: int = 1,
        splice_fraction: float = 0.0,
        splice_reader: str = "crnn-digits",
        recrop_fraction: float = 0.0,
        segment_fraction: float = data.SyntheticConfig.segment_fraction,
        sign_fraction: float = data.SyntheticConfig.sign_fraction,
        photo_fraction: float = data.SyntheticConfig.photo_fraction,
        thin_font_weight: float = data.SyntheticConfig.thin_font_weight,
        thin_stroke_fraction: float = data.SyntheticConfig.thin_stroke_fraction,
        font_boost: dict[str, float] | None = None,
        word_fraction: float = data.SyntheticConfig.word_fraction,
        no_digits_fraction: float = data.SyntheticConfig.no_digits_fraction,
        words_unlike_digits: bool = data.SyntheticConfig.words_unlike_digits,
        tilt: tuple[float, float] = data.SyntheticConfig.tilt,
    ):
        """``handwritten_fraction``: of the synthetic strings, those composed from handwritten digits (the rest
        printed). ``splice_fraction``: of the real items, those spliced from training scans (two or three
        pieces, :class:`~vision.digits.splice.SplicedStrings`) cut at the digit boundaries that the
        reader ``splice_reader`` (weights name or path) aligns, and kept where it reads each piece as
        its digits. ``recrop_fraction``: of the training items (synthetic and real, not spliced), those
        cut to their ink with random margins (:func:`~vision.digits.data.recrop`), as the reader cuts.
        ``segment_fraction``: of the synthetic printed strings, those in a segment display font
        (``fonts/segment``; none there: no such strings). ``sign_fraction``: of the other synthetic printed
        strings, those led by a ``$`` or ``#`` (besides the 10 % of all strings led by a mark anyway).
        ``photo_fraction``: of the synthetic strings, those set in colour on a training photo (``photos/``
        but the held-out ``HELD_OUT_PHOTOS``; :func:`~vision.digits.data.on_photo`): signs, plates, meters.
        ``thin_font_weight``: how many times likelier the printed fonts with the thinnest strokes are drawn
        (:func:`~vision.digits.data.font_weights`). ``thin_stroke_fraction``: of the printed strings not on
        segment displays, those with every stroke shaved thinner (:func:`~vision.digits.data.thin_strokes`).
        ``font_boost``: font file name -> how many times likelier that printed font is drawn.
        ``word_fraction``: of the printed strings not on segment displays, those with an unlabelled word
        printed before or after the digits; ``no_digits_fraction``: of the synthetic strings, printed words
        alone, labelled "" (:func:`~vision.digits.data.random_word`); ``words_unlike_digits``: those words draw
        no letter that looks like a digit. ``tilt``: (least, most) degrees by which every synthetic string is
        turned, either way (the reader's levelled second look covers larger tilts)."""
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(data_root or default_data_root())
        self.val_names: list[str] = []

    def setup(self, stage: str) -> None:
        h = self.hparams
        fonts = data.list_fonts(self.root)
        has_orand = (self.root / "digits" / "orand_car_a_train" / "labels.tsv").is_file()
        train_folds = set(range(data.NUM_FOLDS)) - {data.VAL_FOLD}
        orand = data.load_orand(self.root, train_folds) if has_orand else []
        real = data.LabelledImages(orand, h.height, augment=True, recrop_fraction=h.recrop_fraction) if orand else None
        writers = data.cut_glyphs(real.images, real.texts) if real else []  # the images already read
        config = data.SyntheticConfig(
            handwritten_fraction=h.handwritten_fraction, writer_fraction=h.writer_fraction,
            recrop_fraction=h.recrop_fraction, segment_fraction=h.segment_fraction, sign_fraction=h.sign_fraction,
            photo_fraction=h.photo_fraction, thin_font_weight=h.thin_font_weight,
            thin_stroke_fraction=h.thin_stroke_fraction, font_boost=h.font_boost or {},
            word_fraction=h.word_fraction, no_digits_fraction=h.no_digits_fraction,
            words_unlike_digits=h.words_unlike_digits, tilt=tuple(h.tilt),
        )
        synthetic = data.SyntheticDigits(
            data.load_glyphs(self.root, "train"), fonts, h.height, config, writer_glyphs=writers,
            segment_fonts=data.list_segment_fonts(self.root) if h.segment_fraction else (),
            photos=data.load_photos(self.root) if h.photo_fraction else (),
        )
        spliced = self._spliced(real) if real and h.splice_fraction > 0 else None
        self.train_set = _Mixture(
            synthetic, real, h.real_fraction, h.samples_per_epoch, spliced=spliced, splice_fraction=h.splice_fraction
        )
        self.val_sets, self.val_names = [], []
        if has_orand:
            val_items = data.load_orand(self.root, {data.VAL_FOLD})
            self.val_sets.append(data.LabelledImages(val_items, h.height, crop=True))  # read as the app reads
            self.val_names.append("orand")
        self.val_sets.append(
            data.SyntheticDigits(data.load_glyphs(self.root, "test"), fonts, h.height, seed=1234, length=h.val_synthetic)
        )
        self.val_names.append("synth")

    def _spliced(self, real: data.LabelledImages) -> SplicedStrings:
        reader = load_model(self.hparams.splice_reader)
        scans = [data.normalize_image(image, reader.config.height) for image in real.images]
        cuts = align_cuts(reader, scans, real.texts)
        kept = [i for i, c in enumerate(cuts) if c is not None]
        return SplicedStrings(
            [scans[i] for i in kept], [real.texts[i] for i in kept], [cuts[i] for i in kept], self.hparams.height
        )

    def train_dataloader(self) -> DataLoader:
        h = self.hparams
        return DataLoader(
            self.train_set, batch_size=h.batch_size, collate_fn=data.collate, num_workers=h.num_workers,
            persistent_workers=h.num_workers > 0,
        )

    def val_dataloader(self) -> list[DataLoader]:
        return [DataLoader(s, batch_size=self.hparams.batch_size, collate_fn=data.collate) for s in self.val_sets]
