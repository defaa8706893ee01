"""``rsuite info``: installed weights (name, parameters, metrics from the card, integrity), torch and CUDA
versions, and the device that ``--device auto`` picks."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from apps.common import UserError, add_common_args, atomic_output, pick_device
from recurrent.registry import WEIGHTS_DIR, WeightsError, read_card, resolve_weights, sha256_of


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsuite info", description=__doc__)
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help="folder of <name>.safetensors + .json")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--output", type=Path, help="also write the JSON report to this file")
    add_common_args(parser, device=False)
    return parser


def weights_report(weights_dir: Path) -> list[dict[str, Any]]:
    """One entry per card: name, model, params, metrics and ``status`` (ok, or what is wrong). A JSON file
    that is not a card (a fit-raptor ``report.json``) is skipped unless weights of its name sit beside it."""
    entries = []
    for card_path in sorted(weights_dir.glob("*.json")):
        weights_path, _ = resolve_weights(card_path)
        try:
            card = read_card(card_path)
        except WeightsError as error:
            if weights_path.is_file():
                entries.append({"name": card_path.stem, "status": str(error)})
            continue
        if not weights_path.is_file():
            status = f"{weights_path.name} missing"
        else:
            status = "ok" if sha256_of(weights_path) == card["sha256"] else "sha256 mismatch"
        entries.append({k: card[k] for k in ("name", "model", "num_params", "metrics")} | {"status": status})
    return entries


def build_report(weights_dir: Path) -> dict[str, Any]:
    if not weights_dir.is_dir():
        raise UserError(f"{weights_dir}: " + ("not a folder" if weights_dir.exists() else "weights folder does not exist"))
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "auto_device": str(pick_device("auto")),
        "weights_dir": str(weights_dir),
        "weights": weights_report(weights_dir),
    }


def format_metrics(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())


def format_params(count: int) -> str:
    """``2.16 M``, or below 100,000 the count itself (``1,987``)."""
    return f"{count / 1e6:.2f} M" if count >= 100_000 else f"{count:,}"


def print_report(report: dict[str, Any]) -> None:
    cuda = f"CUDA {report['cuda_version']}" if report["cuda_available"] else "no CUDA device"
    print(f"python {report['python']}, torch {report['torch']}, {cuda}; --device auto -> {report['auto_device']}")
    for gpu in report["gpus"]:
        print(f"  GPU: {gpu}")
    print(f"weights in {report['weights_dir']}:")
    if not report["weights"]:
        print("  (none)")
    for entry in report["weights"]:
        params = format_params(entry["num_params"]) if "num_params" in entry else "?"
        print(f"  {entry['name']:<24} {params:>9}  [{entry['status']}]  {format_metrics(entry.get('metrics', {}))}")


def main(args: argparse.Namespace) -> int:
    report = build_report(args.weights_dir)
    if args.output:
        with atomic_output(args.output, args.force) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    elif not args.quiet:
        print_report(report)
    problems = [entry for entry in report["weights"] if entry["status"] != "ok"]
    for entry in problems:
        print(f"rsuite info: {entry['name']}: {entry['status']}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    from apps.cli import run

    sys.exit(run("info", sys.argv[1:]))
