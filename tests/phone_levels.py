"""How loud a TTS tool's phones are where it says they lie: shared by the tests of every phone source that reports
its own timings (flite, Festival, Piper)."""

from __future__ import annotations

import numpy as np

VOWEL_VISEMES = ("aa", "E", "I", "O", "U")


def phone_levels_db(speech, stop_symbols: tuple[str, ...]) -> tuple[list[float], list[float], list[float]]:
    """RMS levels (dB) of the vowels, of the phones named `stop_symbols`, and of the pauses longer than 40 ms."""
    rate = speech.sample_rate_hz

    def level_db(p) -> float:
        seg = speech.audio[int(p.start_s * rate): int(p.end_s * rate)]
        return float(20 * np.log10(np.sqrt(np.mean(seg ** 2)) + 1e-9))

    vowels = [level_db(p) for p in speech.phones if p.viseme in VOWEL_VISEMES]
    stops = [level_db(p) for p in speech.phones if p.symbol in stop_symbols]
    pauses = [level_db(p) for p in speech.phones if p.viseme == "sil" and p.duration_s > 0.04]
    return vowels, stops, pauses
