"""Video super-resolution ×4: the shipped FRVSR vs bicubic vs Lanczos on real clips held out of training.

Test clips: frames ``--start`` … ``--start + --frames − 1`` of the held-out videos (``bikes.mp4`` 640×272,
``vtest.avi`` 768×576; training validation uses their first 40 frames only), degraded with BD (σ 1.6,
every 4th pixel from offset 0; ``vision.frvsr.data``). Every method sees the same LR frames and is
compared on the BD grid (LR pixel i sits on HR pixel 4i): bicubic is ``upsample_lr`` and Lanczos is
OpenCV's Lanczos-4 sampled on that grid. ``BI`` degrades as image tools shrink video (antialiased bicubic,
pixel centres aligned: LR pixel i covers HR pixels 4i … 4i + 3) and compares on that grid. Clips are shrunk
the way the weights were trained (their ``config.degradation``: BD for ``frvsr-x4``, BI for ``frvsr-x4-bi``)
unless ``--degradation`` says otherwise; ``--write-card`` records only that own degradation.

Quality: Y-channel PSNR and SSIM (8-px border), and temporal consistency tOF (mean |flow(out_{t−1}, out_t)
− flow(gt_{t−1}, gt_t)| in HR px, Farnebäck flow on Y; lower is better). Speed: output frames/s for
180×144 → 720×576 on this machine, and peak memory of ``rsuite upscale-video`` for 100 vs 1,000 frames
(48×64 LR, so the check takes a minute).

    python bench/frvsr.py --data-root data [--weights frvsr-x4] [--frames 30] [--degradation BD|BI] [--write-card]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from apps.models import load_model
from recurrent.registry import record_metrics
from vision.frvsr.data import SCALE, degrade, list_videos
from vision.frvsr.infer import Upscaler
from vision.frvsr.metrics import psnr_y, rgb_to_y
from vision.frvsr.model import upsample_lr
from vision.frvsr.video import read_frames

BORDER = 8


def lanczos(lr: torch.Tensor, degradation: str = "BD") -> torch.Tensor:
    """(T, 3, h, w) -> (T, 3, 4h, 4w): Lanczos-4 interpolation at LR position (y/4, x/4) of HR pixel (y, x) on
    the BD grid, ((y + 0.5)/4 − 0.5, …) on the BI grid."""
    shift = 0.0 if degradation == "BD" else 0.5 / SCALE - 0.5
    out = []
    for frame in lr.permute(0, 2, 3, 1).numpy():
        h, w = frame.shape[:2]
        matrix = np.float32([[1 / SCALE, 0, shift], [0, 1 / SCALE, shift]])
        out.append(cv2.warpAffine(frame, matrix, (w * SCALE, h * SCALE), flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REPLICATE))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).clamp(0, 1)


def frvsr_clip(upscaler: Upscaler, lr: torch.Tensor) -> torch.Tensor:
    upscaler.reset()
    return torch.cat([upscaler.upscale(frame[None]).cpu() for frame in lr]).clamp(0, 1)


def _y8(frames: torch.Tensor) -> list[np.ndarray]:
    return [(rgb_to_y(f) * 255).round().clamp(0, 255).byte().numpy() for f in frames]


def tof(out: torch.Tensor, gt: torch.Tensor) -> float:
    """Mean end-point difference (HR px) between the flows of consecutive output frames and of the truth."""
    args = (None, 0.5, 3, 15, 3, 5, 1.2, 0)
    o, g = _y8(out), _y8(gt)
    diffs = [
        np.abs(cv2.calcOpticalFlowFarneback(o[t - 1], o[t], *args) - cv2.calcOpticalFlowFarneback(g[t - 1], g[t], *args)).sum(-1).mean()
        for t in range(1, len(o))
    ]
    return float(np.mean(diffs))


def quality(out: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
    crop = (..., slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    ssim = structural_similarity_index_measure(rgb_to_y(out[crop])[:, None], rgb_to_y(gt[crop])[:, None], data_range=1.0)
    return {"psnr": float(psnr_y(out, gt, BORDER).mean()), "ssim": float(ssim), "tof": tof(out, gt)}


def frames_per_second(upscaler: Upscaler, frames: int = 10) -> float:
    torch.manual_seed(0)
    lr = torch.rand(frames + 2, 3, 144, 180)
    upscaler.reset()
    upscaler.upscale(lr[:1])
    upscaler.upscale(lr[1:2])  # warm-up (first frame has no flow)
    start = time.perf_counter()
    for frame in lr[2:]:
        upscaler.upscale(frame[None])
    return frames / (time.perf_counter() - start)


def app_peak_memory(weights: str, frames: int) -> float:
    """Peak RSS (MiB) of ``rsuite upscale-video`` on a generated 64×48 clip of ``frames`` frames."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.avi", Path(tmp) / "out.mp4"
        writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (48, 64 + frames, 3), dtype=np.uint8)
        for t in range(frames):
            writer.write(np.ascontiguousarray(base[:, t : t + 64]))
        writer.release()
        code = ("import resource, sys; from apps.cli import main; "
                f"rc = main(['upscale-video', {str(source)!r}, {str(target)!r}, '--weights', {weights!r}, '--quiet']); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); sys.exit(rc)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--weights", default="frvsr-x4")
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the 100 vs 1,000 frames memory check")
    parser.add_argument("--degradation", choices=("BD", "BI"), help="how the clips are shrunk (default: as the weights were trained)")
    parser.add_argument("--write-card", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    own = model.config.degradation
    args.degradation = args.degradation or own
    if args.write_card and args.degradation != own:
        parser.error(f"--write-card records the weights' own degradation, {own}")
    upscaler = Upscaler(model)
    videos = list_videos(args.data_root, held_out=True)
    if not videos:
        print(f"no held-out videos under {args.data_root}/videos: run `make data`", file=sys.stderr)
        return 2
    methods = {"bicubic": lambda lr: upsample_lr(lr, SCALE, args.degradation).clamp(0, 1),
               "lanczos": lambda lr: lanczos(lr, args.degradation),
               "frvsr": lambda lr: frvsr_clip(upscaler, lr)}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for path in videos:
        clip = read_frames(path, args.start, args.frames)
        h, w = (clip.shape[1] // SCALE) * SCALE, (clip.shape[2] // SCALE) * SCALE
        gt = torch.from_numpy(clip[:, :h, :w]).permute(0, 3, 1, 2).float().div(255)
        lr = degrade(gt, args.degradation)
        results[path.name] = {name: quality(method(lr), gt) for name, method in methods.items()}
    print(f"\nY-PSNR (dB) / SSIM / tOF on held-out clips, {args.degradation} ×4, frames {args.start}-{args.start + args.frames - 1}  [{args.weights}]")
    print(f"{'clip':<14}" + "".join(f"{m:>24}" for m in methods) + f"{'FRVSR − bicubic':>18}")
    for clip, row in results.items():
        cells = "".join(f"{row[m]['psnr']:>10.2f} {row[m]['ssim']:.4f} {row[m]['tof']:>5.2f}" for m in methods)
        print(f"{clip:<14}{cells}{row['frvsr']['psnr'] - row['bicubic']['psnr']:>+15.2f} dB")
    mean = {m: {k: float(np.mean([r[m][k] for r in results.values()])) for k in ("psnr", "ssim", "tof")} for m in methods}
    cells = "".join(f"{mean[m]['psnr']:>10.2f} {mean[m]['ssim']:.4f} {mean[m]['tof']:>5.2f}" for m in methods)
    print(f"{'mean':<14}{cells}{mean['frvsr']['psnr'] - mean['bicubic']['psnr']:>+15.2f} dB")
    fps = frames_per_second(upscaler)
    print(f"\nspeed ({args.threads} threads): {fps:.2f} output frames/s at 180×144 -> 720×576")
    metrics = {f"{m}_{k}": round(v, 4) for m in methods for k, v in mean[m].items()}
    metrics.update({"gain_over_bicubic_db": round(mean["frvsr"]["psnr"] - mean["bicubic"]["psnr"], 3), "fps_720x576": round(fps, 3),
                    "degradation": args.degradation})
    if not args.no_memory:
        for frames in (100, 1000):
            metrics[f"app_peak_mib_{frames}_frames"] = round(app_peak_memory(args.weights, frames))
            print(f"rsuite upscale-video peak memory, {frames} frames: {metrics[f'app_peak_mib_{frames}_frames']} MiB")
    if args.write_card:
        card_path = record_metrics(args.weights, metrics, "python bench/frvsr.py " + " ".join(sys.argv[1:]))
        print(f"metrics written to {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
