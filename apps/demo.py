"""``rsuite demo`` — run every job that has shipped weights on the bundled samples in ``apps/samples/``,
write the results to ``out/`` and print a summary table. Jobs not built yet are listed as such; a job whose
outputs are already there is not run again without ``--force``."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from apps.cli import JOBS, is_built
from apps.common import add_common_args, make_folder
from recurrent.registry import WEIGHTS_DIR

SAMPLES = Path(__file__).resolve().parent / "samples"
APP_JOBS = [job for job in JOBS if job not in ("train", "demo", "info")]


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsuite demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the demo outputs")
    add_common_args(parser)
    return parser


def run_demo(job: str, out: Path, args: argparse.Namespace) -> tuple[str, str]:
    """(status, summary) for one job; a job's module provides ``demo(samples, out, args) -> str``,
    ``DEMO_WEIGHTS`` (the shipped weights it needs) and ``DEMO_OUTPUTS`` (the files it writes in ``out``)."""
    if not is_built(job):
        return "not built yet", f"issue {JOBS[job][2]}"
    module = importlib.import_module(JOBS[job][0])
    if not hasattr(module, "demo"):
        return "no demo", ""
    missing = [name for name in module.DEMO_WEIGHTS if not (WEIGHTS_DIR / f"{name}.safetensors").is_file()]
    if missing:
        return "no weights", f"{', '.join(missing)} not shipped yet"
    existing = [out / name for name in module.DEMO_OUTPUTS if (out / name).exists()]
    if existing and not args.force:
        return "not run", f"{existing[0]} exists (--force replaces it)"
    if not args.quiet:
        print(f"running {job} …", file=sys.stderr)
    start = time.perf_counter()
    summary = module.demo(SAMPLES, out, args)
    return "ok", f"{summary} ({time.perf_counter() - start:.1f} s)"


def main(args: argparse.Namespace) -> int:
    make_folder(args.out)
    rows = [(job, *run_demo(job, args.out, args)) for job in APP_JOBS]
    print(f"\n{'job':<16} {'status':<14} result")
    for job, status, summary in rows:
        print(f"{job:<16} {status:<14} {summary}")
    print(f"\noutputs in {args.out}/")
    return 0


if __name__ == "__main__":
    from apps.cli import run

    sys.exit(run("demo", sys.argv[1:]))
