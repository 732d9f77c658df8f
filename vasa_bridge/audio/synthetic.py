"""A speech-like test signal: syllable-rate bursts of a voiced tone separated by silence, so a jaw driven by it
opens and closes. What the sidecar's tests and benchmarks stream when the content of the speech does not matter."""

from __future__ import annotations

import numpy as np

SYLLABLE_RATE_HZ = 2.5
VOICE_F0_HZ = 180.0


def syllable_bursts(seconds: float, rate_hz: int = 16000, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """(seconds × rate_hz,) float32. `seed` shifts the syllable phase and seeds the noise, so concurrent sessions
    differ; `noise` is the breath noise's amplitude (0 for a pure tone)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    envelope = (np.sin(2 * np.pi * SYLLABLE_RATE_HZ * t + seed) > 0.2).astype(np.float32)
    voice = 0.3 * np.sin(2 * np.pi * VOICE_F0_HZ * t)
    if noise:
        voice = voice + noise * rng.standard_normal(len(t))
    return (envelope * voice).astype(np.float32)
