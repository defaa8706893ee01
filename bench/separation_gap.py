"""Where a separator generalises: SI-SNRi on two-speaker mixtures of speakers it trained on and of speakers held
out of training, per source of training speech, beside the benchmark's held-out real speakers.

Every group's mixtures are built like the benchmark's (``audio.mossformer2.data.pair_mixtures``: each speaker's
recordings joined with 0.1 s pauses, 6 s, equal RMS, the second voice at 0 / +2.5 / −2.5 dB, every pair), from up
to ``--speakers`` speakers of one source (``engine`` in the voice indexes, or fsdd) and split (``train``: speakers
of the training split; ``val``: held out by the every-8th rule), drawn with a fixed seed. A source is
synthetic (flite, espeak-ng, festival's diphone voices built from real speakers) or real recordings (KLettres'
letters and syllables, the Asterisk prompt readers' continuous speech, fsdd's spoken digits). A diagnostic, not a
benchmark: training-split groups measure fit (for weights that trained on that source), groups of a few speakers
swing by dB with the speakers drawn, and no choice is made on it.

    python -m bench.separation_gap --data-root data [--weights convtasnet-xs mossformer2-xs] [--speakers 6]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from apps.models import load_model
from audio.mossformer2.data import (
    RECORDED_SOURCES, heldout_real_mixtures, list_utterances, load_audio, pair_mixtures, speaker_track,
)
from bench.separation import score

SEGMENT_S = 6.0


def source_groups(data_root: Path, sample_rate: int, speakers: int, seed: int = 0) -> dict[tuple[str, str], dict]:
    """{(source, split): {speaker: unit-RMS track (SEGMENT_S · rate,)}} for every source and split with at least
    two speakers; up to ``speakers`` speakers each, their recordings in a seeded random order."""
    rng = np.random.default_rng(seed)
    groups = {}
    for split in ("train", "val"):
        by_speaker: dict[str, list[Path]] = {}
        for utterance in list_utterances(data_root, split):
            by_speaker.setdefault(utterance.speaker, []).append(utterance.path)
        for source in sorted({name.split(":")[0] for name in by_speaker}):
            names = sorted(name for name in by_speaker if name.split(":")[0] == source)
            if len(names) < 2:
                continue
            chosen = [names[i] for i in sorted(rng.choice(len(names), min(speakers, len(names)), replace=False))]
            groups[(source, split)] = {name: _track(by_speaker[name], sample_rate, rng) for name in chosen}
    return groups


def _track(paths: list[Path], sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Recordings in random order until SEGMENT_S is covered, as one track."""
    recordings, total = [], 0
    for index in rng.permutation(len(paths)):
        recordings.append(load_audio(paths[index], sample_rate))
        total += len(recordings[-1])
        if total >= SEGMENT_S * sample_rate:
            break
    return speaker_track(recordings, sample_rate, SEGMENT_S)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--weights", nargs="+", default=["convtasnet-xs", "mossformer2-xs"])
    parser.add_argument("--speakers", type=int, default=6, help="speakers per source and split (pairs: n(n-1)/2)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = {name: load_model(name) for name in args.weights}
    rate = next(iter(models.values())).config.sample_rate
    sets = {("benchmark held-out real", "—", "real"): [(m, s) for _, m, s in heldout_real_mixtures(args.data_root, rate)]}
    for (source, split), tracks in source_groups(args.data_root, rate, args.speakers).items():
        kind = "real" if source in RECORDED_SOURCES else "synthetic"
        sets[(source, "train split" if split == "train" else "held out", kind)] = [(m, s) for _, m, s in pair_mixtures(tracks)]
    print(f"{'speakers':<24} {'split':<10} {'kind':<9} {'n':>3} | " + " | ".join(f"{name:>14}" for name in models))
    for (source, split, kind), items in sets.items():
        if not items:
            continue
        gains = [score(model, items)["si_snri"] for model in models.values()]
        print(f"{source:<24} {split:<10} {kind:<9} {len(items):>3} | " + " | ".join(f"{g:>11.2f} dB" for g in gains))
    return 0


if __name__ == "__main__":
    sys.exit(main())
