"""``rsuite fernn train|bench|demo`` — flow-equivariant RNNs (FERNN-V1, FERNN-V2) against the G-RNN
baseline on moving handwritten digits.

  train   train one model (next-frame prediction + digit classification) and write
          OUT.safetensors + OUT.json (its card); e.g.
              rsuite fernn train --model fernn-v1 --steps 300 --out weights/fernn-v1
  bench   the benchmark table on held-out digits (test MSE, 40-frame rollouts, unseen velocities,
          accuracy, equivariance error, time per step), JSON and plots in --out (default out/bench/fernn)
  demo    predict a moving-digits sequence with each model, write a figure (default out/fernn-demo.png; the folder is made)

Without the data files (``make data``) the digits are rendered in fonts; ``--data-root`` (default
$RSUITE_DATA, else data/) points to them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from apps.common import UserError, add_common_args, atomic_output, check_output, make_folder, pick_device
from recurrent.registry import WEIGHTS_DIR, record_metrics, resolve_weights, write_card

MODELS = ("fernn-v1", "fernn-v2", "grnn")
DEMO_WEIGHTS = list(MODELS)
DEMO_OUTPUTS = ["fernn.png"]
FIGURE_SUFFIXES = (".png", ".jpg", ".pdf", ".svg")


def _data_root(path: Path | None) -> Path:
    from vision.paths import default_data_root

    if path is not None and not path.is_dir():
        raise UserError(f"{path}: no such data folder (--data-root)")
    return path if path is not None else default_data_root()


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsuite fernn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs = parser.add_subparsers(dest="job", required=True, metavar="{train,bench,demo}")

    train = jobs.add_parser("train", help="train one model and write its weights and card")
    train.add_argument("--model", choices=MODELS, default="fernn-v1")
    train.add_argument("--config", default="{}", help='JSON overrides of the model config, e.g. \'{"hidden_channels": 16}\'')
    train.add_argument("--out", type=Path, required=True, help="output stem: writes OUT.safetensors and OUT.json")
    train.add_argument("--steps", type=int, default=300, help="optimiser steps")
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument("--task", choices=("predict", "classify", "both"), default="both")
    train.add_argument("--size", type=int, default=28, help="canvas side, px")
    train.add_argument("--digit-px", type=int, default=14, help="digit size, px")
    train.add_argument("--vmax", type=int, default=1, help="training velocities |vx|, |vy| <= VMAX px/frame")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    train.add_argument("--data-root", type=Path, default=None)
    train.add_argument("--init-from", default=None, help="start from these weights (shipped name, path or Lightning .ckpt)")
    train.add_argument("--checkpoint-dir", type=Path, default=None,
                       help="save DIR/last.ckpt every 100 steps and resume from it when it exists")
    add_common_args(train)

    bench = jobs.add_parser("bench", help="benchmark table, JSON and plots")
    bench.add_argument("--weights", nargs="+", default=list(MODELS), help="shipped names or paths (default: the three shipped)")
    bench.add_argument("--n", type=int, default=256, help="test sequences")
    bench.add_argument("--n-per-velocity", type=int, default=32, help="sequences per velocity of the heat map")
    bench.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    bench.add_argument("--data-root", type=Path, default=None)
    bench.add_argument("--out", type=Path, default=Path("out/bench/fernn"), help="folder for fernn.json and the plots")
    bench.add_argument("--write-card", action="store_true", help="store the metrics in each weights' card (the full "
                       "benchmark, on handwritten digits)")
    add_common_args(bench)

    demo = jobs.add_parser("demo", help="predict one sequence with each model, write a PNG")
    demo.add_argument("--weights", nargs="+", default=list(MODELS))
    demo.add_argument("--velocity", type=int, nargs=2, default=None, metavar=("VX", "VY"), help="every digit's velocity (px/frame)")
    demo.add_argument("--frames", type=int, default=20, help="sequence length (10 observed, the rest predicted; trained with 20)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--data-root", type=Path, default=None)
    demo.add_argument("--out", type=Path, default=Path("out/fernn-demo.png"))
    add_common_args(demo)
    return parser


def command_line() -> str:
    """The command as typed (for cards and JSON): ``rsuite fernn …`` or ``python bench/fernn.py …``."""
    argv = sys.argv
    if "fernn" in argv[1:3]:  # rsuite fernn …, python -m apps.cli fernn …
        return "rsuite fernn " + shlex.join(argv[argv.index("fernn") + 1 :])
    script = os.path.relpath(argv[0]) if argv[0].endswith(".py") else argv[0]
    return "python " + shlex.join([script, *argv[1:]])


# --------------------------------------------------------------------------------------------- train


def train(args: argparse.Namespace) -> int:
    try:
        overrides = json.loads(args.config)
    except json.JSONDecodeError as error:
        raise UserError(f"--config: not JSON ({error})") from None
    if not isinstance(overrides, dict):
        raise UserError("--config: must be a JSON object of config fields")
    if args.steps < 1 or args.batch_size < 1 or args.size < 4 or not 1 <= args.digit_px <= args.size or args.vmax < 0:
        raise UserError("--steps, --batch-size >= 1; --size >= 4; 1 <= --digit-px <= --size; --vmax >= 0")
    _check_threads(args.threads)
    stem = args.out.with_suffix("") if args.out.suffix in (".safetensors", ".json") else args.out
    for suffix in (".safetensors", ".json"):
        check_output(stem.with_name(stem.name + suffix), args.force)
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from recurrent.registry import WeightsError, save_weights
    from vision.fernn.lit import FERNNSystem, MovingDigitsData

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    L.seed_everything(args.seed, verbose=False)
    try:
        system = FERNNSystem(args.model, overrides, task=args.task, lr=args.lr, init_from=args.init_from)
    except TypeError as error:
        raise UserError(f"--config: {error}") from None
    except RuntimeError as error:  # load_state_dict: the weights were trained with another config
        lines = [line.strip() for line in str(error).splitlines()]
        detail = next((line for line in lines if line.startswith(("size mismatch", "Missing key", "Unexpected key"))), lines[0])
        raise UserError(f"--init-from {args.init_from}: the weights do not fit this --config ({detail[:160]}); give the "
                        "config they were trained with (a shipped weights' card holds it: weights/NAME.json)") from None
    except (WeightsError, FileNotFoundError, KeyError) as error:
        raise UserError(f"--init-from {args.init_from}: {str(error).splitlines()[0]}") from None
    data = MovingDigitsData(
        str(_data_root(args.data_root)), size=args.size, digit_px=args.digit_px, vmax=args.vmax,
        train_samples=args.steps * args.batch_size, val_samples=64, batch_size=args.batch_size, seed=args.seed,
    )
    trainer = L.Trainer(
        max_steps=args.steps, max_epochs=1, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
        logger=False, enable_checkpointing=args.checkpoint_dir is not None, enable_progress_bar=not args.quiet,
        enable_model_summary=False, gradient_clip_val=1.0, num_sanity_val_steps=0, limit_val_batches=1.0, deterministic=False,
        callbacks=[ModelCheckpoint(dirpath=args.checkpoint_dir, save_last=True, every_n_train_steps=100)] if args.checkpoint_dir else None,
    )
    last = args.checkpoint_dir / "last.ckpt" if args.checkpoint_dir else None
    start = time.perf_counter()
    trainer.fit(system, data, ckpt_path=str(last) if last and last.exists() else None)
    minutes = (time.perf_counter() - start) / 60
    val = {k.removeprefix("val/"): round(float(v), 6) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    source = data.train_set.bank.source
    card = save_weights(
        system.model.cpu(), stem, model_name=args.model,
        data=MovingDigitsData.SOURCES if source == "handwritten" else [{"name": "digits in matplotlib's DejaVu fonts", "license": "Bitstream Vera / DejaVu"}],
        command=command_line(), metrics={}, metrics_command="",
    )
    card["train_data"] = {"size": args.size, "digit_px": args.digit_px, "vmax": args.vmax, "digits": source}
    write_card(stem.with_name(stem.name + ".json"), card)
    if not args.quiet:
        print(f"{args.model}: {card['num_params']} parameters, {args.steps} steps in {minutes:.1f} min, "
              f"validation {json.dumps(val)} -> {stem}.safetensors (run `rsuite fernn bench --write-card` for its metrics)")
    return 0


# --------------------------------------------------------------------------------------------- bench


def _load(names: list[str], device: torch.device) -> dict:
    from apps.models import WeightsError, load_model
    from vision.fernn.model import FERNN

    models = {}
    for name in names:
        if Path(name).stem in models:
            raise UserError(f"{name}: two weights named {Path(name).stem!r}")
        try:
            models[Path(name).stem] = load_model(name, device=device, kind=FERNN)
        except WeightsError as error:
            raise UserError(str(error)) from None
    return models


def bench(args: argparse.Namespace) -> int:
    from vision.fernn.data import MovingDigitsConfig, load_glyph_bank
    from vision.fernn.report import BenchSettings, evaluate, format_table, plot

    if args.n < 1 or args.n_per_velocity < 1:
        raise UserError("--n and --n-per-velocity must be at least 1")
    _check_threads(args.threads)
    settings = BenchSettings(n=args.n, n_per_velocity=args.n_per_velocity)
    if args.write_card and settings != BenchSettings():
        raise UserError(f"--write-card stores the benchmark's metrics: measure them with the default --n {BenchSettings.n} "
                        f"--n-per-velocity {BenchSettings.n_per_velocity}")
    json_path, plot_path = args.out / "fernn.json", args.out / "fernn.png"
    for path in (json_path, plot_path):
        if path.exists() and not args.force:
            raise UserError(f"{path}: already exists (use --force to replace it)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    models = _load(args.weights, device)
    make_folder(args.out)
    cards = {name: json.loads(resolve_weights(path)[1].read_text()) for name, path in zip(models, args.weights)}
    trained_on = {_trained_data(card) for card in cards.values()}
    if len(trained_on) > 1:
        raise UserError(f"the weights were trained on different canvases (size, digit px): {sorted(trained_on)}")
    size, digit_px = trained_on.pop()
    data_root = _data_root(args.data_root)
    bank = load_glyph_bank(data_root, "test", digit_px)
    if args.write_card and bank.source != "handwritten":
        raise UserError(f"--write-card: no handwritten test digits in {data_root} (run `make data`); "
                        "the cards hold metrics on held-out handwritten digits, not the font fallback")
    data_config = MovingDigitsConfig(size=size, digit_px=digit_px)
    results = {}
    for name, model in models.items():
        start = time.perf_counter()
        results[name] = evaluate(model, bank, data_config, settings, device=str(device))
        if not args.quiet:
            print(f"{name}: evaluated in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    table = format_table(results, settings)
    print(table)
    command = command_line()
    with atomic_output(json_path, args.force) as tmp:
        report = {"command": command, "digits": bank.source, "data": asdict(data_config), "settings": asdict(settings), "results": results}
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_output(plot_path, args.force) as tmp:
        plot(results, settings, tmp)
    print(f"wrote {json_path} and {plot_path}")
    if args.write_card:
        for name, path in zip(cards, args.weights):
            r = results[name]
            metrics = {
                "test_mse_10to10": round(r["test_mse"], 6),
                "len40_mse_mean": round(r["len_mse_mean"], 6),
                "len40_mse_last": round(r["len_mse_last"], 6),
                **{f"vgen_mse_v{k}": round(v, 6) for k, v in r["vgen_ring_mse"].items()},
                "set_accuracy": round(r["accuracy"], 4),
                "digit_accuracy": round(r["digit_accuracy"], 4),
                "equivariance_error_f64": max(r["equivariance_error"].values()),
                "ms_per_step_cpu": round(r["ms_per_step"], 3),
                "digits": bank.source,
            }
            record_metrics(path, metrics, command)
        print("metrics written to the cards")
    return 0


def _check_threads(threads: int) -> None:
    if threads < 0:
        raise UserError(f"--threads {threads}: give a number of threads, or 0 for torch's default")


def _trained_data(card: dict) -> tuple[int, int]:
    """(canvas size, digit px) the model was trained on (the card's ``train_data``; default 28, 14)."""
    data = card.get("train_data", {})
    return int(data.get("size", 28)), int(data.get("digit_px", 14))


# ---------------------------------------------------------------------------------------------- demo


def _demo_sequence(data_root: Path, size: int, digit_px: int, frames: int, velocity, seed: int) -> torch.Tensor:
    from vision.fernn.data import MovingDigitsConfig, load_glyph_bank, render_sequence

    bank = load_glyph_bank(data_root, "test", digit_px)
    config = MovingDigitsConfig(size=size, frames=frames, digit_px=digit_px)
    sequence, _, _ = render_sequence(np.random.default_rng(seed), bank, config, tuple(velocity) if velocity else None)
    return torch.from_numpy(sequence)[None]


def demo_main(args: argparse.Namespace) -> int:
    from vision.fernn.report import rollout_figure

    if args.frames < 11:
        raise UserError("--frames must be at least 11 (10 observed, then predicted)")
    if args.out.suffix.lower() not in FIGURE_SUFFIXES:
        raise UserError(f"{args.out}: the figure needs one of the suffixes {', '.join(FIGURE_SUFFIXES)}")
    device = pick_device(args.device)
    make_folder(args.out.parent)  # as bench makes its folder: out/ on a first run
    check_output(args.out, args.force)
    models = _load(args.weights, device)
    size, digit_px = _trained_data(json.loads(resolve_weights(args.weights[0])[1].read_text()))
    frames = _demo_sequence(_data_root(args.data_root), size, digit_px, args.frames, args.velocity, args.seed)
    with atomic_output(args.out, args.force) as tmp:
        errors = rollout_figure(models, frames, 10, tmp)
    if not args.quiet:
        print("  ".join(f"{name} MSE {mse:.2e}" for name, mse in errors.items()) + f" -> {args.out}")
    return 0


def demo(samples: Path, out: Path, args: argparse.Namespace) -> str:
    """For ``rsuite demo``: the three models on one held-out sequence at an unseen velocity (2, 1), 10 → 10."""
    from vision.fernn.report import rollout_figure

    models = _load(DEMO_WEIGHTS, torch.device("cpu"))
    size, digit_px = _trained_data(json.loads((WEIGHTS_DIR / f"{DEMO_WEIGHTS[0]}.json").read_text()))
    frames = _demo_sequence(_data_root(None), size, digit_px, 20, (2, 1), 0)
    with atomic_output(out / "fernn.png", force=True) as tmp:
        errors = rollout_figure(models, frames, 10, tmp)
    return ", ".join(f"{name} MSE {mse:.1e}" for name, mse in errors.items()) + f" -> {out / 'fernn.png'}"


def main(args: argparse.Namespace) -> int:
    return {"train": train, "bench": bench, "demo": demo_main}[args.job](args)


if __name__ == "__main__":
    from apps.cli import run

    sys.exit(run("fernn", sys.argv[1:]))
