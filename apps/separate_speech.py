"""``rsuite separate-speech INPUT…`` — split a recording of overlapping speakers into one file per speaker.

INPUT is any sound file libsndfile reads (WAV, FLAC, OGG, MP3, …) or, failing that, FFmpeg (through PyAV:
a phone's M4A/AAC voice memo, WebM, the sound track of a video) at any sample rate; stereo and other
multichannel input is downmixed to mono (channels averaged) before separation. For each input, writes
``OUT_DIR/<stem>_s1.wav``, ``<stem>_s2.wav`` (… for ``--speakers 3``) at the input's sample rate and sample
format (16-bit PCM stays 16-bit; compressed input gives 16-bit PCM), each scaled to the mixture's loudness
(RMS) and kept under full scale.

Long files are separated in overlapping chunks (``--chunk``, ``--overlap`` seconds) whose speaker order is
aligned on the overlap, so speakers do not swap mid-file and model memory stays that of one chunk.

A file that cannot be separated (unreadable, empty, too short, silent, NaN or infinite samples) gets one
error line and the other inputs are still separated; the exit code is then 1, or 2 if no input could be
separated.

Examples::

    rsuite separate-speech call.wav --out-dir separated/
    rsuite separate-speech a.flac memo.m4a --out-dir out/ --device cuda --force
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from apps.common import EXIT_BAD_INPUT, UserError, add_common_args, atomic_output, check_output, make_folder, pick_device, require_file
from apps.models import WeightsError, load_model
from audio.convtasnet.model import ConvTasNet
from audio.mossformer2.model import MossFormer2
from audio.mossformer2.separate import DEFAULT_WEIGHTS, mono_mixture, separate

DEMO_WEIGHTS = [DEFAULT_WEIGHTS]
DEMO_OUTPUTS = ["mixture_s1.wav", "mixture_s2.wav"]
PEAK = 0.999  # outputs louder than this after loudness matching are scaled down to it
MIN_CHUNK_S, MIN_OVERLAP_S = 1.0, 0.25  # shorter chunks lose the context the separators learnt on (2-4 s segments)
WAV_SUBTYPES = ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")  # kept; any other input -> PCM_16


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsuite separate-speech", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, help="sound files (mono or multichannel, any rate)")
    parser.add_argument("--out-dir", type=Path, default=Path("."), help="folder for the separated files, created if missing (default: .)")
    parser.add_argument("--speakers", type=int, default=2, help="speakers in the recording (the weights' count)")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS,
                        help=f"shipped weights name or path (default {DEFAULT_WEIGHTS}: the shipped separator that measures "
                        "best on real held-out speakers; mossformer2-xs is the other)")
    parser.add_argument("--chunk", type=float, default=8.0, help="seconds per chunk for long files (at least 1)")
    parser.add_argument("--overlap", type=float, default=2.0, help="seconds shared by neighbouring chunks (at least 0.25)")
    add_common_args(parser)
    return parser


def decode_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream of any file FFmpeg reads: float32 (C, T) in [-1, 1] and its sample rate.
    A damaged packet is skipped, as ``ffmpeg`` does."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")  # planar float, the stream's own layout and rate
        frames = []
        for packet in container.demux(stream):
            try:
                frames += [out for frame in packet.decode() for out in resampler.resample(frame)]
            except av.error.InvalidDataError:
                continue
        frames += resampler.resample(None)
    if not frames:
        return np.zeros((1, 0), np.float32), stream.rate
    return np.concatenate([frame.to_ndarray() for frame in frames], axis=1), frames[0].sample_rate


def read_audio(path: Path) -> tuple[torch.Tensor, int, str]:
    """Mono float32 (T,) (channels averaged), sample rate, soundfile subtype of the output (the input's
    PCM or float format, else ``PCM_16``); :class:`UserError` if unreadable, empty, too short or silent."""
    require_file(path)
    try:
        audio, rate = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
        audio, subtype = audio.T.copy(), sf.info(os.fsencode(path)).subtype
    except (sf.LibsndfileError, RuntimeError, ValueError):
        try:
            (audio, rate), subtype = decode_with_ffmpeg(path), "PCM_16"
        except (av.FFmpegError, ValueError) as error:
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0][:100]
            raise UserError(f"{path}: not a readable sound file ({reason})") from None
    if audio.shape[1] == 0:
        raise UserError(f"{path}: holds no samples")
    try:
        return mono_mixture(torch.from_numpy(audio), rate), rate, subtype if subtype in WAV_SUBTYPES else "PCM_16"
    except ValueError as error:
        raise UserError(f"{path}: {error}") from None


def output_paths(path: Path, out_dir: Path, speakers: int) -> list[Path]:
    return [out_dir / f"{path.stem}_s{k + 1}.wav" for k in range(speakers)]


def write_sources(sources: torch.Tensor, paths: list[Path], rate: int, subtype: str, force: bool) -> None:
    """All of one input's outputs or none: each is written to its temporary file, and they replace their
    paths only once every one is complete."""
    with contextlib.ExitStack() as outputs:
        for source, path in zip(sources, paths):
            audio = source.numpy()
            peak = float(np.abs(audio).max())
            if peak > PEAK:
                audio = audio * (PEAK / peak)
            tmp = outputs.enter_context(atomic_output(path, force))
            try:  # a bytes path: any name the file system holds, UTF-8 or not
                sf.write(os.fsencode(tmp), audio, rate, subtype=subtype, format="WAV")
            except sf.LibsndfileError as error:
                full = shutil.disk_usage(path.parent).free < audio.nbytes  # libsndfile says only "System error."
                raise UserError(f"{path}: cannot write ({'no space left on device' if full else error.error_string})") from None


def main(args: argparse.Namespace) -> int:
    if args.speakers < 1 or not 0 < args.overlap < args.chunk:
        raise UserError("need --speakers >= 1 and 0 < --overlap < --chunk")
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise UserError(f"{args.out_dir}: not a folder")
    if not (math.isfinite(args.chunk) and math.isfinite(args.overlap)):
        raise UserError("--chunk and --overlap must be finite")
    if args.chunk < MIN_CHUNK_S or args.overlap < MIN_OVERLAP_S:
        raise UserError(f"--chunk {args.chunk} s, --overlap {args.overlap} s: need --chunk >= {MIN_CHUNK_S:g} s and "
                        f"--overlap >= {MIN_OVERLAP_S:g} s (shorter chunks separate worse than none)")
    writers: dict[Path, Path] = {}
    inputs = {path.resolve() for path in args.inputs if path.exists()}
    for path in args.inputs:  # refuse before any work
        for out in output_paths(path, args.out_dir, args.speakers):
            if out in writers:
                raise UserError(f"{writers[out]} and {path} would both write {out}: separate them into different --out-dir")
            if out.exists() and out.resolve() in inputs:
                raise UserError(f"{path} would write {out}, an input: separate them into another --out-dir")
            writers[out] = path
            if args.out_dir.is_dir():
                check_output(out, args.force)
    if not any(path.is_file() for path in args.inputs):
        require_file(args.inputs[0])  # nothing to separate: say why before loading or creating anything
    try:
        model = load_model(args.weights, device=pick_device(args.device), kind=(ConvTasNet, MossFormer2))
    except WeightsError as error:
        raise UserError(str(error)) from None
    if model.config.num_speakers != args.speakers:
        raise UserError(f"--weights {args.weights} separates {model.config.num_speakers} speakers, not {args.speakers}")
    rate = model.config.sample_rate
    if not 0 < round(args.overlap * rate) < round(args.chunk * rate):
        raise UserError(f"--chunk {args.chunk} s, --overlap {args.overlap} s: need 0 < overlap < chunk at {rate} Hz samples")
    make_folder(args.out_dir)
    failed = 0
    for path in args.inputs:
        try:
            audio, rate, subtype = read_audio(path)
        except UserError as error:  # one line per bad file; the others are still separated
            if args.debug:
                raise
            print(f"rsuite separate-speech: error: {error}", file=sys.stderr)
            failed += 1
            continue
        seconds = audio.shape[-1] / rate
        model_samples = math.ceil(audio.shape[-1] * model.config.sample_rate / rate)  # as torchaudio resamples
        with tqdm(total=model_samples, unit="sample", unit_scale=True, disable=args.quiet,
                  desc=path.name, file=sys.stderr) as bar:
            sources = separate(audio, rate, model, args.chunk, args.overlap, on_chunk=bar.update)
        paths = output_paths(path, args.out_dir, args.speakers)
        write_sources(sources.cpu(), paths, rate, subtype, args.force)
        if not args.quiet:
            print(f"{path} ({seconds:.1f} s, {rate} Hz) -> {', '.join(map(str, paths))}", file=sys.stderr)
    return EXIT_BAD_INPUT if failed == len(args.inputs) else int(failed > 0)


def demo(samples: Path, out: Path, args: argparse.Namespace) -> str:
    """Separate the bundled mixture ``samples/speech/mixture.wav`` (two held-out synthetic voices) into
    ``out/`` and return the SI-SNR improvement over its true sources."""
    from audio.mossformer2.losses import PITLoss, si_snr

    mixture = samples / "speech" / "mixture.wav"
    model = load_model(DEFAULT_WEIGHTS, device=pick_device(args.device))
    audio, rate, subtype = read_audio(mixture)
    sources = separate(audio, rate, model).cpu()
    paths = output_paths(mixture, out, model.config.num_speakers)
    write_sources(sources, paths, rate, subtype, force=True)
    truth = torch.stack([read_audio(samples / "speech" / f"source{k}.wav")[0] for k in (1, 2)])
    _, perm = PITLoss()(sources[None], truth[None])
    gain = si_snr(PITLoss.reorder(sources[None], perm)[0], truth) - si_snr(audio.expand_as(truth), truth)
    return f"{mixture.name} ({audio.shape[-1] / rate:.1f} s): SI-SNRi {float(gain.mean()):.1f} dB -> {', '.join(p.name for p in paths)}"


if __name__ == "__main__":
    from apps.cli import run

    sys.exit(run("separate-speech", sys.argv[1:]))
