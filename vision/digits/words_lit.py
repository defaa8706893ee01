"""Lightning system and data module for the word tagger (``rsuite train words``): which columns of a digit
string's image hold a word (:mod:`vision.digits.words`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from recurrent.registry import build_model
from recurrent.schedule import optimize_with_warmup_cosine
from vision.digits import data
from vision.digits.lit import DigitsData
from vision.digits.words import IGNORE, TaggedLines, collate_tagged, step_target_batch
from vision.paths import default_data_root


class WordTaggerSystem(L.LightningModule):
    """Per-time-step cross-entropy (letters or not) of a registered tagger (``word-tagger`` by default)."""

    def __init__(
        self, model: str = "word-tagger", model_config: dict[str, Any] | None = None, lr: float = 2e-3,
        weight_decay: float = 1e-4, warmup_steps: int = 200, init_from: str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model, model_config, init_from)

    def _loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_probs = self.model(batch["images"], batch["widths"])
        targets = step_target_batch(batch["letters"], batch["widths"], self.model.time_steps(batch["widths"]))
        targets = targets.to(log_probs.device)
        loss = F.nll_loss(log_probs[:, : targets.shape[1]].flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        return loss, log_probs, targets

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["widths"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        loss, log_probs, targets = self._loss(batch)
        valid = targets != IGNORE
        said = log_probs[:, : targets.shape[1]].argmax(-1)
        kwargs = {"batch_size": len(batch["widths"])}
        self.log("val/loss", loss, **kwargs)
        self.log("val/step_acc", (said == targets)[valid].float().mean(), prog_bar=True, **kwargs)
        # lines without a word: the share of their steps taken for letters (digits the reader would lose)
        plain = valid & ~(targets == 1).any(dim=1, keepdim=True)
        self.log("val/false_letters", (said == 1)[plain].float().mean(), **kwargs)

    def configure_optimizers(self):
        return optimize_with_warmup_cosine(self)


class WordTaggerData(L.LightningDataModule):
    """:class:`~vision.digits.words.TaggedLines`: printed strings with made-up words beside them or alone, and
    digit strings without words: synthetic (handwritten, printed, segment displays, photographed) and the real
    ORAND-CAR-A training folds (fold 0 held out). Validation: a fixed draw of the synthetic lines, with held-out
    glyphs (no real images: fold 0 is the benchmark's)."""

    SOURCES = DigitsData.SOURCES

    def __init__(
        self, data_root: str | None = None, height: int = 32, batch_size: int = 64, samples_per_epoch: int = 16000,
        val_samples: int = 512, word_fraction: float = 0.5, real_fraction: float = 0.2, recrop_fraction: float = 0.0,
        tilt_fraction: float = 0.0, tilt: tuple[float, float] = (3.0, 15.0), num_workers: int = 1,
    ):
        """``word_fraction``: of the lines, those with words; ``real_fraction``: of the others, real cheques (the
        rest synthetic digit strings); ``tilt_fraction``: of all, those turned by ``tilt`` (least, most) degrees
        either way; ``recrop_fraction``: of all, those cut to their ink as the reader cuts them (validation too,
        as the tilt)."""
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(data_root or default_data_root())

    def _lines(self, split: str, length: int, seed: int | None) -> TaggedLines:
        h = self.hparams
        config = data.SyntheticConfig(handwritten_fraction=0.5, segment_fraction=0.25, photo_fraction=0.15, sign_fraction=0.1)
        digits = data.SyntheticDigits(
            data.load_glyphs(self.root, split), data.list_fonts(self.root), h.height, config,
            segment_fonts=data.list_segment_fonts(self.root), photos=data.load_photos(self.root),
        )
        folds = set(range(data.NUM_FOLDS)) - {data.VAL_FOLD}
        has_orand = split == "train" and (self.root / "digits" / "orand_car_a_train" / "labels.tsv").is_file()
        real = [data.load_image_gray(path) for path, _ in data.load_orand(self.root, folds)] if has_orand else []
        return TaggedLines(digits, real, h.word_fraction, h.real_fraction, length, seed, h.recrop_fraction,
                           h.tilt_fraction, tuple(h.tilt))

    def setup(self, stage: str) -> None:
        self.train_set = self._lines("train", self.hparams.samples_per_epoch, None)
        self.val_set = self._lines("test", self.hparams.val_samples, 4321)

    def _loader(self, lines: TaggedLines, workers: int) -> DataLoader:
        return DataLoader(lines, batch_size=self.hparams.batch_size, collate_fn=collate_tagged, num_workers=workers,
                          persistent_workers=workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.hparams.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, 0)
