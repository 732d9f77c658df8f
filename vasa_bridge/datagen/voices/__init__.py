"""Corpus voices, one module per family, all with the same small interface (`Voice`).

A voice turns text into audio at its own sample rate, plus phone timings when the engine reports them itself
(espeak-ng). Voices whose phones are None get them from forced alignment in the builder. `seed` picks the
per-item prosody jitter (rate, pitch, noise and length scales) so a planned item always sounds the same.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

from vasa_bridge.phones.types import Phone

FAMILIES: tuple[str, ...] = ("espeak", "flite", "piper", "kokoro")
NEURAL_FAMILIES: frozenset[str] = frozenset({"piper", "kokoro"})


class Synthesis(NamedTuple):
    audio: np.ndarray                   # (N,) float32 mono in [-1, 1] at sample_rate_hz
    sample_rate_hz: int
    phones: tuple[Phone, ...] | None    # None: the engine does not report timings; align the text


class Voice(Protocol):
    name: str        # unique in the corpus, "<family>/<voice>", e.g. "espeak/en-us+f3", "kokoro/jf_alpha+jm_kumo"
    family: str      # one of FAMILIES
    language: str    # what the text is in (espeak-ng language code), e.g. "en", "de", "pt-br"
    kind: str        # "speech" or "sung"

    def synthesize(self, text: str, seed: int = 0) -> Synthesis: ...


def all_voices() -> tuple[Voice, ...]:
    """Every voice of every family, in a fixed order (the corpus plan depends on it)."""
    from vasa_bridge.datagen.voices import espeak, flite, kokoro, piper

    return (*espeak.voices(), *flite.voices(), *piper.voices(), *kokoro.voices())


def voice_by_name(name: str) -> Voice:
    for voice in all_voices():
        if voice.name == name:
            return voice
    raise KeyError(f"no corpus voice named {name!r}")
