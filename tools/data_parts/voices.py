"""Part ``voices``: KLettres' recordings and festival's diphone/HTS voices at 8 kHz."""

from __future__ import annotations

import random
from pathlib import Path

from .common import Item, PartResult, apt_ensure, deb_source, debian_license
from .tts import N_SENTENCES, TRIM_DBFS, TTS_RATE, VoiceJob, _synthesise, make_sentences

KLETTRES_DIR = Path("/usr/share/klettres")
# Debian package -> festival voice: each a different real speaker's diphones (ked: US English; the others
# read the English sentences through Czech, Italian, Finnish and Catalan rules: speech-like sound is the point).
FESTIVAL_VOICES = {
    "festvox-kdlpc16k": "ked_diphone", "festvox-czech-dita": "czech_dita", "festvox-czech-krb": "czech_krb",
    "festvox-czech-machac": "czech_machac", "festvox-czech-ph": "czech_ph", "festvox-italp16k": "lp_diphone",
    "festvox-itapc16k": "pc_diphone", "festvox-suopuhe-lj": "suo_fi_lj_diphone",
    "festvox-suopuhe-mv": "hy_fi_mv_diphone", "festvox-ca-ona-hts": "upc_ca_ona_hts",
}
FESTIVAL_UTTS_PER_VOICE = 40
FESTIVAL_STRETCH = (0.85, 1.2)  # festival's Duration_Stretch (slower > 1)


def build_voices(out: Path, shared: Path, jobs_n: int = 2) -> PartResult:
    """Real speakers beyond English formant synthesis: KLettres' recordings and festival's diphone voices."""
    res = PartResult()
    versions = apt_ensure(["sox", "klettres-data", "festival", *FESTIVAL_VOICES])
    if "sox" not in versions:
        res.missing.append("voices: Debian sox not available (needed to resample)")
        return res
    jobs: list[VoiceJob] = []
    if "klettres-data" in versions:
        for clip in sorted(KLETTRES_DIR.glob("*/*/*.ogg")):
            language = clip.parts[-3]
            name = f"{clip.parent.name}_{clip.stem}"
            jobs.append(("klettres", language, [str(clip)], name, str(out / "klettres" / language / f"{name}.wav")))
    else:
        res.missing.append("voices/klettres: Debian klettres-data not available")
    voices = [v for pkg, v in FESTIVAL_VOICES.items() if pkg in versions and "festival" in versions]
    if missing := sorted({"festival", *FESTIVAL_VOICES} - set(versions)):
        res.missing.append(f"voices/festival: not installed: {' '.join(missing)}")
    rng = random.Random(2)
    sentences = make_sentences(N_SENTENCES)
    for voice in voices:
        for i, s in enumerate(rng.sample(sentences, FESTIVAL_UTTS_PER_VOICE)):
            stretch = f"{rng.uniform(*FESTIVAL_STRETCH):.2f}"
            jobs.append(("festival", voice, [stretch], s, str(out / "festival" / f"festival_{voice}_{i:04d}.wav")))
    if not jobs:
        return res
    _synthesise(jobs, out, jobs_n)
    sox = f" + debian:sox={versions['sox']}"
    if "klettres-data" in versions:
        res.items.append(Item("voices/klettres", deb_source("klettres-data", versions["klettres-data"]) + sox,
                              debian_license("klettres-data"),
                              note=f"letters and syllables read by one speaker per language; {TTS_RATE} Hz, "
                                   f"trimmed below {TRIM_DBFS} dBFS after peak -3 dBFS"))
    for pkg, voice in FESTIVAL_VOICES.items():
        if voice in voices:
            res.items.append(Item("voices/festival", deb_source(pkg, versions[pkg]) + sox,
                                  f"{debian_license(pkg)} (voice; generated audio, text written for this project)",
                                  note=f"{voice}: English sentences through its own letter-to-sound rules"))
    return res
