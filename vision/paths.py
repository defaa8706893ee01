"""Where training data lives (``--data-root``, else ``$RSUITE_DATA``, else ``data/``, which ``make data`` fills),
and the image files in a folder, listed the one way every app and dataset lists them."""

import os
import re
from pathlib import Path

# a GIF is read as its first frame
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"})


def default_data_root() -> Path:
    return Path(os.environ.get("RSUITE_DATA", "data"))


def natural_key(path: Path) -> list:
    """Sort key for paths: case-insensitive, runs of digits by value (``frame2`` before ``frame10``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """The image files (``IMAGE_SUFFIXES``, any case) in ``folder``, or anywhere below it with ``recursive``,
    in natural order; hidden files and folders (a name starting with ".", as macOS's ``._x.png``) are skipped;
    empty when ``folder`` is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob("*") if recursive else folder.iterdir()
    images = (p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return sorted((p for p in images if not any(part.startswith(".") for part in p.relative_to(folder).parts)), key=natural_key)
