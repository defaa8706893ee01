"""FRVSR Lightning system: fast_dev_run on CPU, an overfit check, export through ``rsuite train``."""

import lightning as L
import torch

from apps.train import system_classes
from vision.frvsr.data import TrainClips
from vision.frvsr.lit import FRVSRData, FRVSRSystem

TINY = {"num_blocks": 1, "channels": 8, "fnet_channels": [4, 4, 8, 8]}


def test_fast_dev_run_on_cpu(tmp_path):
    system = FRVSRSystem(model_config=TINY, tbptt=2)
    data = FRVSRData(
        data_root=str(tmp_path / "no-data"), frames=3, crop=32, batch_size=2, samples_per_epoch=4, val_frames=3,
        val_crop=32, num_workers=0,
    )
    trainer = L.Trainer(
        fast_dev_run=True, accelerator="cpu", enable_progress_bar=False, logger=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(system, data)
    assert {"train/loss", "train/sr", "train/flow", "val/psnr", "val/psnr_bicubic", "val/gain_db"} <= set(trainer.logged_metrics)
    assert system_classes("frvsr") == (FRVSRSystem, FRVSRData)


def test_a_few_steps_overfit_a_batch(tmp_path):
    torch.manual_seed(0)
    system = FRVSRSystem(model_config=TINY)
    batch = next(iter(torch.utils.data.DataLoader(TrainClips(tmp_path / "no-data", frames=3, crop=32, steps=2), batch_size=2)))
    optimizer = torch.optim.Adam(system.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, _, _ = system.losses(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
