"""CTC decoding for the digit reader: greedy (best path) and prefix beam search, with an optional
length range and a per-string confidence.

Conventions: log-probabilities ``(T, C)`` per image with the blank at index 0 and digit d at d + 1;
strings are returned as text (``"2250"``).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.nn.functional as F

from vision.digits.model import BLANK


def labels_to_text(labels: list[int] | torch.Tensor) -> str:
    return "".join(str(int(k) - 1) for k in labels)


def text_to_labels(text: str) -> list[int]:
    return [int(ch) + 1 for ch in text]


def greedy_decode(log_probs: torch.Tensor) -> str:
    """Best path: argmax per step, merge repeats, drop blanks. ``log_probs``: (T, C)."""
    best = log_probs.argmax(-1).tolist()
    labels = [k for i, k in enumerate(best) if k != BLANK and (i == 0 or k != best[i - 1])]
    return labels_to_text(labels)


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high = max(a, b)
    return high + math.log1p(math.exp(-abs(a - b)))


def beam_decode(
    log_probs: torch.Tensor, beam: int = 8, min_len: int = 0, max_len: int | None = None, prune: float = -12.0
) -> str:
    """CTC prefix beam search (Hannun et al. 2014) over ``log_probs`` (T, C).

    Keeps ``beam`` prefixes, each with the log-probability of ending in a blank and in a non-blank;
    prefixes longer than ``max_len`` are dropped, and the answer is the most probable prefix whose length
    is at least ``min_len`` (empty string if none). Symbols with log-probability below ``prune`` at a step
    are not expanded.
    """
    lp = log_probs.detach().double().cpu()
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (blank, non-blank)
    for t in range(lp.shape[0]):
        step = lp[t].tolist()
        candidates = [k for k in range(1, len(step)) if step[k] > prune]
        grown: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_blank, p_symbol) in beams.items():
            p_total = _logsumexp(p_blank, p_symbol)
            entry = grown[prefix]
            entry[0] = _logsumexp(entry[0], p_total + step[BLANK])
            if prefix:
                entry[1] = _logsumexp(entry[1], p_symbol + step[prefix[-1]])  # repeat collapses
            for k in candidates:
                if max_len is not None and len(prefix) >= max_len:
                    break
                extended = grown[prefix + (k,)]
                # a repeated symbol only extends the prefix after a blank
                source = p_blank if prefix and prefix[-1] == k else p_total
                extended[1] = _logsumexp(extended[1], source + step[k])
        ranked = sorted(grown.items(), key=lambda item: -_logsumexp(*item[1]))
        beams = {prefix: (scores[0], scores[1]) for prefix, scores in ranked[:beam]}
    finals = [(prefix, _logsumexp(*scores)) for prefix, scores in beams.items() if len(prefix) >= min_len]
    if not finals:
        return ""
    return labels_to_text(max(finals, key=lambda item: item[1])[0])


def decode_string(log_probs: torch.Tensor, beam: int = 1, min_len: int = 0, max_len: int | None = None) -> str:
    """``log_probs`` (T, C) to a string: greedy, or prefix beam search when ``beam`` > 1 or a length range
    is set (with a beam of at least 2, since the best path alone cannot be held to a range)."""
    if min_len > 0 or max_len is not None:
        return beam_decode(log_probs, beam=max(beam, 2), min_len=min_len, max_len=max_len)
    return beam_decode(log_probs, beam=beam) if beam > 1 else greedy_decode(log_probs)


def string_probability(log_probs: torch.Tensor, lengths: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """P(text | image) summed over all CTC alignments, used as the confidence of a reading.

    Args:
        log_probs: (B, T, C); lengths: (B,) valid time steps; texts: B strings of digits.
    Returns:
        (B,) probabilities in [0, 1] (0 when the text cannot be aligned in the available steps).
    """
    targets = [torch.tensor(text_to_labels(t), dtype=torch.long) for t in texts]
    target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    flat = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long)
    nll = F.ctc_loss(
        log_probs.float().transpose(0, 1), flat, lengths, target_lengths, blank=BLANK, reduction="none"
    )
    return torch.exp(-nll).nan_to_num(0.0).clamp(0, 1)
