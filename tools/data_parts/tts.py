"""Part ``tts``: synthetic 8 kHz speech from Debian's flite and espeak-ng, and the helpers the voices share."""

from __future__ import annotations

import multiprocessing
import os
import random
from pathlib import Path

from .common import Item, PartResult, apt_ensure, deb_source, debian_license, run


# TTS.
TTS_RATE = 8000
RECORDING_ENGINES = ("klettres", "asterisk")  # jobs that convert a recording rather than synthesise
FLITE_UTTS_PER_VOICE = 100
ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "Alex", "Andy", "Annie", "aunty", "belinda",
                   "david", "ed", "edward", "grandma", "grandpa", "iven", "john", "linda",
                   "max", "Michael", "norbert", "paul", "quincy", "rob", "steph", "travis",
                   "victor", "zac", "Lee"]
ESPEAK_CONFIGS = 36
ESPEAK_UTTS_PER_CONFIG = 42
N_SENTENCES = 400
TRIM_DBFS = -40  # recordings are cut to their first and last sound above this (after peak -3 dBFS)
VoiceJob = tuple[str, str, list[str], str, str]  # engine, voice, engine arguments, text, destination path


_W = {
    "det": "the a this that every one my our your their".split(),
    "adj": ("old young quiet small large bright dark green red blue yellow heavy light warm cold "
            "careful busy tired happy clever strange simple wooden narrow broad distant gentle "
            "sudden early late silver golden empty full").split(),
    "noun": ("farmer teacher doctor sailor painter baker driver child woman man dog cat horse bird "
             "river garden window letter table kitchen village station market bridge road forest "
             "mountain harbour engine clock lamp basket ladder boat train wagon orchard meadow "
             "library office bottle candle blanket hammer pencil") .split(),
    "vt": ("found carried opened closed painted washed mended watched followed counted lifted "
           "pushed pulled cleaned visited noticed wrapped measured repaired bought sold "
           "borrowed").split(),
    "vi": ("waited slept smiled laughed worked rested walked waved listened arrived stopped "
           "wandered whistled") .split(),
    "prep": "near behind beside under over across along past inside outside".split(),
    "adv": "slowly quickly quietly carefully happily gladly suddenly again together early".split(),
    "time": ["on monday", "on tuesday morning", "last winter", "before noon", "after supper",
             "at dawn", "in the spring", "every evening", "at seven o'clock", "on a rainy day",
             "late at night", "in june", "at half past four", "yesterday", "this afternoon"],
    "num": ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "twenty", "thirty", "forty", "fifty", "a hundred"],
    "plural": "apples boxes stones letters coins cups books shells pears chairs".split(),
}


def _np(rng: random.Random) -> list[str]:
    words = [rng.choice(_W["det"])]
    if rng.random() < 0.6:
        words.append(rng.choice(_W["adj"]))
    return words + [rng.choice(_W["noun"])]


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct English sentences of 5-15 words from a fixed word list (seeded)."""
    rng = random.Random(seed)
    out: list[str] = []
    seen = set()
    while len(out) < n:
        words = _np(rng)
        r = rng.random()
        if r < 0.45:
            words += [rng.choice(_W["vt"])] + _np(rng)
        elif r < 0.75:
            words += [rng.choice(_W["vi"]), rng.choice(_W["prep"])] + _np(rng)
        else:
            words += [rng.choice(_W["vt"]), rng.choice(_W["num"]), rng.choice(_W["plural"])]
        if rng.random() < 0.4:
            words.append(rng.choice(_W["adv"]))
        if rng.random() < 0.4:
            words += rng.choice(_W["time"]).split()
        if rng.random() < 0.2:
            words += [rng.choice(_W["prep"])] + _np(rng)
        s = " ".join(words)
        if 5 <= len(words) <= 15 and s not in seen:
            seen.add(s)
            out.append(s[0].upper() + s[1:] + ".")
    return out


def _tts_job(job: VoiceJob) -> str | None:
    """Synthesise one utterance (or take a recording) as 8 kHz mono 16-bit; return an error or None."""
    engine, voice, args, text, dst = job
    if engine in RECORDING_ENGINES:  # a recording (args[0]), trimmed to its sound
        return _to_8k(args[0], dst, trim=True)
    raw = dst + ".raw.wav"
    text_in = None
    if engine == "flite":
        cmd = ["flite", "-voice", args[0], "-t", text, "-o", raw]
    elif engine == "festival":
        cmd = ["text2wave", "-eval", f"(voice_{voice})", "-eval", f"(Parameter.set 'Duration_Stretch {args[0]})",
               "-o", raw]
        text_in = text
    else:
        cmd = ["espeak-ng", *args, "-w", raw, text]
    r = run(cmd, input=text_in)
    if r.returncode != 0 or not os.path.exists(raw):
        return f"{' '.join(cmd[:4])}: {r.stderr.strip()[-200:]}"
    error = _to_8k(raw, dst)
    os.remove(raw)
    return error


def _to_8k(src: str, dst: str, trim: bool = False) -> str | None:
    """sox: mono 16-bit at TTS_RATE, peak -3 dBFS; `trim` cuts leading and trailing sound below TRIM_DBFS."""
    silence = ["silence", "1", "0.02", f"{TRIM_DBFS}d"]
    effects = ["rate", "-h", str(TTS_RATE), "gain", "-n", "-3"]
    if trim:
        effects += [*silence, "reverse", *silence, "reverse"]
    r = run(["sox", src, "-b", "16", "-c", "1", dst, *effects])
    return None if r.returncode == 0 else f"sox {src}: {r.stderr.strip()[-200:]}"


def _synthesise(jobs: list[VoiceJob], out: Path, jobs_n: int) -> None:
    """Run the jobs in `jobs_n` processes and write `out`/index.tsv (file, engine, voice, text)."""
    for dst in {Path(job[4]).parent for job in jobs}:
        dst.mkdir(parents=True, exist_ok=True)
    with multiprocessing.Pool(jobs_n) as pool:
        errors = [e for e in pool.imap(_tts_job, jobs, chunksize=8) if e]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(jobs)} voice jobs failed, first: {errors[0]}")
    with open(out / "index.tsv", "w") as f:
        f.write("file\tengine\tvoice\ttext\n")
        for engine, voice, _, text, dst in jobs:
            f.write(f"{Path(dst).relative_to(out)}\t{engine}\t{voice}\t{text}\n")


def build_tts(out: Path, shared: Path, jobs_n: int = 2) -> PartResult:
    res = PartResult()
    versions = apt_ensure(["flite", "espeak-ng", "sox"])
    if "sox" not in versions:
        res.missing.append("tts: Debian sox not available (needed to resample)")
        return res
    sentences = make_sentences(N_SENTENCES)
    rng = random.Random(1)
    jobs: list[VoiceJob] = []
    if "flite" in versions:
        listed = run(["flite", "-lv"]).stdout.split(":", 1)[-1].split()
        voices = [v for v in listed if "time" not in v]  # awb_time only speaks clock times
        for v in voices:
            for i, s in enumerate(rng.sample(sentences, FLITE_UTTS_PER_VOICE)):
                jobs.append(("flite", v, [v], s, str(out / "flite" / f"flite_{v}_{i:04d}.wav")))
    else:
        res.missing.append("tts/flite: Debian flite not available")
    if "espeak-ng" in versions:
        configs, seen = [], set()
        while len(configs) < ESPEAK_CONFIGS:
            acc, var = rng.choice(ESPEAK_ACCENTS), rng.choice(ESPEAK_VARIANTS)
            if (acc, var) in seen:
                continue
            seen.add((acc, var))
            pitch, speed = rng.randrange(30, 76, 5), rng.randrange(130, 186, 5)
            configs.append((f"{acc}+{var}-p{pitch}-s{speed}", ["-v", f"{acc}+{var}", "-p", str(pitch),
                                                               "-s", str(speed)]))
        for name, args in configs:
            for i, s in enumerate(rng.sample(sentences, ESPEAK_UTTS_PER_CONFIG)):
                jobs.append(("espeak", name, args, s, str(out / "espeak" / f"espeak_{name}_{i:04d}.wav")))
    else:
        res.missing.append("tts/espeak: Debian espeak-ng not available")
    _synthesise(jobs, out, jobs_n)
    for engine, pkg in (("flite", "flite"), ("espeak", "espeak-ng")):
        if pkg in versions:
            res.items.append(Item(f"tts/{engine}", deb_source(pkg, versions[pkg]) + f" + debian:sox={versions['sox']}",
                                  f"{debian_license(pkg)} (engine; generated audio, text written for this project)",
                                  note=f"{TTS_RATE} Hz mono 16-bit, peak -3 dBFS"))
    return res
