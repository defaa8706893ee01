"""The learning-rate schedule every Lightning system here uses: linear warm-up, then cosine decay, over
whichever runs out first — the trainer's steps or its wall-clock budget (``--trainer.max_time``).

With a time budget the decay is timed, not counted: a run told to train for 7 minutes reaches its final
learning rate after ``budget_fraction`` of them whatever the machine's speed, instead of being cut off
at a high learning rate (``OneCycleLR`` sized by steps would be).
"""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer


def optimize_with_warmup_cosine(
    system: L.LightningModule, optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW
) -> dict:
    """What a system's ``configure_optimizers`` returns here: ``optimizer_class`` over all its parameters
    at its ``hparams.lr`` and ``hparams.weight_decay``, scheduled by :func:`warmup_cosine` with its
    ``hparams.warmup_steps``."""
    h = system.hparams
    optimizer = optimizer_class(system.parameters(), lr=h.lr, weight_decay=h.weight_decay)
    return {"optimizer": optimizer, "lr_scheduler": warmup_cosine(optimizer, system.trainer, h.warmup_steps)}


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    trainer: L.Trainer,
    warmup_steps: int,
    final_fraction: float = 0.01,
    budget_fraction: float = 0.9,
) -> dict:
    """A Lightning ``lr_scheduler`` config (stepped every batch) scaling each group's learning rate by

    ``step / warmup_steps`` during warm-up, then ``final + (1 − final)·(1 + cos(π·p))/2``, where the progress
    ``p`` is the larger of ``step / trainer.estimated_stepping_batches`` and the training time elapsed over
    ``budget_fraction`` of ``max_time`` (when set); ``p`` is clamped to 1, so the rate stays at
    ``final_fraction`` once the schedule is over.
    """
    total_steps = max(int(trainer.estimated_stepping_batches), warmup_steps + 1)
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer) and c.time_remaining() is not None), None)

    def progress(step: int) -> float:
        p = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        if timer is not None:
            elapsed, remaining = timer.time_elapsed("train"), timer.time_remaining("train")
            p = max(p, elapsed / (budget_fraction * (elapsed + remaining)))
        return min(max(p, 0.0), 1.0)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress(step)))

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
