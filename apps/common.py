"""Conventions every `rsuite` job follows.

- ``--device auto|cpu|cuda`` (auto takes CUDA when present), ``--quiet``, ``--debug``, ``--force``.
- Bad input raises :class:`UserError`: one line on stderr naming the file and the problem, exit code 2,
  no traceback unless ``--debug``.
- Outputs are written atomically (a temporary file in the same folder, then a rename) and an existing
  output is not replaced without ``--force``. Inputs are only ever read.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import torch
from tqdm import tqdm

T = TypeVar("T")

EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Bad input or a refused action; the message is shown to the user as one line."""


def add_common_args(parser: argparse.ArgumentParser, *, device: bool = True, force: bool = True) -> None:
    if device:
        parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    if force:
        parser.add_argument("--force", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summaries")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` is the first CUDA device when one is present, else the CPU; ``cpu``, ``cuda`` and ``cuda:N``
    are taken as given (the jobs run on nothing else)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name}: not a device (use auto, cpu, cuda or cuda:N)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    return device


def require_file(path: str | Path) -> Path:
    """An existing, readable regular file, or :class:`UserError`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not path.is_file():
        raise UserError(f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{path}: not readable")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file")
    return path


def check_output(path: str | Path, force: bool, folder: bool = False) -> Path:
    """Refuse to replace an existing output without ``force``, and a folder where a file is to be written
    (``folder``: the output is a folder); the parent folder must exist and be writable."""
    path = Path(path)
    if path.is_dir() and not folder:
        raise UserError(f"{path}: is a folder; give a file name")
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (use --force to replace it)")
    if path.parent.exists() and not path.parent.is_dir():
        raise UserError(f"{path.parent}: not a folder, so it cannot hold {path.name}")
    if not path.parent.is_dir():
        raise UserError(f"{path.parent}: output folder does not exist")
    try:  # a read-only or forbidden folder, found before any work rather than at the first write
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as error:
        raise UserError(f"{path.parent}: cannot write there ({error.strerror})") from None
    return path


def make_folder(path: str | Path) -> Path:
    """``path`` as a folder for outputs, made with its parents if missing; :class:`UserError` if it is a file
    or cannot be made."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{path}: cannot create the output folder ({error.strerror})") from None
    return path


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, named for this run alone; on success it replaces ``path``
    (``folder``: the output is a folder, replaced only once the new one is complete), on failure it is
    removed. A write that fails for want of space or permission is one :class:`UserError` line (naming the
    file that failed when it is not the output's: an input that cannot be read, say).

    The suffix is kept so writers that choose a format by extension (OpenCV, soundfile) still work.
    """
    path = check_output(path, force, folder)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{path.suffix}")
    try:
        yield tmp
        if folder and path.exists():
            old = tmp.with_name(tmp.name + ".old")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EFBIG):
            raise
        named = isinstance(error.filename, (str, bytes, os.PathLike))
        culprit = Path(os.fsdecode(error.filename)).absolute() if named else None
        if culprit is not None and culprit.parent != path.absolute().parent and not culprit.is_relative_to(tmp.absolute()):
            raise UserError(f"{error.filename}: {error.strerror}") from None  # not the output: an input, say
        raise UserError(f"{path}: cannot write ({error.strerror})") from None
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    """Remove a temporary file or folder of this run's, if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def progress(items: Iterable[T], quiet: bool, **kwargs) -> Iterable[T]:
    """A tqdm bar on stderr (rate and ETA), or the plain iterable when quiet."""
    return items if quiet else tqdm(items, dynamic_ncols=True, file=sys.stderr, **kwargs)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``, systemd stopping a job): unwound as Ctrl-C is, so that the
    ``finally`` of :func:`atomic_output` removes the partial output."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def run_job(prog: str, main: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run ``main(args)`` turning :class:`UserError` into one stderr line and exit code 2; Ctrl-C and SIGTERM
    end it with one line and 130 / 143, with no partial output left."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return main(args) or 0
    except UserError as error:
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        print(f"{prog}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:  # whoever read the output stopped (``| head``): end quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
