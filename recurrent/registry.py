"""Model registry and self-describing weights.

A *builder* is a function ``builder(**config_overrides) -> nn.Module`` registered under a name with
:func:`register_model`; the model it returns carries its config dataclass as ``model.config``.

Shipped weights are two files in ``weights/``: ``<name>.safetensors`` (the state dict, usually stored
in float16) and ``<name>.json``, the card::

    {"name": "crnn-digits", "model": "<registered builder>", "config": {<dataclass fields>},
     "num_params": 123, "sha256": "<of the .safetensors file>", "dtype": "float16",
     "data": [{"name": ..., "license": ...}], "command": "<exact training command>",
     "metrics": {...}, "metrics_command": "<exact command that measured them>"}

:func:`load_model` checks the file's sha256, rebuilds the model from the card's config, checks the
parameter count and loads the tensors (cast to float32); any mismatch raises :class:`WeightsError`
naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

WEIGHTS_DIR = Path(os.environ.get("RSUITE_WEIGHTS", Path(__file__).resolve().parents[1] / "weights"))

CARD_FIELDS: dict[str, type] = {
    "name": str,
    "model": str,
    "config": dict,
    "num_params": int,
    "sha256": str,
    "dtype": str,
    "data": list,
    "command": str,
    "metrics": dict,
    "metrics_command": str,
}

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}

Config = TypeVar("Config")


class WeightsError(Exception):
    """A weights file or card is missing, corrupt or does not match its model."""


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a builder under ``name``; a name can be registered once."""

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def get_model(name: str, **config: Any) -> nn.Module:
    """Build the registered model ``name``, overriding fields of its default config."""
    if name not in _BUILDERS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models()) or 'none'}")
    return _BUILDERS[name](**config)


def make_config(default: Config, overrides: dict[str, Any]) -> Config:
    """``dataclasses.replace`` that accepts JSON values (lists become tuples where the field is a tuple)
    and names unknown fields in its error."""
    fields = {f.name for f in dataclasses.fields(default)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"{type(default).__name__} has no field(s) {', '.join(unknown)}")
    fixed = {
        key: tuple(value) if isinstance(value, list) and isinstance(getattr(default, key), tuple) else value
        for key, value in overrides.items()
    }
    return dataclasses.replace(default, **fixed)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_weights(
    model: nn.Module,
    path: str | Path,
    *,
    model_name: str,
    data: list[dict[str, str]],
    command: str,
    metrics: dict[str, Any],
    metrics_command: str,
    dtype: torch.dtype = torch.float16,
) -> dict[str, Any]:
    """Write ``<path>.safetensors`` and its card ``<path>.json``; returns the card.

    ``path`` may end in ``.safetensors`` or be the stem. Floating tensors are stored as ``dtype``.
    """
    stem = Path(path).with_suffix("") if str(path).endswith(".safetensors") else Path(path)
    tensors = {
        key: (value.to(dtype) if value.is_floating_point() else value).detach().cpu().contiguous()
        for key, value in model.state_dict().items()
    }
    weights_path = stem.with_name(stem.name + ".safetensors")
    _replace_atomically(weights_path, lambda tmp: save_file(tensors, str(tmp)))
    card = {
        "name": stem.name,
        "model": model_name,
        "config": dataclasses.asdict(model.config),
        "num_params": count_params(model),
        "sha256": sha256_of(weights_path),
        "dtype": str(dtype).removeprefix("torch."),
        "data": data,
        "command": command,
        "metrics": metrics,
        "metrics_command": metrics_command,
    }
    write_card(stem.with_name(stem.name + ".json"), card)
    return card


def write_card(path: str | Path, card: dict[str, Any]) -> None:
    """Write a card as indented JSON, atomically (a reader never sees half a card)."""
    _replace_atomically(Path(path), lambda tmp: tmp.write_text(json.dumps(card, indent=2) + "\n"))


def record_metrics(name_or_path: str | Path, metrics: dict[str, Any], command: str) -> Path:
    """Store ``metrics`` and the ``command`` that measured them in the card of shipped weights (a name or a
    path to either file); returns the card's path."""
    _, card_path = resolve_weights(name_or_path)
    card = read_card(card_path)
    card["metrics"], card["metrics_command"] = metrics, command
    write_card(card_path, card)
    return card_path


def read_card(path: str | Path) -> dict[str, Any]:
    """Read and validate a card (``<name>.json``); raises :class:`WeightsError` naming the file."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"{path}: card not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path}: unreadable card ({error})") from None
    if not isinstance(card, dict):
        raise WeightsError(f"{path}: card is not a JSON object")
    for field, kind in CARD_FIELDS.items():
        if not isinstance(card.get(field), kind):
            raise WeightsError(f"{path}: card field {field!r} missing or not a {kind.__name__}")
    return card


def resolve_weights(name_or_path: str | Path, weights_dir: str | Path = WEIGHTS_DIR) -> tuple[Path, Path]:
    """Paths ``(weights, card)`` for a shipped name (``crnn-digits``) or a path to either file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".safetensors", ".json") or candidate.parent != Path("."):
        stem = candidate.with_suffix("") if candidate.suffix in (".safetensors", ".json") else candidate
    else:
        stem = Path(weights_dir) / str(name_or_path)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def load_model(
    name_or_path: str | Path,
    device: str | torch.device = "cpu",
    weights_dir: str | Path = WEIGHTS_DIR,
    kind: type[nn.Module] | tuple[type[nn.Module], ...] | None = None,
) -> nn.Module:
    """Build a model from its card and load its verified weights, in eval mode, float32, on ``device``.
    ``kind``: the model class(es) the caller can use; weights of another model raise :class:`WeightsError`."""
    weights_path, card_path = resolve_weights(name_or_path, weights_dir)
    card = read_card(card_path)
    if not weights_path.is_file():
        raise WeightsError(f"{weights_path}: weights file not found")
    if sha256_of(weights_path) != card["sha256"]:
        raise WeightsError(f"{weights_path}: sha256 does not match its card (corrupt or replaced file)")
    try:
        model = get_model(card["model"], **card["config"])
    except (KeyError, TypeError) as error:
        raise WeightsError(f"{card_path}: cannot build the model ({error})") from None
    if kind is not None and not isinstance(model, kind):
        wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise WeightsError(f"{name_or_path}: {card['model']} weights ({type(model).__name__}), not {wanted} weights")
    if count_params(model) != card["num_params"]:
        raise WeightsError(
            f"{card_path}: config builds {count_params(model)} parameters, card says {card['num_params']}"
        )
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{weights_path}: unreadable safetensors file ({error})") from None
    reference = model.state_dict()
    if set(state) != set(reference) or any(state[k].shape != reference[k].shape for k in reference):
        raise WeightsError(f"{weights_path}: tensors do not match the model built from {card_path.name}")
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
    return model.to(device).eval()


def model_state(source: str) -> dict[str, torch.Tensor]:
    """A model's state dict from a Lightning checkpoint (``.ckpt``, the system's ``model.`` submodule) or
    from shipped weights (name or path), e.g. to start a training run from them."""
    if source.endswith(".ckpt"):
        state = torch.load(source, map_location="cpu", weights_only=True)["state_dict"]
        return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    return load_model(source).state_dict()


def build_model(name: str, config: dict[str, Any] | None = None, init_from: str | None = None) -> nn.Module:
    """A registered model with ``config`` overrides, starting from the weights of ``init_from`` when given
    (a Lightning checkpoint or shipped weights: :func:`model_state`) — how every training system begins."""
    model = get_model(name, **(config or {}))
    if init_from:
        model.load_state_dict(model_state(init_from))
    return model


def list_weights(weights_dir: str | Path = WEIGHTS_DIR) -> list[dict[str, Any]]:
    """The cards in ``weights_dir`` (invalid ones raise :class:`WeightsError`)."""
    return [read_card(path) for path in sorted(Path(weights_dir).glob("*.json"))]
