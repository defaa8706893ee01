"""Separation data: speaker splits, the dynamic-mixing recipe, the real sets' rescaling and AMI utterances."""

import csv
from itertools import combinations

import numpy as np
import pytest
import soundfile as sf
import torch

from audio.mossformer2 import data

RATE = 8000


def _write(path, audio, rate=RATE):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(audio, np.float32), rate, subtype="FLOAT")


def _tone(freq, seconds, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t)


def _write_index(folder, engine, voices, seconds=0.5):
    """``voices`` voices of ``engine`` with two tone utterances each, listed in ``folder``/index.tsv."""
    rows = []
    for v in range(voices):
        for i in range(2):
            name = f"{engine}/v{v:02d}_{i}.wav"
            _write(folder / name, _tone(200 + 10 * v, seconds))
            rows.append({"file": name, "engine": engine, "voice": f"v{v:02d}", "text": "x"})
    with (folder / "index.tsv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["file", "engine", "voice", "text"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)


def _fake_root(tmp_path, voices=16, fsdd_speakers=("jackson", "theo", "nicolas")):
    _write_index(tmp_path / "tts", "espeak", voices)
    for s, speaker in enumerate(fsdd_speakers):
        for digit in range(2):
            _write(tmp_path / "speech/fsdd/recordings" / f"{digit}_{speaker}_0.wav", _tone(500 + 50 * s, 0.4))
    return tmp_path


def test_validation_speakers_are_every_eighth_voice_and_the_held_out_fsdd_speaker(tmp_path):
    root = _fake_root(tmp_path)
    train = {u.speaker for u in data.list_utterances(root, "train")}
    val = {u.speaker for u in data.list_utterances(root, "val")}
    assert not train & val
    assert val == {"espeak:v00", "espeak:v08", f"fsdd:{data.HELD_OUT_FSDD}"}
    assert len(train) == 14 + 2
    with pytest.raises(ValueError):
        data.list_utterances(root, "test")


def test_each_voice_index_holds_out_its_own_every_eighth_voice(tmp_path):
    """Adding ``voices/`` or ``prompts/`` must not move which voices are held out (that would leak trained voices)."""
    root = _fake_root(tmp_path, voices=13)  # not a multiple of 8: one sorted list would shift the choice
    before = {u.speaker for u in data.list_utterances(root, "val")}
    _write_index(root / "voices", "klettres", 9)
    _write_index(root / "prompts", "asterisk", 7)
    val = {u.speaker for u in data.list_utterances(root, "val")}
    train = {u.speaker for u in data.list_utterances(root, "train")}
    assert val == before | {"klettres:v00", "klettres:v08", "asterisk:v00"}
    assert {f"klettres:v{v:02d}" for v in range(1, 8)} | {f"asterisk:v{v:02d}" for v in range(1, 7)} <= train
    assert all(u.path.is_file() for u in data.list_utterances(root, "train"))


def test_a_bank_from_files_skips_recordings_trimmed_to_nothing(tmp_path):
    """A prompt that was all silence became an empty WAV; mixing must never draw it (resampling 0 samples fails)."""
    _write(tmp_path / "empty.wav", np.zeros(0))
    _write(tmp_path / "tone.wav", _tone(300, 0.5))
    utterances = [data.Utterance(tmp_path / "empty.wav", "a:x"), data.Utterance(tmp_path / "tone.wav", "a:y"),
                  data.Utterance(tmp_path / "tone.wav", "b:z")]
    bank = data.SpeakerBank.from_files(utterances, RATE)
    assert bank.speakers == ["a:y", "b:z"]
    assert len(bank.mix(np.random.default_rng(0), 2, RATE)[0]) == RATE
    with pytest.raises(ValueError, match="lasts"):
        data.SpeakerBank.from_files(utterances[:1], RATE)


def _bank(speakers=4, seconds=0.6):
    """Speaker k says a tone of 300 + 100·k Hz, so a source's speaker can be read off its spectrum."""
    audio = [_tone(300 + 100 * k, seconds).astype(np.float32) for k in range(speakers) for _ in range(2)]
    names = [f"s{k}" for k in range(speakers) for _ in range(2)]
    return data.SpeakerBank(audio, names, RATE)


def _speaker_of(source):
    spectrum = np.abs(np.fft.rfft(source.numpy()))
    return int(round((np.argmax(spectrum) * RATE / len(source) - 300) / 100))


def test_a_mixture_sums_distinct_speakers_at_levels_drawn_as_sepformer_does():
    bank, length = _bank(), RATE
    levels = []
    for seed in range(200):
        mixture, sources = bank.mix(np.random.default_rng(seed), 3, length)
        assert mixture.shape == (length,) and sources.shape == (3, length) and mixture.dtype == torch.float32
        torch.testing.assert_close(mixture, sources.sum(0))
        assert len({_speaker_of(s) for s in sources}) == 3
        assert float(mixture.abs().max()) < data.MAX_PEAK  # quiet tones: never scaled down here
        levels += (10 * torch.log10(sources.square().mean(1))).tolist()
    mean, std, low, high = data.LEVEL_DBFS
    assert abs(np.mean(levels) - mean) < 0.5 and abs(np.std(levels) - std) < 0.4
    assert low <= min(levels) and max(levels) <= high


def test_source_weights_draw_each_sources_speakers_that_much_more_often():
    """Speakers ``a:0``, ``a:1`` weighted 3 against ``b:0``, ``b:1`` at 1: a's share of single draws is 3/4."""
    audio = [_tone(300 + 100 * k, 0.3).astype(np.float32) for k in range(4)]
    names = ["a:0", "a:1", "b:0", "b:1"]
    for weights, share in ((None, 0.5), ({"a": 3.0}, 0.75)):
        bank = data.SpeakerBank(audio, names, RATE, source_weights=weights)
        draws = [_speaker_of(bank.mix(np.random.default_rng(seed), 1, RATE // 4)[1][0]) for seed in range(400)]
        assert abs(np.mean([d < 2 for d in draws]) - share) < 0.06
    weighted = data.SpeakerBank(audio, names, RATE, source_weights={"a": 3.0})
    assert all(len({_speaker_of(s) for s in weighted.mix(np.random.default_rng(seed), 2, RATE // 4)[1]}) == 2 for seed in range(50))


def _voice(f0, seconds=0.5):
    """A buzz with harmonics at ``f0`` Hz, louder and softer as speech is."""
    t = np.arange(int(seconds * RATE)) / RATE
    harmonics = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    return (harmonics * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_median_pitch_finds_a_voices_f0_and_none_in_noise_or_silence():
    for f0 in (90.0, 150.0, 240.0):
        assert abs(data.median_pitch(_voice(f0), RATE) / f0 - 1) < 0.03
    noise = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    assert np.isnan(data.median_pitch(noise, RATE)) and np.isnan(data.median_pitch(np.zeros(RATE, np.float32), RATE))


def test_close_pitch_mixing_pairs_like_voices_and_leaves_other_draws_alone():
    """Voices at 100 and 106 Hz (1 semitone), 200 and 212 Hz, and one without voicing: with close-pitch mixing
    every pair is within 2 semitones; without it the same seeds draw what they always drew."""
    f0s = [100.0, 106.0, 200.0, 212.0]
    audio = [_voice(f) for f in f0s] + [np.random.default_rng(1).normal(0, 0.1, RATE // 2).astype(np.float32)]
    names = ["a", "b", "c", "d", "noise"]
    close = data.SpeakerBank(audio, names, RATE, close_pitch_fraction=1.0)
    assert np.allclose(close.pitch[:4], f0s, rtol=0.03) and np.isnan(close.pitch[4])
    plain = data.SpeakerBank(audio, names, RATE)
    assert plain.pitch is None
    like = {frozenset("ab"), frozenset("cd")}
    drawn = []
    for seed in range(40):
        _, sources = close.mix(np.random.default_rng(seed), 2, RATE // 4, speed=False)
        drawn.append(frozenset(names[i] for i in _speakers_by_pitch(sources, f0s)))
    assert all(pair in like for pair in drawn if "noise" not in pair) and len(set(drawn)) >= 2
    with_zero = data.SpeakerBank(audio, names, RATE, close_pitch_fraction=0.0)
    for seed in range(5):
        torch.testing.assert_close(with_zero.mix(np.random.default_rng(seed), 2, RATE // 4),
                                   plain.mix(np.random.default_rng(seed), 2, RATE // 4))


def _speakers_by_pitch(sources, f0s):
    """Indices into ``f0s`` of the sources' pitches (4 for a source with none)."""
    found = []
    for source in sources.numpy():
        pitch = data.median_pitch(source, RATE)
        found.append(4 if np.isnan(pitch) else int(np.argmin(np.abs(np.log(np.array(f0s) / pitch)))))
    return found


def test_a_mixture_over_the_peak_is_scaled_down_with_its_sources(monkeypatch):
    monkeypatch.setattr(data, "LEVEL_DBFS", (-3.0, 0.0, -45.0, 0.0))  # every source at -3 dBFS RMS
    mixture, sources = _bank().mix(np.random.default_rng(0), 3, RATE)
    assert abs(float(mixture.abs().max()) - data.MAX_PEAK) < 1e-5
    torch.testing.assert_close(mixture, sources.sum(0))
    levels = 10 * torch.log10(sources.square().mean(1))
    assert float(levels.max() - levels.min()) < 0.01 and float(levels.max()) < -3.0  # equal, and lowered


def test_fixed_mixtures_are_reproducible_and_differ_between_items():
    fixed = data.FixedMixtures(_bank(), 2, 0.5, count=5)
    first, again, other = fixed[3], fixed[3], fixed[4]
    torch.testing.assert_close(first[1], again[1])
    assert not torch.equal(first[1], other[1])
    assert len(fixed) == 5


def test_speechbrain_sources_are_rescaled_to_their_share_of_the_mixture(tmp_path):
    folder = tmp_path / "speech/speechbrain_separation"
    s1, s2 = _tone(300, 1.0), _tone(700, 1.0) * np.linspace(0.2, 1, RATE)
    mixture = 0.3 * s1 + 0.6 * s2
    for name, audio in (("mixture_0", mixture), ("source1_0", s1), ("source2_0", s2)):
        _write(folder / f"{name}.wav", audio / np.abs(audio).max() * 0.5, rate=16000)  # peak-normalised, 16 kHz
    [(mix, sources)] = data.speechbrain_mixtures(tmp_path, 16000)
    torch.testing.assert_close(sources.sum(0), mix, atol=1e-5, rtol=0)
    assert data.speechbrain_mixtures(tmp_path / "missing", RATE) == []


def test_heldout_real_mixtures_pair_every_speaker_at_the_set_ratios(tmp_path):
    speakers = ["libri-198", "arctic-aew", f"fsdd-{data.HELD_OUT_FSDD}"]
    for k, speaker in enumerate(speakers):
        stem = data.HELD_OUT_REAL[speaker].replace("*", "0").replace("[123]", "1").replace("[456]", "4")
        stem = stem.replace("[0-4]", "0")
        _write(tmp_path / stem, _tone(300 + 200 * k, 2.0) * (k + 1))
    items = data.heldout_real_mixtures(tmp_path, RATE, segment_s=1.0, ratios_db=(0.0, 6.0))
    assert len(items) == len(list(combinations(speakers, 2)))
    for k, (name, mixture, sources) in enumerate(items):
        torch.testing.assert_close(mixture, sources.sum(0))
        ratio_db = 20 * torch.log10(sources[1].square().mean().sqrt() / sources[0].square().mean().sqrt())
        assert abs(float(ratio_db) - (0.0, 6.0)[k % 2]) < 0.01, name


def _write_ami(root, turns, seconds=24):
    """Four peak-normalised headsets with cross-talk 20 dB down over a faint noise floor; speaker k talks
    (noise) in ``turns[k]``; returns the headsets before normalisation."""
    rng = np.random.default_rng(0)
    voices = np.zeros((4, seconds * RATE))
    for k, spans in turns.items():
        for start, stop in spans:
            voices[k, int(start * RATE) : int(stop * RATE)] = rng.normal(0, 0.1, int(stop * RATE) - int(start * RATE))
    headsets = voices + 0.1 * (voices.sum(0) - voices) + rng.normal(0, 1e-4, voices.shape)
    headsets[1, 20 * RATE] = 20 * np.abs(headsets[1]).max()  # a click 26 dB over headset 1's speech
    folder = root / data.AMI_FOLDER
    for k, track in enumerate(headsets):
        _write(folder / "sources" / f"source{k}.wav", track / np.abs(track).max())  # peak-normalised
    return headsets


# speaker 3 talks alone for 0.5 s, then over speaker 2 (14-16 s): no stretch of its own
AMI_TURNS = {0: [(0.5, 3.0), (6.0, 8.0)], 1: [(3.5, 5.5)], 2: [(9.0, 11.5), (12.5, 16.0)],
             3: [(5.6, 5.9), (8.2, 8.4), (14.0, 16.0)]}


def test_ami_utterances_are_the_stretches_where_one_headset_dominates(tmp_path):
    """Speaker 3 talks alone for 0.5 s only (as one AMI speaker does); a click sets headset 1's peak, so
    after peak normalisation its speech lies 26 dB under the others' (their levels must be its own)."""
    turns = AMI_TURNS
    headsets = _write_ami(tmp_path, turns)
    audio, speakers = data.ami_utterances(tmp_path, RATE)
    assert speakers == ["ami-0", "ami-0", "ami-1", "ami-2", "ami-2"]
    lengths = [len(a) / RATE for a in audio]
    for found, (start, stop) in zip(lengths, [*turns[0], *turns[1], (9.0, 11.5), (12.5, 14.0)], strict=True):
        assert abs(found - (stop - start)) <= 0.2  # whole turns, to a frame at each end
    segment = headsets[1, int(3.4 * RATE) : int(5.6 * RATE)] / np.abs(headsets[1]).max()
    assert np.isin(audio[2], segment.astype(np.float32)).all()  # the headset's own samples
    assert data.ami_utterances(tmp_path / "missing", RATE) == ([], [])


def test_the_data_module_validates_on_held_out_voices_and_ami_speakers(tmp_path):
    from audio.mossformer2.lit import SpeechMixData

    root = _fake_root(tmp_path)
    _write_ami(root, AMI_TURNS)
    module = SpeechMixData(data_root=str(root), segment_s=0.5, batch_size=2, samples_per_epoch=4, val_mixtures=3)
    module.setup("fit")
    assert module.val_names == ["heldout", "ami"]  # no recorded reader held out: no set that repeats ami
    _write_index(root / "voices", "klettres", 9)
    module.setup("fit")
    assert module.val_names == ["heldout", "ami", "recorded"]
    assert module.val_sets[2].bank.speakers == ["ami-0", "ami-1", "ami-2", "klettres:v00", "klettres:v08"]
    for loader in module.val_dataloader()[1:]:
        mixture, sources = next(iter(loader))
        assert mixture.shape == (2, RATE // 2) and sources.shape == (2, 2, RATE // 2)
    mixture, sources = next(iter(module.train_dataloader()))
    assert sources.shape == (2, 2, RATE // 2)


def test_the_held_out_readers_are_the_recorded_sources_validation_speakers_but_the_benchmarks(tmp_path):
    root = _fake_root(tmp_path)
    val_bank = data.SpeakerBank.from_files(data.list_utterances(root, "val"), RATE)
    assert data.held_out_readers(val_bank) == ([], [])  # fsdd's held-out speaker is a benchmark speaker
    _write_index(root / "voices", "klettres", 9)
    _write_index(root / "prompts", "asterisk", 7)
    audio, speakers = data.held_out_readers(data.SpeakerBank.from_files(data.list_utterances(root, "val"), RATE))
    assert sorted(set(speakers)) == ["asterisk:v00", "klettres:v00", "klettres:v08"]
    assert len(audio) == len(speakers) == 6 and all(len(a) == RATE // 2 for a in audio)


def test_a_speaker_track_joins_recordings_with_pauses_at_unit_rms():
    first, second = np.ones(4, np.float32), 2 * np.ones(3, np.float32)
    track = data.speaker_track([first, second], sample_rate=10, segment_s=1.2, pause_s=0.2)
    assert track.shape == (12,)
    np.testing.assert_allclose(np.sqrt(np.mean(track**2)), 1.0, rtol=1e-5)
    assert (track[4:6] == 0).all() and (track[9:] == 0).all()  # the pauses, then zero padding
    assert track[6] == 2 * track[0]
