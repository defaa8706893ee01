"""`make data`'s speech: recordings become 8 kHz mono 16-bit, peak -3 dBFS, cut to their sound; which files are speech."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parents[2] / "tools"))  # as `python tools/make_data.py` runs
from data_parts.prompts import prompt_clips  # noqa: E402
from data_parts.tts import TTS_RATE, _to_8k  # noqa: E402

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="needs Debian sox")


def _recording(path, rate=44100, silence_s=0.5, sound_s=0.3, noise_dbfs=-60):
    """Silence (a noise floor), a 0.3 s tone at -20 dBFS, silence; float WAV at ``rate``."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sound_s * rate)) / rate
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    quiet = np.zeros(int(silence_s * rate))
    audio = np.concatenate([quiet, tone, quiet])
    audio += 10 ** (noise_dbfs / 20) * rng.standard_normal(len(audio))
    sf.write(str(path), audio.astype(np.float32), rate, subtype="FLOAT")


@needs_sox
@pytest.mark.parametrize("trim, seconds", [(True, 0.3), (False, 1.3)])
def test_recordings_are_resampled_normalised_and_trimmed_on_request(tmp_path, trim, seconds):
    _recording(tmp_path / "in.wav")
    assert _to_8k(str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), trim=trim) is None
    info = sf.info(str(tmp_path / "out.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (TTS_RATE, 1, "PCM_16")
    audio, _ = sf.read(str(tmp_path / "out.wav"))
    assert abs(len(audio) / info.samplerate - seconds) < 0.05
    assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(-3, abs=0.1)


@needs_sox
def test_a_failed_conversion_is_reported_not_raised(tmp_path):
    error = _to_8k(str(tmp_path / "missing.wav"), str(tmp_path / "out.wav"))
    assert error and "missing.wav" in error


def test_prompt_clips_are_the_packages_recordings_without_silences_or_documents():
    files = [Path(p) for p in (
        "/usr/share/asterisk/sounds/fr/digits/1.gsm", "/usr/share/asterisk/sounds/en_US_f_Allison/vm-intro.wav",
        "/usr/share/asterisk/sounds/en_US_f_Allison/silence/1.wav", "/usr/share/doc/asterisk-prompt-fr/changelog.gz",
        "/usr/share/asterisk/sounds/fr/core-sounds-fr.txt", "/usr/share/asterisk/sounds/en_US_f_Allison",
    )]
    assert prompt_clips(files) == sorted(files[:2])
