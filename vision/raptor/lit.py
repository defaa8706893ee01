"""Lightning systems for Raptor: the embedded teacher (``rsuite train vit-teacher``) and surrogate fits
(``rsuite train raptor``, also driven by ``rsuite fit-raptor``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from recurrent.registry import build_model
from recurrent.schedule import optimize_with_warmup_cosine
from vision.paths import default_data_root
from vision.raptor import surrogate, teacher as _registers_teacher  # noqa: F401  (registers vit-fmnist)
from vision.raptor.activations import ActivationChunks
from vision.raptor.data import load_fashion_mnist
from vision.raptor.surrogate import STAGE1_WEIGHTS, STAGE2_WEIGHTS, group_scales, phase_spans, rollout_loss, teacher_forced_loss


class TeacherSystem(L.LightningModule):
    """Supervised training of the embedded teacher ViT (cross-entropy with label smoothing, AdamW)."""

    def __init__(self, model: str = "vit-fmnist", model_config: dict[str, Any] | None = None, lr: float = 1e-3,
                 weight_decay: float = 0.05, warmup_steps: int = 500, label_smoothing: float = 0.1):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model, model_config)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = F.cross_entropy(self.model(images), labels, label_smoothing=self.hparams.label_smoothing)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        self.log("val/acc", (self.model(images).argmax(1) == labels).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        return optimize_with_warmup_cosine(self)


def _shift_and_flip(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random translations of up to 2 px and horizontal flips, per image (batch collate)."""
    b = len(images)
    padded = F.pad(images, (2, 2, 2, 2), value=float(images.min()))
    dy, dx = torch.randint(0, 5, (2, b))
    out = torch.stack([padded[i, :, dy[i] : dy[i] + 28, dx[i] : dx[i] + 28] for i in range(b)])
    flip = torch.rand(b) < 0.5
    out[flip] = out[flip].flip(-1)
    return out, labels


class FashionMNISTData(L.LightningDataModule):
    """Fashion-MNIST train (55,000, augmented) and val (5,000) splits (:mod:`vision.raptor.data`)."""

    SOURCES = [{"name": "Fashion-MNIST (Zalando), Debian dataset-fashion-mnist: first 55,000 training images; "
                        "last 5,000 for validation; the 10,000 test images unused", "license": "MIT"}]

    def __init__(self, data_root: str | None = None, batch_size: int = 128, num_workers: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(data_root or default_data_root())

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.train_set = TensorDataset(*load_fashion_mnist(self.root, "train"))
        self.val_set = TensorDataset(*load_fashion_mnist(self.root, "val"))

    def train_dataloader(self) -> DataLoader:
        collate = lambda items: _shift_and_flip(*torch.utils.data.default_collate(items))  # noqa: E731
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True,
                          collate_fn=collate, num_workers=self.hparams.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=512)


class RaptorSystem(L.LightningModule):
    """Fit a Raptor surrogate to cached teacher states.

    ``stage=1``: every phase's block on its own span — teacher forcing blended into a rollout from the
    phase's first teacher state, the teacher-forcing weight falling linearly from 1 to 0 over the first
    ``teacher_forcing_fraction`` of the steps (token weights ``STAGE1_WEIGHTS``). ``stage=2``: the whole
    model rolled out from the layer-0 tokens, every layer compared (``STAGE2_WEIGHTS``); start it from the
    stage-1 fit with ``init_from``. ``normalize_groups``: each token group's MSE is divided by its spread in
    the batch's teacher states (:func:`vision.raptor.surrogate.group_scales`).
    """

    def __init__(self, model_config: dict[str, Any] | None = None, stage: Literal[1, 2] = 1, lr: float = 3e-4,
                 weight_decay: float = 1e-4, warmup_steps: int = 200, teacher_forcing_fraction: float = 0.25,
                 init_from: str | None = None, normalize_groups: bool = True):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model("raptor", model_config, init_from)

    def teacher_forcing_weight(self) -> float:
        total = max(int(self.trainer.estimated_stepping_batches), 1) if self._trainer else 1
        return max(0.0, 1.0 - self.global_step / (self.hparams.teacher_forcing_fraction * total))

    def loss(self, states: torch.Tensor, tf_weight: float) -> torch.Tensor:
        states = states.transpose(0, 1)  # (B, L + 1, N, C) -> (L + 1, B, N, C)
        scales = self.scales(states)
        if self.hparams.stage == 2:
            return rollout_loss(self.model, states, 0, self.model.depth, STAGE2_WEIGHTS, scales)
        losses = []
        for start, stop in phase_spans(self.model.config.schedule):
            rollout = rollout_loss(self.model, states, start, stop, STAGE1_WEIGHTS, scales)
            forced = teacher_forced_loss(self.model, states, start, stop, STAGE1_WEIGHTS, scales) if tf_weight > 0 else rollout.new_zeros(())
            losses.append(tf_weight * forced + (1 - tf_weight) * rollout)
        return torch.stack(losses).mean()

    def scales(self, states: torch.Tensor) -> torch.Tensor | None:
        return group_scales(states, self.model.config.register_tokens) if self.hparams.normalize_groups else None

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        tf_weight = self.teacher_forcing_weight() if self.hparams.stage == 1 else 0.0
        loss = self.loss(batch[0], tf_weight)
        self.log_dict({"train/loss": loss, "train/teacher_forcing": tf_weight}, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        states = batch[0].transpose(0, 1)
        loss = rollout_loss(self.model, states, 0, self.model.depth, STAGE2_WEIGHTS, self.scales(states))
        self.log("val/rollout_loss", loss, prog_bar=True)

    def configure_optimizers(self):
        return optimize_with_warmup_cosine(self)


class ActivationData(L.LightningDataModule):
    """Cached teacher states (:mod:`vision.raptor.activations`): ``train_cache`` for fitting, ``val_cache``
    (held-out images) for validation."""

    SOURCES = [{"name": "teacher token states of the images named in the cache's meta.json", "license": "as the images"}]

    def __init__(self, train_cache: str, val_cache: str | None = None, batch_size: int = 64):
        super().__init__()
        self.save_hyperparameters()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(ActivationChunks(self.hparams.train_cache), batch_size=self.hparams.batch_size)

    def val_dataloader(self) -> list[DataLoader]:
        if not self.hparams.val_cache:
            return []
        return [DataLoader(ActivationChunks(self.hparams.val_cache, shuffle=False), batch_size=256)]
