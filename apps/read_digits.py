"""``rsuite read-digits PATH…`` — read the digit string in each image.

PATH is an image (PNG, JPEG, BMP, TIFF, WebP, GIF: its first frame; gray, RGB or RGBA; up to 500 Mpx; a photo's
EXIF orientation is applied), a folder of them (recursive, natural order, hidden files skipped) or ``-``, one
image on standard input. Prints one line per image, in the order given, as each batch is read,
``path<TAB>digits<TAB>confidence`` (a tab or newline in a path as ``\\t``, ``\\n``), or JSON lines with
``--json``. Confidence is the model's probability of the string (averaged over the crops below): below ~0.5,
check the reading. Each image is first cut to the extent of its ink (a box drawn around the digits, and rule
lines and specks well above or below the digits' rows, left out), so a loose crop
reads like a tight one (``--no-crop`` reads images as they are), with five different margins, and the
string most probable across the five crops is kept (``--views 1`` reads one crop: about 4x faster, about 1
point less accurate). A string that rises or falls by 3 degrees or more is read again turned level, and that
reading is kept when it is at least 0.2 more confident (``--no-level``: never). A colour image read with
confidence below 0.5 is read again on four gray views of its colours (digits that differ from their
background in hue more than in brightness, as on signs and plates; two crops each), and the most confident
reading is kept (``--no-colour``: luma only). An image still read below 0.5 whose digits sit inside a frame
(the dark surround of a light label or display) is read again inside it. One still read below 0.9 whose
paper's tone varies under the string by a quarter or more (a shadow across a photo, light falling off
towards an edge) is read again with its lighting evened, the more confident reading kept (``--no-even``:
never). One still read below 0.9 that carries 15 grey levels of noise or more (a photo in dim light) is read
again smoothed, the more confident reading kept (``--no-smooth``: never). The reader knows only digits, so
before it reads, a small tagger finds the words beside the digits (a label or unit such as ``Total`` or
``kg`` on a form or receipt), which are painted out with the paper, and an image of words alone reads as
nothing (``--no-words``: never; with ``--no-crop`` there is no crop to find them in, and words are read as
digits).
Unreadable images get an error line on stderr; the rest are still read and the exit code is 1.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from apps.common import EXIT_BAD_INPUT, UserError, add_common_args, atomic_output, pick_device, require_file
from apps.models import WeightsError, load_model
from vision.digits.data import load_image
from vision.digits.model import CRNN
from vision.digits.reader import CROP_MARGINS, DEFAULT_WEIGHTS, WORD_TAGGER_WEIGHTS, read_digits
from vision.paths import list_images

DEMO_WEIGHTS = [DEFAULT_WEIGHTS, WORD_TAGGER_WEIGHTS]
DEMO_OUTPUTS = ["read-digits.tsv"]
STDIN = Path("-")  # the path that stands for one image piped in: ``cat scan.png | rsuite read-digits -``
CHUNK_PIXELS = 100_000_000  # decoded image pixels held at once: images are read and printed chunk by chunk
MAX_PIXELS = 500_000_000  # larger images are refused (PIL's decompression-bomb guard, raised from 179 Mpx)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsuite read-digits", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help=f"image files or folders; {STDIN} reads standard input")
    parser.add_argument("--json", action="store_true", help="JSON lines {path, text, confidence}")
    parser.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy decoding)")
    parser.add_argument("--min-len", type=int, default=0,
                        help="read the most probable string of at least this many digits (\"\" if there is none)")
    parser.add_argument("--max-len", type=int, default=None,
                        help="read the most probable string of at most this many digits, e.g. a meter's known length "
                        "(a longer string is then read short, with a low confidence)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-crop", dest="crop", action="store_false",
                        help="read each image as it is, not cut to its ink first (one view)")
    parser.add_argument("--views", type=int, default=len(CROP_MARGINS), choices=range(1, len(CROP_MARGINS) + 1),
                        metavar=f"1..{len(CROP_MARGINS)}",
                        help="crops of each image read together (default: %(default)s)")
    parser.add_argument("--no-colour", dest="colour", action="store_false",
                        help="read colour images in luma only, never on their colour views")
    parser.add_argument("--no-level", dest="level", action="store_false",
                        help="never read a tilted string again turned level")
    parser.add_argument("--no-even", dest="even", action="store_false",
                        help="read unevenly lit images as they are, their lighting not evened")
    parser.add_argument("--no-smooth", dest="smooth", action="store_false",
                        help="read noisy images as they are, never again smoothed")
    parser.add_argument("--words", action=argparse.BooleanOptionalAction, default=None,
                        help="leave out words beside the digits (labels, units: forms, receipts); on unless "
                        "--no-crop")
    parser.add_argument("--weights", action="append", metavar="WEIGHTS",
                        help=f"shipped weights name or path (default: {DEFAULT_WEIGHTS}); given again, the "
                        "weights read as an ensemble, each crop by each")
    add_common_args(parser, force=False)
    return parser


def expand(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Image files from files and folders (hidden files skipped); errors for paths that are neither."""
    files, errors = [], []
    for path in paths:
        if path == STDIN:
            files.append(path)
        elif path.is_dir():
            found = list_images(path, recursive=True)
            if not found:
                errors.append(f"{path}: folder holds no images" if os.access(path, os.R_OK | os.X_OK) else f"{path}: folder not readable")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            errors.append(f"{path}: not a regular file" if path.exists() else f"{path}: no such file or folder")
    return files, errors


def load(path: Path) -> np.ndarray:
    """One image, or :class:`UserError` saying why it cannot be read."""
    if path == STDIN:
        data = sys.stdin.buffer.read()
        if not data:
            raise UserError(f"{path}: empty file")
        source = io.BytesIO(data)
    else:
        source = require_file(path)  # unreadable or empty: its own line
    try:
        return load_image(source)
    except Image.DecompressionBombError:
        raise UserError(f"{path}: image too large (over {MAX_PIXELS // 1_000_000} Mpx)")
    except UnidentifiedImageError:
        raise UserError(f"{path}: not a readable image (not an image format PIL knows)")
    except Exception as error:  # PIL raises many types for damaged files
        reason = "truncated file" if "truncated" in str(error) else f"{type(error).__name__}: {str(error)[:80]}"
        raise UserError(f"{path}: not a readable image ({reason})")


def shown(path: Path) -> str:
    """``path`` as printed: bytes of a name that are not UTF-8 as backslash escapes (``caf\\xe9.png``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def main(args: argparse.Namespace) -> int:
    for option in ("beam", "batch_size"):
        if getattr(args, option) < 1:
            raise UserError(f"--{option.replace('_', '-')} {getattr(args, option)}: must be at least 1")
    if args.min_len < 0 or (args.max_len is not None and args.max_len < max(args.min_len, 1)):
        raise UserError(f"--min-len {args.min_len} --max-len {args.max_len}: need 0 <= min-len <= max-len, max-len >= 1")
    if args.words and not args.crop:
        raise UserError("--words finds the words in the crop to the ink: it cannot go with --no-crop")
    words = args.crop if args.words is None else args.words
    if args.paths.count(STDIN) > 1:
        raise UserError(f"{STDIN} (standard input) can be given once")
    try:
        device = pick_device(args.device)
        models = [load_model(weights, device=device, kind=CRNN) for weights in args.weights or [DEFAULT_WEIGHTS]]
        tagger = load_model(WORD_TAGGER_WEIGHTS, device=device, kind=CRNN) if words else WORD_TAGGER_WEIGHTS
    except WeightsError as error:
        raise UserError(str(error)) from None
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # PIL warns above it and refuses above twice it
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    files, errors = expand(args.paths)
    for message in errors:
        print(f"rsuite read-digits: error: {message}", file=sys.stderr)
    chunk: list[tuple[Path, np.ndarray]] = []
    read = 0
    with tqdm(total=len(files), unit="img", disable=args.quiet, file=sys.stderr) as bar:
        for index, path in enumerate(files):
            try:
                chunk.append((path, load(path)))
            except UserError as error:  # one line (and its cause with --debug); the other images are still read
                if args.debug:
                    traceback.print_exception(error.__context__ or error)
                print(f"rsuite read-digits: error: {error}", file=sys.stderr)
                errors.append(str(error))
                bar.update()
            last = index == len(files) - 1
            if chunk and (last or len(chunk) == 4 * args.batch_size or sum(i.size for _, i in chunk) > CHUNK_PIXELS):
                readings = read_digits(
                    [image for _, image in chunk], models, beam=args.beam, batch_size=args.batch_size,
                    min_len=args.min_len, max_len=args.max_len, on_batch=bar.update, crop=args.crop, views=args.views,
                    colour=args.colour, level=args.level, even=args.even, smooth=args.smooth, words=words,
                    tagger=tagger,
                )
                emit([path for path, _ in chunk], readings, args.json)
                read, chunk = read + len(chunk), []
    if not read:
        return EXIT_BAD_INPUT  # each path's problem is already reported
    return 1 if errors else 0


def emit(paths: list[Path], readings: list, as_json: bool) -> None:
    """Print one line per reading; a standard output that cannot be written is one :class:`UserError` line."""
    try:
        for path, reading in zip(paths, readings):
            if as_json:
                print(json.dumps({"path": shown(path), "text": reading.text, "confidence": round(reading.confidence, 4)}))
            else:  # tabs and newlines in a name escaped, so each line keeps its three fields
                name = shown(path).replace("\t", "\\t").replace("\n", "\\n")
                print(f"{name}\t{reading.text}\t{reading.confidence:.4f}")
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away (``| head``): apps.common.run_job ends quietly
    except OSError as error:
        raise UserError(f"standard output: cannot write ({error.strerror})") from None


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
