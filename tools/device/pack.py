"""Pack a subset of ``data/`` small enough to travel to a lent GPU machine (64 MiB with the repo).

Writes ``.devdata/`` (git-ignored): digits (all), photos (with ``--photo-side`` > 0: all, that longest side), fonts up
to ``--font-mb``, the held-out-split-preserving subset of speech as FLAC (``--per-voice`` utterances per
voice of ``tts/``, ``voices/`` and ``prompts/``, ``--per-digit`` fsdd recordings per digit and speaker), the speechbrain
mixtures and the AMI meeting excerpt's headset tracks (validation).
Videos stay behind (the GPU image has no PyAV): FRVSR would train there on photos with synthetic motion;
``tools/device/train_gpu.sh`` trains the digit readers and the separators only, so photos are off by default.

    python tools/device/pack.py --data-root data --out .devdata

With the tracked files and the wheels it must fit in the 64 MiB that travel; it says whether it does.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import soundfile as sf
from PIL import Image

from audio.mossformer2.data import VOICE_FOLDERS

DEVICE_LIMIT_MB = 64 * 1.048576  # the working tree that travels to the device: 64 MiB
WHEELS_MB = 4  # the wheels of tools/device/README.md


def to_flac(src: Path, dst: Path) -> None:
    audio, rate = sf.read(str(src), dtype="int16")
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(dst), audio, rate, format="FLAC")


def pack_voices(src: Path, out: Path, per_voice: int) -> None:
    """The first ``per_voice`` utterances of each voice of ``src``/index.tsv, as FLAC, with their index."""
    with (src / "index.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    taken, kept = Counter(), []
    for row in rows:
        voice = (row["engine"], row["voice"])
        if taken[voice] < per_voice:
            taken[voice] += 1
            flac = str(Path(row["file"]).with_suffix(".flac"))
            to_flac(src / row["file"], out / flac)
            kept.append({**row, "file": flac})
    with (out / "index.tsv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=Path(".devdata"))
    parser.add_argument("--font-mb", type=float, default=5.0)
    parser.add_argument("--per-voice", type=int, default=5)
    parser.add_argument("--per-digit", type=int, default=10)
    parser.add_argument("--photo-side", type=int, default=0, help="longest side of the photos, pixels (0: no photos)")
    args = parser.parse_args()
    src, out = args.data_root, args.out
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src / "digits", out / "digits")
    (out / "photos").mkdir(parents=True)
    for path in sorted((src / "photos").iterdir()) if args.photo_side > 0 else []:
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            with Image.open(path) as image:
                image.thumbnail((args.photo_side, args.photo_side))
                image.save(out / "photos" / path.name, quality=90)
        else:
            shutil.copy(path, out / "photos" / path.name)
    budget = args.font_mb * 1e6
    fonts = sorted((p for p in (src / "fonts").glob("*/*") if p.suffix.lower() in (".ttf", ".otf")),
                   key=lambda p: (p.parent.name != "handwriting", p.stat().st_size))
    for font in fonts:
        if font.stat().st_size <= budget:
            budget -= font.stat().st_size
            (out / "fonts" / font.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(font, out / "fonts" / font.parent.name / font.name)
    for folder in VOICE_FOLDERS:
        if (src / folder / "index.tsv").is_file():
            pack_voices(src / folder, out / folder, args.per_voice)
    for path in sorted((src / "speech" / "fsdd" / "recordings").glob("*.wav")):
        if int(path.stem.split("_")[2]) < args.per_digit:
            to_flac(path, out / "speech" / "fsdd" / "recordings" / (path.stem + ".flac"))
    for folder in ("speechbrain_separation", "ami_seriously/sources"):
        for path in sorted((src / "speech" / folder).glob("*.wav")):
            to_flac(path, out / "speech" / folder / (path.stem + ".flac"))
    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6 for p in out.iterdir()}
    print({k: round(v, 1) for k, v in sizes.items()}, f"total {sum(sizes.values()):.1f} MB")
    tracked = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout.split(b"\0")
    tree = sum(Path(f.decode()).stat().st_size for f in tracked if f and Path(f.decode()).is_file()) / 1e6
    room = DEVICE_LIMIT_MB - WHEELS_MB - tree
    print(f"tracked files {tree:.1f} MB; room for the pack beside ~{WHEELS_MB} MB of wheels: {room:.1f} MB")
    if sum(sizes.values()) > room:
        print("! too large to travel: lower --per-voice, --per-digit, --photo-side or --font-mb")


if __name__ == "__main__":
    main()
