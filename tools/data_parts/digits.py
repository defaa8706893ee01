"""Part ``digits``: the shared digit sets and OpenCV's digits.png."""

from __future__ import annotations

from pathlib import Path

import cv2

from .common import (
    SHARED_LICENSES, Item, PartResult, apt_ensure, copy_file, copy_tree, deb_source, debian_license, dpkg_files,
)


def build_digits(out: Path, shared: Path) -> PartResult:
    res = PartResult()
    copies = {"usps": ["zip.train.gz", "zip.test.gz", "zip.info.txt"],
              "hwd1000": None, "orand_car_a_train": None}
    for name, files in copies.items():
        src = shared / "digits" / name
        if not src.is_dir():
            res.missing.append(f"digits/{name}: {src} not found")
            continue
        if files is None:
            copy_tree(src, out / name)
        else:
            for f in files:
                if (src / f).exists():
                    copy_file(src / f, out / name / f)
        res.items.append(Item(f"digits/{name}", f"shared:digits/{name}",
                              SHARED_LICENSES[f"digits/{name}"]))
    versions = apt_ensure(["opencv-doc"])
    if "opencv-doc" not in versions:
        res.missing.append("digits/opencv_digits.png: Debian opencv-doc not installed")
        return res
    cands = [p for p in dpkg_files("opencv-doc") if p.name in ("digits.png", "digits.png.gz")]
    if not cands:
        res.missing.append("digits/opencv_digits.png: no digits.png in opencv-doc")
        return res
    dst = out / "opencv_digits.png"
    copy_file(cands[0], dst)
    img = cv2.imread(str(dst), cv2.IMREAD_GRAYSCALE)
    if img is None or img.shape != (1000, 2000):
        raise RuntimeError(f"{cands[0]}: expected a 1000x2000 image, got {None if img is None else img.shape}")
    res.items.append(Item("digits/opencv_digits.png", deb_source("opencv-doc", versions["opencv-doc"]),
                          debian_license("opencv-doc"),
                          note="5000 digits 20x20, 50 rows x 100 cols; rows 5k..5k+4 are digit k"))
    return res
