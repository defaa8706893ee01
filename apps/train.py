"""``rsuite train SYSTEM [fit|validate] [LightningCLI options]`` — train a system with Lightning.

Everything after SYSTEM goes to LightningCLI: ``--trainer.accelerator/devices/strategy/num_nodes`` pass
straight through (multi-GPU and multi-node training is Lightning's DDP), ``--ckpt_path last`` resumes,
``--print_config`` shows every option. ``rsuite train SYSTEM export CKPT NAME`` writes a Lightning
checkpoint's model to ``weights/NAME.safetensors`` with its card (metrics are filled in by ``bench/``);
``export SOURCE MORE... NAME`` writes the uniform average of several models' parameters (checkpoints of one
run, or shipped weights of the same config: checkpoint averaging, weight-space interpolation; a source given
k times counts k times, so ``A A A B`` is a quarter of the way from A to B); the first source, a checkpoint or
weights, sets the config and the card. Weights are stored in float16 (half the size); ``--float32`` stores
them whole, where a threshold on the model's output was judged at full precision.

Example::

    rsuite train digits fit --data.data_root data --trainer.max_epochs 30 \\
        --trainer.default_root_dir runs/digits --ckpt_path last
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import warnings
from pathlib import Path

import torch

from apps.common import UserError, add_common_args, check_output
from recurrent.registry import (
    WEIGHTS_DIR, WeightsError, load_model, model_state, read_card, resolve_weights, save_weights,
)

# system -> (module, LightningModule class, LightningDataModule class); the data module's SOURCES go on the card
SYSTEMS: dict[str, tuple[str, str, str]] = {
    "digits": ("vision.digits.lit", "DigitsSystem", "DigitsData"),
    "words": ("vision.digits.words_lit", "WordTaggerSystem", "WordTaggerData"),
    "fernn": ("vision.fernn.lit", "FERNNSystem", "MovingDigitsData"),
    "frvsr": ("vision.frvsr.lit", "FRVSRSystem", "FRVSRData"),
    "mossformer2": ("audio.mossformer2.lit", "SeparationSystem", "SpeechMixData"),
    "vit-teacher": ("vision.raptor.lit", "TeacherSystem", "FashionMNISTData"),
    "raptor": ("vision.raptor.lit", "RaptorSystem", "ActivationData"),
}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsuite train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("system", help=f"one of: {', '.join(SYSTEMS)}")
    parser.add_argument("cli_args", nargs=argparse.REMAINDER, help="LightningCLI arguments, or: export SOURCE [MORE...] NAME")
    add_common_args(parser, device=False, force=True)
    return parser


def system_classes(system: str):
    if system not in SYSTEMS:
        raise UserError(f"unknown system {system!r} (built: {', '.join(SYSTEMS)})")
    module_name, model_class, data_class = SYSTEMS[system]
    module = importlib.import_module(module_name)
    return getattr(module, model_class), getattr(module, data_class)


def find_run_config(checkpoint: Path) -> Path | None:
    """The ``config.yaml`` LightningCLI saved for the run that wrote ``checkpoint``."""
    for folder in checkpoint.resolve().parents[:3]:
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    return None


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform mean of floating tensors over ``states`` (same keys and shapes); other tensors from the first."""
    first = states[0]
    for other in states[1:]:
        if set(other) != set(first) or any(other[k].shape != first[k].shape for k in first):
            raise UserError("the models to average do not have the same parameters (different configs?)")
    return {
        key: torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype) if value.is_floating_point() else value
        for key, value in first.items()
    }


def _first_model(system: str, source: str) -> tuple[torch.nn.Module, str, str]:
    """(model, registered name, how it was made) from a Lightning checkpoint or from shipped weights."""
    if source.endswith(".ckpt"):
        try:
            lit = system_classes(system)[0].load_from_checkpoint(source, map_location="cpu")
        except Exception as error:  # torch.load and Lightning raise many types for a foreign or damaged file
            raise UserError(f"{source}: not a readable {system} checkpoint ({type(error).__name__}: {error})"[:300]) from None
        config = find_run_config(Path(source))
        made = f"rsuite train {system} fit --config {config}" if config else f"rsuite train {system} fit"
        return lit.model, lit.hparams["model"], made
    card = read_card(resolve_weights(source)[1])
    return load_model(source), card["model"], card["command"]


def export(
    system: str, sources: list[str], name: str, force: bool, quiet: bool = False, dtype: torch.dtype = torch.float16
) -> Path:
    """Write a model as shipped weights ``weights/<name>.*`` with a card: a checkpoint's, or the uniform
    average of the parameters of several checkpoints or weights (the first sets the config and the card);
    floating tensors stored as ``dtype`` (float16: half the size; float32 where a threshold on the model's
    output was judged at full precision)."""
    data_class = system_classes(system)[1]
    for source in sources:
        if source.endswith(".ckpt") and not Path(source).is_file():
            raise UserError(f"{source}: no such checkpoint")
    if Path(name).name in ("", ".", "..") or name.endswith("/"):
        raise UserError(f"export NAME {name!r}: give a name for the weights, e.g. crnn-digits or runs/x/name")
    weights_path = check_output(resolve_weights(name, WEIGHTS_DIR)[0], force)  # NAME, NAME.safetensors or a path
    stem = weights_path.with_name(weights_path.name.removesuffix(".safetensors"))
    try:
        model, model_name, command = _first_model(system, sources[0])
        if len(sources) > 1:
            model.load_state_dict(average_states([model.state_dict()] + [model_state(s) for s in sources[1:]]))
            command += f" && rsuite train {system} export {' '.join(sources)} {name}"
    except WeightsError as error:
        raise UserError(str(error)) from None
    except (KeyError, RuntimeError, OSError, EOFError, pickle.UnpicklingError) as error:  # a damaged later source
        raise UserError(f"{' '.join(sources)}: a source is not a readable checkpoint or weights ({type(error).__name__})") from None
    card = save_weights(
        model, stem, model_name=model_name, data=data_class.SOURCES, command=command, metrics={}, metrics_command="",
        dtype=dtype,
    )
    if not quiet:
        print(f"wrote {stem}.safetensors ({card['num_params']} parameters); run bench/ to fill in its metrics")
    return stem


def main(args: argparse.Namespace) -> int:
    if args.cli_args[:1] == ["export"]:
        rest = [a for a in args.cli_args[1:] if a not in ("--force", "--quiet", "--float32")]  # may also follow NAME
        if len(rest) < 2:
            raise UserError("usage: rsuite train SYSTEM export CKPT_OR_WEIGHTS [MORE...] NAME [--force] [--float32]")
        export(args.system, rest[:-1], rest[-1], args.force or "--force" in args.cli_args,
               quiet=args.quiet or "--quiet" in args.cli_args,
               dtype=torch.float32 if "--float32" in args.cli_args else torch.float16)
        return 0
    from lightning.pytorch.cli import LightningCLI

    model_class, data_class = system_classes(args.system)
    with warnings.catch_warnings():  # args= is how a wrapper passes them; sys.argv must stay whole for DDP's relaunch
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        LightningCLI(model_class, data_class, args=args.cli_args, save_config_kwargs={"overwrite": True},
                     parser_kwargs={"prog": f"rsuite train {args.system}"})
    return 0


if __name__ == "__main__":
    from apps.cli import run

    sys.exit(run("train", sys.argv[1:]))
