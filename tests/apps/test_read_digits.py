"""`rsuite read-digits` end to end with a tiny model saved as weights: outputs, JSON, bad inputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from recurrent.registry import save_weights
from vision.digits.model import crnn_digits
from vision.digits.reader import read_digits


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    model = crnn_digits(stem_channels=8, stage_channels=(8, 16, 16), lstm_hidden=16).eval()
    save_weights(model, folder / "tiny", model_name="crnn-digits", data=[], command="test", metrics={}, metrics_command="test")
    return folder / "tiny"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 120), dtype=np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)).save(folder / "rgb.jpg")
    Image.fromarray(rng.integers(0, 255, (30, 200, 4), dtype=np.uint8)).save(folder / "rgba10.png")
    Image.fromarray(rng.integers(0, 255, (30, 200, 4), dtype=np.uint8)).save(folder / "rgba9.png")
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def rsuite(*args, stdin=b""):
    """The real command with ``stdin`` (bytes) piped in; its output as text."""
    result = subprocess.run([sys.executable, "-m", "apps.cli", "read-digits", *args], capture_output=True, input=stdin)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())


def test_an_image_piped_on_standard_input_reads_as_its_file(weights, images):
    as_file = rsuite(str(images / "rgb.jpg"), "--weights", str(weights), "--quiet")
    piped = rsuite("-", "--weights", str(weights), "--quiet", stdin=(images / "rgb.jpg").read_bytes())
    assert piped.returncode == 0 and piped.stdout.split("\t")[1:] == as_file.stdout.split("\t")[1:]
    assert piped.stdout.startswith("-\t")
    twice = rsuite("-", "-", "--weights", str(weights))
    assert twice.returncode == 2 and "once" in twice.stderr
    garbage = rsuite("-", "--weights", str(weights), stdin=b"not an image")
    assert garbage.returncode == 2 and "not a readable image" in garbage.stderr


def test_lines_json_and_bad_file(weights, images):
    result = rsuite(str(images), "--weights", str(weights), "--quiet")
    assert result.returncode == 1  # broken.png failed, the rest were read
    assert result.stderr.count("\n") == 1 and "broken.png" in result.stderr and "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    names = [line.split("\t")[0].rsplit("/", 1)[-1] for line in lines]
    assert names == ["gray.png", "rgb.jpg", "rgba9.png", "rgba10.png"]  # natural order
    for line in lines:
        path, text, confidence = line.split("\t")
        assert text == "" or text.isdigit()
        assert 0.0 <= float(confidence) <= 1.0
    result = rsuite(str(images / "gray.png"), "--weights", str(weights), "--json", "--beam", "4", "--quiet")
    assert result.returncode == 0
    record = json.loads(result.stdout)
    assert set(record) == {"path", "text", "confidence"}
    one_view = rsuite(str(images / "gray.png"), "--weights", str(weights), "--views", "1", "--quiet")
    assert one_view.returncode == 0 and one_view.stdout.count("\n") == 1
    twice = rsuite(str(images / "gray.png"), "--weights", str(weights), "--weights", str(weights), "--json", "--quiet")
    assert twice.returncode == 0 and json.loads(twice.stdout)["text"] == json.loads(
        rsuite(str(images / "gray.png"), "--weights", str(weights), "--json", "--quiet").stdout)["text"]


def test_views_out_of_range_is_one_clear_line(weights, images):
    result = rsuite(str(images / "gray.png"), "--weights", str(weights), "--views", "9")
    assert result.returncode == 2 and "--views" in result.stderr and "Traceback" not in result.stderr


def test_missing_input_and_missing_weights(weights, images, tmp_path):
    result = rsuite(str(tmp_path / "nothing.png"), "--weights", str(weights))
    assert result.returncode == 2 and "nothing.png" in result.stderr and "Traceback" not in result.stderr
    result = rsuite(str(images / "gray.png"), "--weights", str(tmp_path / "absent"))
    assert result.returncode == 2 and "absent.json" in result.stderr


def test_api_keeps_input_order(monkeypatch):
    import vision.digits.reader as reader

    seen_batches = []

    def fake_read_views(model, views, beam, min_len, max_len):
        seen_batches.append([image.shape[1] for image in views[0]])
        return [(str(image.shape[1]), 0.5) for image in views[0]]

    monkeypatch.setattr(reader, "read_views", fake_read_views)
    widths = [200, 20, 90, 55, 300]
    images = [np.zeros((32, w), np.uint8) for w in widths]
    readings = read_digits(images, model=torch.nn.Identity(), batch_size=2, views=1)  # read_views is faked
    assert [r.text for r in readings] == [str(w) for w in widths]
    assert seen_batches == [[20, 55], [90, 200], [300]]  # batched by similar aspect ratio


def test_a_path_given_alone_is_read_as_one_image(weights, images):
    readings = read_digits(images / "gray.png", model=str(weights))
    assert len(readings) == 1 and readings[0].path == str(images / "gray.png")


def test_digits_in_colour_of_the_background_s_brightness_are_read_on_the_colour_views(tmp_path):
    """The shipped reader on a sample redrawn red on green paper of the same luma: luma alone cannot read it."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "apps" / "samples" / "digits" / "04_25441.png"
    ink = 1.0 - np.asarray(Image.open(sample).convert("L"), np.float64)[..., None] / 255
    colour = np.round(np.array([220, 60, 60]) * ink + np.array([60, 140, 60]) * (1 - ink)).astype(np.uint8)
    Image.fromarray(colour).save(tmp_path / "sign.png")
    assert rsuite(str(tmp_path / "sign.png"), "--quiet").stdout.split("\t")[1] == "25441"
    assert rsuite(str(tmp_path / "sign.png"), "--quiet", "--no-colour").stdout.split("\t")[1] != "25441"


def test_a_tilted_string_is_read_level_unless_no_level_is_asked_for(tmp_path):
    """The shipped reader on a sample turned 10 degrees: read right levelled, misread with ``--no-level``."""
    from pathlib import Path

    from vision.digits.ink import turned

    sample = Path(__file__).resolve().parents[2] / "apps" / "samples" / "digits" / "06_3141592.png"
    Image.fromarray(turned(np.asarray(Image.open(sample).convert("L")), 10.0)).save(tmp_path / "askew.png")
    assert rsuite(str(tmp_path / "askew.png"), "--quiet").stdout.split("\t")[1] == "3141592"
    assert rsuite(str(tmp_path / "askew.png"), "--quiet", "--no-level").stdout.split("\t")[1] != "3141592"


def test_a_shadowed_string_is_read_evened_unless_no_even_is_asked_for(tmp_path):
    """The shipped reader on a sample with the light falling off to 35 % across it."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "apps" / "samples" / "digits" / "06_3141592.png"
    image = np.asarray(Image.open(sample).convert("L"), np.float64)
    Image.fromarray(np.round(image * np.linspace(1.0, 0.35, image.shape[1])).astype(np.uint8)).save(tmp_path / "shade.png")
    assert rsuite(str(tmp_path / "shade.png"), "--quiet").stdout.split("\t")[1] == "3141592"
    assert rsuite(str(tmp_path / "shade.png"), "--quiet", "--no-even").stdout.split("\t")[1] != "3141592"


def test_a_label_beside_the_digits_is_left_out_unless_no_words(tmp_path):
    """The shipped reader and word tagger on a sample with "Total" printed before it, as tall as its digits."""
    from pathlib import Path

    from PIL import ImageDraw, ImageFont

    from vision.digits.data import list_fonts

    digits = np.asarray(Image.open(Path(__file__).resolve().parents[2] / "apps" / "samples" / "digits" / "06_3141592.png").convert("L"))
    height = digits.shape[0]
    label = Image.new("L", (int(3.2 * height), height), int(np.median(digits)))
    font = ImageFont.truetype(str(next(f for f in list_fonts(None) if f.name == "DejaVuSans.ttf")), int(0.7 * height))
    ImageDraw.Draw(label).text((int(0.1 * height), int(0.1 * height)), "Total", fill=int(digits.min()), font=font)
    Image.fromarray(np.hstack([np.asarray(label), digits])).save(tmp_path / "total.png")
    label.save(tmp_path / "word.png")
    read = rsuite(str(tmp_path / "total.png"), str(tmp_path / "word.png"), "--quiet").stdout.splitlines()
    assert [line.split("\t")[1] for line in read] == ["3141592", ""]
    assert rsuite(str(tmp_path / "total.png"), "--quiet", "--words").stdout == "\n".join(read[:1]) + "\n"
    assert rsuite(str(tmp_path / "total.png"), "--quiet", "--no-words").stdout.split("\t")[1] != "3141592"


def test_damaged_files_and_bad_options_say_what_is_wrong(weights, images, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "cut.png").write_bytes((images / "gray.png").read_bytes()[:200])
    result = rsuite(str(tmp_path / "empty.png"), str(tmp_path / "cut.png"), str(images / "gray.png"), "--weights", str(weights), "--quiet")
    assert result.returncode == 1 and result.stdout.count("\n") == 1 and "Traceback" not in result.stderr
    assert "empty.png: empty file" in result.stderr and "cut.png: not a readable image (truncated" in result.stderr
    for options, named in ((["--batch-size", "0"], "--batch-size 0"), (["--beam", "0"], "--beam 0"),
                           (["--min-len", "5", "--max-len", "2"], "--min-len 5 --max-len 2"), (["--device", "mps"], "--device mps")):
        result = rsuite(str(images / "gray.png"), "--weights", str(weights), *options)
        assert result.returncode == 2 and named in result.stderr and result.stderr.count("\n") == 1, result.stderr
    result = rsuite(str(images / "gray.png"), "--words", "--no-crop")
    assert result.returncode == 2 and "--words" in result.stderr and result.stderr.count("\n") == 1
    result = rsuite("/dev/null", "--weights", str(weights))
    assert result.returncode == 2 and "not a regular file" in result.stderr


def test_readings_come_chunk_by_chunk_in_order_hidden_files_skipped_odd_names_escaped(weights, images, tmp_path):
    for i in range(6):
        (tmp_path / f"{i}.png").write_bytes((images / ("rgb.jpg" if i % 2 else "gray.png")).read_bytes())
    (tmp_path / "._0.png").write_bytes(b"macOS resource fork")
    (tmp_path / "tab\tname.png").write_bytes((images / "gray.png").read_bytes())
    whole = rsuite(str(tmp_path), "--weights", str(weights), "--quiet")
    chunked = rsuite(str(tmp_path), "--weights", str(weights), "--quiet", "--batch-size", "1")  # chunks of 4 images
    assert whole.returncode == chunked.returncode == 0 and whole.stdout == chunked.stdout
    assert [line.count("\t") for line in whole.stdout.splitlines()] == [2] * 7 and "tab\\tname.png" in whole.stdout
    folder = tmp_path.parent / (tmp_path.name + "-latin")
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.png")).write_bytes((images / "gray.png").read_bytes())
    result = rsuite(str(folder), "--weights", str(weights), "--quiet", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["path"].endswith("caf\\xe9.png")
