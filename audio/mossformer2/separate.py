"""Separate recordings of any length, sample rate and channel count with a trained separator.

Long inputs go through the model in chunks of ``chunk_s`` seconds overlapping by ``overlap_s``; each
chunk's speakers are put in the order of the previous chunk's by the permutation that best correlates
their estimates over the overlap (PIT over the overlap), then the chunks are cross-faded linearly
(overlap-add). Model memory is that of one chunk; the waveforms themselves are held whole.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torchaudio.functional as AF
from torch import nn

from audio.convtasnet import model as _registers_convtasnet  # noqa: F401  (registers convtasnet*)
from audio.mossformer2 import model as _registers_models  # noqa: F401  (registers mossformer2*)
from audio.mossformer2.losses import PITLoss
from recurrent.registry import load_model

# The shipped separator that separates real held-out speakers best (README, bench/separation.py): Conv-TasNet-xs
# (3.8 dB SI-SNRi; MossFormer2-xs 1.6 dB and below doing nothing on the speechbrain mixtures, so not the default
# until it measures better).
DEFAULT_WEIGHTS = "convtasnet-xs"
MIN_SECONDS = 0.25  # shorter input is refused: too little to separate
SILENCE_RMS = 1e-5  # quieter input (about −100 dBFS) is refused as silent


def _neg_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(S, T), (S, T) -> (1, S, S) negative normalised correlation of every row of ``a`` with every row of ``b``."""
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    a = a / (a.norm(dim=-1, keepdim=True) + 1e-8)
    b = b / (b.norm(dim=-1, keepdim=True) + 1e-8)
    return -(a @ b.T).unsqueeze(0)


@torch.no_grad()
def separate_mono(
    mixture: torch.Tensor,
    model: nn.Module,
    chunk: int,
    overlap: int,
    on_chunk: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Separate a mono waveform at the model's rate in overlapping chunks.

    Shape: mixture (T,) float -> (S, T) float32 on the mixture's device. ``chunk`` and ``overlap`` are in
    samples (``0 < overlap < chunk``: the overlap is what speaker order is aligned on); ``on_chunk(samples)``
    reports progress.
    """
    if not 0 < overlap < chunk:
        raise ValueError(f"need 0 < overlap < chunk, got overlap={overlap}, chunk={chunk}")
    device = next(model.parameters()).device
    total = mixture.shape[-1]
    hop = chunk - overlap
    starts = list(range(0, max(total - overlap, 1), hop))
    fade_in = torch.linspace(0, 1, overlap + 2, device=device)[1:-1]
    out, previous = None, None
    for start in starts:
        piece = mixture[start : start + chunk].to(device=device, dtype=torch.float32)
        estimates = model(piece.unsqueeze(0))[0].float()  # (S, n)
        if out is None:
            out = torch.zeros(estimates.shape[0], total, device=device)
        shared = overlap if previous is not None else 0  # every chunk but the last is whole, so > overlap
        if shared:
            _, perm = PITLoss.best_permutation(_neg_correlation(estimates[:, :shared], previous[:, -shared:]))
            estimates = estimates[perm[0]]
            out[:, start : start + shared] *= 1 - fade_in
            estimates[:, :shared] *= fade_in
        out[:, start + shared : start + piece.shape[-1]] = estimates[:, shared:]
        out[:, start : start + shared] += estimates[:, :shared]
        previous = estimates[:, : piece.shape[-1]]
        if on_chunk:
            on_chunk(piece.shape[-1] - shared)
    return out.to(mixture.device)


def mono_mixture(waveform: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
    """(T,) or (C, T) tensor or array -> mono float32 (T,) (channels averaged); ``ValueError`` if laid out
    (T, C), empty, shorter than ``MIN_SECONDS``, not finite (NaN or inf) or silent (RMS under ``SILENCE_RMS``)."""
    waveform = torch.as_tensor(waveform)
    if waveform.ndim == 2 and waveform.shape[0] > waveform.shape[1] and waveform.shape[0] >= MIN_SECONDS * sample_rate:
        raise ValueError(f"expected (C, T), channels first, got {tuple(waveform.shape)}: transpose a (T, C) array")
    if waveform.ndim == 2:
        waveform = waveform.float().mean(0)
    if waveform.ndim != 1 or waveform.numel() == 0:
        raise ValueError(f"expected a non-empty (T,) or (C, T) waveform, got {tuple(waveform.shape)}")
    if waveform.numel() < MIN_SECONDS * sample_rate:
        raise ValueError(f"too short: {waveform.numel() / sample_rate:.3f} s (need at least {MIN_SECONDS} s)")
    waveform = waveform.float()
    if not torch.isfinite(waveform).all():
        raise ValueError("holds NaN or infinite samples")
    if waveform.pow(2).mean().sqrt() < SILENCE_RMS:
        raise ValueError("silent: the recording holds no signal to separate")
    return waveform


def separate(
    waveform: torch.Tensor | np.ndarray,
    sample_rate: int,
    model: nn.Module | None = None,
    chunk_s: float = 8.0,
    overlap_s: float = 2.0,
    match_loudness: bool = True,
    on_chunk: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Separate the speakers of a recording.

    Args:
        waveform: (T,) mono or (C, T) multichannel float in [−1, 1] (tensor or array); channels are averaged.
        sample_rate: Hz of ``waveform``; it is resampled to the model's rate and the sources back.
        model: a separator with ``config.sample_rate``; default: the shipped ``DEFAULT_WEIGHTS`` on the CPU.
        match_loudness: scale every source to the mixture's RMS level (the model's output scale is arbitrary).

    Returns:
        (S, T) float32 sources at ``sample_rate``, as many samples as the input.
    """
    waveform = mono_mixture(waveform, sample_rate)
    level = waveform.pow(2).mean().sqrt()
    model = model if model is not None else load_model(DEFAULT_WEIGHTS)
    rate = model.config.sample_rate
    mono = AF.resample(waveform, sample_rate, rate) if sample_rate != rate else waveform
    sources = separate_mono(mono, model, round(chunk_s * rate), round(overlap_s * rate), on_chunk)
    if sample_rate != rate:
        sources = AF.resample(sources, rate, sample_rate)[:, : waveform.numel()]
        sources = torch.nn.functional.pad(sources, (0, waveform.numel() - sources.shape[-1]))
    if match_loudness:
        sources = sources * (level / (sources.pow(2).mean(-1, keepdim=True).sqrt() + 1e-8))
    return sources
