"""`rsuite fernn bench|demo` and train's refusals: outputs written atomically, nothing replaced without
--force, bad input as one line with exit code 2. (Training itself: test_fernn_lit.py, which imports
Lightning anyway.)"""

import dataclasses
import json

import pytest
import torch

from apps.common import run_job
from apps.fernn import get_parser, main
from recurrent.registry import save_weights
from vision.fernn.model import fernn_v1, grnn

TINY = {"hidden_channels": 2, "decoder_layers": 0, "head_layers": 0}


def rsuite_fernn(*argv):
    return run_job("rsuite fernn", main, get_parser().parse_args([str(a) for a in argv]))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Untrained tiny FERNN-V1 and G-RNN saved as the app saves them (card with train_data)."""
    folder = tmp_path_factory.mktemp("fernn")
    (folder / "no-data").mkdir()  # an empty data folder: digits rendered in fonts
    for name, builder in (("grnn", grnn), ("fernn-v1", fernn_v1)):
        card = save_weights(builder(**TINY), folder / name, model_name=name, data=[], command="test", metrics={}, metrics_command="")
        (folder / f"{name}.json").write_text(json.dumps(card | {"train_data": {"size": 8, "digit_px": 4}}))
    return folder


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--config", "{nope", "--out", "x"], "--config: not JSON"),
        (["train", "--config", "[1]", "--out", "x"], "JSON object"),
        (["train", "--steps", "0", "--out", "x"], "--steps"),
        (["bench", "--weights", "no-such-weights"], "card not found"),
        (["bench", "--n", "0"], "--n"),
        (["bench", "--threads", "-1", "--n", "2"], "--threads -1"),
        (["train", "--threads", "-1", "--out", "x"], "--threads -1"),
        (["demo", "--frames", "5"], "--frames"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert rsuite_fernn(*argv, "--quiet") == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_train_refuses_to_replace_weights_without_force(saved, capsys):
    before = (saved / "grnn.safetensors").read_bytes()
    assert rsuite_fernn("train", "--model", "grnn", "--out", saved / "grnn", "--quiet") == 2
    error = capsys.readouterr().err
    assert "--force" in error and error.count("\n") == 1
    assert (saved / "grnn.safetensors").read_bytes() == before


def test_bench_writes_json_and_plot(saved, capsys):
    out = saved / "bench"
    argv = ["bench", "--weights", saved / "grnn", saved / "fernn-v1", "--n", 2, "--n-per-velocity", 1,
            "--data-root", saved / "no-data", "--out", out, "--quiet"]
    assert rsuite_fernn(*argv) == 0
    printed = capsys.readouterr().out
    assert "grnn" in printed and "fernn-v1" in printed and "equiv err" in printed
    results = json.loads((out / "fernn.json").read_text())["results"]
    assert set(results) == {"grnn", "fernn-v1"} and (out / "fernn.png").stat().st_size > 0
    assert not list(out.glob(".*partial*"))
    assert rsuite_fernn(*argv) == 2  # outputs exist: --force needed
    assert "already exists" in capsys.readouterr().err


def test_write_card_needs_the_benchmark_on_handwritten_digits(saved, capsys, monkeypatch):
    import vision.fernn.data

    cards = {name: (saved / f"{name}.json").read_text() for name in ("grnn", "fernn-v1")}
    argv = ["bench", "--weights", saved / "grnn", saved / "fernn-v1", "--data-root", saved / "no-data",
            "--out", saved / "bench-card", "--quiet", "--force", "--write-card"]
    for more, message in (([], "not the font fallback"), (["--n", 2], "--write-card stores the benchmark's metrics")):
        assert rsuite_fernn(*argv, *more) == 2
        assert message in capsys.readouterr().err
    assert all((saved / f"{name}.json").read_text() == card for name, card in cards.items())
    fonts = vision.fernn.data.load_glyph_bank
    monkeypatch.setattr(vision.fernn.data, "load_glyph_bank", lambda *a: dataclasses.replace(fonts(*a), source="handwritten"))
    assert rsuite_fernn(*argv) == 0
    card = json.loads((saved / "fernn-v1.json").read_text())
    assert card["metrics"]["equivariance_error_f64"] < 1e-9 < json.loads((saved / "grnn.json").read_text())["metrics"]["equivariance_error_f64"]
    assert card["metrics"]["digits"] == "handwritten" and card["metrics_command"] and card["train_data"]["size"] == 8


def test_demo_writes_a_png(saved, capsys):
    out = saved / "demo.png"
    argv = ["demo", "--weights", saved / "grnn", saved / "fernn-v1", "--frames", 12, "--velocity", 2, 1,
            "--data-root", saved / "no-data", "--out", out]
    assert rsuite_fernn(*argv) == 0
    assert out.stat().st_size > 0 and "fernn-v1 MSE" in capsys.readouterr().out
    assert rsuite_fernn(*argv) == 2
    capsys.readouterr()
    for bad, message in ((["--out", saved / "demo"], "suffixes"), (["--data-root", saved / "absent", "--force"], "no such data folder")):
        assert rsuite_fernn(*argv, *bad) == 2
        assert message in capsys.readouterr().err


def test_demo_makes_the_folder_of_its_output(saved, tmp_path, capsys):
    out = tmp_path / "out" / "fernn-demo.png"  # the default's folder, missing on a first run
    argv = ["demo", "--weights", saved / "grnn", "--frames", 11, "--data-root", saved / "no-data", "--out", out, "--quiet"]
    assert rsuite_fernn(*argv) == 0 and out.is_file()


def test_demo_refuses_a_device_it_does_not_have(saved, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "x.png"
    argv = ["demo", "--weights", saved / "grnn", "--frames", 11, "--data-root", saved / "no-data", "--out", out, "--device", "cuda"]
    assert rsuite_fernn(*argv) == 2
    assert "CUDA is not available" in capsys.readouterr().err and not out.exists()
