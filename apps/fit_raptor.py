"""``rsuite fit-raptor`` — is a ViT's depth block-recurrent? Find its phases, fit a Raptor surrogate of K
tied blocks applied recurrently, measure what it recovers, and plot its dynamics.

``--teacher`` is the embedded Fashion-MNIST teacher (``vit-fmnist``, shipped weights) or any timm ViT name
(``vit_small_patch14_reg4_dinov2``, …) with ``--teacher-weights FILE`` in timm or official DINOv2 format
(nothing is downloaded). ``--images`` is ``builtin`` (Fashion-MNIST from ``make data``: training images to
fit, validation images to evaluate, test images for the probe) or a folder with one subfolder of images per
class (split 60 / 20 / 20 by file name hash).

Writes into ``--out``: ``report.json`` (phases, per-layer R², probe accuracy of teacher and surrogate and
their ratio, block applications of each, timings), ``similarity.png``, ``r2.png``, ``dynamics/*.png``,
``raptor.safetensors`` + ``raptor.json`` (its card) and ``cache/`` (teacher states, or ``--cache DIR``; a
rerun reuses them and resumes the fit from ``ckpt/``). These are written once the fit is done: a rerun after
an interruption resumes without ``--force``; replacing them, or writing into a folder holding anything else,
needs ``--force``.

    rsuite fit-raptor --teacher vit-fmnist --images builtin --blocks 2 --out runs/raptor-k2 --budget 20
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from apps.common import UserError, add_common_args, atomic_output, make_folder, pick_device
from apps.models import WeightsError, list_models
from vision.paths import IMAGE_SUFFIXES

DEMO_WEIGHTS = ["vit-fmnist", "raptor-fmnist-k2"]
DEMO_OUTPUTS = ["fit-raptor-similarity.png"]
OUTPUTS = ("report.json", "similarity.png", "r2.png", "dynamics", "raptor.safetensors", "raptor.json")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsuite fit-raptor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="vit-fmnist", help="vit-fmnist or a timm ViT name")
    parser.add_argument("--teacher-weights", type=Path, default=None, help="local checkpoint (timm or DINOv2 format)")
    parser.add_argument("--images", default="builtin", help="'builtin' (Fashion-MNIST) or a folder of class subfolders")
    parser.add_argument("--data-root", type=Path, default=None, help="for --images builtin (default $RSUITE_DATA or data/)")
    parser.add_argument("--blocks", type=int, default=2, help="K, distinct blocks (= phases)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--budget", type=float, default=20.0, help="fitting minutes (both stages together)")
    parser.add_argument("--fit-images", type=int, default=10000, help="images whose teacher states are fitted")
    parser.add_argument("--eval-images", type=int, default=2000, help="held-out images for phases, R² and the probe")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache", type=Path, default=None, help="teacher-state cache to use or fill (default OUT/cache; "
                        "share one between fits of the same teacher and images)")
    parser.add_argument("--stop-fraction", type=float, default=0.1, help="recursive max-cut stop (share of the total)")
    add_common_args(parser)
    return parser


def _split(path: Path) -> str:
    bucket = int(hashlib.sha1(path.name.encode()).hexdigest(), 16) % 5
    return "fit" if bucket < 3 else ("eval" if bucket == 3 else "test")


def folder_images(folder: Path, teacher) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Images of a folder of class subfolders, resized and normalised for ``teacher``, split fit/eval/test."""
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise UserError(f"{folder}: needs one subfolder of images per class (found {len(classes)})")
    transform = create_transform(**resolve_data_config({}, model=teacher))
    splits: dict[str, tuple[list, list]] = {"fit": ([], []), "eval": ([], []), "test": ([], [])}
    for label, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                image = Image.open(path).convert("RGB" if teacher.patch_embed.proj.in_channels == 3 else "L")
            except OSError as error:
                raise UserError(f"{path}: not a readable image ({error})") from None
            images, labels = splits[_split(path)]
            images.append(transform(image))
            labels.append(label)
    if any(not images for images, _ in splits.values()):
        raise UserError(f"{folder}: too few images to split into fit / eval / test")
    return {k: (torch.stack(images), torch.tensor(labels)) for k, (images, labels) in splits.items()}


def builtin_images(data_root: Path | None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from vision.paths import default_data_root
    from vision.raptor.data import load_fashion_mnist

    root = data_root or default_data_root()
    try:
        return {"fit": load_fashion_mnist(root, "train"), "eval": load_fashion_mnist(root, "val"),
                "test": load_fashion_mnist(root, "test")}
    except FileNotFoundError:
        raise UserError(f"{root}/images/fashion_mnist: not found (run `make data`)") from None


def check_out(out: Path, cache: Path, inputs: list[Path], force: bool) -> None:
    """Refuse, even with ``force``, an ``out`` that is not a folder, holds or lies in an input, holds a
    ``ckpt/`` of no fit (a fit clears it), or a file where the ``cache`` or ``dynamics/`` folder goes; without
    ``force``, one holding outputs this run would replace or anything but the teacher-state ``cache`` and
    ``ckpt/`` (what an interrupted run resumes from)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: not a folder")
    for path in inputs:
        if path.resolve().is_relative_to(out.resolve()) or out.resolve().is_relative_to(path.resolve()):
            raise UserError(f"{out}: holds or lies in the input {path}; choose another --out")
    if (out / "ckpt").exists() and not (out / "ckpt" / "fit.json").is_file():
        raise UserError(f"{out}/ckpt: not a fit-raptor checkpoint folder (no fit.json), which a fit would clear")
    for folder in (cache, out / "dynamics"):
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder}: not a folder (fit-raptor writes a folder there)")
    if not out.exists() or force:
        return
    for path in sorted(out.iterdir()):
        if path.name in OUTPUTS:
            raise UserError(f"{path}: already exists (use --force to replace it)")
        if path.name not in ("cache", "ckpt") and not cache.resolve().is_relative_to(path.resolve()):
            raise UserError(f"{out}: holds {path.name}, which fit-raptor did not write (use --force to write there anyway)")


def main(args: argparse.Namespace) -> int:
    from recurrent.registry import save_weights
    from vision.raptor import dynamics, report
    from vision.raptor.activations import extract, load_states
    from vision.raptor.fit import fit_surrogate, score
    from vision.raptor.phases import dissimilarity, optimal_phases, recursive_bisection
    from vision.raptor.surrogate import RaptorConfig
    from vision.raptor.teacher import load_teacher

    if args.blocks < 1 or args.budget <= 0 or args.fit_images < 1 or args.eval_images < 2 or args.batch_size < 1:
        raise UserError("need --blocks >= 1, --budget > 0, --fit-images >= 1, --eval-images >= 2, --batch-size >= 1")
    if not 0 < args.stop_fraction < 1:
        raise UserError(f"--stop-fraction {args.stop_fraction}: must be between 0 and 1")
    cache = args.cache or args.out / "cache"
    inputs = [Path(args.images)] if args.images != "builtin" else []
    check_out(args.out, cache, inputs + ([args.teacher_weights] if args.teacher_weights else []), args.force)
    if args.teacher_weights is not None and not args.teacher_weights.is_file():
        raise UserError(f"{args.teacher_weights}: no such file")
    import timm

    if args.teacher not in list_models() and not timm.is_model(args.teacher):
        raise UserError(f"--teacher {args.teacher}: neither shipped weights (rsuite info) nor a timm ViT name "
                        "(e.g. vit_small_patch14_reg4_dinov2)")
    if args.teacher_weights is None and args.teacher not in list_models():
        raise UserError(f"--teacher {args.teacher}: give its --teacher-weights FILE (nothing is downloaded; "
                        "an untrained ViT has no depth structure to fit)")
    device = pick_device(args.device)
    try:
        teacher = load_teacher(args.teacher, args.teacher_weights).eval()
    except (WeightsError, RuntimeError, ValueError) as error:
        raise UserError(f"--teacher {args.teacher}: {error}") from None
    if args.images == "builtin":
        if tuple(teacher.patch_embed.img_size) != (28, 28) or teacher.patch_embed.proj.in_channels != 1:
            raise UserError(f"--images builtin is 28×28 gray Fashion-MNIST; --teacher {args.teacher} takes "
                            f"{tuple(teacher.patch_embed.img_size)} images: give a folder of class subfolders")
        data = builtin_images(args.data_root)
    elif Path(args.images).is_dir():
        data = folder_images(Path(args.images), teacher)
    else:
        raise UserError(f"--images {args.images}: neither 'builtin' nor a folder")
    depth = len(teacher.blocks)
    if args.blocks > depth:
        raise UserError(f"--blocks {args.blocks}: the teacher has only {depth} layers")
    make_folder(args.out)
    timings, caches = {}, {}
    start = time.perf_counter()
    limits = {"fit": args.fit_images, "eval": args.eval_images, "test": args.eval_images}
    for split, limit in limits.items():
        images, labels = data[split][0][:limit], data[split][1][:limit]
        with tqdm(total=len(images), desc=f"teacher states ({split})", unit="img", disable=args.quiet, file=sys.stderr) as bar:
            extract(teacher, images, labels, cache / split, device=device, on_batch=bar.update)
        caches[split] = cache / split
    timings["teacher_states_s"] = round(time.perf_counter() - start, 1)

    eval_states, eval_labels = load_states(caches["eval"])
    prefix = teacher.num_prefix_tokens
    matrix = dissimilarity(eval_states[1:], prefix)  # the blocks' outputs, as the paper
    found = recursive_bisection(matrix, args.stop_fraction)
    schedule, blockiness = optimal_phases(matrix, args.blocks)

    config = RaptorConfig(dim=teacher.embed_dim, heads=teacher.blocks[0].attn.num_heads, schedule=tuple(schedule),
                          register_tokens=prefix - 1)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banners and tips, only the progress bar
    try:  # Lightning draws its bar on stdout; ours go to stderr
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec")  # Lightning's use of a torch deprecation
            warnings.filterwarnings("ignore", message="Checkpoint directory")  # on resuming from our own ckpt/
            model, fit_seconds = fit_surrogate(asdict(config), caches["fit"], caches["eval"], args.out / "ckpt", args.budget,
                                               args.batch_size, "gpu" if device.type == "cuda" else "cpu", quiet=args.quiet)
    except SystemExit:  # how Lightning ends a fit it stopped on Ctrl-C, its bar left open
        for bar in list(tqdm._instances):
            bar.close()
        raise KeyboardInterrupt from None
    timings.update(fit_seconds)
    report.plot_similarity(matrix, schedule, args.out / "similarity.png",
                           f"{args.teacher}: phases for K={args.blocks} {schedule} (max-cut finds {found})")
    model = model.cpu()
    probe_train = load_states(caches["fit"], args.eval_images)
    probe_test = load_states(caches["test"])
    scores = score(teacher.cpu(), model, caches["eval"], probe_train, probe_test)
    report.plot_curves({"R²": torch.tensor(scores["r2_per_layer"])}, args.out / "r2.png", "layer", "R²",
                       "surrogate rollout vs teacher (held-out images)", start=1)

    (args.out / "dynamics").mkdir(exist_ok=True)
    with torch.no_grad():
        rollout = model(eval_states[0, :512], return_all=True)
    labels = eval_labels[:512]
    angles = dynamics.angular_convergence(rollout, labels, prefix)
    teacher_angles = dynamics.angular_convergence(eval_states[:, :512], labels, prefix)
    report.plot_curves({"raptor, own class": angles["own"], "raptor, other": angles["other"],
                        "teacher, own class": teacher_angles["own"]}, args.out / "dynamics" / "angles.png",
                       "layer", "degrees", "angle to final class centroids")
    recovery = {f"perturb at {l}": dynamics.perturbation_recovery(model, eval_states[0, :128], l) for l in (2, depth // 2)}
    report.plot_curves(recovery, args.out / "dynamics" / "perturbation.png", "layers after",
                       "angle / initial angle", "recovery from a 10 % perturbation")
    speeds = dynamics.token_speeds(rollout, prefix)
    report.plot_curves(speeds, args.out / "dynamics" / "speeds.png", "layer", "‖Δx‖ / ‖x‖", "update size", start=1)
    ranks = {"raptor": dynamics.update_rank(rollout[:, :128]), "teacher": dynamics.update_rank(eval_states[:, :128])}
    report.plot_curves(ranks, args.out / "dynamics" / "rank.png", "layer", "stable rank", "rank of updates", start=1)

    stem = args.out / "raptor"
    save_weights(model, stem, model_name="raptor", data=[{"name": f"{args.teacher} states on {args.images} images",
                 "license": "as the images"}], command="rsuite fit-raptor " + " ".join(sys.argv[2:]),
                 metrics={k: scores[k] for k in ("r2_mean", "probe_teacher", "probe_raptor", "probe_ratio")},
                 metrics_command="rsuite fit-raptor (report.json)")
    result = {
        "teacher": args.teacher, "images": args.images, "blocks": args.blocks,
        "phases": {"schedule": schedule, "blockiness": round(blockiness, 4), "max_cut": found,
                   "stop_fraction": args.stop_fraction, "matrix": [[round(float(x), 4) for x in row] for row in matrix]},
        **scores,
        "dynamics": {"angle_own_final_deg": round(float(angles["own"][-1]), 2), "angle_other_final_deg": round(float(angles["other"][-1]), 2),
                     "perturbation_final": {k: round(float(v[-1]), 3) for k, v in recovery.items()},
                     "update_rank_raptor": [round(float(x), 2) for x in ranks["raptor"]]},
        "timings": timings, "images_used": {k: int(min(len(data[k][0]), v)) for k, v in limits.items()},
    }
    with atomic_output(args.out / "report.json", force=True) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    if not args.quiet:
        print(f"phases {schedule} (max-cut: {found}); R² mean {scores['r2_mean']:.3f}; probe teacher "
              f"{scores['probe_teacher']:.3f} raptor {scores['probe_raptor']:.3f} (ratio {scores['probe_ratio']:.3f}) "
              f"-> {args.out}/report.json", file=sys.stderr)
    return 0


def demo(samples: Path, out: Path, args: argparse.Namespace) -> str:
    """The shipped teacher and its K = 2 Raptor on the 300 bundled Fashion-MNIST test images: phases, R²
    of the rollout, and ``out/fit-raptor-similarity.png``."""
    import numpy as np

    from apps.models import load_model
    from vision.raptor import report
    from vision.raptor.data import MEAN, STD
    from vision.raptor.evaluate import r2_per_layer
    from vision.raptor.phases import dissimilarity, recursive_bisection
    from vision.raptor.teacher import token_states

    sample = np.load(samples / "fashion" / "test300.npz")
    images = (torch.from_numpy(sample["images"]).float().div(255).unsqueeze(1) - MEAN) / STD
    teacher, raptor = (load_model(name) for name in DEMO_WEIGHTS)
    with torch.no_grad():
        states = token_states(teacher, images)
        rollout = raptor(states[0], return_all=True)
    matrix = dissimilarity(states[1:], teacher.num_prefix_tokens)
    report.plot_similarity(matrix, list(raptor.config.schedule), out / "fit-raptor-similarity.png")
    r2 = r2_per_layer(rollout[1:], states[1:])
    return (f"phases (max-cut) {recursive_bisection(matrix)}, Raptor K=2 {list(raptor.config.schedule)}: "
            f"R² mean {float(r2.mean()):.3f}, last layer {float(r2[-1]):.3f} -> {out / 'fit-raptor-similarity.png'}")


if __name__ == "__main__":
    from apps.cli import run

    sys.exit(run("fit-raptor", sys.argv[1:]))
