"""Fit a Raptor surrogate end to end on cached teacher states: stage 1 then stage 2, resumable, on a time
budget, and score it (per-layer R², linear probe of teacher vs surrogate, compute parity)."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from vision.raptor.activations import load_states
from vision.raptor.evaluate import linear_probe, probe_features, r2_per_layer
from vision.raptor.lit import ActivationData, RaptorSystem
from vision.raptor.surrogate import TOKEN_GROUPS, Raptor, token_groups


def fit_surrogate(
    model_config: dict, train_cache: Path, val_cache: Path, folder: Path, minutes: float, batch_size: int = 64,
    accelerator: str = "cpu", lr: float = 1e-3, quiet: bool = False,
) -> tuple[Raptor, dict[str, float]]:
    """Stage 1 for half of ``minutes``, stage 2 (from stage 1's weights) for the rest; a stage whose
    ``folder/stageN/last.ckpt`` exists resumes from it, if ``folder/fit.json`` says it is a fit of the same
    surrogate on the same cached states (else ``folder`` is cleared: a new fit). Returns the model and each
    stage's seconds."""
    if quiet:
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    fit = {"model_config": model_config, "states": json.loads((Path(train_cache) / "meta.json").read_text())["fingerprint"],
           "minutes": minutes, "batch_size": batch_size, "lr": lr}
    fit = json.loads(json.dumps(fit))  # tuples as lists, as read back
    record = folder / "fit.json"
    if folder.exists() and _recorded(record) != fit:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(fit, indent=2) + "\n")
    seconds, previous = {}, None
    for stage in (1, 2):
        root = folder / f"stage{stage}"
        last = root / "last.ckpt"
        system = RaptorSystem(model_config, stage=stage, lr=lr, init_from=str(previous) if previous else None)
        trainer = L.Trainer(
            accelerator=accelerator, devices=1, max_epochs=10_000, max_time={"seconds": minutes * 30},
            default_root_dir=root, logger=False, enable_progress_bar=not quiet, enable_model_summary=False,
            callbacks=[ModelCheckpoint(dirpath=root, save_last=True, every_n_train_steps=100)],
            gradient_clip_val=1.0, limit_val_batches=0, num_sanity_val_steps=0,
        )
        start = time.perf_counter()
        trainer.fit(system, ActivationData(str(train_cache), None, batch_size), ckpt_path=str(last) if last.exists() else None)
        trainer.save_checkpoint(last)
        seconds[f"stage{stage}_s"] = round(time.perf_counter() - start, 1)
        previous = last
    return system.model.eval(), seconds


def _recorded(record: Path) -> dict | None:
    try:
        return json.loads(record.read_text())
    except (OSError, json.JSONDecodeError):  # none, or cut short by a kill
        return None


@torch.no_grad()
def score(
    teacher, model: Raptor, eval_cache: Path, probe_train: tuple[torch.Tensor, torch.Tensor],
    probe_test: tuple[torch.Tensor, torch.Tensor], limit: int = 2000,
) -> dict:
    """R² per layer on ``eval_cache`` (rollout from the teacher's layer 0; at the last layer also per token
    group, since the pooled figure is dominated by the patches), and the probe accuracies of
    teacher and surrogate features: fitted on ``probe_train`` = (states, labels), scored on ``probe_test``."""
    states, _ = load_states(eval_cache, limit)
    predicted = torch.cat([model(states[0, i : i + 256], return_all=True) for i in range(0, states.shape[1], 256)], 1)
    r2 = r2_per_layer(predicted[1:], states[1:])
    prefix = teacher.num_prefix_tokens
    r2_last = {name: round(float(r2_per_layer(predicted[-1:, :, g], states[-1:, :, g])[0]), 4)
               for name, g in zip(TOKEN_GROUPS, token_groups(model.config.register_tokens)) if states[-1:, :, g].shape[2] > 0}

    def features(stack: torch.Tensor, use_surrogate: bool) -> torch.Tensor:
        final = torch.cat([model(stack[0, i : i + 256]) for i in range(0, stack.shape[1], 256)]) if use_surrogate else stack[-1]
        return probe_features(final, teacher.norm, prefix)

    accuracy = {}
    for name, use in (("teacher", False), ("raptor", True)):
        accuracy[name] = linear_probe(features(probe_train[0], use), probe_train[1], features(probe_test[0], use), probe_test[1])
    return {
        "r2_per_layer": [round(float(x), 4) for x in r2],
        "r2_mean": round(float(r2.mean()), 4),
        "r2_last_by_group": r2_last,
        "probe_teacher": round(accuracy["teacher"], 4),
        "probe_raptor": round(accuracy["raptor"], 4),
        "probe_ratio": round(accuracy["raptor"] / max(accuracy["teacher"], 1e-9), 4),
        "block_applications": {"teacher": len(teacher.blocks), "raptor": model.depth},
    }
