"""Digit-string reading: the shipped reader vs Tesseract 5 on material held out of training.

Test sets:
  orand      real handwritten cheque amounts: the ORAND-CAR-A training-split fold held out of training
             (fold 0 of 5 by source number; the official ORAND test split is not used anywhere), scored on
             labels with the 5 fold-0 errors of ``data.ORAND_LABEL_FIXES`` corrected (``--dataset-labels``: as
             published)
  synth-hw   synthetic strings composed from handwritten digits never used in training
             (USPS test split, hwd1000 items 80-99, OpenCV digits columns 80-99)
  synth-pr   synthetic printed strings (fonts as in training, new strings and degradations)
  synth-seg  synthetic strings on segment displays (seven- and fourteen-segment fonts of ``fonts/segment``,
             meters, clocks and scales: faint unlit segments, display separators; with ``make data``)
  synth-photo  printed strings (a quarter on segment displays) photographed: set in colour on patches of the
             photos held out of training (``data.HELD_OUT_PHOTOS``), on a plate or straight on the scene
  synth-words  printed strings with a word before or after them (a form label or unit such as ``Total:`` or
             ``kg``, or random letters), and a fifth of words alone, whose reading is nothing ("")
  synth-tilted  handwritten and printed strings (half each) turned 5-15 degrees either way, on a canvas grown
             to hold them: a page or a phone held askew
  synth-shaded  handwritten and printed strings (half each) lit unevenly: 30-65 % of the light lost at the
             darkest, along a ramp or across a shadow's soft edge in any direction (``data.shaded``)
  synth-boxed  handwritten and printed strings (half each) in a drawn box, cut out a little outside it: a
             form's field or a cheque's amount box (``data.boxed``)
  synth-noisy  handwritten and printed strings (half each) with Gaussian noise of 15-35 grey levels in every
             pixel: a phone's photo in dim light (``data.noisy``)
  orand-loose  the orand images with 40 % of their height of paper (their median tone) on every side: a
             user's looser crop (the ORAND scans are cut tight to the ink)

Tesseract runs in single-line mode with a digits whitelist on the same images (the user's images, not
our normalised ones), all images of a set in one process so its start-up is amortised.

    python bench/digits.py --data-root data [--weights crnn-digits] [--n 500] [--views 5] [--write-card]
        [--weights W1 W2]            # an ensemble: every (weights, crop) reading counts alike
        [--speed-of crnn-zhan2017]   # also time other registered configs (untrained) on the first set
        [--against crnn-digits]      # a second reader on the same images: paired counts and McNemar's p
        [--seed 4242 --sets synth-hw synth-pr --no-tesseract]   # fresh draws, e.g. to choose a checkpoint
        [--no-colour]                # luma only: no second look at unsure colour images (synth-photo)
        [--no-level]                 # no second look at tilted strings turned level
        [--no-even]                  # no evening of uneven lighting
        [--no-smooth]                # no smoothed second look at noisy images
        [--no-words]                 # words beside the digits read as digits (read-digits --no-words)

The synthetic sets are drawn with seed 777 (the benchmark); choose among candidates on another seed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchmetrics.functional.text import char_error_rate

from apps.models import load_model
from recurrent.registry import count_params, get_model, record_metrics
from vision.digits import data
from vision.digits.reader import CROP_MARGINS, WORD_TAGGER_WEIGHTS, read_digits


SET_NAMES = ("orand", "orand-loose", "synth-hw", "synth-pr", "synth-seg", "synth-photo", "synth-words", "synth-tilted",
             "synth-shaded", "synth-boxed", "synth-noisy")
SYNTHETIC_SETS = {  # how each synthetic set is drawn (data.SyntheticConfig)
    "synth-hw": dict(handwritten_fraction=1.0),
    "synth-pr": dict(handwritten_fraction=0.0),
    "synth-seg": dict(handwritten_fraction=0.0, segment_fraction=1.0),
    "synth-photo": dict(handwritten_fraction=0.0, segment_fraction=0.25, photo_fraction=1.0),
    "synth-words": dict(handwritten_fraction=0.0, word_fraction=1.0, no_digits_fraction=0.2),
    "synth-tilted": dict(handwritten_fraction=0.5, tilt=(5.0, 15.0)),
    "synth-shaded": dict(handwritten_fraction=0.5, shade=(0.3, 0.65)),
    "synth-boxed": dict(handwritten_fraction=0.5, box=True),
    "synth-noisy": dict(handwritten_fraction=0.5, noise=(15.0, 35.0)),
}


def test_sets(
    data_root: Path, n: int, seed: int = 777, names: tuple[str, ...] = SET_NAMES, corrected: bool = True
) -> dict[str, tuple[list[np.ndarray], list[str]]]:
    sets = {}
    wants_orand = {"orand", "orand-loose"} & set(names)
    orand = data.load_orand(data_root, {data.VAL_FOLD}, corrected) if wants_orand else []
    if orand:
        sets["orand"] = ([data.load_image_gray(p) for p, _ in orand], [t for _, t in orand])
        loose = [np.pad(g, round(0.4 * g.shape[0]), constant_values=np.median(g)).astype(g.dtype) for g in sets["orand"][0]]
        sets["orand-loose"] = (loose, sets["orand"][1])
    glyphs = data.load_glyphs(data_root, "test")
    fonts, segment_fonts = data.list_fonts(data_root), data.list_segment_fonts(data_root)
    photos = data.load_photos(data_root, held_out=True) if "synth-photo" in names else []
    for name, kind in SYNTHETIC_SETS.items():
        config = data.SyntheticConfig(**kind)
        if name not in names or (config.segment_fraction and not segment_fonts) or (config.photo_fraction and not photos):
            continue
        generator = data.SyntheticDigits(glyphs, fonts, 32, config, segment_fonts=segment_fonts, photos=photos)
        if name == "synth-hw" and not generator.use_handwritten:
            continue
        samples = [generator.render(np.random.default_rng([seed, i])) for i in range(n)]
        sets[name] = ([s[0] for s in samples], [s[1] for s in samples])
    return {name: sets[name] for name in SET_NAMES if name in sets and name in names}  # orand brings orand-loose


def run_ours(models, images: list[np.ndarray], **reading) -> tuple[list[str], list[float], float]:
    """Read ``images`` with ``read_digits(..., **reading)`` in batches of 32: texts, confidences, images/s."""
    start = time.perf_counter()
    readings = read_digits(images, models, batch_size=32, **reading)
    rate = len(images) / (time.perf_counter() - start)
    return [r.text for r in readings], [r.confidence for r in readings], rate


def calibration(predictions: list[str], truths: list[str], confidences: list[float], threshold: float = 0.5) -> dict:
    """How well "confidence < threshold" flags the readings to check."""
    right = np.array([p == t for p, t in zip(predictions, truths)])
    sure = np.array(confidences) >= threshold
    return {
        "confident_fraction": float(sure.mean()),
        "confident_acc": float(right[sure].mean()) if sure.any() else float("nan"),
        "unsure_acc": float(right[~sure].mean()) if (~sure).any() else float("nan"),
    }


def _tesseract(source: str) -> subprocess.CompletedProcess:
    """Tesseract on one image or a list file of them (one page per image, split by form feeds), on one
    OpenMP thread: its fastest setting for small images (the fold: about 170 images/s, against 16 with its
    default threads on this 2-core machine)."""
    command = ["tesseract", source, "stdout", "--psm", "7", "-c", "tessedit_char_whitelist=0123456789"]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"})


def run_tesseract(images: list[np.ndarray]) -> tuple[list[str], float] | None:
    """Tesseract's readings (digits only) and images/s. All images go to one process; if it dies (it has
    died of SIGFPE on a photographed string) each image is read by its own process, and one that kills its
    process counts as read as nothing."""
    if shutil.which("tesseract") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, image in enumerate(images):
            path = Path(folder) / f"{i:05d}.png"
            Image.fromarray(image).save(path)
            paths.append(str(path))
        listing = Path(folder) / "list.txt"
        listing.write_text("\n".join(paths) + "\n")
        start = time.perf_counter()
        result = _tesseract(str(listing))
        if result.returncode == 0:
            pages = result.stdout.split("\f")[: len(images)]
        else:
            start = time.perf_counter()
            results = [_tesseract(path) for path in paths]
            pages = [r.stdout if r.returncode == 0 else "" for r in results]
            crashed = sum(r.returncode != 0 for r in results)
            print(f"(Tesseract died on {crashed} of {len(images)} images, counted as read as nothing; read one by one)")
        rate = len(images) / (time.perf_counter() - start)
    texts = ["".join(ch for ch in page if ch.isdigit()) for page in pages]
    return texts + [""] * (len(images) - len(texts)), rate


def config_speeds(names: list[str], images: list[np.ndarray], shipped: list) -> None:
    """Images per second of registered configs (random weights: speed only) beside the shipped reader."""
    print(f"\nspeed on the same {len(images)} images, batch 32: config, parameters, images/s")
    for name, models in [("shipped", shipped)] + [(n, [get_model(n).eval()]) for n in names]:
        read_digits(images[:32], models)  # warm-up
        rate = run_ours(models, images, beam=1)[2]
        print(f"{name:<15} {sum(count_params(m) for m in models) / 1e6:>6.2f} M {rate:>8.1f}")


def paired(ours: list[str], theirs: list[str], truths: list[str]) -> dict[str, float]:
    """Images only ours reads right, only theirs does, and McNemar's exact two-sided p for that split."""
    only_ours = sum(o == t != h for o, h, t in zip(ours, theirs, truths))
    only_theirs = sum(h == t != o for o, h, t in zip(ours, theirs, truths))
    n, k = only_ours + only_theirs, min(only_ours, only_theirs)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
    return {"only_ours": only_ours, "only_theirs": only_theirs, "mcnemar_p": p}


def score(predictions: list[str], truths: list[str]) -> dict[str, float]:
    return {
        "seq_acc": float(np.mean([p == t for p, t in zip(predictions, truths)])),
        "cer": float(char_error_rate(predictions, truths)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--weights", nargs="+", default=["crnn-digits"], help="weights; several read as an ensemble")
    parser.add_argument("--n", type=int, default=500, help="images per synthetic set")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--no-crop", dest="crop", action="store_false", help="read images uncut (read-digits --no-crop)")
    parser.add_argument("--views", type=int, default=len(CROP_MARGINS), choices=range(1, len(CROP_MARGINS) + 1),
                        help="crops read together (read-digits --views)")
    parser.add_argument("--no-colour", dest="colour", action="store_false", help="luma only (read-digits --no-colour)")
    parser.add_argument("--no-level", dest="level", action="store_false", help="no second look at tilted strings (read-digits --no-level)")
    parser.add_argument("--no-even", dest="even", action="store_false", help="no evening of uneven lighting (read-digits --no-even)")
    parser.add_argument("--no-smooth", dest="smooth", action="store_false", help="no smoothed look at noisy images (read-digits --no-smooth)")
    parser.add_argument("--no-words", dest="words", action="store_false", help="words beside the digits not left out (read-digits --no-words)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine has 2 cores)")
    parser.add_argument("--out", type=Path, default=Path("out/bench/digits.json"))
    parser.add_argument("--write-card", action="store_true", help="store the metrics in the weights' card")
    parser.add_argument("--speed-of", nargs="*", default=[], help="registered configs to time too (untrained)")
    parser.add_argument("--against", nargs="+", help="weights of a second reader (one or an ensemble) to compare on the "
                        "same images (paired)")
    parser.add_argument("--seed", type=int, default=777, help="synthetic draws (777: the benchmark's)")
    parser.add_argument("--sets", nargs="+", choices=SET_NAMES, default=list(SET_NAMES))
    parser.add_argument("--no-tesseract", dest="tesseract", action="store_false")
    parser.add_argument("--dataset-labels", dest="corrected", action="store_false",
                        help="score orand on labels.tsv as published (default: with data.ORAND_LABEL_FIXES)")
    args = parser.parse_args()
    benchmark = args.seed == 777 and set(args.sets) == set(SET_NAMES) and args.tesseract and args.corrected and args.words
    if args.write_card and not benchmark:
        parser.error("--write-card measures the benchmark: every set, seed 777, corrected labels, Tesseract beside, "
                     "words left out")
    if args.write_card and len(args.weights) > 1:
        parser.error("--write-card stores one weights' metrics: give one --weights")
    torch.set_num_threads(args.threads)
    models = [load_model(w) for w in args.weights]
    other = [load_model(w) for w in args.against] if args.against else None
    results = {}
    print(f"{'set':<11} {'n':>5} | {'ours acc':>8} {'tess acc':>8} {'ratio':>6} | {'ours CER':>8} {'tess CER':>8} | {'ours img/s':>10} {'tess img/s':>10}")
    sets = test_sets(args.data_root, args.n, args.seed, tuple(args.sets), args.corrected)
    reading = dict(beam=args.beam, crop=args.crop, views=args.views, colour=args.colour, level=args.level, even=args.even,
                   smooth=args.smooth, words=args.words)
    for name, (images, truths) in sets.items():
        ours, confidences, ours_rate = run_ours(models, images, **reading)
        row = {"n": len(images), "ours": score(ours, truths) | {"images_per_s": ours_rate}}
        row["ours_calibration"] = calibration(ours, truths, confidences)
        tesseract = run_tesseract(images) if args.tesseract else None
        if tesseract:
            row["tesseract"] = score(tesseract[0], truths) | {"images_per_s": tesseract[1]}
        if other is not None:
            theirs = run_ours(other, images, **reading)[0]
            row["against"] = score(theirs, truths) | paired(ours, theirs, truths)
        results[name] = row
        t = row.get("tesseract", {"seq_acc": float("nan"), "cer": float("nan"), "images_per_s": float("nan")})
        ratio = row["ours"]["seq_acc"] / t["seq_acc"] if t["seq_acc"] else float("inf")
        print(
            f"{name:<11} {len(images):>5} | {row['ours']['seq_acc']:>8.2%} {t['seq_acc']:>8.2%} {ratio:>6.2f} | "
            f"{row['ours']['cer']:>8.3f} {t['cer']:>8.3f} | {ours_rate:>10.1f} {t['images_per_s']:>10.1f}"
        )
    print("\nconfidence >= 0.5: share of readings, their accuracy, accuracy of the rest (to check by hand)")
    for name, row in results.items():
        c = row["ours_calibration"]
        print(f"{name:<11} {c['confident_fraction']:>7.1%} {c['confident_acc']:>8.2%} {c['unsure_acc']:>8.2%}")
    if other is not None:
        print(f"\nagainst {' + '.join(args.against)}: its accuracy, images only ours / only it reads right, McNemar's p")
        for name, row in results.items():
            a = row["against"]
            print(f"{name:<11} {a['seq_acc']:>8.2%} {a['only_ours']:>5} {a['only_theirs']:>5} {a['mcnemar_p']:>8.3f}")
    if args.speed_of:
        config_speeds(args.speed_of, next(iter(sets.values()))[0], models)
    if args.tesseract and "tesseract" not in next(iter(results.values())):
        print("(Tesseract not found: apt-get install tesseract-ocr to compare)")
    command = "python " + " ".join(sys.argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"weights": args.weights, "command": command, "results": results}, indent=2) + "\n")
    if args.write_card:
        metrics = {f"{name}_{key}": round(value, 4) for name, row in results.items() for key, value in row["ours"].items()}
        for weights in (args.weights[0], WORD_TAGGER_WEIGHTS):  # the default reading needs both
            print(f"metrics written to {record_metrics(weights, metrics, command)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
