"""Raptor on the embedded teacher: phases, per-layer R², probe accuracy of teacher vs Raptor for K = 1, 2, 3
and their ratio (the paper recovers 96 % of DINOv2-B's ImageNet probe accuracy with K = 2), fit time on
this machine. Each K is one ``rsuite fit-raptor`` run (fit on training images, R² on validation images,
probe fitted on training-image features and scored on the Fashion-MNIST test split).

    python bench/raptor.py --data-root data [--blocks 1 2 3] [--budget 20] [--out out/bench/raptor] [--write-card]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from apps.cli import main as rsuite
from apps.models import load_model
from recurrent.registry import record_metrics, write_card
from vision.raptor.data import load_fashion_mnist


@torch.no_grad()
def teacher_accuracy(name: str, data_root: Path) -> dict[str, float]:
    """The teacher's own classification accuracy on the validation and test splits."""
    model = load_model(name)
    result = {}
    for split in ("val", "test"):
        images, labels = load_fashion_mnist(data_root, split)
        predictions = torch.cat([model(images[i : i + 500]).argmax(1) for i in range(0, len(images), 500)])
        result[f"{split}_accuracy"] = round(float((predictions == labels).float().mean()), 4)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--teacher", default="vit-fmnist")
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--budget", type=float, default=20.0, help="fitting minutes per K")
    parser.add_argument("--fit-images", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=Path("out/bench/raptor"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--ship", action="store_true", help="copy each fit to weights/raptor-fmnist-kK.* with its card")
    parser.add_argument("--write-card", action="store_true", help="store the metrics in the teacher's (and shipped fits') cards")
    args = parser.parse_args()
    reports = {}
    for k in args.blocks:
        folder = args.out / f"k{k}"
        if not (folder / "report.json").exists():
            code = rsuite(["fit-raptor", "--teacher", args.teacher, "--images", "builtin", "--data-root", str(args.data_root),
                           "--blocks", str(k), "--out", str(folder), "--budget", str(args.budget),
                           "--fit-images", str(args.fit_images), "--device", args.device, "--cache", str(args.out / "cache")])
            if code:
                return code
        reports[k] = json.loads((folder / "report.json").read_text())
    accuracy = teacher_accuracy(args.teacher, args.data_root)
    print(f"\n{args.teacher}: classification accuracy val {accuracy['val_accuracy']:.4f}, test {accuracy['test_accuracy']:.4f}; "
          f"linear-probe accuracy {reports[args.blocks[0]]['probe_teacher']:.4f} (Fashion-MNIST test split)")
    print(f"{'K':>2}  {'phases':<14}{'R² mean':>9}{'R² last':>9}{'probe':>8}{'ratio':>8}{'fit min':>9}  applications")
    for k, r in reports.items():
        t = r["timings"]
        minutes = (t.get("stage1_s", 0) + t.get("stage2_s", 0)) / 60
        apps = r["block_applications"]
        print(f"{k:>2}  {str(r['phases']['schedule']):<14}{r['r2_mean']:>9.4f}{r['r2_per_layer'][-1]:>9.4f}"
              f"{r['probe_raptor']:>8.4f}{r['probe_ratio']:>8.4f}{minutes:>9.1f}  {apps['raptor']} vs {apps['teacher']}")
    print(f"max-cut phases (stop fraction {reports[args.blocks[0]]['phases']['stop_fraction']}): "
          f"{reports[args.blocks[0]]['phases']['max_cut']}")
    if args.ship:
        for k in reports:
            shutil.copyfile(args.out / f"k{k}" / "raptor.safetensors", Path("weights") / f"raptor-fmnist-k{k}.safetensors")
            card = json.loads((args.out / f"k{k}" / "raptor.json").read_text())
            card["name"] = f"raptor-fmnist-k{k}"
            write_card(Path("weights") / f"raptor-fmnist-k{k}.json", card)
        print("copied to weights/raptor-fmnist-k*.{safetensors,json}")
    if args.write_card:
        command = "python bench/raptor.py " + " ".join(sys.argv[1:])
        record_metrics(args.teacher, {**accuracy, "probe_accuracy": reports[args.blocks[0]]["probe_teacher"]}, command)
        for k, r in reports.items():
            if args.ship:
                keys = ("r2_mean", "probe_teacher", "probe_raptor", "probe_ratio")
                record_metrics(f"weights/raptor-fmnist-k{k}", {**{key: r[key] for key in keys}, "phases": r["phases"]["schedule"]}, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
