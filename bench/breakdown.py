"""Where the time goes: per-block inference time and the top operators of a training step, per system.

Inference: forward hooks time every submodule, summed per module class (inclusive: a class's time
contains the classes nested in it; a recurrent block called T times counts T times), as a share of
the whole forward. Training:
``torch.profiler`` over forward + backward of the training loss's forward (self CPU time per aten
operator). Same inputs as ``bench/gpu.py --cpu``; prints Markdown for ``bench/README.md``.

    python -m bench.breakdown [--top 8]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from bench.gpu import cases


def block_times(case) -> tuple[float, dict[str, float]]:
    """Whole-forward seconds and inclusive seconds per submodule class."""
    spent: dict[str, float] = defaultdict(float)
    started: dict[str, list[float]] = defaultdict(list)
    handles = []
    for module in list(case.model.modules())[1:]:
        name = type(module).__name__
        handles.append(module.register_forward_pre_hook(lambda m, a, n=name: started[n].append(time.perf_counter())))
        handles.append(module.register_forward_hook(lambda m, a, o, n=name: spent.__setitem__(n, spent[n] + time.perf_counter() - started[n].pop())))
    with torch.inference_mode():
        case.drive(case.target, *case.inputs)  # warm-up
        spent.clear()
        start = time.perf_counter()
        case.drive(case.target, *case.inputs)
        total = time.perf_counter() - start
    for handle in handles:
        handle.remove()
    return total, dict(spent)


def training_ops(case, top: int) -> list[tuple[str, float]]:
    """Share of self CPU time per aten operator over one forward + backward."""
    case.model.train()
    inputs = [x.clone().requires_grad_(x.is_floating_point()) for x in case.inputs]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        case.drive(case.target, *inputs).float().square().mean().backward()
    case.model.eval()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events)
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return [(e.key, e.self_cpu_time_total / total) for e in ranked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    print(f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    for case in cases(torch.device("cpu"), small=True):
        total, spent = block_times(case)
        blocks = sorted(spent.items(), key=lambda kv: kv[1], reverse=True)[: args.top]
        ops = training_ops(case, args.top)
        print(f"**{case.name}** — inference {total * 1e3:.0f} ms")
        print("- blocks: " + ", ".join(f"`{n}` {t / total:.0%}" for n, t in blocks))
        print("- training ops: " + ", ".join(f"`{n[6:]}` {share:.0%}" for n, share in ops) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
