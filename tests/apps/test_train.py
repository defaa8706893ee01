"""`rsuite train`: LightningCLI pass-through, including DDP on two CPU processes, and export to weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from apps.common import UserError
from apps.train import average_states

REPO = Path(__file__).resolve().parents[2]

TINY = json.dumps({"stem_channels": 8, "stage_channels": [8, 16, 16], "lstm_hidden": 16})


def rsuite_train(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", "train", "digits", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_fast_dev_run_with_ddp_on_two_cpu_processes(tmp_path):
    result = rsuite_train(
        "fit", "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu", "--trainer.devices", "2",
        "--trainer.strategy", "ddp", "--trainer.enable_progress_bar", "false",
        "--model.model_config", TINY, "--data.data_root", str(tmp_path / "no-data"),
        "--data.batch_size", "4", "--data.num_workers", "0", "--data.val_synthetic", "8",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fast_dev_run" in result.stderr + result.stdout


def fit_tiny_checkpoint(tmp_path: Path, steps: int) -> Path:
    """Train the tiny reader for ``steps`` steps of 4 items; its checkpoint."""
    result = rsuite_train(
        "fit", "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "1", "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path / "run"),
        "--model.model_config", TINY, "--data.data_root", str(tmp_path / "no-data"), "--data.batch_size", "4",
        "--data.samples_per_epoch", str(4 * steps), "--data.num_workers", "0", "--data.val_synthetic", "8",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return next((tmp_path / "run").rglob("*.ckpt"))


def test_fit_checkpoint_then_export_to_weights(tmp_path):
    checkpoint = fit_tiny_checkpoint(tmp_path, steps=2)
    result = rsuite_train("export", str(checkpoint), str(tmp_path / "tiny"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["model"] == "crnn-digits" and card["config"]["lstm_hidden"] == 16
    assert card["command"].startswith("rsuite train digits fit --config") and card["data"]
    result = rsuite_train("export", str(checkpoint), str(tmp_path / "tiny"), cwd=tmp_path)
    assert result.returncode == 2 and "--force" in result.stderr
    dotted = [rsuite_train("export", str(checkpoint), str(tmp_path / "tiny.v2"), *flag, cwd=tmp_path) for flag in (["--quiet"], [])]
    assert dotted[0].returncode == 0 and (tmp_path / "tiny.v2.safetensors").is_file() and not (tmp_path / "--quiet.safetensors").exists()
    assert dotted[1].returncode == 2 and "tiny.v2.safetensors: already exists" in dotted[1].stderr
    assert "args parameter" not in result.stderr + dotted[0].stderr  # no LightningCLI warning about sys.argv
    assert card["dtype"] == "float16"
    whole = rsuite_train("export", str(checkpoint), str(tmp_path / "whole"), "--float32", cwd=tmp_path)
    assert whole.returncode == 0 and json.loads((tmp_path / "whole.json").read_text())["dtype"] == "float32"
    assert all(t.dtype == torch.float32 for t in load_file(tmp_path / "whole.safetensors").values() if t.is_floating_point())


def test_export_averages_checkpoints_and_weights(tmp_path):
    checkpoint = fit_tiny_checkpoint(tmp_path, steps=1)
    shifted = torch.load(checkpoint, map_location="cpu", weights_only=False)
    for key, value in shifted["state_dict"].items():
        if value.is_floating_point():
            shifted["state_dict"][key] = value + 1.0
    torch.save(shifted, tmp_path / "shifted.ckpt")
    assert rsuite_train("export", str(checkpoint), str(tmp_path / "base"), cwd=tmp_path).returncode == 0
    result = rsuite_train("export", str(checkpoint), str(tmp_path / "shifted.ckpt"), str(tmp_path / "base.safetensors"),
                          str(tmp_path / "mean"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    base, mean = load_file(str(tmp_path / "base.safetensors")), load_file(str(tmp_path / "mean.safetensors"))
    for key, value in base.items():
        if value.is_floating_point():  # (x + (x + 1) + x) / 3, stored in float16
            torch.testing.assert_close(mean[key].float(), value.float() + 1 / 3, atol=2e-3, rtol=2e-3)
    assert "export" in json.loads((tmp_path / "mean.json").read_text())["command"]
    result = rsuite_train("export", str(tmp_path / "mean.safetensors"), str(tmp_path / "base"), str(tmp_path / "mid"),
                          cwd=tmp_path)  # weights first: interpolate between two shipped models
    assert result.returncode == 0, result.stderr[-3000:]
    mid = load_file(str(tmp_path / "mid.safetensors"))
    for key, value in base.items():
        if value.is_floating_point():
            torch.testing.assert_close(mid[key].float(), value.float() + 1 / 6, atol=2e-3, rtol=2e-3)


def test_export_refuses_models_of_other_configs(tmp_path):
    first = {"w": torch.zeros(2, 3)}
    with pytest.raises(UserError, match="same parameters"):
        average_states([first, {"w": torch.zeros(3, 2)}])
    result = rsuite_train("export", str(tmp_path / "missing.ckpt"), str(tmp_path / "x"), cwd=tmp_path)
    assert result.returncode == 2 and "no such checkpoint" in result.stderr
    (tmp_path / "junk.ckpt").write_text("junk")
    result = rsuite_train("export", str(tmp_path / "junk.ckpt"), str(tmp_path / "x"), cwd=tmp_path)
    assert result.returncode == 2 and "not a readable digits checkpoint" in result.stderr and "Traceback" not in result.stderr
    result = rsuite_train("export", "crnn-digits", str(tmp_path / "absent" / "x"), cwd=tmp_path)
    assert result.returncode == 2 and "output folder does not exist" in result.stderr
    for name in ("", ".", str(tmp_path) + "/"):  # would have written weights.safetensors beside the weights folder
        result = rsuite_train("export", "crnn-digits", name, cwd=tmp_path)
        assert result.returncode == 2 and "give a name" in result.stderr, name
