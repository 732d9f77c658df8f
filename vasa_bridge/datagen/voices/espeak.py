"""espeak-ng voices: many English variants, other languages, and sung / held-vowel lines.

Phone timings come from espeak-ng's own phoneme events (vasa_bridge.phones.espeak), so they are exact for every
language. Each item jitters speaking rate and pitch.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np

from vasa_bridge.datagen.voices import Synthesis
from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.phones.types import Phone

# (espeak-ng voice, language of the text). English accents and espeak's speaker variants (m* male, f* female,
# klatt* the Klatt synthesiser); other languages with their default speaker and one variant.
ENGLISH_VOICES: tuple[str, ...] = (
    "en-us", "en-us+m1", "en-us+m2", "en-us+m3", "en-us+m4", "en-us+m5", "en-us+m6", "en-us+m7",
    "en-us+f1", "en-us+f2", "en-us+f3", "en-us+f4", "en-us+klatt2", "en-gb", "en-gb+f2", "en-gb-scotland",
    "en-gb-x-rp", "en-029", "en-us-nyc",
)
OTHER_VOICES: tuple[tuple[str, str], ...] = (
    ("de", "de"), ("de+f3", "de"), ("fr", "fr"), ("fr+m4", "fr"), ("es", "es"), ("es+f2", "es"),
    ("it", "it"), ("pt-br", "pt-br"), ("pt-br+f1", "pt-br"), ("hi", "hi"), ("nl", "nl"), ("pl", "pl"),
)
SUNG_VOICES: tuple[str, ...] = ("en-us+f2", "en-us+m3", "en-gb+f3", "en-us+m6")

RATE_WPM_RANGE = (130, 210)     # everyday speech; espeak's default is 175
PITCH_RANGE = (30, 75)          # 50 = the variant's own pitch
SUNG_RATE_WPM_RANGE = (80, 110)
SUNG_PITCH_RANGE = (40, 85)
SUNG_TEMPO_RANGE = (0.4, 0.7)   # sox tempo factor < 1 stretches time: vowels held 1.4–2.5× longer
SUNG_BEND_CENTS = 400           # pitch glides up or down by as much as a major third


@dataclass(frozen=True)
class EspeakVoice:
    voice: str            # espeak-ng voice, "en-us+f3"
    language: str
    family: str = "espeak"
    kind: str = "speech"

    @property
    def name(self) -> str:
        return f"espeak/{self.voice}"

    def synthesize(self, text: str, seed: int = 0) -> Synthesis:
        from vasa_bridge.phones import espeak

        rng = np.random.default_rng(seed)
        speech = espeak.synthesize(text, voice=self.voice, rate_wpm=int(rng.integers(*RATE_WPM_RANGE)),
                                   pitch=int(rng.integers(*PITCH_RANGE)))
        return Synthesis(speech.audio, speech.sample_rate_hz, tuple(speech.phones))


@dataclass(frozen=True)
class SungEspeakVoice:
    """Sung syllables: espeak-ng at a slow rate, then time-stretched and pitch-bent by sox.

    sox `tempo` stretches uniformly (WSOLA), so the phone times scale by the length ratio; `bend` changes pitch
    and keeps the length, so they stay valid.
    """

    voice: str
    language: str = "en"
    family: str = "espeak"
    kind: str = "sung"

    @property
    def name(self) -> str:
        return f"espeak-sung/{self.voice}"

    def synthesize(self, text: str, seed: int = 0) -> Synthesis:
        from vasa_bridge.phones import espeak

        rng = np.random.default_rng(seed)
        speech = espeak.synthesize(text, voice=self.voice, rate_wpm=int(rng.integers(*SUNG_RATE_WPM_RANGE)),
                                   pitch=int(rng.integers(*SUNG_PITCH_RANGE)))
        tempo = float(rng.uniform(*SUNG_TEMPO_RANGE))
        duration_s = len(speech.audio) / speech.sample_rate_hz / tempo
        # Two glides: one in the first half, one in the second (bend takes delay,cents,duration triples, each
        # delay counted from the end of the previous bend).
        first = duration_s * rng.uniform(0.1, 0.3), duration_s * rng.uniform(0.15, 0.25)
        second = duration_s * rng.uniform(0.1, 0.25), duration_s * rng.uniform(0.15, 0.25)
        cents = rng.integers(-SUNG_BEND_CENTS, SUNG_BEND_CENTS + 1, size=2)
        effects = ["tempo", "-s", f"{tempo:.4f}", "bend",
                   f"{first[0]:.3f},{int(cents[0])},{first[1]:.3f}", f"{second[0]:.3f},{int(cents[1])},{second[1]:.3f}"]
        audio = sox_process(speech.audio, speech.sample_rate_hz, effects)
        scale = len(audio) / max(1, len(speech.audio))
        phones = tuple(Phone(p.symbol, p.start_s * scale, p.end_s * scale, p.viseme, p.stressed)
                       for p in speech.phones)
        return Synthesis(audio, speech.sample_rate_hz, phones)


def sox_process(audio: np.ndarray, sample_rate_hz: int, effects: list[str]) -> np.ndarray:
    """Run float32 mono audio through sox effects, in memory."""
    raw = ["-t", "raw", "-r", str(sample_rate_hz), "-e", "floating-point", "-b", "32", "-c", "1"]
    result = subprocess.run(["sox", "-q", *raw, "-", *raw, "-", *effects], input=audio.astype(np.float32).tobytes(),
                            capture_output=True, timeout=60)
    if result.returncode != 0:
        raise VasaBridgeError(f"sox {' '.join(effects)} failed: {result.stderr.decode(errors='replace')[:300]}")
    return np.frombuffer(result.stdout, np.float32).copy()


def voices() -> tuple[EspeakVoice | SungEspeakVoice, ...]:
    english = tuple(EspeakVoice(v, "en") for v in ENGLISH_VOICES)
    others = tuple(EspeakVoice(v, language) for v, language in OTHER_VOICES)
    sung = tuple(SungEspeakVoice(v) for v in SUNG_VOICES)
    return english + others + sung
