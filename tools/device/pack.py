"""Pack a subset of ``data/`` small enough to travel to a lent GPU machine (64 MiB with the repo).

Writes ``.devdata/`` (git-ignored through ``.git/info/exclude``): digits (all), photos (all), fonts up to
``--font-mb``, the held-out-split-preserving subset of speech as FLAC (``--per-voice`` TTS utterances per
voice, ``--per-digit`` fsdd recordings per digit and speaker), the speechbrain mixtures and the AMI meeting
excerpt's headset tracks (validation).
Videos stay behind (the GPU image has no PyAV): FRVSR trains there on photos with synthetic motion.

    python tools/device/pack.py --data-root data --out .devdata
"""

from __future__ import annotations

import argparse
import csv
import shutil
from collections import Counter
from pathlib import Path

import soundfile as sf


def to_flac(src: Path, dst: Path) -> None:
    audio, rate = sf.read(str(src), dtype="int16")
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(dst), audio, rate, format="FLAC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=Path(".devdata"))
    parser.add_argument("--font-mb", type=float, default=5.0)
    parser.add_argument("--per-voice", type=int, default=12)
    parser.add_argument("--per-digit", type=int, default=15)
    args = parser.parse_args()
    src, out = args.data_root, args.out
    if out.exists():
        shutil.rmtree(out)
    for sub in ("digits", "photos"):
        shutil.copytree(src / sub, out / sub)
    budget = args.font_mb * 1e6
    fonts = sorted((p for p in (src / "fonts").glob("*/*") if p.suffix.lower() in (".ttf", ".otf")),
                   key=lambda p: (p.parent.name != "handwriting", p.stat().st_size))
    for font in fonts:
        if font.stat().st_size <= budget:
            budget -= font.stat().st_size
            (out / "fonts" / font.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(font, out / "fonts" / font.parent.name / font.name)
    with (src / "tts" / "index.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    taken, kept = Counter(), []
    for row in rows:
        voice = (row["engine"], row["voice"])
        if taken[voice] < args.per_voice:
            taken[voice] += 1
            flac = str(Path(row["file"]).with_suffix(".flac"))
            to_flac(src / "tts" / row["file"], out / "tts" / flac)
            kept.append({**row, "file": flac})
    with (out / "tts" / "index.tsv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(kept)
    for path in sorted((src / "speech" / "fsdd" / "recordings").glob("*.wav")):
        if int(path.stem.split("_")[2]) < args.per_digit:
            to_flac(path, out / "speech" / "fsdd" / "recordings" / (path.stem + ".flac"))
    for folder in ("speechbrain_separation", "ami_seriously/sources"):
        for path in sorted((src / "speech" / folder).glob("*.wav")):
            to_flac(path, out / "speech" / folder / (path.stem + ".flac"))
    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6 for p in out.iterdir()}
    print({k: round(v, 1) for k, v in sizes.items()}, f"total {sum(sizes.values()):.1f} MB")


if __name__ == "__main__":
    main()
