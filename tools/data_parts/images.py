"""Part ``images``: Fashion-MNIST from Debian."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from .common import Item, PartResult, apt_ensure, deb_source, debian_license, dpkg_files

FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def build_images(out: Path, shared: Path) -> PartResult:
    """Fashion-MNIST (Debian dataset-fashion-mnist): the 70,000 labelled 28x28 images in IDX format, kept
    gzipped, for the Raptor teacher ViT."""
    res = PartResult()
    versions = apt_ensure(["dataset-fashion-mnist"])
    if "dataset-fashion-mnist" not in versions:
        res.missing.append("images/fashion_mnist: Debian dataset-fashion-mnist not available")
        return res
    found = {p.name.removesuffix(".gz"): p for p in dpkg_files("dataset-fashion-mnist") if p.is_file()}
    if missing := [f for f in FASHION_FILES if f not in found]:
        res.missing.append(f"images/fashion_mnist: {', '.join(missing)} not in dataset-fashion-mnist")
        return res
    for name in FASHION_FILES:
        dst = out / "fashion_mnist" / (name + ".gz")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if found[name].name.endswith(".gz"):
            shutil.copyfile(found[name], dst)
        else:
            with open(found[name], "rb") as f, gzip.open(dst, "wb") as g:
                shutil.copyfileobj(f, g)
    res.items.append(Item("images/fashion_mnist", deb_source("dataset-fashion-mnist", versions["dataset-fashion-mnist"]),
                          debian_license("dataset-fashion-mnist"),
                          note="Zalando Fashion-MNIST: 60,000 train + 10,000 test (t10k) 28x28 gray, 10 classes, IDX"))
    return res
