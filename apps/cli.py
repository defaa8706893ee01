"""``rsuite``: one command for every job. ``rsuite JOB --help`` shows a job's options.

Each job is a module ``apps.<job>`` with ``get_parser()`` and ``main(args)``; ``python -m apps.<job>``
runs it the same way.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys

from apps.common import EXIT_BAD_INPUT, run_job

# job name -> (module, what it does, issue that builds it)
JOBS: dict[str, tuple[str, str, str]] = {
    "upscale-video": ("apps.upscale_video", "upscale a video ×4 with FRVSR", "#4"),
    "separate-speech": ("apps.separate_speech", "separate two voices in a recording (Conv-TasNet by default while it beats our MossFormer2)", "#5"),
    "read-digits": ("apps.read_digits", "read digit strings in images (ResNet + BiLSTM + CTC)", "#3"),
    "fit-raptor": ("apps.fit_raptor", "fit a block-recurrent Raptor surrogate to a ViT", "#6"),
    "fernn": ("apps.fernn", "flow-equivariant RNNs: train, benchmark, demo", "#7"),
    "train": ("apps.train", "train a system with Lightning (resumable, multi-GPU)", "#2"),
    "demo": ("apps.demo", "run every job that has shipped weights on bundled samples", "#2"),
    "info": ("apps.info", "installed weights, torch/CUDA versions, the device `auto` picks", "#2"),
}


def is_built(job: str) -> bool:
    return importlib.util.find_spec(JOBS[job][0]) is not None


def usage() -> str:
    lines = ["usage: rsuite JOB [options]   (rsuite JOB --help for a job's options)", "", "jobs:"]
    for job, (_, summary, issue) in JOBS.items():
        state = "" if is_built(job) else f"   [not built yet, issue {issue}]"
        lines.append(f"  {job:<16} {summary}{state}")
    return "\n".join(lines)


def run(job: str, argv: list[str]) -> int:
    """Parse ``argv`` with the job's parser and run it under the app conventions."""
    module = importlib.import_module(JOBS[job][0])
    parser = module.get_parser()
    parser.prog = f"rsuite {job}"
    return run_job(parser.prog, module.main, parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else EXIT_BAD_INPUT
    job, rest = argv[0], argv[1:]
    if job not in JOBS:
        close = difflib.get_close_matches(job, list(JOBS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"rsuite: error: unknown job {job!r}{hint}\n\n{usage()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not is_built(job):
        print(f"rsuite {job}: not built yet (issue {JOBS[job][2]})", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run(job, rest)


if __name__ == "__main__":
    sys.exit(main())
