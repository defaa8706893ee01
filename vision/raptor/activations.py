"""Teacher token states of an image set, cached on disk in chunks so large sets stream.

``extract`` writes ``FOLDER/chunk_00000.safetensors …``, each with ``states`` (L + 1, b, N, C) float16 and
``labels`` (b,) int64 and, as metadata, the fingerprint of what they are the states of (teacher parameters,
images, labels), plus ``FOLDER/meta.json`` (count, shapes, prefix tokens, fingerprint of the whole cache).
``ActivationChunks`` iterates the cached images one chunk at a time (chunk order shuffled per epoch when
``shuffle``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch.utils.data import IterableDataset

from vision.raptor.teacher import token_states


@torch.no_grad()
def extract(
    teacher, images: torch.Tensor, labels: torch.Tensor, folder: str | Path, chunk: int = 512,
    batch_size: int = 128, device: str | torch.device = "cpu", on_batch: Callable[[int], None] | None = None,
) -> dict:
    """Cache the states of ``images`` (B, C, H, W) under ``folder``, resumably: a chunk already there is
    kept only if it holds the states of the same images by the same teacher (its fingerprint), and chunks
    beyond ``images`` are removed, so a cache reused with another teacher, other images or fewer of them
    holds exactly these. Returns the meta dict."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    teacher = teacher.to(device).eval()
    teacher_print = fingerprint(*teacher.state_dict().values())
    starts = range(0, len(images), chunk)
    for path in folder.glob("chunk_*.safetensors"):
        index = path.stem.removeprefix("chunk_")
        if not index.isdigit() or int(index) >= len(starts):  # surplus, or not one of ours (read by every reader)
            path.unlink()
    prints = []
    for index, begin in enumerate(starts):
        path = folder / f"chunk_{index:05d}.safetensors"
        end = min(begin + chunk, len(images))
        prints.append(fingerprint(images[begin:end], labels[begin:end], salt=teacher_print))
        if not path.exists() or _chunk_print(path) != prints[-1]:
            parts = [token_states(teacher, images[i : min(i + batch_size, end)].to(device)).half().cpu()
                     for i in range(begin, end, batch_size)]
            tmp = path.with_name(path.name + ".partial")
            save_file({"states": torch.cat(parts, 1).contiguous(), "labels": labels[begin:end].contiguous()}, str(tmp),
                      metadata={"fingerprint": prints[-1]})
            tmp.chmod(0o666 & ~_umask())  # safetensors writes files private (0600); a cache may be shared
            tmp.replace(path)
        if on_batch:
            on_batch(end - begin)
    states = load_file(str(folder / "chunk_00000.safetensors"))["states"]
    meta = {"count": len(images), "chunk": chunk, "layers": states.shape[0], "tokens": states.shape[2],
            "dim": states.shape[3], "num_prefix": int(teacher.num_prefix_tokens), "fingerprint": fingerprint(salt="".join(prints))}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _umask() -> int:
    umask = os.umask(0o077)  # reading the umask means setting it; briefly the strictest
    os.umask(umask)
    return umask


def fingerprint(*tensors: torch.Tensor, salt: str = "") -> str:
    """SHA-1 of ``salt`` and the tensors' values (on the CPU), in order."""
    digest = hashlib.sha1(salt.encode())
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _chunk_print(path: Path) -> str | None:
    try:
        with safe_open(str(path), "pt") as chunk_file:
            return (chunk_file.metadata() or {}).get("fingerprint")
    except (SafetensorError, OSError):  # a damaged chunk: redone
        return None


def load_states(folder: str | Path, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` cached images (all by default): states (L + 1, B, N, C) float32, labels (B,)."""
    states, labels, total = [], [], 0
    for path in sorted(Path(folder).glob("chunk_*.safetensors")):
        data = load_file(str(path))
        states.append(data["states"].float())
        labels.append(data["labels"])
        total += len(data["labels"])
        if limit is not None and total >= limit:
            break
    return torch.cat(states, 1)[:, :limit], torch.cat(labels)[:limit]


class ActivationChunks(IterableDataset):
    """Items ``(states (L + 1, N, C) float32, label)`` from a cache folder, chunk by chunk."""

    def __init__(self, folder: str | Path, shuffle: bool = True, seed: int = 0):
        self.paths = sorted(Path(folder).glob("chunk_*.safetensors"))
        if not self.paths:
            raise FileNotFoundError(f"{folder}: no cached activations (chunk_*.safetensors)")
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.paths), generator=g) if self.shuffle else torch.arange(len(self.paths))
        for i in order.tolist():
            data = load_file(str(self.paths[i]))
            items = torch.randperm(len(data["labels"]), generator=g) if self.shuffle else range(len(data["labels"]))
            for j in items:
                yield data["states"][:, j].float(), data["labels"][j]
