"""`rsuite upscale-video` end to end with a tiny saved model: video and frame-folder I/O, fps, audio,
no overwrite without --force, inputs untouched, and every bad-input path as one line with exit code 2."""

import hashlib
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from apps.cli import run
from recurrent.registry import save_weights
from vision.frvsr.model import frvsr_x4
from vision.frvsr.video import read_frames

W, H, FPS, N = 40, 32, 12, 5


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    model = frvsr_x4(num_blocks=1, channels=8, fnet_channels=(4, 4, 8, 8)).eval()
    save_weights(model, folder / "tiny", model_name="frvsr-x4", data=[], command="test", metrics={}, metrics_command="test")
    return str(folder / "tiny")


def frames(n=N, w=W, h=H):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h, w + n, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[:, t : t + w]) for t in range(n)]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    for frame in frames():
        writer.write(frame)
    writer.release()
    return path


def write_av(path, codec="libx264", pix_fmt="yuv420p", n=N, audio=None, rate=48000, rotation=0, fps=FPS, ticks=None):
    """A video written with PyAV, optionally with a 440 Hz mono audio track in ``audio`` codec, a display
    rotation (degrees anticlockwise, as a phone records it) and frame times other than one per tick of
    ``fps`` (``ticks``: each frame's time in ticks, a variable frame rate)."""
    out = av.open(str(path), "w")
    stream = out.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
    if rotation:
        stream.set_display_rotation(rotation)
    sound = None
    if audio:
        sound = out.add_stream(audio, rate=rate)
        sound.layout = "mono"
    out.start_encoding()  # writes the header even when no frame follows
    for t, image in enumerate(frames(n)):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = t if ticks is None else ticks[t], 1 / Fraction(fps)
        out.mux(stream.encode(frame))
    if sound is not None:
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * 440 * np.arange(rate * n // FPS) / rate)).astype(np.int16)
        for start in range(0, len(pcm), 960):
            chunk = av.AudioFrame.from_ndarray(pcm[None, start : start + 960], format="s16", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = rate, start, Fraction(1, rate)
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    out.mux(stream.encode(None))
    out.close()
    return path


def write_flash_clip(path, audio, n=12, flash=6, audio_start=0.0, rate=48000):
    """Dark frames but a white one (``flash``), and silence in ``audio`` codec but a click at the flash's time;
    the video starts at 0, the audio at ``audio_start`` seconds."""
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    sound = out.add_stream(audio, rate=rate)
    sound.layout = "stereo"
    for t in range(n):
        frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), 255 if t == flash else 40, np.uint8), format="rgb24")
        frame.pts, frame.time_base = t, Fraction(1, FPS)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
    first = round(audio_start * rate)
    pcm = np.zeros(rate * n // FPS - first, np.int16)
    click = rate * flash // FPS - first
    pcm[click : click + rate // 100] = 20000
    for start in range(0, len(pcm), 960):
        both = np.repeat(pcm[start : start + 960], 2)[None]  # interleaved left, right
        chunk = av.AudioFrame.from_ndarray(both, format="s16", layout="stereo")
        chunk.sample_rate, chunk.pts, chunk.time_base = rate, first + start, Fraction(1, rate)
        out.mux(sound.encode(chunk))
    out.mux(sound.encode(None))
    out.close()
    return path


def flash_and_click(path):
    """Every frame's time, the brightest frame's and the click's (first sample over half the loudest), seconds."""
    with av.open(str(path)) as container:
        frames = [(float(frame.time), frame.to_ndarray(format="rgb24").mean()) for frame in container.decode(video=0)]
    with av.open(str(path)) as container:
        chunks = [(frame, frame.to_ndarray()) for frame in container.decode(audio=0)]
    left = [samples.reshape(f.samples, -1)[:, 0] if f.format.is_packed else samples[0] for f, samples in chunks]
    sound = np.abs(np.concatenate(left).astype(float))
    click = float(chunks[0][0].time) + np.argmax(sound > sound.max() / 2) / chunks[0][0].sample_rate
    return [t for t, _ in frames], max(frames, key=lambda f: f[1])[0], click


def probe(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(video=0))
        audio = [s.codec_context.codec.canonical_name for s in container.streams.audio]
        return count, (stream.codec_context.width, stream.codec_context.height), stream.average_rate, audio


def upscale(capsys, *args):
    code = run("upscale-video", [str(a) for a in args] + ["--quiet", "--device", "cpu"])
    return code, capsys.readouterr().err


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_video_to_video_keeps_count_fps_and_scales_by_4(weights, video, tmp_path, capsys):
    before = digest(video)
    out = tmp_path / "out.mp4"
    code, err = upscale(capsys, video, out, "--weights", weights)
    assert code == 0, err
    assert probe(out)[:3] == (N, (4 * W, 4 * H), FPS)
    assert digest(video) == before and not list(tmp_path.glob(".*partial*"))
    code, err = upscale(capsys, video, out, "--weights", weights)  # no overwrite without --force
    assert code == 2 and "--force" in err and err.count("\n") == 1
    code, err = upscale(capsys, video, out, "--weights", weights, "--force", "--scale", "2", "--tile", "16", "--pad", "8")
    assert code == 0, err
    assert probe(out)[:2] == (N, (2 * W, 2 * H))


def test_folder_in_and_out_with_natural_order(weights, tmp_path, capsys):
    src = tmp_path / "frames"
    src.mkdir()
    for t, frame in enumerate(frames()):
        cv2.imwrite(str(src / f"f{t * 5}.png"), frame)  # f0, f5, f10, f15, f20
    out = tmp_path / "up"
    code, err = upscale(capsys, src, out, "--weights", weights)
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"f{t * 5}.png" for t in range(N))
    assert cv2.imread(str(out / "f10.png")).shape == (4 * H, 4 * W, 3)
    video_out = tmp_path / "from_frames.mkv"
    code, err = upscale(capsys, src, video_out, "--weights", weights, "--fps", "30000/1001")
    assert code == 0, err
    assert probe(video_out)[0] == N and probe(video_out)[2] == Fraction(30000, 1001)
    code, err = upscale(capsys, src, out, "--weights", weights, "--force")  # replace a folder
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == names


def test_video_to_frames_and_odd_sizes(weights, tmp_path, capsys):
    odd = tmp_path / "odd"
    odd.mkdir()
    for t in range(3):
        cv2.imwrite(str(odd / f"{t}.png"), frames(3, 13, 11)[t])
    code, err = upscale(capsys, odd, tmp_path / "odd_up", "--weights", weights)
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "odd_up" / "2.png")).shape == (44, 52, 3)
    clip = write_av(tmp_path / "clip.mp4")
    code, err = upscale(capsys, clip, tmp_path / "frames_out", "--weights", weights)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "frames_out").iterdir()) == [f"{t:06d}.png" for t in range(1, N + 1)]


def test_phone_video_display_rotation_is_applied(weights, tmp_path, capsys):
    clip = write_av(tmp_path / "portrait.mp4", rotation=-90)  # stored landscape, shown turned a quarter clockwise
    upright = read_frames(clip)
    assert upright.shape == (N, W, H, 3)
    errors = [np.abs(upright.mean(-1) - np.rot90(np.stack(frames()), k, axes=(1, 2)).mean(-1)).mean() for k in (-1, 1)]
    assert errors[0] < errors[1] / 2  # turned a quarter clockwise (noise frames lose detail to x264, so not exact)
    out = tmp_path / "up.mp4"
    code, err = upscale(capsys, clip, out, "--weights", weights)
    assert code == 0, err
    assert probe(out)[:2] == (N, (4 * H, 4 * W))
    with av.open(str(out)) as container:
        assert next(container.decode(video=0)).rotation == 0  # upright pixels, no rotation left to apply


@pytest.mark.parametrize(
    "audio, source, container, expected, audio_start",
    [
        ("aac", "mp4", "mp4", "aac", 0.0),  # copied
        ("libmp3lame", "mkv", "mov", "mp3", 0.0),
        ("pcm_s16le", "mkv", "mp4", "aac", 0.0),  # .mp4 cannot hold PCM (it failed as the file was closed)
        ("libopus", "mkv", "mov", "aac", 0.0),  # nor .mov Opus (it failed, blaming the input)
        ("aac", "mp4", "avi", "pcm_s16le", 0.0),  # AVI hides no priming: copied AAC put the frames at 0, 2, 3…
        ("libopus", "mkv", "avi", "pcm_s16le", 0.0),  # and AAC from Opus came 21 ms late
        ("pcm_s16le", "mkv", "avi", "pcm_s16le", 0.25),  # AVI's audio plays from 0: silence up to its start
    ],
)
def test_audio_is_carried_over_in_sync(weights, tmp_path, capsys, audio, source, container, expected, audio_start):
    src = write_flash_clip(tmp_path / f"talk.{source}", audio, audio_start=audio_start)
    out = tmp_path / f"out.{container}"
    code, err = upscale(capsys, src, out, "--weights", weights)
    assert code == 0, err
    assert probe(out)[3] == [expected]  # copied, or transcoded where the container cannot hold the codec
    times, flash, click = flash_and_click(out)
    assert times == pytest.approx([t / FPS for t in range(12)], abs=1e-3) and flash == pytest.approx(6 / FPS)
    assert abs(click - flash) < 0.002, (click, flash)


def test_a_failing_write_names_the_output(weights, tmp_path, capsys, monkeypatch):
    import vision.frvsr.video

    monkeypatch.setitem(vision.frvsr.video.AUDIO_COPY, ".mov", ("opus",))  # copy what the muxer refuses
    src = write_av(tmp_path / "talk.mkv", audio="libopus")
    code, err = upscale(capsys, src, tmp_path / "out.mov", "--weights", weights)
    assert code == 2 and f"{tmp_path / 'out.mov'}: cannot write" in err and err.count("\n") == 1, err
    assert not list(tmp_path.glob("*.mov")) and not list(tmp_path.glob(".*partial*"))


def test_bad_inputs_are_one_line_exit_2(weights, video, tmp_path, capsys):
    (tmp_path / "text.mp4").write_text("not a video")
    (tmp_path / "empty").mkdir()
    gray = tmp_path / "gray"
    gray.mkdir()
    cv2.imwrite(str(gray / "0.png"), np.zeros((16, 16), np.uint8))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    cv2.imwrite(str(mixed / "0.png"), np.zeros((16, 16, 3), np.uint8))
    cv2.imwrite(str(mixed / "1.png"), np.zeros((16, 20, 3), np.uint8))
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    cv2.imwrite(str(tiny / "0.png"), np.zeros((2, 16, 3), np.uint8))
    gray_video = write_av(tmp_path / "gray.mkv", codec="ffv1", pix_fmt="gray")
    no_frames = write_av(tmp_path / "none.avi", codec="mpeg4", n=0)
    same_name = tmp_path / "same_name"
    same_name.mkdir()
    for suffix in (".png", ".jpg"):
        cv2.imwrite(str(same_name / f"0{suffix}"), np.zeros((16, 16, 3), np.uint8))
    holder = tmp_path / "holder"
    holder.mkdir()
    held = holder / "clip.avi"
    held.write_bytes(video.read_bytes())
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("keep me")
    (tmp_path / "a.mp4").write_text("a file, not a folder")
    cases = [
        (tmp_path / "missing.mp4", tmp_path / "o1.mp4", "no such file"),
        (tmp_path / "text.mp4", tmp_path / "o2.mp4", "not a readable video"),
        (tmp_path / "empty", tmp_path / "o3.mp4", "holds no images"),
        (gray, tmp_path / "o4.mp4", "grayscale"),
        (gray_video, tmp_path / "o5.mp4", "grayscale"),
        (mixed, tmp_path / "o6", "the folder's first is 16×16"),
        (tiny, tmp_path / "o7", "smaller than"),
        (no_frames, tmp_path / "o8.mp4", "no frames"),
        (video, tmp_path / "o9.webm", "unsupported output format"),
        (video, video, "OUTPUT is the INPUT"),
        (same_name, tmp_path / "o10", "two input frames named '0'"),
        (held, holder, "OUTPUT holds the INPUT"),  # --force would have replaced the folder, input and all
        (video, notes, "holding more than frames"),
        (video, Path("/proc/o11.mp4"), "cannot write there"),
        (video, tmp_path / ".mp4", "needs a name before its suffix"),  # was taken for a folder of frames
        (video, tmp_path / "a.mp4" / "o12.mp4", "a.mp4: not a folder"),  # was: output folder does not exist
        (video, Path("-"), "cannot go to standard output"),  # was: a folder named "-" of PNG frames
    ]
    for src, out, message in cases:
        code, err = upscale(capsys, src, out, "--weights", weights, "--force")
        assert code == 2, (src, err)
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, (src, err)
        assert not out.exists() or out in (video, holder, notes), out
    assert held.read_bytes() == video.read_bytes() and (notes / "notes.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    code, err = upscale(capsys, video, tmp_path / "o.mp4", "--weights", str(tmp_path / "absent"))
    assert code == 2 and "absent.json" in err
    code, err = upscale(capsys, video, tmp_path / "o.mp4", "--weights", weights, "--tile", "12")
    assert code == 2 and "--tile" in err
    code, err = upscale(capsys, video, tmp_path / "o.mp4", "--weights", weights, "--fp16")
    assert code == 2 and "CUDA" in err
    code, err = upscale(capsys, video, tmp_path / "o.mp4", "--weights", weights, "--fps", "30")  # was ignored
    assert code == 2 and "--fps is for a folder of frames" in err and not (tmp_path / "o.mp4").exists()


def test_an_avi_cut_short_is_upscaled_with_a_warning_naming_the_missing_frames(weights, video, tmp_path, capsys):
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size * 2 // 3])  # the header still announces N frames
    code, err = upscale(capsys, cut, tmp_path / "out.mp4", "--weights", weights)
    kept = probe(tmp_path / "out.mp4")[0]
    assert code == 0 and 0 < kept < N
    assert err == f"{cut}: warning: decoding ended after {kept} of the {N} frames its header announces (a truncated file?); the output holds those\n"
    code, err = upscale(capsys, video, tmp_path / "whole.mp4", "--weights", weights)
    assert code == 0 and err == ""


def test_variable_frame_rate_keeps_each_frame_at_its_time(weights, tmp_path, capsys):
    ticks = [0, 1, 2, 3, 4, 5, 6, 7, 28, 29]  # 10 frames at FPS with a pause of 20 ticks
    clip = write_av(tmp_path / "vfr.mp4", n=len(ticks), ticks=ticks)
    code, err = upscale(capsys, clip, tmp_path / "out.mp4", "--weights", weights)
    assert code == 0, err
    with av.open(str(tmp_path / "out.mp4")) as container:
        decoded = [(frame.time, frame.to_ndarray(format="rgb24").astype(float)) for frame in container.decode(video=0)]
    times = [t for t, _ in decoded]
    assert abs(times[-1] - 29 / FPS) < 0.5 / FPS  # the last frame comes at its time (it came 9 ticks in)
    repeats = sum(np.abs(a - b).mean() < 2 for (_, a), (_, b) in zip(decoded, decoded[1:]))
    assert repeats >= 8  # the frame before the pause is shown through it (was: every frame once, evenly spread)


def test_avi_output_of_a_frame_rate_mpeg4_cannot_hold(weights, tmp_path, capsys):
    odd = write_av(tmp_path / "odd.mp4", fps=Fraction(456000, 15217))  # an OpenCV sample's rate
    code, err = upscale(capsys, odd, tmp_path / "out.avi", "--weights", weights)
    assert code == 0, err
    count, _, fps, _ = probe(tmp_path / "out.avi")
    assert count == N and abs(fps - Fraction(456000, 15217)) < 1e-6


def test_command_line_entry_point(weights, video, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "apps.cli", "upscale-video", str(video), str(tmp_path / "o.mkv"), "--weights", weights,
         "--device", "cpu"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{N} frames upscaled to {4 * W}×{4 * H}" in result.stdout and "frame/s" in result.stderr  # summary, progress


def test_demo_writes_a_side_by_side_clip(monkeypatch, tmp_path):
    import argparse

    import apps.upscale_video as app

    tiny = frvsr_x4(num_blocks=1, channels=8, fnet_channels=(4, 4, 8, 8)).eval()
    monkeypatch.setattr(app, "load_model", lambda name, device: tiny)
    summary = app.demo(tmp_path, tmp_path, argparse.Namespace(device="cpu"))
    assert "dB vs bicubic" in summary
    assert probe(tmp_path / "upscale-video.mp4")[:2] == (24, (512, 256))


def test_untimed_frames_after_timed_ones_keep_their_order(tmp_path):
    from vision.frvsr.video import VideoSink

    sink = VideoSink(tmp_path / "mixed.mp4", 16, 16, Fraction(10))
    shades = [0, 128, 255]
    sink.write(np.full((16, 16, 3), shades[0], np.uint8), 0.0)
    sink.write(np.full((16, 16, 3), shades[1], np.uint8))  # a frame without a time: the next tick
    sink.write(np.full((16, 16, 3), shades[2], np.uint8), 0.5)
    sink.close()
    with av.open(str(tmp_path / "mixed.mp4")) as container:
        means = [frame.to_ndarray(format="rgb24").mean() for frame in container.decode(video=0)]
    firsts = [next(i for i, m in enumerate(means) if abs(m - shade) < 8) for shade in shades]
    assert firsts == sorted(firsts) and abs(means[-1] - 255) < 8


def test_frame_times_half_a_tick_off_round_up_and_none_is_lost(tmp_path):
    from vision.frvsr.video import VideoSink

    sink = VideoSink(tmp_path / "halves.mp4", 16, 16, Fraction(4))
    shades = [0, 80, 160, 240]
    for shade, time in zip(shades, [0.0, 0.375, 0.625, 0.875], strict=True):  # ticks 0, 1.5, 2.5, 3.5
        sink.write(np.full((16, 16, 3), shade, np.uint8), time)
    sink.close()
    with av.open(str(tmp_path / "halves.mp4")) as container:
        means = [frame.to_ndarray(format="rgb24").mean() for frame in container.decode(video=0)]
    shown = [min(shades, key=lambda shade: abs(shade - mean)) for mean in means]
    assert shown == [0, 0, 80, 160, 240]  # ticks 0, 2, 3, 4 as ffmpeg rounds; half to even put 80 and 160 on 2
