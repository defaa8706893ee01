"""Speech for separation training: single-speaker corpora, dynamic mixing, real test mixtures.

Sources under ``DATA_ROOT`` (``make data`` assembles it):

* ``tts/index.tsv`` + ``tts/{flite,espeak}/*.wav``: synthetic voices (Debian's flite and espeak-ng, many
  voices and variants), 8 kHz; one speaker = one engine + voice.
* ``voices/index.tsv`` + ``voices/{klettres,festival}/``: more speakers, 8 kHz: KLettres' recordings of
  letters and syllables (one real reader per language, 20 languages) and festival's diphone/HTS voices
  (10 real speakers' units: English, Czech, Italian, Finnish, Catalan).
* ``prompts/index.tsv`` + ``prompts/<speaker>/``: telephone prompts read by 7 real speakers (Debian's Asterisk
  sound packages: English and Spanish by one reader, French by two, Italian by two, Russian, Colombian
  Spanish), 8 kHz, about 165 minutes.
* ``speech/fsdd/recordings/{digit}_{speaker}_{index}.wav``: 6 real speakers saying digits, 8 kHz.

Audio may be WAV or FLAC (``AUDIO_SUFFIXES``).

Held out from training, for validation: the fsdd speaker ``HELD_OUT_FSDD`` and every ``HELD_OUT_EVERY``-th
voice of each index (sorted by name), and the real meeting speakers of ``speech/ami_seriously``
(``ami_utterances``: real speech that no benchmark uses, so checkpoints can be chosen on real voices without
touching the benchmark's; with the held-out prompt and KLettres readers, ``held_out_readers``). The other real
recordings (``speech/librispeech_librosa``, ``cmu_arctic_pra``,
``speechbrain_separation``) are never trained on: they are the benchmark's.

Dynamic mixing (as SepFormer's recipe): each source is a random speaker's utterances, speed-perturbed
(``SPEED_RANGE``) and concatenated with short pauses into a track that covers the segment, randomly cropped,
optionally starting late (partial overlap), and scaled to a level drawn from N(−27.43, 2.57) dBFS clipped to
[−45, 0] (SepFormer draws loudness in LUFS with pyloudnorm; RMS level is used here); the mixture is their
sum, and all are scaled down together if its peak exceeds ``MAX_PEAK``.

Shapes: every waveform is float32 in [−1, 1] at ``sample_rate``; an item is ``(mixture (T,), sources (S, T))``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from torch.utils.data import Dataset, IterableDataset

from recurrent.streams import pass_rng, worker_share

HELD_OUT_FSDD = "theo"
HELD_OUT_EVERY = 8
VOICE_FOLDERS = ("tts", "voices", "prompts")  # each with an index.tsv of (file, engine, voice, text)
SPEED_RANGE = (0.95, 1.05)
LEVEL_DBFS = (-27.43, 2.57, -45.0, 0.0)  # mean, std, min, max
MAX_PEAK = 0.9
LATE_START = (0.3, 0.5)  # probability that a source starts late, and the latest start (fraction of the segment)
PAUSE_S = (0.05, 0.4)
MIN_UTTERANCE_S = 0.1  # shorter files (a recording trimmed to nothing) are skipped
AUDIO_SUFFIXES = (".wav", ".flac")
CLOSE_PITCH_ST = 2.0  # semitones between median pitches that make two voices alike (close-pitch mixing)
PITCH_UTTERANCES = 8  # utterances per speaker whose median pitch stands for the speaker
RECORDED_SOURCES = ("klettres", "asterisk", "fsdd")  # sources whose speech is a person's recording, not synthesis


@dataclass(frozen=True)
class Utterance:
    path: Path
    speaker: str


def list_utterances(data_root: str | Path, split: str) -> list[Utterance]:
    """Single-speaker utterances of the ``"train"`` or ``"val"`` speakers (see the module docstring)."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    root = Path(data_root)
    utterances = []
    for folder in VOICE_FOLDERS:
        index = root / folder / "index.tsv"
        if not index.is_file():
            continue
        with index.open(newline="") as f:
            rows = [row for row in csv.DictReader(f, delimiter="\t") if (root / folder / row["file"]).is_file()]
        voices = sorted({f"{row['engine']}:{row['voice']}" for row in rows})
        held = set(voices[::HELD_OUT_EVERY])
        for row in rows:
            speaker = f"{row['engine']}:{row['voice']}"
            if (speaker in held) == (split == "val"):
                utterances.append(Utterance(root / folder / row["file"], speaker))
    for path in _audio_files(root / "speech" / "fsdd" / "recordings", "*"):
        speaker = "fsdd:" + path.stem.split("_")[1]
        if (speaker == f"fsdd:{HELD_OUT_FSDD}") == (split == "val"):
            utterances.append(Utterance(path, speaker))
    return utterances


def _audio_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in AUDIO_SUFFIXES)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """A sound file as mono float32 (T,) at ``sample_rate`` (channels averaged, resampled if needed)."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != sample_rate:
        audio = AF.resample(torch.from_numpy(audio), rate, sample_rate).numpy()
    return audio


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (pitch and tempo together), by resampling."""
    return AF.resample(torch.from_numpy(audio), round(100 * factor), 100).numpy()


def median_pitch(
    audio: np.ndarray, sample_rate: int, frame_s: float = 0.04, fmin: float = 70.0, fmax: float = 400.0
) -> float:
    """Median F0 (Hz) of the voiced frames of speech, float32 (T,) at ``sample_rate``; NaN without any. A frame
    (``frame_s``) counts when louder than 0.3 of the whole recording's RMS, and is voiced when its normalised
    autocorrelation peaks above 0.5 at a lag within [``fmin``, ``fmax``]. A coarse voice descriptor for drawing
    speakers (torchaudio's ``detect_pitch_frequency`` makes no voicing decision), not a pitch tracker."""
    n = int(frame_s * sample_rate)
    frames = audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64)
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames[np.sqrt(np.mean(frames**2, axis=1)) > 0.3 * np.sqrt(np.mean(audio.astype(np.float64) ** 2))]
    if not len(frames):
        return float("nan")
    autocorrelation = np.fft.irfft(np.abs(np.fft.rfft(frames, 2 * n)) ** 2)[:, :n]
    autocorrelation /= autocorrelation[:, :1] + 1e-12
    low, high = int(sample_rate / fmax), int(sample_rate / fmin)
    lags = low + np.argmax(autocorrelation[:, low:high], axis=1)
    voiced = autocorrelation[np.arange(len(lags)), lags] > 0.5
    return float(np.median(sample_rate / lags[voiced])) if voiced.any() else float("nan")


class SpeakerBank:
    """Utterances in memory (float32 (T,) at ``sample_rate``), grouped by speaker name."""

    def __init__(
        self,
        audio: list[np.ndarray],
        speakers: list[str],
        sample_rate: int,
        source_weights: dict[str, float] | None = None,
        close_pitch_fraction: float = 0.0,
    ):
        """``source_weights``: how often a speaker is drawn, by source (the part of its name before ``:``, e.g.
        ``asterisk``), relative to 1 for sources not named; none: every speaker equally often.
        ``close_pitch_fraction``: of the mixtures, those whose other speakers are drawn among the speakers whose
        median pitch (:func:`median_pitch` of up to ``PITCH_UTTERANCES`` of their utterances) lies within
        ``CLOSE_PITCH_ST`` of the first speaker's (when there are enough): pairs of like voices, which small
        separators fail on (session 16)."""
        if len(audio) != len(speakers):
            raise ValueError(f"{len(audio)} utterances but {len(speakers)} speaker names")
        if not audio:
            raise ValueError("no utterances")
        self.sample_rate = sample_rate
        self.audio = audio
        by_speaker: dict[str, list[int]] = {}
        for i, speaker in enumerate(speakers):
            by_speaker.setdefault(speaker, []).append(i)
        self.speakers = sorted(by_speaker)
        self.by_speaker = [by_speaker[s] for s in self.speakers]
        self.draw_p = None
        if source_weights:
            weights = np.array([source_weights.get(s.split(":")[0], 1.0) for s in self.speakers], np.float64)
            self.draw_p = weights / weights.sum()
        self.close_pitch_fraction = close_pitch_fraction
        self.pitch = None
        if close_pitch_fraction:
            self.pitch = np.array([
                median_pitch(np.concatenate([audio[i] for i in indices[:PITCH_UTTERANCES]]), sample_rate)
                for indices in self.by_speaker
            ])

    @classmethod
    def from_files(
        cls, utterances: list[Utterance], sample_rate: int, source_weights: dict[str, float] | None = None,
        close_pitch_fraction: float = 0.0,
    ) -> SpeakerBank:
        if not utterances:
            raise ValueError("no utterances: run `make data` or pass --data.data_root")
        loaded = [(load_audio(u.path, sample_rate), u.speaker) for u in utterances]
        kept = [(audio, speaker) for audio, speaker in loaded if len(audio) >= MIN_UTTERANCE_S * sample_rate]
        if not kept:
            raise ValueError(f"no utterance of {len(utterances)} lasts {MIN_UTTERANCE_S} s")
        return cls([a for a, _ in kept], [s for _, s in kept], sample_rate, source_weights, close_pitch_fraction)

    def track(self, rng: np.random.Generator, speaker: int, length: int, speed: bool) -> np.ndarray:
        """``length`` samples of one speaker: utterances with pauses, randomly cropped, maybe starting late."""
        pieces, total = [], 0
        while total < length * 1.2:
            audio = self.audio[self.by_speaker[speaker][int(rng.integers(len(self.by_speaker[speaker])))]]
            if speed:
                audio = change_speed(audio, rng.uniform(*SPEED_RANGE))
            pause = np.zeros(int(rng.uniform(*PAUSE_S) * self.sample_rate), np.float32)
            pieces += [audio, pause]
            total += len(audio) + len(pause)
        track = np.concatenate(pieces)
        start = int(rng.integers(0, len(track) - length + 1))
        track = track[start : start + length].copy()
        if rng.random() < LATE_START[0]:
            track[: int(rng.uniform(0, LATE_START[1]) * length)] = 0
        return track

    def mix(self, rng: np.random.Generator, num_speakers: int, length: int, speed: bool = True):
        """One dynamic mixture of ``num_speakers`` distinct speakers -> (mixture (T,), sources (S, T))."""
        speakers = rng.choice(len(self.speakers), num_speakers, replace=False, p=self.draw_p)
        if self.pitch is not None and rng.random() < self.close_pitch_fraction:
            distance_st = np.abs(12 * np.log2(self.pitch / self.pitch[speakers[0]]))  # NaN pitch: never close
            close = np.flatnonzero(distance_st < CLOSE_PITCH_ST)
            close = close[close != speakers[0]]
            if len(close) >= num_speakers - 1:
                speakers[1:] = rng.choice(close, num_speakers - 1, replace=False)
        sources = []
        for speaker in speakers:
            track = self.track(rng, int(speaker), length, speed)
            mean, std, low, high = LEVEL_DBFS
            level = np.clip(rng.normal(mean, std), low, high)
            rms = np.sqrt(np.mean(track**2)) + 1e-8
            sources.append(track * (10 ** (level / 20) / rms))
        sources = np.stack(sources).astype(np.float32)
        mixture = sources.sum(0)
        peak = np.abs(mixture).max()
        if peak > MAX_PEAK:
            sources *= MAX_PEAK / peak
            mixture *= MAX_PEAK / peak
        return torch.from_numpy(mixture), torch.from_numpy(sources)


class DynamicMixtures(IterableDataset):
    """``steps`` fresh random mixtures per epoch (each worker draws its share with its own seed)."""

    def __init__(self, bank: SpeakerBank, num_speakers: int, segment_s: float, steps: int):
        self.bank, self.num_speakers, self.steps = bank, num_speakers, steps
        self.length = int(segment_s * bank.sample_rate)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        rng = pass_rng(self)
        for _ in range(worker_share(self.steps)):
            yield self.bank.mix(rng, self.num_speakers, self.length)


class FixedMixtures(Dataset):
    """``count`` reproducible mixtures (item ``i`` is drawn with seed ``seed + i``), without speed changes."""

    def __init__(self, bank: SpeakerBank, num_speakers: int, segment_s: float, count: int, seed: int = 1234):
        self.bank, self.num_speakers, self.count, self.seed = bank, num_speakers, count, seed
        self.length = int(segment_s * bank.sample_rate)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        return self.bank.mix(np.random.default_rng(self.seed + index), self.num_speakers, self.length, speed=False)


def speechbrain_mixtures(data_root: str | Path, sample_rate: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The 4 real two-speaker items of ``speech/speechbrain_separation`` as (mixture (T,), sources (2, T)).

    Every file there is peak-normalised, so each source is rescaled by least squares to its share of the
    mixture (mixture = a·s1 + b·s2); empty if the folder is missing.
    """
    folder = Path(data_root) / "speech" / "speechbrain_separation"
    items = []
    for mixture_path in _audio_files(folder, "mixture_*"):
        index, suffix = mixture_path.stem.split("_")[1], mixture_path.suffix
        mixture = load_audio(mixture_path, sample_rate)
        sources = np.stack([load_audio(folder / f"source{k}_{index}{suffix}", sample_rate) for k in (1, 2)])
        gains, *_ = np.linalg.lstsq(sources.T, mixture, rcond=None)
        items.append((torch.from_numpy(mixture), torch.from_numpy((sources * gains[:, None]).astype(np.float32))))
    return items


AMI_FOLDER = "speech/ami_seriously"


def ami_utterances(
    data_root: str | Path, sample_rate: int, frame_s: float = 0.1, margin_db: float = 10.0, min_s: float = 1.0
) -> tuple[list[np.ndarray], list[str]]:
    """Single-speaker stretches of the AMI meeting excerpt: (audio list, speaker names ``ami-<k>``).

    Its ``sources/source<k>`` are the 4 speakers' headset tracks, each peak-normalised and each picking up
    the others (cross-talk). Frame levels are taken relative to each track's own speech level (its
    99th-percentile frame: a speaker may talk for 2 % of the time only), and an utterance of speaker k is a
    run of at least ``min_s`` seconds of ``frame_s`` frames in which track k is ``margin_db`` above every
    other track and at most 40 dB below its speech level. Utterances keep the tracks' scale (mixing redraws
    levels). On the excerpt 3 of the 4 speakers give stretches (29 s; the fourth talks alone for about a
    second). Their cross-talk (at least ``margin_db`` down) stays in them, which caps the SI-SNRi they can
    show: a set to rank checkpoints on, not to report. Empty lists without the data.
    """
    folder = Path(data_root) / AMI_FOLDER
    paths = _audio_files(folder / "sources", "source*")
    if not paths:
        return [], []
    tracks = [load_audio(p, sample_rate) for p in paths]
    tracks = np.stack([track[: min(map(len, tracks))] for track in tracks])
    hop = int(frame_s * sample_rate)
    frames = tracks[:, : tracks.shape[1] // hop * hop].reshape(len(tracks), -1, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=2) + 1e-12)  # (K, frames) dB
    level -= np.percentile(level, 99, axis=1, keepdims=True)  # each track against its own speech level
    audio, speakers = [], []
    for k, path in enumerate(paths):
        others = np.delete(level, k, axis=0).max(axis=0)
        own = (level[k] >= others + margin_db) & (level[k] >= -40)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], own.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            if (stop - start) * frame_s >= min_s:
                audio.append(tracks[k, start * hop : stop * hop])
                speakers.append(f"ami-{k}")
    return audio, speakers


def held_out_readers(val_bank: SpeakerBank) -> tuple[list[np.ndarray], list[str]]:
    """The utterances of a bank of validation speakers (``list_utterances(root, "val")``) whose source is a recorded
    one (``RECORDED_SOURCES``) but fsdd, whose held-out speaker is a benchmark's: (audio list, speaker names). With
    ``make data``'s sources one prompt reader and two KLettres readers; with the AMI speakers
    (:func:`ami_utterances`), real voices that neither training nor a benchmark uses."""
    sources = set(RECORDED_SOURCES) - {"fsdd"}
    chosen = [(speaker, indices) for speaker, indices in zip(val_bank.speakers, val_bank.by_speaker)
              if speaker.split(":")[0] in sources]
    return [val_bank.audio[i] for _, indices in chosen for i in indices], [s for s, indices in chosen for _ in indices]


HELD_OUT_REAL = {  # benchmark speakers: real recordings never used in training
    "libri-198": "speech/librispeech_librosa/198-209-0000.wav",
    "libri-3436": "speech/librispeech_librosa/3436-172162-0000.wav",
    "libri-5703": "speech/librispeech_librosa/5703-47212-0000.wav",
    "arctic-aew": "speech/cmu_arctic_pra/cmu_arctic_us_aew_a000[123].wav",
    "arctic-axb": "speech/cmu_arctic_pra/cmu_arctic_us_axb_a000[456].wav",
    f"fsdd-{HELD_OUT_FSDD}": f"speech/fsdd/recordings/*_{HELD_OUT_FSDD}_[0-4].wav",
}


def speaker_track(recordings: list[np.ndarray], sample_rate: int, segment_s: float, pause_s: float = 0.1) -> np.ndarray:
    """One speaker's recordings (float32 (T,) at ``sample_rate``) joined with ``pause_s`` of silence, cut or
    zero-padded to ``segment_s``, scaled to unit RMS -> (segment_s · sample_rate,)."""
    pause = np.zeros(int(pause_s * sample_rate), np.float32)
    track = np.concatenate([piece for audio in recordings for piece in (audio, pause)])
    length = int(segment_s * sample_rate)
    track = np.pad(track, (0, max(0, length - len(track))))[:length]
    return track / (np.sqrt(np.mean(track**2)) + 1e-8)


def pair_mixtures(
    tracks: dict[str, np.ndarray], ratios_db: tuple[float, ...] = (0.0, 2.5, -2.5)
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Every pair of equal-length unit-RMS ``tracks`` (sorted by name), the second speaker at ``ratios_db`` in
    turn, scaled to a peak of 0.5 -> (``"a+b"``, mixture (T,), sources (2, T))."""
    items = []
    names = sorted(tracks)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    for k, (a, b) in enumerate(pairs):
        gain = 10 ** (ratios_db[k % len(ratios_db)] / 20)
        sources = np.stack([tracks[a], tracks[b] * gain])
        scale = 0.5 / np.abs(sources.sum(0)).max()
        sources = torch.from_numpy((sources * scale).astype(np.float32))
        items.append((f"{a}+{b}", sources.sum(0), sources))
    return items


def heldout_real_mixtures(
    data_root: str | Path, sample_rate: int, segment_s: float = 6.0, ratios_db: tuple[float, ...] = (0.0, 2.5, -2.5)
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Two-speaker mixtures of the real held-out speakers (``HELD_OUT_REAL``): every pair of speakers, each
    speaker's recordings joined with 0.1 s pauses and cut to ``segment_s``, equal RMS, then the second
    speaker at ``ratios_db`` in turn (:func:`speaker_track`, :func:`pair_mixtures`). Returns (name, mixture
    (T,), sources (2, T)); empty without the data."""
    root = Path(data_root)
    tracks = {}
    for speaker, pattern in HELD_OUT_REAL.items():
        files = sorted(root.glob(pattern))
        if files:
            tracks[speaker] = speaker_track([load_audio(f, sample_rate) for f in files], sample_rate, segment_s)
    return pair_mixtures(tracks, ratios_db)
