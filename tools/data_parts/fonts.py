"""Part ``fonts``: printed, handwriting-style and segment-display fonts from Debian packages, each checked
to draw the ten digits."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import cv2
import numpy as np

from .common import Item, PartResult, apt_ensure, deb_source, debian_license, dpkg_files, say


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
