"""Lightning system and data module for flow-equivariant RNNs on moving digits (``rsuite train fernn``).

Tasks: ``predict`` (observe ``input_frames``, predict the rest autoregressively, MSE), ``classify``
(digits present after all frames, multi-label BCE) or ``both`` (one pass: the classifier reads the state
after the observed frames, the rollout continues from it).
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from recurrent.registry import build_model
from vision.fernn import data
from vision.fernn.model import PredictClassifyLoss

Task = Literal["predict", "classify", "both"]


class FERNNSystem(L.LightningModule):
    """Trains a registered FERNN (``fernn-v1``, ``fernn-v2``) or the ``grnn`` baseline.

    ``teacher_forced_loss``: the MSE also covers the next-frame predictions made while observing (frames
    2..input_frames, each from the true frames before it), which speeds up learning on small budgets;
    the logged ``mse`` is always the autoregressive part alone. ``init_from``: start from the model weights
    in a Lightning checkpoint or shipped weights (name or path).
    """

    def __init__(
        self,
        model: str = "fernn-v1",
        model_config: dict[str, Any] | None = None,
        task: Task = "both",
        input_frames: int = 10,
        class_weight: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        cosine: bool = True,
        teacher_forced_loss: bool = True,
        init_from: str | None = None,
    ):
        super().__init__()
        if task not in ("predict", "classify", "both"):
            raise ValueError(f"task must be predict, classify or both, got {task!r}")
        self.save_hyperparameters()
        self.model = build_model(model, model_config, init_from)
        self.loss = PredictClassifyLoss(class_weight)

    def losses(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss and its parts; ``mse`` is always the autoregressive part alone (frames input_frames+1..T)."""
        frames, k = batch["frames"], self.hparams.input_frames
        present = data.multi_hot(batch["labels"], self.model.config.num_classes)
        if self.hparams.task == "classify":
            return self.loss(None, None, self.model.classify(frames), present)
        out = self.model(frames[:, :k], frames.shape[1] - k)
        both = self.hparams.task == "both"
        if self.hparams.teacher_forced_loss:  # also score the next-frame predictions made while observing
            loss, parts = self.loss(torch.cat([out.observed_next, out.predicted], 1), frames[:, 1:], out.logits if both else None, present)
            parts["mse"] = F.mse_loss(out.predicted.detach(), frames[:, k:])
        else:
            loss, parts = self.loss(out.predicted, frames[:, k:], out.logits if both else None, present)
        if both:
            parts["acc"] = ((out.logits > 0) == (present > 0)).all(dim=1).float().mean()
        return loss, parts

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, parts = self.losses(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["frames"]))
        for name, value in parts.items():
            self.log(f"train/{name}", value, batch_size=len(batch["frames"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, parts = self.losses(batch)
        self.log("val/loss", loss, batch_size=len(batch["frames"]))
        for name, value in parts.items():
            self.log(f"val/{name}", value, prog_bar=name in ("mse", "acc"), batch_size=len(batch["frames"]))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        if not self.hparams.cosine:
            return optimizer
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total, eta_min=self.hparams.lr * 0.05)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class MovingDigitsData(L.LightningDataModule):
    """Moving handwritten digits (:mod:`vision.fernn.data`): train and val from the training glyph
    identities (9:1), never the held-out test glyphs. Without data files: digits in DejaVu fonts."""

    SOURCES = data.SOURCES

    def __init__(
        self,
        data_root: str | None = None,
        size: int = 28,
        frames: int = 20,
        num_digits: int = 2,
        digit_px: int = 14,
        vmax: int = 1,
        train_samples: int = 20000,
        val_samples: int = 256,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.root = data_root or data.default_data_root()
        self.config = data.MovingDigitsConfig(size, frames, num_digits, digit_px, vmax)

    def setup(self, stage: str) -> None:
        h = self.hparams
        self.train_set = data.MovingDigits(data.load_glyph_bank(self.root, "train", h.digit_px), self.config, h.train_samples, h.seed)
        self.val_set = data.MovingDigits(data.load_glyph_bank(self.root, "val", h.digit_px), self.config, h.val_samples, h.seed + 1)

    def train_dataloader(self) -> DataLoader:
        h = self.hparams
        return DataLoader(
            self.train_set, batch_size=h.batch_size, shuffle=True, num_workers=h.num_workers,
            persistent_workers=h.num_workers > 0, drop_last=True,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)
