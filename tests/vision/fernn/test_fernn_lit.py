"""The Lightning system and data module: a fast_dev_run on CPU, every task's loss, and the registration
for `rsuite train fernn`."""

import json

import lightning as L
import pytest
import torch

from apps.train import system_classes
from vision.fernn.lit import FERNNSystem, MovingDigitsData

TINY = {"hidden_channels": 2, "decoder_layers": 1, "head_layers": 0}


def test_fast_dev_run_on_cpu(tmp_path):
    system = FERNNSystem("fernn-v1", TINY, task="both", input_frames=3)
    data = MovingDigitsData(str(tmp_path / "no-data"), size=8, frames=5, digit_px=4, train_samples=4, val_samples=2, batch_size=2)
    trainer = L.Trainer(
        fast_dev_run=1, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(system, data)
    assert data.train_set.bank.source == "fonts"
    assert {"val/loss", "val/mse", "val/bce", "val/acc"} <= set(trainer.callback_metrics)


@pytest.mark.parametrize("task", ["predict", "classify", "both"])
def test_every_task_has_a_finite_loss_with_gradients(task):
    system = FERNNSystem("grnn", TINY, task=task, input_frames=3)
    batch = {"frames": torch.rand(2, 5, 1, 8, 8), "labels": torch.tensor([[1, 2], [3, 3]])}
    loss, parts = system.losses(batch)
    loss.backward()
    assert torch.isfinite(loss) and set(parts) == {"predict": {"mse"}, "classify": {"bce"}, "both": {"mse", "bce", "acc"}}[task]
    assert system.model.cell.conv.weight.grad is not None


def test_registered_for_rsuite_train_with_data_sources():
    system, data = system_classes("fernn")
    assert system is FERNNSystem and data is MovingDigitsData and data.SOURCES
    with pytest.raises(ValueError, match="task"):
        FERNNSystem("grnn", TINY, task="segment")


def test_rsuite_fernn_train_writes_weights_with_a_card(tmp_path, tmp_path_factory):
    from apps.common import run_job
    from apps.fernn import get_parser, main
    from apps.models import load_model

    argv = ["train", "--model", "fernn-v1", "--config", '{"hidden_channels": 2, "decoder_layers": 0}', "--steps", "2",
            "--batch-size", "2", "--size", "8", "--digit-px", "4", "--data-root", str(tmp_path_factory.mktemp("no-data")),
            "--out", str(tmp_path / "tiny"), "--device", "cpu", "--quiet"]
    assert run_job("rsuite fernn", main, get_parser().parse_args(argv)) == 0
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["model"] == "fernn-v1" and card["config"]["hidden_channels"] == 2 and card["command"]
    assert card["train_data"] == {"size": 8, "digit_px": 4, "vmax": 1, "digits": "fonts"}
    assert load_model(tmp_path / "tiny").num_velocities == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json", "tiny.safetensors"]


def test_rsuite_fernn_train_starts_from_weights_and_resumes_from_its_checkpoint(tmp_path, tmp_path_factory):
    from apps.common import run_job
    from apps.fernn import get_parser, main
    from apps.models import load_model

    def train(out, *extra):
        argv = ["train", "--model", "grnn", "--config", '{"hidden_channels": 2, "decoder_layers": 0}', "--steps", "2",
                "--batch-size", "2", "--size", "8", "--digit-px", "4", "--data-root", str(tmp_path_factory.mktemp("no-data")),
                "--out", str(tmp_path / out), "--device", "cpu", "--quiet", *extra]
        assert run_job("rsuite fernn", main, get_parser().parse_args(argv)) == 0
        return load_model(tmp_path / out).state_dict()

    first = train("first", "--checkpoint-dir", str(tmp_path / "ckpt"))
    assert (tmp_path / "ckpt" / "last.ckpt").exists()
    # at lr 0 a run keeps the weights it started from
    for key, value in train("copy", "--init-from", str(tmp_path / "first"), "--lr", "0").items():
        torch.testing.assert_close(value, first[key])
    # the checkpoint is already at --steps: the resumed run trains no further and writes the same weights
    for key, value in train("resumed", "--checkpoint-dir", str(tmp_path / "ckpt"), "--seed", "1").items():
        torch.testing.assert_close(value, first[key])


def test_rsuite_fernn_train_from_weights_of_another_config_says_so(tmp_path, tmp_path_factory, capsys):
    from apps.common import run_job
    from apps.fernn import get_parser, main

    def argv(config, out, *extra):
        return ["train", "--model", "grnn", "--config", config, "--steps", "1", "--batch-size", "2", "--size", "8",
                "--digit-px", "4", "--data-root", str(tmp_path_factory.mktemp("no-data")), "--out", str(tmp_path / out),
                "--device", "cpu", "--quiet", *extra]

    assert run_job("rsuite fernn", main, get_parser().parse_args(argv('{"hidden_channels": 2, "decoder_layers": 0}', "a"))) == 0
    capsys.readouterr()
    wider = argv('{"hidden_channels": 3, "decoder_layers": 0}', "b", "--init-from", str(tmp_path / "a"))
    assert run_job("rsuite fernn", main, get_parser().parse_args(wider)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "do not fit this --config (size mismatch" in err
