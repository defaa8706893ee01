"""Speech separation: the shipped MossFormer2 vs Conv-TasNet (same data, same budget) vs doing nothing.

Test sets (none of their speakers is trained on):
  heldout-real  two-speaker mixtures of real held-out recordings (LibriSpeech readers, CMU ARCTIC aew/axb,
                fsdd speaker theo; ``audio.mossformer2.data.heldout_real_mixtures``), 6 s, 0 / ±2.5 dB
  speechbrain   the 4 real mixtures of ``speech/speechbrain_separation`` (4-7 s)

Metric: SI-SNRi in dB (PIT, zero-mean) through the app's path (``separate``: chunks of 8 s, 2 s overlap).
Doing nothing (the mixture as every estimate) scores 0 dB SI-SNRi by definition; its SI-SNR is shown.
Speed: real-time factor and peak resident memory separating 10, 60 and 600 s of audio on this machine
(each length in a fresh process); with ``--device cuda`` also the peak GPU memory the model allocates.

    python bench/separation.py --data-root data [--weights mossformer2-xs] [--baseline convtasnet-xs]
        [--device cpu|cuda] [--write-card]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from apps.models import WeightsError, load_model
from audio.mossformer2.data import heldout_real_mixtures, speechbrain_mixtures
from audio.mossformer2.losses import PITLoss, si_snr
from audio.mossformer2.separate import separate
from recurrent.registry import record_metrics

SPEED_SECONDS = (10, 60, 600)


def score(model, items) -> dict[str, float]:
    """Mean SI-SNRi (dB) and the mixtures' own SI-SNR over (mixture (T,), sources (S, T)) items."""
    gains, inputs = [], []
    for mixture, sources in items:
        estimates = separate(mixture, model.config.sample_rate, model, match_loudness=False).cpu()
        _, perm = PITLoss()(estimates.unsqueeze(0), sources.unsqueeze(0))
        estimates = PITLoss.reorder(estimates.unsqueeze(0), perm)[0]
        base = si_snr(mixture.expand_as(sources), sources)
        gains.append((si_snr(estimates, sources) - base).mean())
        inputs.append(base.mean())
    return {"si_snri": float(torch.stack(gains).mean()), "mixture_si_snr": float(torch.stack(inputs).mean())}


def profile(weights: str, seconds: int, device: str = "cpu") -> dict[str, float]:
    """Separate ``seconds`` of speech-like audio in this process on ``device``: real-time factor, peak RSS
    (MiB) and, on CUDA, the peak GPU memory allocated (MiB; timed after one warm-up second)."""
    model = load_model(weights, device=device)
    rate = model.config.sample_rate
    torch.manual_seed(0)
    t = torch.arange(seconds * rate) / rate
    audio = 0.1 * torch.sin(2 * torch.pi * 220 * t) * torch.sin(2 * torch.pi * 3 * t) + 0.05 * torch.randn(t.shape)
    cuda = device.startswith("cuda")
    if cuda:
        separate(audio[:rate].to(device), rate, model)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    separate(audio.to(device), rate, model)
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    result = {"rtf": elapsed / seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if cuda:
        result["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def speed(weights: str, threads: int, device: str = "cpu") -> dict[int, dict[str, float]]:
    results = {}
    for seconds in SPEED_SECONDS:
        code = (f"import json, torch; torch.set_num_threads({threads}); from bench.separation import profile; "
                f"print(json.dumps(profile({weights!r}, {seconds}, {device!r})))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        results[seconds] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--weights", default="mossformer2-xs")
    parser.add_argument("--baseline", default="convtasnet-xs", help="Conv-TasNet weights trained with the same budget")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the card keeps CPU figures only)")
    parser.add_argument("--write-card", action="store_true", help="store the metrics in the weights' card")
    args = parser.parse_args()
    if args.write_card and args.device != "cpu":
        parser.error("--write-card keeps this CPU's figures: run it with --device cpu")
    torch.set_num_threads(args.threads)
    models = {args.weights: load_model(args.weights, device=args.device)}
    try:
        models[args.baseline] = load_model(args.baseline, device=args.device)
    except WeightsError as error:
        print(f"baseline skipped: {error}")
    rate = models[args.weights].config.sample_rate
    sets = {
        "heldout-real": [(m, s) for _, m, s in heldout_real_mixtures(args.data_root, rate)],
        "speechbrain": speechbrain_mixtures(args.data_root, rate),
    }
    rows = {name: {key: score(model, items) for key, items in sets.items() if items} for name, model in models.items()}
    print(f"\nSI-SNRi (dB), higher is better; doing nothing = 0 dB   [{args.weights} vs {args.baseline}]")
    width = max(16, *(len(name) + 2 for name in rows))  # a weights path can be longer than a column
    print(f"{'set':<14}{'n':>4}{'mixture SI-SNR':>16}" + "".join(f"{name:>{width}}" for name in rows))
    for key, items in sets.items():
        if items:
            first = rows[args.weights][key]
            print(f"{key:<14}{len(items):>4}{first['mixture_si_snr']:>16.2f}" + "".join(f"{r[key]['si_snri']:>{width}.2f}" for r in rows.values()))
    metrics = {f"{key}_si_snri": round(value["si_snri"], 2) for key, value in rows[args.weights].items()}
    if args.baseline in rows:
        metrics.update({f"{key}_si_snri_{args.baseline}": round(v["si_snri"], 2) for key, v in rows[args.baseline].items()})
    if not args.no_speed:
        print(f"\nspeed on {args.device} ({args.threads} threads): real-time factor (lower is faster), peak memory")
        for seconds, result in speed(args.weights, args.threads, args.device).items():
            gpu = f"   GPU peak {result['gpu_peak_mib']:.0f} MiB" if "gpu_peak_mib" in result else ""
            print(f"  {seconds:>4} s: RTF {result['rtf']:.3f}   peak {result['peak_mib']:.0f} MiB{gpu}")
            metrics[f"rtf_{seconds}s"] = round(result["rtf"], 3)
            metrics[f"peak_mib_{seconds}s"] = round(result["peak_mib"])
    if args.write_card:
        card_path = record_metrics(args.weights, metrics, "python bench/separation.py " + " ".join(sys.argv[1:]))
        print(f"metrics written to {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
