"""Part ``speech``: copies of the shared real speech."""

from __future__ import annotations

from pathlib import Path

from .common import SHARED_LICENSES, Item, PartResult, copy_tree


def build_speech(out: Path, shared: Path) -> PartResult:
    res = PartResult()
    for name in ("fsdd", "librispeech_librosa", "ami_seriously", "speechbrain_separation", "cmu_arctic_pra"):
        src = shared / "speech" / name
        if not src.is_dir():
            res.missing.append(f"speech/{name}: {src} not found")
            continue
        copy_tree(src, out / name)
        res.items.append(Item(f"speech/{name}", f"shared:speech/{name}", SHARED_LICENSES[f"speech/{name}"]))
    return res
