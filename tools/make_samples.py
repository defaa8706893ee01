"""Make the small demo samples in ``apps/samples/`` (run once; the outputs are committed).

Digit strings: rendered with freely licensed fonts (Debian's handwriting-style fonts from ``make data``,
or matplotlib's DejaVu) and degraded like scanned or photographed documents; the true string is the last
part of each file name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from vision.digits.data import degrade, list_fonts, render_printed

FONTS = ["Purisa.ttf", "ComicNeue-Regular.otf", "DancingScript-Regular.otf", "Humor-Sans.ttf", "DejaVuSans.ttf",
         "DejaVuSerif-Italic.ttf", "Breip.ttf", "SteveHand.ttf"]
TEXTS = ["2250", "60", "100", "10248", "25441", "1997", "3141592", "80"]


def make_digit_samples(folder: Path, data_root: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    available = {path.name: path for path in list_fonts(data_root)}
    for index, (font, text) in enumerate(zip(FONTS, TEXTS)):
        rng = np.random.default_rng(index)
        ink = render_printed(rng, [available.get(font, available["DejaVuSans.ttf"])], text)
        image = degrade(rng, ink)
        Image.fromarray(image).save(folder / f"{index:02d}_{text}.png", optimize=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    args = parser.parse_args()
    make_digit_samples(Path(__file__).resolve().parents[1] / "apps" / "samples" / "digits", args.data_root)
