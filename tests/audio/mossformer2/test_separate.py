"""Chunked separation: overlap-add and speaker-order alignment are exact for a local separator; rates,
channels and bad input."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from audio.mossformer2.separate import separate, separate_mono


class SignSplit(nn.Module):
    """A pointwise 'separator': positive and negative half-waves (they sum to the input). Pointwise means
    chunked processing must reproduce whole-signal processing exactly. With ``swap`` it returns the two
    in the opposite order on every other call, as a real model may between chunks."""

    def __init__(self, swap: bool = False, sample_rate: int = 8000):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))
        self.config = SimpleNamespace(sample_rate=sample_rate, num_speakers=2)
        self.swap, self.calls = swap, 0

    def forward(self, mixture):
        self.calls += 1
        out = torch.stack([torch.relu(mixture), -torch.relu(-mixture)], 1) * self.weight
        return out.flip(1) if self.swap and self.calls % 2 == 0 else out


@pytest.mark.parametrize("length", [8000, 8001, 12345, 40000])
@pytest.mark.parametrize("chunk,overlap", [(4000, 1000), (3000, 200), (5000, 2499)])
@pytest.mark.parametrize("swap", [False, True])
def test_chunked_equals_whole_and_keeps_speaker_order(length, chunk, overlap, swap):
    torch.manual_seed(length)
    mixture = torch.randn(length)
    whole = SignSplit()(mixture.unsqueeze(0))[0]
    chunked = separate_mono(mixture, SignSplit(swap=swap), chunk, overlap)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=0)


def test_overlap_is_required_to_align_speakers():
    with pytest.raises(ValueError, match="overlap"):
        separate_mono(torch.randn(9000), SignSplit(), 3000, 0)


def test_progress_reports_every_sample_once():
    seen = []
    separate_mono(torch.randn(10000), SignSplit(), 3000, 500, on_chunk=seen.append)
    assert sum(seen) == 10000 and len(seen) == 4


def test_other_rates_and_channels_come_back_at_the_input_rate():
    torch.manual_seed(0)
    stereo = torch.randn(2, 16000) * 0.1
    sources = separate(stereo, 16000, SignSplit(), match_loudness=False)
    assert sources.shape == (2, 16000)
    mono = separate(stereo.mean(0), 16000, SignSplit(), match_loudness=False)
    torch.testing.assert_close(sources, mono)
    # the halves sum to the (band-limited) input: resampling down and up keeps the 0-4 kHz band
    t = torch.arange(16000) / 16000
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t)
    summed = separate(tone, 16000, SignSplit(), match_loudness=False).sum(0)
    assert (summed - tone)[200:-200].abs().max() < 1e-2


def test_loudness_matches_the_mixture():
    mixture = torch.randn(8000) * 0.05
    sources = separate(mixture, 8000, SignSplit())
    level = mixture.pow(2).mean().sqrt()
    torch.testing.assert_close(sources.pow(2).mean(-1).sqrt(), torch.full((2,), float(level)), rtol=1e-4, atol=0)


@pytest.mark.parametrize(
    "waveform,message",
    [(torch.zeros(0), "non-empty"), (torch.randn(100), "too short"), (torch.zeros(8000), "silent"), (torch.randn(2, 2, 8), "waveform"),
     (torch.randn(8000, 2), "transpose"), (torch.cat([torch.randn(7999), torch.tensor([float("nan")])]), "NaN")],
)
def test_bad_input_is_refused_with_a_reason(waveform, message):
    with pytest.raises(ValueError, match=message):
        separate(waveform, 8000, SignSplit())


def test_a_numpy_recording_separates_as_its_tensor():
    mixture = torch.randn(2, 8000) * 0.1
    torch.testing.assert_close(separate(mixture.numpy(), 8000, SignSplit()), separate(mixture, 8000, SignSplit()))
