"""Where training data lives: ``--data-root``, else ``$RSUITE_DATA``, else ``data/`` (``make data`` fills it)."""

import os
from pathlib import Path


def default_data_root() -> Path:
    return Path(os.environ.get("RSUITE_DATA", "data"))
