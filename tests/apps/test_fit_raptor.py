"""`rsuite fit-raptor` end to end on a tiny teacher and a folder of class subfolders: every output, the
report's fields, and the bad-input paths (one line, exit code 2)."""

import json
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from apps.common import run_job
from apps.fit_raptor import get_parser, main
from recurrent.registry import save_weights
from vision.raptor.teacher import vit_fmnist


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    torch.manual_seed(0)
    model = vit_fmnist(depth=4, dim=24, heads=2, drop_path=0.0)
    stem = tmp_path_factory.mktemp("teacher") / "tiny"
    save_weights(model, stem, model_name="vit-fmnist", data=[], command="test", metrics={}, metrics_command="test")
    return str(stem) + ".safetensors"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in range(3):
        (folder / f"class{label}").mkdir()
        for i in range(30):
            image = rng.integers(0, 60, (28, 28), dtype=np.uint8)
            image[4 + 6 * label : 10 + 6 * label, 4:24] = 255  # a bar whose height tells the class
            Image.fromarray(image).save(folder / f"class{label}" / f"{i}.png")
    return folder


def rsuite(*args):
    return subprocess.run([sys.executable, "-m", "apps.cli", "fit-raptor", *map(str, args)], capture_output=True, text=True)


def test_fit_writes_report_figures_and_weights(teacher, images, tmp_path):
    out = tmp_path / "fit"
    result = rsuite("--teacher-weights", teacher, "--images", images, "--blocks", 2, "--out", out, "--budget", 0.05, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""  # --quiet: no Lightning banners, tips or warnings
    report = json.loads((out / "report.json").read_text())
    assert sum(report["phases"]["schedule"]) == 4 and len(report["phases"]["schedule"]) == 2
    assert len(report["r2_per_layer"]) == 4 and report["block_applications"] == {"teacher": 4, "raptor": 4}
    assert 0 <= report["probe_teacher"] <= 1 and report["probe_ratio"] > 0
    for name in ("similarity.png", "r2.png", "dynamics/angles.png", "dynamics/perturbation.png", "dynamics/speeds.png",
                 "dynamics/rank.png", "raptor.safetensors", "raptor.json"):
        assert (out / name).stat().st_size > 0, name
    mode = stat.S_IMODE((out / "report.json").stat().st_mode)
    assert {stat.S_IMODE(chunk.stat().st_mode) for chunk in out.glob("cache/*/chunk_*.safetensors")} == {mode}  # shareable
    again = rsuite("--teacher-weights", teacher, "--images", images, "--out", out)
    assert again.returncode == 2 and "already exists" in again.stderr
    argv = ["--teacher-weights", teacher, "--images", images, "--blocks", 3, "--fit-images", 20, "--out", out,
            "--budget", 0.05, "--quiet", "--force"]
    refit = rsuite(*argv)  # another surrogate on fewer states: a new fit, a trimmed cache
    assert refit.returncode == 0, refit.stderr
    resumed = rsuite(*argv)  # the same fit: resumed from ckpt/, as quietly
    assert resumed.returncode == 0 and resumed.stderr == ""
    report = json.loads((out / "report.json").read_text())
    assert len(report["phases"]["schedule"]) == 3 and report["images_used"]["fit"] == 20
    assert json.loads((out / "ckpt" / "fit.json").read_text())["model_config"]["schedule"] == report["phases"]["schedule"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--blocks", 0], "--blocks"),
        (["--blocks", 9], "only 4 layers"),
        (["--images", "/nonexistent"], "neither 'builtin' nor a folder"),
        (["--teacher-weights", "/nonexistent.safetensors"], "no such file"),
        (["--batch-size", 0], "--batch-size"),
        (["--stop-fraction", 1.5], "--stop-fraction"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(teacher, images, tmp_path, args, message):
    base = {"--teacher-weights": teacher, "--images": images, "--out": tmp_path / "o", "--budget": 0.05}
    for key, value in zip(args[::2], args[1::2]):
        base[key] = value
    result = rsuite(*[x for kv in base.items() for x in kv], "--quiet")
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_folder_without_class_subfolders_is_refused(teacher, tmp_path):
    (tmp_path / "flat").mkdir()
    result = rsuite("--teacher-weights", teacher, "--images", tmp_path / "flat", "--out", tmp_path / "o")
    assert result.returncode == 2 and "one subfolder of images per class" in result.stderr


def test_teacher_and_output_checks_come_before_any_work(teacher, images, tmp_path):
    import timm
    from safetensors.torch import save_file

    from vision.digits.model import crnn_digits

    png = next(images.glob("class0/*.png"))
    reader = crnn_digits(stem_channels=8, stage_channels=(8, 16, 16), lstm_hidden=16)
    save_weights(reader, tmp_path / "reader", model_name="crnn-digits", data=[], command="test", metrics={}, metrics_command="test")
    vit = tmp_path / "vit_tiny.safetensors"
    save_file(timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0).state_dict(), str(vit))
    cases = [
        (["--teacher", "vit_tiny_patch16_224", "--teacher-weights", png, "--images", images], "not a readable vit_tiny"),
        (["--teacher", "vit_tiny_patch16_224", "--images", images], "give its --teacher-weights"),
        (["--teacher", "nosuchvit", "--images", images], "neither shipped weights (rsuite info) nor a timm ViT name"),
        (["--teacher", "vit_tiny_patch16_224", "--teacher-weights", vit, "--images", "builtin"], "give a folder of class"),
        (["--teacher-weights", teacher, "--images", images, "--out", png], "not a folder"),
        (["--teacher-weights", tmp_path / "reader.safetensors", "--images", images], "not VisionTransformer weights"),
    ]
    for args, message in cases:
        out = ["--out", tmp_path / "o"] if "--out" not in args else []
        result = rsuite(*args, *out, "--budget", 0.05, "--quiet")
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr[-500:])
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def rsuite_in_process(*argv):
    return run_job("rsuite fit-raptor", main, get_parser().parse_args([str(a) for a in argv]))


def test_an_out_folder_is_written_into_only_when_nothing_is_lost(teacher, images, tmp_path, capsys):
    user = tmp_path / "user"
    user.mkdir()
    (user / "r2.png").write_text("mine")
    base = ["--teacher-weights", teacher, "--images", images, "--budget", 0.05, "--quiet"]
    assert rsuite_in_process(*base, "--out", user) == 2  # an output it would replace
    assert "r2.png: already exists" in capsys.readouterr().err and (user / "r2.png").read_text() == "mine"
    (user / "r2.png").rename(user / "notes.txt")
    assert rsuite_in_process(*base, "--out", user) == 2  # anything it did not write
    assert "holds notes.txt" in capsys.readouterr().err and sorted(p.name for p in user.iterdir()) == ["notes.txt"]
    (user / "ckpt").mkdir()  # the user's, which a fit would clear
    (tmp_path / "file").write_text("mine")
    other = tmp_path / "other"
    other.mkdir()
    (other / "dynamics").write_text("mine")
    cases = [(user, [], "no fit.json"), (tmp_path / "file", [], "not a folder"), (images / "run", [], "lies in the input"),
             (other, [], "dynamics: not a folder"), (tmp_path / "new", ["--cache", tmp_path / "file"], "file: not a folder")]
    for out, more, message in cases:  # refused even with --force
        assert rsuite_in_process(*base, "--out", out, "--force", *more) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1
    assert (tmp_path / "file").read_text() == "mine" and (other / "dynamics").read_text() == "mine"
    assert not (images / "run").exists() and not (tmp_path / "new").exists()


def test_ctrl_c_stops_the_fit_and_a_rerun_needs_no_force(teacher, images, tmp_path, monkeypatch, capsys):
    """Lightning ends a fit it stopped on Ctrl-C with SystemExit(1): the job turns that into exit code 130."""
    import vision.raptor.fit

    def interrupted_fit(*args, **kwargs):
        raise SystemExit(1)

    out = tmp_path / "fit"
    args = ["--teacher-weights", teacher, "--images", images, "--out", out]
    with monkeypatch.context() as patch:
        patch.setattr(vision.raptor.fit, "fit_surrogate", interrupted_fit)
        code = run_job("fit-raptor", main, get_parser().parse_args([*map(str, args), "--quiet"]))
    assert code == 130 and capsys.readouterr().err == "fit-raptor: interrupted\n"
    assert not (out / "similarity.png").exists()  # outputs come after the fit: the rerun needs no --force
    result = rsuite(*args, "--budget", 0.05, "--quiet")
    assert result.returncode == 0, result.stderr
