"""``rsuite read-digits PATH…`` — read the digit string in each image.

PATH is an image (PNG, JPEG, BMP, TIFF, WebP, GIF; gray, RGB or RGBA; any size; a photo's EXIF orientation is
applied), a folder of them (recursive, natural order) or ``-``, one image on standard input. Prints one line
per image, ``path<TAB>digits<TAB>confidence``, or JSON lines with ``--json``. Confidence is the model's
probability of the string (averaged over the crops below): below ~0.5, check the reading.
Each image is first cut to the extent of its ink, so a loose crop reads like a tight one (``--no-crop``
reads images as they are), with five different margins, and the string most probable across the five
crops is kept (``--views 1`` reads one crop: about 4x faster, about 1 point less accurate). A colour image
read with confidence below 0.5 is read again on four gray views of its colours (digits that differ from
their background in hue more than in brightness, as on signs and plates; two crops each), and the most
confident reading is kept (``--no-colour``: luma only). An image still read below 0.5 whose digits sit
inside a frame (the dark surround of a light label or display) is read again inside it.
Unreadable images get an error line on stderr; the rest are still read and the exit code is 1.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from apps.common import EXIT_BAD_INPUT, UserError, add_common_args, atomic_output, pick_device
from apps.models import WeightsError, load_model
from vision.digits.data import load_image
from vision.digits.model import CRNN
from vision.digits.reader import CROP_MARGINS, DEFAULT_WEIGHTS, read_digits
from vision.paths import list_images

DEMO_WEIGHTS = [DEFAULT_WEIGHTS]
DEMO_OUTPUTS = ["read-digits.tsv"]
STDIN = Path("-")  # the path that stands for one image piped in: ``cat scan.png | rsuite read-digits -``


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsuite read-digits", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help=f"image files or folders; {STDIN} reads standard input")
    parser.add_argument("--json", action="store_true", help="JSON lines {path, text, confidence}")
    parser.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy decoding)")
    parser.add_argument("--min-len", type=int, default=0, help="shortest string to accept")
    parser.add_argument("--max-len", type=int, default=None, help="longest string to accept")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-crop", dest="crop", action="store_false",
                        help="read each image as it is, not cut to its ink first (one view)")
    parser.add_argument("--views", type=int, default=len(CROP_MARGINS), choices=range(1, len(CROP_MARGINS) + 1),
                        metavar=f"1..{len(CROP_MARGINS)}",
                        help="crops of each image read together (default: %(default)s)")
    parser.add_argument("--no-colour", dest="colour", action="store_false",
                        help="read colour images in luma only, never on their colour views")
    parser.add_argument("--weights", action="append", metavar="WEIGHTS",
                        help=f"shipped weights name or path (default: {DEFAULT_WEIGHTS}); given again, the "
                        "weights read as an ensemble, each crop by each")
    add_common_args(parser, force=False)
    return parser


def expand(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Image files from files and folders; errors for paths that are neither."""
    files, errors = [], []
    for path in paths:
        if path == STDIN:
            files.append(path)
        elif path.is_dir():
            found = list_images(path, recursive=True)
            if not found:
                errors.append(f"{path}: folder holds no images")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    return files, errors


def main(args: argparse.Namespace) -> int:
    if args.beam < 1 or args.batch_size < 1:
        raise UserError("--beam and --batch-size must be at least 1")
    if args.paths.count(STDIN) > 1:
        raise UserError(f"{STDIN} (standard input) can be given once")
    files, errors = expand(args.paths)
    images: list[np.ndarray] = []
    readable: list[Path] = []
    for path in files:
        try:
            images.append(load_image(io.BytesIO(sys.stdin.buffer.read()) if path == STDIN else path))
            readable.append(path)
        except Exception as error:  # PIL raises many types for bad files
            errors.append(f"{path}: not a readable image ({type(error).__name__})")
    for message in errors:
        print(f"rsuite read-digits: error: {message}", file=sys.stderr)
    if not readable:
        return EXIT_BAD_INPUT  # each path's problem is already reported
    try:
        device = pick_device(args.device)
        models = [load_model(weights, device=device, kind=CRNN) for weights in args.weights or [DEFAULT_WEIGHTS]]
    except WeightsError as error:
        raise UserError(str(error)) from None
    with tqdm(total=len(images), unit="img", disable=args.quiet, file=sys.stderr) as bar:
        readings = read_digits(
            images, models, beam=args.beam, batch_size=args.batch_size, min_len=args.min_len,
            max_len=args.max_len, on_batch=bar.update, crop=args.crop, views=args.views, colour=args.colour,
        )
    for path, reading in zip(readable, readings):
        if args.json:
            print(json.dumps({"path": str(path), "text": reading.text, "confidence": round(reading.confidence, 4)}))
        else:
            print(f"{path}\t{reading.text}\t{reading.confidence:.4f}")
    return 1 if errors else 0


def demo(samples: Path, out: Path, args: argparse.Namespace) -> str:
    """Read ``samples/digits/*.png`` (the true string is the file name's last part, ``…_4096.png``),
    write ``out/read-digits.tsv`` and return the accuracy."""
    files = list_images(samples / "digits")
    model = load_model(DEFAULT_WEIGHTS, device=pick_device(args.device))
    readings = read_digits(files, model)
    truths = [path.stem.rsplit("_", 1)[-1] for path in files]
    with atomic_output(out / "read-digits.tsv", force=True) as tmp:
        tmp.write_text("".join(f"{p.name}\t{r.text}\t{r.confidence:.4f}\t{t}\n" for p, r, t in zip(files, readings, truths)))
    correct = sum(r.text == t for r, t in zip(readings, truths))
    return f"{correct}/{len(files)} strings read exactly -> {out / 'read-digits.tsv'}"


if __name__ == "__main__":
    from apps.cli import run

    sys.exit(run("read-digits", sys.argv[1:]))
