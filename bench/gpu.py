"""Inference of every system three ways: eager fp32 PyTorch, eager with the fused Triton kernels, and
compiled (``recurrent.compile.compile_for``: CUDA graphs on a GPU) — under bf16 autocast on CUDA, in
fp32 on the CPU (where bf16 is slower than fp32 without AMX).

Each row times the same inputs on one device and compares outputs with the eager fp32 reference
(relative L2 error ‖a − b‖ / ‖b‖). "fused" is only run on CUDA (elsewhere the fused blocks are the
reference). Sizes: on CUDA the issue's targets (FRVSR 480×270 → 1920×1080; the full 55.7 M MossFormer2
on 10 s at 8 kHz); ``--cpu`` shrinks every input so a dry run of the whole script takes minutes.

    python bench/gpu.py [--cpu] [--out DIR]     # DIR/gpu_bench.{md,json}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from apps.models import load_model
from recurrent.backend import backend
from recurrent.compile import compile_for
from recurrent.registry import get_model


@dataclass
class Case:
    name: str
    model: torch.nn.Module
    target: Callable  # what gets compiled: the module or one of its methods
    drive: Callable  # drive(target_fn, *inputs) -> output tensor
    inputs: tuple
    unit: str  # what one run processes, e.g. "frames"
    amount: float  # how many of them
    fullgraph: bool = True  # False where nn.LSTM stays eager (cuDNN)


def _stream(step: Callable, frames: torch.Tensor) -> torch.Tensor:
    state = None
    for frame in frames:
        hr, state = step(frame, state)
    return hr


def _call(fn: Callable, *inputs: torch.Tensor) -> torch.Tensor:
    out = fn(*inputs)
    return out[0] if isinstance(out, tuple) else out


def cases(device: torch.device, small: bool) -> list[Case]:
    def dev(x: torch.Tensor) -> torch.Tensor:
        return x.to(device)

    frvsr = load_model("frvsr-x4").to(device).eval()
    frames, (h, w) = (4, (36, 64)) if small else (10, (270, 480))
    full = get_model("mossformer2-xs" if small else "mossformer2").to(device).eval()
    seconds = 2 if small else 10
    digits = load_model("crnn-digits").to(device).eval()
    surrogate = load_model("raptor-fmnist-k2").to(device).eval()
    fernn = load_model("fernn-v1").to(device).eval()
    batch = 8 if small else 256
    return [
        Case(f"frvsr-x4 {w}x{h}->x4", frvsr, frvsr.step, _stream, (dev(torch.rand(frames, 1, 3, h, w)),), "frames", frames),
        Case(f"mossformer2{'-xs' if small else ''} {seconds}s 8kHz", full, full, _call,
             (dev(torch.randn(1, seconds * 8000) * 0.1),), "audio s", seconds),
        Case(f"crnn-digits batch {batch}", digits, digits, _call, (dev(torch.rand(batch, 1, 32, 128)),), "images", batch,
             fullgraph=False),
        Case(f"raptor-k2 batch {batch}", surrogate, surrogate, _call, (dev(torch.randn(batch, 21, 192)),), "images", batch),
        Case(f"fernn-v1 batch {batch // 4}", fernn, fernn.classify, _call,
             (dev(torch.rand(batch // 4, 10, 1, 32, 32)),), "clips", batch // 4),
    ]


def timed(run: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> tuple[float, torch.Tensor]:
    """Seconds per run (median of ``repeats`` after two warm-up runs, which absorb compilation) and the output."""
    out = run()
    out = run()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], out.float()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def measure(case: Case, device: torch.device, repeats: int) -> dict:
    cuda = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    compiled = compile_for(case.target, device, fullgraph=case.fullgraph)
    row = {"case": case.name, "unit": case.unit, "amount": case.amount}
    with torch.inference_mode():
        with backend("torch"):
            row["eager_s"], reference = timed(lambda: case.drive(case.target, *case.inputs), device, repeats)
        if cuda:
            with backend("auto"):
                row["fused_s"], fused = timed(lambda: case.drive(case.target, *case.inputs), device, repeats)
            row["fused_err"] = relative_error(fused, reference)
        with autocast:
            row["compiled_s"], fast = timed(lambda: case.drive(compiled, *case.inputs), device, repeats)
    row["compiled_err"] = relative_error(fast, reference)
    row["speedup"] = row["eager_s"] / row["compiled_s"]
    return row


def table(rows: list[dict], device: str) -> str:
    lines = [
        f"device: {device}",
        f"| case | eager fp32 | fused fp32 (err) | compiled {'bf16' if 'CPU' not in device else 'fp32'} (err) | speedup | compiled throughput |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        fused = f"{r['fused_s'] * 1e3:.1f} ms ({r['fused_err']:.0e})" if "fused_s" in r else "—"
        rate = r["amount"] / r["compiled_s"]
        rtf = f", RTF {r['compiled_s'] / r['amount']:.4f}" if r["unit"] == "audio s" else ""
        lines.append(
            f"| {r['case']} | {r['eager_s'] * 1e3:.1f} ms | {fused} | {r['compiled_s'] * 1e3:.1f} ms "
            f"({r['compiled_err']:.0e}) | {r['speedup']:.2f}× | {rate:.1f} {r['unit']}/s{rtf} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="dry run on the CPU with small inputs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write gpu_bench.md and gpu_bench.json here")
    args = parser.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        parser.error("no CUDA GPU here; use --cpu for a dry run")
    device = torch.device("cpu" if args.cpu else "cuda")
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    rows = []
    for case in cases(device, small=args.cpu):
        rows.append(measure(case, device, args.repeats))
        print(json.dumps(rows[-1]), flush=True)
    text = table(rows, name)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_bench.md").write_text(text + "\n")
        (args.out / "gpu_bench.json").write_text(json.dumps({"device": name, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
