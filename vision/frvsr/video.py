"""Frame sources and sinks for video super-resolution, streamed one frame at a time.

Every frame here is a NumPy array ``(H, W, 3)`` uint8 in **RGB** order. Sources are a video file (PyAV,
which bundles FFmpeg) or a folder of images (natural sort: ``f2.png`` before ``f10.png``); sinks are a
video file (H.264 in .mp4/.mkv/.mov, MPEG-4 Part 2 in .avi; constant frame rate) or a folder of PNGs.
A phone video's display rotation is applied on decoding (as FFmpeg does), so frames come out upright
and the output plays the way the input does. The first audio track of an input video is copied into the
output unchanged when the output container is known to hold its codec (:data:`AUDIO_COPY`), and transcoded
otherwise: to AAC, or to PCM in .avi.

Problems with the input or the output raise :class:`VideoError`, one line naming the file.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vision.paths import IMAGE_SUFFIXES, list_images

VIDEO_CODECS = {".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264", ".avi": "mpeg4"}
# Audio codecs (canonical names) copied into each container; FFmpeg's muxers take more than they can finish (PCM
# in .mp4 fails at the trailer, Opus in .mov at the header). Matroska (None) takes what its muxer does. AVI has no
# start times or edit lists: a stream plays from 0 and an encoder's priming (AAC's first 1024 samples) is heard,
# so its audio is always decoded and written as PCM (no priming) from 0, with silence up to the first sample.
AUDIO_COPY = {
    ".mp4": ("aac", "mp3", "ac3", "eac3", "alac", "flac", "opus"),
    ".mov": ("aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"),
    ".mkv": None,
    ".avi": (),
}
GRAY_PIX_FMTS = ("gray", "ya8", "ya16", "monow", "monob")
MIN_SIDE = 4


class VideoError(ValueError):
    """An input that cannot be read as colour frames, or an output that cannot be written; one line."""


@dataclass(frozen=True)
class SourceInfo:
    """``frames``: the count when known (a video's header may not say; then an estimate or None)."""

    width: int
    height: int
    fps: Fraction
    frames: int | None
    has_audio: bool


def _check_size(path: Path, width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise VideoError(f"{path}: frames are {width}×{height}, smaller than {MIN_SIDE}×{MIN_SIDE}")


def read_image_rgb(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB: alpha is dropped, 16-bit is scaled to 8-bit; a single-channel
    (grayscale) or unreadable file raises :class:`VideoError`."""
    path = Path(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise VideoError(f"{path}: not a readable image")
    if image.ndim == 2 or image.shape[2] == 1:
        raise VideoError(f"{path}: grayscale image; FRVSR needs colour (RGB) frames")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise VideoError(f"{path}: unsupported pixel type {image.dtype}")
    return cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)


class FrameFolderSource:
    """The images in a folder (not recursive), in natural order; all must have one size."""

    def __init__(self, folder: str | Path, fps: Fraction = Fraction(25)):
        self.path = Path(folder)
        self.files = list_images(self.path)
        if not self.files:
            raise VideoError(f"{self.path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        first = read_image_rgb(self.files[0])
        _check_size(self.files[0], first.shape[1], first.shape[0])
        self.info = SourceInfo(first.shape[1], first.shape[0], Fraction(fps), len(self.files), False)
        self.names = [p.stem for p in self.files]
        self.last_time = None  # frames of a folder have no presentation times

    def frames(self, audio_sink: Callable[[av.Packet], None] | None = None) -> Iterator[np.ndarray]:
        for path in self.files:
            frame = read_image_rgb(path)
            if frame.shape[:2] != (self.info.height, self.info.width):
                first = f"{self.info.width}×{self.info.height}"
                raise VideoError(f"{path}: frame is {frame.shape[1]}×{frame.shape[0]}, the folder's first is {first}")
            yield frame

    def close(self) -> None:
        pass


def _quarter_turns(path: Path) -> int:
    """Anticlockwise quarter turns that bring the video's stored frames upright, from the display matrix
    of its first frame (FFmpeg's convention: a phone held upright records -90°, i.e. one clockwise turn)."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return round(frame.rotation / 90) % 4
    return 0


class VideoSource:
    """A video file's first video stream decoded to upright RGB frames (display rotation applied); its
    first audio stream, if any, can be passed packet by packet to a sink while decoding (:meth:`frames`),
    so nothing is buffered."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.container = av.open(str(self.path))
        except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
            raise VideoError(f"{self.path}: not a readable video ({_reason(error)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(f"{self.path}: holds no video stream")
        self.video = self.container.streams.video[0]
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        context = self.video.codec_context
        if (context.pix_fmt or "").startswith(GRAY_PIX_FMTS):
            self.container.close()
            raise VideoError(f"{self.path}: grayscale video ({context.pix_fmt}); FRVSR needs colour (RGB) frames")
        _check_size(self.path, context.width, context.height)
        try:
            self.quarter_turns = _quarter_turns(self.path)
        except av.FFmpegError as error:
            self.container.close()
            raise VideoError(f"{self.path}: decoding failed at the first frame ({_reason(error)})") from None
        self.stored_size = (context.width, context.height)
        width, height = self.stored_size[:: -1 if self.quarter_turns % 2 else 1]
        fps = self.video.average_rate or self.video.guessed_rate or Fraction(25)
        self.announced = self.video.frames or None  # the frame count the container's header gives, if any
        frames = self.announced
        if frames is None and self.container.duration:
            frames = round(self.container.duration / 1_000_000 * fps)
        self.info = SourceInfo(width, height, Fraction(fps), frames, self.audio is not None)
        self.last_time: Fraction | None = None  # presentation time of the frame last yielded, seconds
        self.names: list[str] | None = None

    def frames(self, audio_sink: Callable[[av.Packet], None] | None = None) -> Iterator[np.ndarray]:
        """Decoded frames in presentation order; audio packets go to ``audio_sink`` as they are read. A file
        that ends cleanly before the frames its header announces (:attr:`announced`: an AVI cut short) yields
        what it holds; compare the count with :attr:`announced`."""
        streams = [self.video] + ([self.audio] if self.audio is not None and audio_sink is not None else [])
        count = 0
        try:
            for packet in self.container.demux(*streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        audio_sink(packet)
                    continue
                for frame in packet.decode():
                    self.last_time = None if frame.time is None else frame.pts * frame.time_base
                    if (frame.width, frame.height) != self.stored_size:
                        first = "{}×{}".format(*self.stored_size)
                        raise VideoError(f"{self.path}: frame {count} is {frame.width}×{frame.height}, the first was {first}")
                    count += 1
                    yield np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), self.quarter_turns))
        except av.FFmpegError as error:
            raise VideoError(f"{self.path}: decoding failed after {count} frames ({_reason(error)})") from None

    def close(self) -> None:
        self.container.close()


def open_source(path: str | Path, fps: Fraction = Fraction(25)) -> VideoSource | FrameFolderSource:
    """A folder of images or a video file; ``fps`` is used for folders only."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    return FrameFolderSource(path, fps) if path.is_dir() else VideoSource(path)


def _reason(error: Exception) -> str:
    return str(getattr(error, "strerror", None) or error).strip().splitlines()[0][:120]


class VideoSink:
    """Encodes RGB frames to a video file at a constant ``fps``; the container comes from the suffix.

    ``audio``: an input audio stream to carry over; feed its packets to :meth:`mux_audio`. Frames given
    with their presentation times (:meth:`write`) stay where they were, so the audio stays in sync with a
    video that does not start at 0 or has a variable frame rate. ``name``: the path errors name (the final
    output when ``path`` is a temporary file).
    """

    def __init__(
        self, path: str | Path, width: int, height: int, fps: Fraction, audio: av.audio.stream.AudioStream | None = None,
        crf: int = 18, name: str | Path | None = None,
    ):
        self.path = Path(path)
        self.name = Path(name or path)
        suffix = self.path.suffix.lower()
        codec = VIDEO_CODECS.get(suffix)
        if codec is None:
            raise VideoError(f"{self.name}: unsupported video format (use {', '.join(VIDEO_CODECS)} or a folder for PNG frames)")
        try:
            self.container = av.open(str(self.path), mode="w")
        except (av.FFmpegError, OSError) as error:
            raise VideoError(f"{self.name}: cannot write ({_reason(error)})") from None
        if codec == "mpeg4":  # its time base 1/fps needs a 16-bit denominator: 456000/15217 fps -> 29.9665
            fps = 1 / (1 / Fraction(fps)).limit_denominator(65535)
        self.stream = self.container.add_stream(codec, rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            self.stream.options = {"crf": str(crf), "preset": "medium"}
        else:
            self.stream.codec_context.qscale = 2  # MPEG-4 Part 2 at its finest fixed quantiser
        self.fps = Fraction(fps)
        self.next_pts = 0
        self.held: np.ndarray | None = None  # the last timed frame, shown until the next one's time
        self.audio_out, self.transcode, self.audio_pts = None, False, None
        if audio is not None:
            copied = self.container.supported_codecs if AUDIO_COPY[suffix] is None else AUDIO_COPY[suffix]
            if audio.codec_context.codec.canonical_name in copied:
                self.audio_out = self.container.add_stream_from_template(audio)
            else:
                name = "pcm_s16le" if suffix == ".avi" else "aac"
                self.audio_out = self.container.add_stream(name, rate=audio.codec_context.sample_rate)
                self.audio_out.layout = f"{audio.codec_context.layout.nb_channels}c"  # a PCM input's may be unnamed
                self.transcode = True
        self.frames = 0

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except av.FFmpegError as error:
            raise VideoError(f"{self.name}: cannot write ({_reason(error)})") from None

    def mux_audio(self, packet: av.Packet) -> None:
        """An input audio packet, copied or transcoded: decoded samples are encoded back to back from the time of
        the first (an encoder's priming sits before it, where .mp4 and .mov hide it; in .avi, silence from 0)."""
        if self.transcode:
            for frame in packet.decode():  # a decoding error is the input's, named by the source
                if self.audio_pts is None:
                    start = 0 if frame.time is None else round(frame.pts * frame.time_base * frame.sample_rate)
                    self.audio_pts = 0 if self.path.suffix.lower() == ".avi" else start
                    if start > self.audio_pts:
                        self._encode_audio(_silence(frame, start))
                self._encode_audio(frame)
        elif self.audio_out is not None:
            packet.stream = self.audio_out
            with self._writing():
                self.container.mux(packet)

    def _encode_audio(self, frame: av.AudioFrame) -> None:
        frame.pts, frame.time_base = self.audio_pts, Fraction(1, frame.sample_rate)
        self.audio_pts += frame.samples
        with self._writing():
            self.container.mux(self.audio_out.encode(frame))

    def write(self, frame_rgb: np.ndarray, time: float | Fraction | None = None) -> None:
        """The next frame at the constant rate or, given its presentation ``time`` (seconds), shown on every
        tick of the constant rate from its time (rounded half up) to the next frame's: repeated or dropped as
        ``ffmpeg``'s constant-rate output does, so a variable-rate input keeps its timing."""
        if time is None and self.held is None:
            return self._encode(frame_rgb)
        if time is None:  # untimed: the next tick
            tick = self.next_pts + 1
        else:  # half up, as ffmpeg rounds (half to even put frames at 17.5 and 18.5 ticks both on 18, losing one)
            tick = math.floor(max(time, 0) * self.fps + Fraction(1, 2))
        if self.held is None:
            self.next_pts = tick
        while self.held is not None and self.next_pts < tick:
            self._encode(self.held)
        self.held = frame_rgb

    def _encode(self, frame_rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
        frame.pts, frame.time_base = self.next_pts, 1 / self.fps
        self.next_pts += 1
        with self._writing():
            self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        if self.held is not None:
            self._encode(self.held)
        with self._writing():
            self.container.mux(self.stream.encode(None))
            if self.transcode:
                self.container.mux(self.audio_out.encode(None))
            self.container.close()

    def abort(self) -> None:
        """Close without flushing (after an error); the file is left incomplete for the caller to remove."""
        try:
            self.container.close()
        except (av.FFmpegError, OSError, ValueError):
            pass


def _silence(like: av.AudioFrame, samples: int) -> av.AudioFrame:
    """``samples`` of silence in the sample format, layout and rate of ``like``."""
    frame = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=samples)
    zero = b"\x80" if like.format.name.startswith("u8") else b"\0"
    for plane in frame.planes:
        plane.update(zero * plane.buffer_size)
    frame.sample_rate = like.sample_rate
    return frame


class FolderSink:
    """Writes each frame as ``<name>.png`` into a folder (names: the input frames' stems, or ``000001``…);
    ``name``: the folder errors name (the final output when ``folder`` is a temporary one)."""

    def __init__(self, folder: str | Path, names: list[str] | None = None, name: str | Path | None = None):
        self.path = Path(folder)
        self.name = Path(name or folder)
        if names is not None and len(set(names)) < len(names):
            twice = next(name for name in names if names.count(name) > 1)
            raise VideoError(f"two input frames named {twice!r} (e.g. .png and .jpg): their output frames would collide")
        self.path.mkdir()
        self.names = names
        self.frames = 0

    def mux_audio(self, packet: av.Packet) -> None:
        pass

    def write(self, frame_rgb: np.ndarray, time: float | None = None) -> None:
        """One PNG per frame; ``time`` is not used (as :meth:`VideoSink.write`)."""
        name = self.names[self.frames] if self.names else f"{self.frames + 1:06d}"
        target = self.path / f"{name}.png"
        if not cv2.imwrite(str(target), cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)):
            raise VideoError(f"{self.name / target.name}: could not write the frame")
        self.frames += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def read_frames(path: str | Path, start: int = 0, count: int | None = None) -> np.ndarray:
    """Frames ``start … start + count - 1`` of a video or folder as one (T, H, W, 3) uint8 RGB array
    (training and benchmark clips; streaming code should iterate :meth:`VideoSource.frames`)."""
    source = open_source(path)
    frames = []
    try:
        for index, frame in enumerate(source.frames()):
            if index >= start:
                frames.append(frame)
            if count is not None and len(frames) == count:
                break
    finally:
        source.close()
    if not frames:
        raise VideoError(f"{path}: no frames from index {start}")
    return np.stack(frames)
