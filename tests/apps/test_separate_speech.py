"""`rsuite separate-speech` end to end with a tiny saved model: output names, rate and sample format,
stereo input, compressed input (MP3, a phone's M4A), no overwrite without --force, inputs untouched, bad input as one line with exit code 2 (exit 1
when other inputs could be separated)."""

import hashlib
import os
import subprocess
import sys

import av
import numpy as np
import pytest
import soundfile as sf

from audio.mossformer2.model import mossformer2_s
from recurrent.registry import save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    model = mossformer2_s(channels=32, num_layers=1, query_key_dim=16, fsmn_channels=16, rotary_dim=8).eval()
    save_weights(model, folder / "tiny", model_name="mossformer2-s", data=[], command="test", metrics={}, metrics_command="test")
    return str(folder / "tiny")


def rsuite(*args):
    return subprocess.run([sys.executable, "-m", "apps.cli", "separate-speech", *args], capture_output=True, text=True)


def speech_like(seconds, rate, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    voices = [np.sin(2 * np.pi * f * t) * (0.5 + 0.5 * np.sin(2 * np.pi * m * t)) for f, m in ((180, 3), (310, 5))]
    audio = 0.2 * sum(voices) + 0.01 * rng.standard_normal(t.shape)
    return np.stack([audio] * channels, 1) if channels > 1 else audio


def write_with_ffmpeg(path, audio, rate, container_format, codec):
    """Mono float audio (T,) into ``path`` with PyAV; ``codec=None`` writes a 2-frame video with no sound."""
    with av.open(str(path), "w", format=container_format) as container:
        if codec is None:
            stream = container.add_stream("mpeg4", rate=25)
            stream.width = stream.height = 16
            frames = [av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24") for _ in range(2)]
        else:
            stream = container.add_stream(codec, rate=rate)
            stream.layout = "mono"
            frame = av.AudioFrame.from_ndarray(audio.astype(np.float32)[None], format="flt", layout="mono")
            frame.sample_rate = rate
            frames = [frame]
        for frame in [*frames, None]:
            container.mux(stream.encode(frame))


def test_compressed_input_mp3_and_a_phones_m4a_give_16_bit_wavs(weights, tmp_path):
    audio = speech_like(2.0, 16000)
    sf.write(tmp_path / "memo.mp3", audio, 16000, format="MP3")  # libsndfile reads it (MPEG_LAYER_III)
    write_with_ffmpeg(tmp_path / "voice.m4a", audio, 16000, "mp4", "aac")  # libsndfile cannot: FFmpeg reads it
    result = rsuite(str(tmp_path / "memo.mp3"), str(tmp_path / "voice.m4a"), "--out-dir", str(tmp_path / "out"),
                    "--weights", weights, "--quiet")
    assert result.returncode == 0, result.stderr
    for stem in ("memo", "voice"):
        info = sf.info(tmp_path / "out" / f"{stem}_s1.wav")
        assert (info.samplerate, info.subtype) == (16000, "PCM_16")
        assert 32000 <= info.frames <= 32000 + 2048  # an AAC encoder's priming samples may stay


def test_writes_one_file_per_speaker_at_the_input_rate_and_format(weights, tmp_path):
    source = tmp_path / "call.wav"
    sf.write(source, speech_like(3.0, 16000, channels=2), 16000, subtype="PCM_16")
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    result = rsuite(str(source), "--out-dir", str(tmp_path), "--weights", weights, "--chunk", "1.0", "--overlap", "0.25")
    assert result.returncode == 0, result.stderr
    for k in (1, 2):
        info = sf.info(tmp_path / f"call_s{k}.wav")
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 48000)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    again = rsuite(str(source), "--out-dir", str(tmp_path), "--weights", weights)
    assert again.returncode == 2 and "already exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert rsuite(str(source), "--out-dir", str(tmp_path), "--weights", weights, "--force", "--quiet").returncode == 0


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p.write_bytes(b"RIFF not really a wav file"), "not a readable sound file"),
        (lambda p: sf.write(p, np.zeros(16000), 8000), "silent"),
        (lambda p: sf.write(p, speech_like(0.05, 8000), 8000), "too short"),
        (lambda p: sf.write(p, np.zeros((0,)), 8000), "no samples"),
        (lambda p: None, "no such file"),
        (lambda p: sf.write(p, np.r_[speech_like(1.0, 8000)[:-1], np.inf], 8000, subtype="FLOAT"), "NaN or infinite"),
        (lambda p: write_with_ffmpeg(p, None, None, "mp4", None), "no audio stream"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(weights, tmp_path, make, message):
    path = tmp_path / "in.wav"
    make(path)
    result = rsuite(str(path), "--out-dir", str(tmp_path), "--weights", weights)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_bad_file_among_several_is_reported_and_the_others_still_separated(weights, tmp_path):
    silent, good, empty = tmp_path / "silent.wav", tmp_path / "good.wav", tmp_path / "empty.wav"
    sf.write(silent, np.zeros(16000), 8000)
    sf.write(good, speech_like(1.0, 8000), 8000)
    empty.write_bytes(b"")
    result = rsuite(str(silent), str(empty), str(good), "--out-dir", str(tmp_path / "out"), "--weights", weights, "--quiet")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"rsuite separate-speech: error: {silent}: silent: the recording holds no signal to separate",
                                                  f"rsuite separate-speech: error: {empty}: empty file"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_s1.wav", "good_s2.wav"]


def test_two_inputs_that_would_write_the_same_files_are_refused_before_any_work(weights, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "call.wav", speech_like(1.0, 8000), 8000)
    result = rsuite(str(tmp_path / "a" / "call.wav"), str(tmp_path / "b" / "call.wav"), "--out-dir", str(tmp_path / "out"), "--weights", weights)
    assert result.returncode == 2 and "would both write" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_missing_output_folder_is_created_but_not_for_missing_input(weights, tmp_path):
    path = tmp_path / "in.wav"
    sf.write(path, speech_like(1.0, 8000), 8000)
    assert rsuite(str(tmp_path / "missing.wav"), "--out-dir", str(tmp_path / "a"), "--weights", weights).returncode == 2
    assert rsuite(str(path), "--out-dir", str(tmp_path / "a"), "--weights", str(tmp_path / "absent")).returncode == 2
    assert not (tmp_path / "a").exists()
    result = rsuite(str(path), "--out-dir", str(path / "sub"), "--weights", weights)  # under a file
    assert result.returncode == 2 and "cannot create" in result.stderr and "Traceback" not in result.stderr
    result = rsuite(str(path), "--out-dir", str(tmp_path / "b" / "c"), "--weights", weights, "--quiet")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "b" / "c").iterdir()) == ["in_s1.wav", "in_s2.wav"]
    result = rsuite(str(path), "--out-dir", str(path), "--weights", weights)
    assert result.returncode == 2 and "not a folder" in result.stderr


def test_speaker_count_must_match_the_weights(weights, tmp_path):
    path = tmp_path / "in.wav"
    sf.write(path, speech_like(1.0, 8000), 8000)
    result = rsuite(str(path), "--out-dir", str(tmp_path), "--weights", weights, "--speakers", "3")
    assert result.returncode == 2 and "separates 2 speakers" in result.stderr


def test_weights_of_another_job_are_one_clear_line(tmp_path):
    from vision.digits.model import crnn_digits

    reader = crnn_digits(stem_channels=8, stage_channels=(8, 16, 16), lstm_hidden=16)
    save_weights(reader, tmp_path / "reader", model_name="crnn-digits", data=[], command="test", metrics={}, metrics_command="test")
    path = tmp_path / "in.wav"
    sf.write(path, speech_like(1.0, 8000), 8000)
    result = rsuite(str(path), "--out-dir", str(tmp_path), "--weights", str(tmp_path / "reader"))
    assert result.returncode == 2 and "not ConvTasNet or MossFormer2 weights" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_output_that_is_an_input_is_refused_even_with_force(weights, tmp_path):
    first, second = tmp_path / "x.wav", tmp_path / "x_s1.wav"  # x.wav would write x_s1.wav over the second input
    for seed, path in enumerate((first, second)):
        sf.write(path, speech_like(1.0, 8000, seed=seed), 8000)
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)]
    result = rsuite(str(first), str(second), "--out-dir", str(tmp_path), "--weights", weights, "--force")
    assert result.returncode == 2 and "an input" in result.stderr
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)] == before


@pytest.mark.parametrize("chunk,overlap", [("1.00001", "1.0"), ("0.1", "0.05"), ("0.9", "0.25"), ("inf", "1.0")])
def test_chunk_and_overlap_are_checked_in_samples(weights, tmp_path, chunk, overlap):
    path = tmp_path / "in.wav"
    sf.write(path, speech_like(1.0, 8000), 8000)
    result = rsuite(str(path), "--out-dir", str(tmp_path), "--weights", weights, "--chunk", chunk, "--overlap", overlap)
    assert result.returncode == 2 and "--chunk" in result.stderr and "Traceback" not in result.stderr


def test_an_output_path_that_is_a_folder_is_refused_before_any_work(weights, tmp_path):
    sf.write(tmp_path / "call.wav", speech_like(1.0, 8000), 8000)
    (tmp_path / "out" / "call_s2.wav").mkdir(parents=True)
    result = rsuite(str(tmp_path / "call.wav"), "--out-dir", str(tmp_path / "out"), "--weights", weights, "--force", "--quiet")
    assert result.returncode == 2 and "call_s2.wav: is a folder" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["call_s2.wav"]


def test_a_name_that_is_not_utf8_is_read_and_written(weights, tmp_path):
    name = os.fsdecode(b"caf\xe9")
    sf.write(tmp_path / "in.wav", speech_like(1.0, 8000), 8000, subtype="PCM_24")
    (tmp_path / "in.wav").rename(tmp_path / f"{name}.wav")
    result = rsuite(str(tmp_path / f"{name}.wav"), "--out-dir", str(tmp_path), "--weights", weights, "--quiet")
    assert result.returncode == 0, result.stderr
    assert sf.info(os.fsencode(tmp_path / f"{name}_s2.wav")).subtype == "PCM_24"  # read by libsndfile, not FFmpeg
