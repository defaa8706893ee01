"""Part ``photos``: photographs from Debian wallpaper packages and scikit-image."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2

from .common import Item, PartResult, apt_ensure, deb_source, debian_license, pip_ensure


# Photographs (chosen by looking at every image; the rest of these packages is vector art).
MATE_PHOTO_DIR = "/usr/share/backgrounds/mate/nature"
PLASMA_PHOTOS = ["BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                 "FallenLeaf", "Grey", "OneStandsOut", "Path", "summer_1am"]
# scikit-image's bundled photographs and their licences (from the skimage.data docstrings).
SKIMAGE_PHOTOS = {
    "astronaut.png": "public domain (NASA)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "rocket.jpg": "public domain (SpaceX)",
    "motorcycle_left.png": "Middlebury 2014 stereo benchmark (Scharstein et al.); no licence stated",
    "motorcycle_right.png": "Middlebury 2014 stereo benchmark (Scharstein et al.); no licence stated",
    "hubble_deep_field.jpg": "public domain (NASA)",
}
MAX_SIDE = 1920


def _save_photo(src: Path, dst_stem: Path) -> Path | None:
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)  # 8-bit BGR; drops alpha, expands grey
    if img is None:
        return None
    h, w = img.shape[:2]
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    jpg = src.suffix.lower() in (".jpg", ".jpeg")
    dst = dst_stem.with_suffix(".jpg" if jpg else ".png")
    dst.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(dst), img, [cv2.IMWRITE_JPEG_QUALITY, 95] if jpg else [cv2.IMWRITE_PNG_COMPRESSION, 6])
    return dst


def _plasma_license(name: str) -> str:
    base = Path("/usr/share/wallpapers") / name
    meta = base / "metadata.json"
    if meta.exists():
        kp = json.loads(meta.read_text()).get("KPlugin", {})
        authors = ", ".join(a.get("Name", "") for a in kp.get("Authors", []))
        return f"{kp.get('License', 'unknown')} ({authors})" if authors else kp.get("License", "unknown")
    desk = base / "metadata.desktop"
    if desk.exists():
        m = re.search(r"^X-KDE-PluginInfo-License=(.+)$", desk.read_text(errors="replace"), re.M)
        if m:
            return m.group(1).strip()
    return debian_license("plasma-workspace-wallpapers")


def build_photos(out: Path, shared: Path) -> PartResult:
    res = PartResult()
    rows = []

    def add(src: Path, stem: str, source: str, lic: str) -> None:
        dst = _save_photo(src, out / stem)
        if dst is None:
            res.missing.append(f"photos/{stem}: cannot read {src}")
            return
        h, w = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED).shape[:2]
        rows.append((dst.name, source, lic, str(w), str(h), str(src)))

    versions = apt_ensure(["mate-backgrounds", "plasma-workspace-wallpapers"])
    if v := versions.get("mate-backgrounds"):
        lic = debian_license("mate-backgrounds")
        for src in sorted(Path(MATE_PHOTO_DIR).glob("*.jp*g")):
            add(src, f"mate_{src.stem}", deb_source("mate-backgrounds", v), lic)
    else:
        res.missing.append("photos: mate-backgrounds not available")
    if v := versions.get("plasma-workspace-wallpapers"):
        for name in PLASMA_PHOTOS:
            imgs = [p for p in (Path("/usr/share/wallpapers") / name / "contents/images").glob("*")
                    if p.is_file() and p.stat().st_size > 0 and re.match(r"\d+x\d+$", p.stem)]
            imgs = [p for p in imgs if int(p.stem.split("x")[0]) >= int(p.stem.split("x")[1])] or imgs
            if not imgs:
                res.missing.append(f"photos: plasma wallpaper {name} not found")
                continue
            best = max(imgs, key=lambda p: int(p.stem.split("x")[0]) * int(p.stem.split("x")[1]))
            add(best, f"plasma_{name}", deb_source("plasma-workspace-wallpapers", v), _plasma_license(name))
    else:
        res.missing.append("photos: plasma-workspace-wallpapers not available")
    skv = pip_ensure("skimage", "scikit-image")
    if skv:
        import skimage
        data_dir = Path(skimage.__file__).parent / "data"
        for fname, lic in SKIMAGE_PHOTOS.items():
            src = data_dir / fname
            if src.exists():  # only images bundled in the wheel: nothing is fetched with pooch
                add(src, f"skimage_{Path(fname).stem}", f"pypi:scikit-image=={skv}", lic)
            else:
                res.missing.append(f"photos: {fname} not bundled with scikit-image {skv}")
    else:
        res.missing.append("photos: scikit-image not installable")
    with open(out / "index.tsv", "w") as f:
        f.write("file\tsource\tlicense\twidth\theight\toriginal\n")
        f.writelines("\t".join(r) + "\n" for r in rows)
    groups: dict[tuple[str, str], list] = {}
    for r in rows:
        groups.setdefault((r[1], r[2]), []).append(r)
    for (source, lic), rs in groups.items():
        res.items.append(Item("photos", source, lic, len(rs), sum((out / r[0]).stat().st_size for r in rs),
                              note=" ".join(r[0] for r in rs)))
    return res
