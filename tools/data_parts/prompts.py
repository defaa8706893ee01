"""Part ``prompts``: real speakers reading telephone prompts (Debian's Asterisk sound packages), 8 kHz.

Each package is one professional reader (Allison Smith reads both the English and the Mexican Spanish set,
so they are one speaker here): sentences, numbers, letters, about 20 minutes per package, recorded for
8 kHz telephony. They add real voices, not synthesis, to the separation training speech.
"""

from __future__ import annotations

from pathlib import Path

from .common import Item, PartResult, apt_ensure, deb_source, debian_license, dpkg_files
from .tts import TRIM_DBFS, TTS_RATE, VoiceJob, _synthesise

# Debian package -> the speaker (as the package names the reader; es-co's reader is not named)
PROMPT_SPEAKERS = {
    "asterisk-core-sounds-en-wav": "Allison", "asterisk-core-sounds-es-wav": "Allison",
    "asterisk-core-sounds-fr-wav": "June", "asterisk-core-sounds-it-wav": "Carlo",
    "asterisk-core-sounds-ru-wav": "IvrvoiceRU", "asterisk-prompt-it-menardi-wav": "Menardi",
    "asterisk-prompt-fr-armelle": "Armelle", "asterisk-prompt-es-co": "es-co",
}
PROMPT_SUFFIXES = (".wav", ".gsm")
SKIPPED_FOLDERS = ("silence",)  # recorded silences, not speech


def prompt_clips(files: list[Path]) -> list[Path]:
    """The speech recordings among a package's files (sorted; no silences, no documentation)."""
    return sorted(
        f for f in files
        if f.suffix in PROMPT_SUFFIXES and "/sounds/" in str(f) and f.parent.name not in SKIPPED_FOLDERS
    )


def build_prompts(out: Path, shared: Path, jobs_n: int = 2) -> PartResult:
    res = PartResult()
    versions = apt_ensure(["sox", *PROMPT_SPEAKERS])
    if "sox" not in versions:
        res.missing.append("prompts: Debian sox not available (needed to resample)")
        return res
    if missing := sorted(set(PROMPT_SPEAKERS) - set(versions)):
        res.missing.append(f"prompts: not installed: {' '.join(missing)}")
    installed: dict[str, list[str]] = {}  # speaker -> their installed packages
    for pkg, speaker in PROMPT_SPEAKERS.items():
        if pkg in versions:
            installed.setdefault(speaker, []).append(pkg)
    jobs: list[VoiceJob] = []
    for speaker, packages in installed.items():
        clips = [(pkg, clip) for pkg in packages for clip in prompt_clips(dpkg_files(pkg))]
        for pkg, clip in clips:
            name = f"{pkg.removeprefix('asterisk-')}_{clip.parent.name}_{clip.stem}"
            jobs.append(("asterisk", speaker, [str(clip)], clip.stem, str(out / speaker / f"{name}.wav")))
        if clips:
            res.items.append(Item(
                f"prompts/{speaker}", " + ".join(deb_source(p, versions[p]) for p in packages) + f" + debian:sox={versions['sox']}",
                " / ".join(dict.fromkeys(debian_license(p) for p in packages)),
                note=f"telephone prompts read by {speaker}; {TTS_RATE} Hz, trimmed below {TRIM_DBFS} dBFS after peak -3 dBFS",
            ))
    if jobs:
        _synthesise(jobs, out, jobs_n)
    return res
