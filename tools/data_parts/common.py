"""Shared by the parts: what a part records, file helpers, Debian and PyPI packages."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHARED = REPO.parent / "shared" / "data"

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
