"""``rsuite upscale-video INPUT OUTPUT`` — upscale a video 4× with FRVSR (frame-recurrent super-resolution).

INPUT is a video file (anything FFmpeg reads) or a folder of frames (PNG, JPEG, BMP, TIFF, WebP, GIF;
natural order: f2 before f10). OUTPUT is a video file — .mp4, .mkv or .mov (H.264, CRF 18) or .avi
(MPEG-4) — at the input's frame rate (``--fps`` for frame folders), with the input's first audio
track carried over (copied, or transcoded when the container cannot hold it: to AAC, to PCM in .avi);
or a folder of PNG frames (a path without a suffix). Frames are colour (RGB); grayscale input is refused.
A phone video's display rotation is applied, so the output is upright and plays the way the input does; a
variable frame rate is kept in time with the audio (each frame shown from its time to the next one's, at a
constant rate).
A folder OUTPUT holding the input or anything but frames is never replaced, even with ``--force``.

Frames are processed one at a time with the recurrent state carried, so memory does not grow with
the video's length; large frames are cut into overlapping tiles (``--tile``) blended without seams.
``--scale 2`` runs the ×4 model and downsizes its output with area averaging.

Examples::

    rsuite upscale-video clip.mp4 clip_x4.mp4
    rsuite upscale-video frames/ frames_x4/ --tile 128 --device cuda --fp16
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from apps.common import UserError, add_common_args, atomic_output, check_output, pick_device, progress
from apps.models import WeightsError, load_model
from vision.paths import IMAGE_SUFFIXES

DEFAULT_WEIGHTS = "frvsr-x4-bi"  # video shrunk or filmed as usual: pixel centres aligned
DEMO_WEIGHTS = [DEFAULT_WEIGHTS]
DEMO_OUTPUTS = ["upscale-video.mp4"]
AUTO_TILE_ABOVE = 960 * 540  # input pixels; larger frames are tiled by default
AUTO_TILE = 256
FOLDER_FPS = Fraction(25)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rsuite upscale-video", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", type=Path, help="video file or folder of frames")
    parser.add_argument("output", type=Path, help="video file (.mp4 .mkv .mov .avi) or folder for PNG frames")
    parser.add_argument("--scale", type=int, default=4, choices=(2, 4), help="output size factor (default 4)")
    parser.add_argument(
        "--tile", type=int, default=None,
        help=f"tile size in input pixels, a multiple of 8; 0: whole frames (default: whole frames up to "
        f"{AUTO_TILE_ABOVE // 1000} k input pixels, else {AUTO_TILE})",
    )
    parser.add_argument("--pad", type=int, default=16, help="context around each tile in input pixels, a multiple of 8")
    parser.add_argument(
        "--fps", type=frame_rate, help=f"frame rate for a folder of frames (default {FOLDER_FPS}); a video keeps its own"
    )
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality for .mp4/.mkv/.mov, 0 (lossless) to 51 (default 18); "
                        ".avi is MPEG-4 at its finest fixed quantiser")
    parser.add_argument("--fp16", action="store_true", help="float16 on CUDA (faster, ~same quality)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the frame step (CUDA graphs on a GPU; slow start)")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS,
                        help=f"shipped weights name or path (default {DEFAULT_WEIGHTS}: for video as cameras and resizers "
                        "make it, pixel centres aligned; frvsr-x4: the research protocol's BD input, Gaussian blur "
                        "σ 1.6 then every 4th pixel)")
    add_common_args(parser)
    return parser


def frame_rate(text: str) -> Fraction:
    """``--fps``: a positive number or fraction, e.g. ``25``, ``29.97`` or ``30000/1001``."""
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame rate (e.g. 25, 29.97 or 30000/1001)") from None
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return rate


def _check_args(args: argparse.Namespace) -> None:
    if args.tile is not None and (args.tile < 0 or args.tile % 8):
        raise UserError(f"--tile {args.tile}: must be 0 or a positive multiple of 8")
    if args.pad < 0 or args.pad % 8:
        raise UserError(f"--pad {args.pad}: must be a non-negative multiple of 8")
    if not 0 <= args.crf <= 51:
        raise UserError(f"--crf {args.crf}: must be between 0 and 51")
    if args.fps is not None and args.input.is_file():
        raise UserError(f"--fps is for a folder of frames; {args.input} keeps its own frame rate")


def _output_kind(args: argparse.Namespace) -> str:
    from vision.frvsr.video import VIDEO_CODECS

    out, src = args.output, args.input
    if str(out) == "-":
        raise UserError("-: a video cannot go to standard output; give a file (.mp4, .mkv, .mov, .avi) or a folder")
    if out.name.lower() in VIDEO_CODECS:
        raise UserError(f"{out}: a video file needs a name before its suffix (e.g. clip{out.name})")
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise UserError(f"{out}: OUTPUT is the INPUT; choose another path")
    if out.is_dir() and src.exists() and src.resolve().is_relative_to(out.resolve()):
        raise UserError(f"{out}: OUTPUT holds the INPUT; choose another path")
    if out.suffix == "":
        if out.exists() and not out.is_dir() and not args.force:
            raise UserError(f"{out}: already exists (use --force to replace it)")
        if out.is_dir() and any(not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES for p in out.iterdir()):
            raise UserError(f"{out}: a folder holding more than frames is not replaced, even with --force; choose another")
        return "folder"
    if out.suffix.lower() not in VIDEO_CODECS:
        formats = ", ".join(VIDEO_CODECS)
        raise UserError(f"{out}: unsupported output format {out.suffix!r} (use {formats}, or no suffix for PNG frames)")
    if out.is_dir():
        raise UserError(f"{out}: is a folder; a video output must be a file")
    return "video"


def main(args: argparse.Namespace) -> int:
    from vision.frvsr.infer import Upscaler
    from vision.frvsr.model import FRVSR
    from vision.frvsr.video import FolderSink, VideoError, VideoSink, open_source

    _check_args(args)
    kind = _output_kind(args)
    check_output(args.output, args.force, folder=(kind == "folder"))
    device = pick_device(args.device)
    if args.fp16 and device.type != "cuda":
        raise UserError("--fp16 needs a CUDA device (--device cuda)")
    try:
        source = open_source(args.input, args.fps or FOLDER_FPS)
    except VideoError as error:
        raise UserError(str(error)) from None
    info = source.info
    try:
        model = load_model(args.weights, device=device, kind=FRVSR)
    except WeightsError as error:
        source.close()
        raise UserError(str(error)) from None
    tile = args.tile if args.tile is not None else (AUTO_TILE if info.width * info.height > AUTO_TILE_ABOVE else 0)
    upscaler = Upscaler(model, device, tile=tile, pad=args.pad, fp16=args.fp16, compile=args.compile)
    out_w, out_h = info.width * args.scale, info.height * args.scale
    start = time.perf_counter()
    audio = "none"
    with atomic_output(args.output, args.force, folder=(kind == "folder")) as tmp:
        try:
            if kind == "folder":
                sink = FolderSink(tmp, source.names, name=args.output)
            else:
                audio_in = getattr(source, "audio", None)
                sink = VideoSink(tmp, out_w, out_h, info.fps, audio=audio_in, crf=args.crf, name=args.output)
                audio = ("transcoded" if sink.transcode else "copied") if sink.audio_out is not None else "none"
        except VideoError as error:
            source.close()
            raise UserError(str(error)) from None
        try:
            frames, upscaled = source.frames(audio_sink=sink.mux_audio), 0
            for frame in progress(frames, args.quiet, total=info.frames, unit="frame", desc="upscaling"):
                hr = upscaler(frame)
                if args.scale != model.scale:
                    hr = cv2.resize(hr, (out_w, out_h), interpolation=cv2.INTER_AREA)
                sink.write(hr, source.last_time)
                upscaled += 1
            if upscaled == 0:
                raise UserError(f"{args.input}: no frames to upscale")
            sink.close()
            announced = getattr(source, "announced", None)
            if announced and upscaled < announced:
                print(f"{args.input}: warning: decoding ended after {upscaled} of the {announced} frames its header "
                      "announces (a truncated file?); the output holds those", file=sys.stderr)
        except VideoError as error:
            sink.abort()
            raise UserError(str(error)) from None
        except BaseException:
            sink.abort()
            raise
        finally:
            source.close()
    seconds = time.perf_counter() - start
    if not args.quiet:
        rate = f"{sink.frames} frames at {float(sink.fps):g} fps, " if kind == "video" else ""
        print(
            f"{args.output}: {upscaled} frames upscaled to {out_w}×{out_h}, {rate}audio {audio}; "
            f"{seconds:.1f} s ({upscaled / seconds:.2f} frames/s on {device})"
        )
    return 0


def demo(samples: Path, out: Path, args: argparse.Namespace) -> str:
    """Upscale a synthetic 24-frame camera pan over a procedural picture (shrunk to 64×64 as the default
    weights assume: ``config.degradation``), write ``out/upscale-video.mp4`` and return the Y-PSNR of FRVSR and
    of bicubic upsampling."""
    import torch

    from vision.frvsr.data import camera_clip, procedural_image, to_pair
    from vision.frvsr.infer import Upscaler
    from vision.frvsr.metrics import psnr_y
    from vision.frvsr.model import upsample_lr
    from vision.frvsr.video import VideoSink

    rng = np.random.default_rng(7)
    model = load_model(DEFAULT_WEIGHTS, device=pick_device(args.device))
    clip = camera_clip(rng, procedural_image(rng, (512, 640)), frames=24, crop=256, max_speed=8.0)
    pair = to_pair(clip, model.config.degradation)
    upscaler = Upscaler(model, pick_device(args.device))
    outputs = [upscaler.upscale(lr[None]).cpu()[0].clamp(0, 1) for lr in pair["lr"]]
    hr = torch.stack(outputs)
    bicubic = upsample_lr(pair["lr"], model.scale, model.config.degradation)
    psnr, psnr_bicubic = psnr_y(hr, pair["hr"]).mean().item(), psnr_y(bicubic, pair["hr"]).mean().item()
    with atomic_output(out / "upscale-video.mp4", force=True) as tmp:
        sink = VideoSink(tmp, 512, 256, Fraction(12))
        for frame, ref in zip(hr, bicubic.clamp(0, 1), strict=True):
            side_by_side = torch.cat([ref, frame], -1).mul(255).round().byte().permute(1, 2, 0).numpy()
            sink.write(side_by_side)
        sink.close()
    return f"Y-PSNR {psnr:.2f} dB vs bicubic {psnr_bicubic:.2f} dB (bicubic | FRVSR) -> {out / 'upscale-video.mp4'}"


if __name__ == "__main__":
    from apps.cli import run

    sys.exit(run("upscale-video", sys.argv[1:]))
