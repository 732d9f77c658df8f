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


def music_like(seconds: float, rng: np.random.Generator, rate_hz: int = 16000) -> np.ndarray:
    """Notes of harmonic tones with attack/decay envelopes, sometimes a drum-like click: sound that is not speech."""
    n = int(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    out = np.zeros(n, np.float32)
    note_s = float(rng.uniform(0.15, 0.6))
    for start in np.arange(0.0, seconds, note_s):
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        seg = (t >= start) & (t < start + note_s * 1.5)
        tt = t[seg] - start
        env = np.minimum(1.0, tt / 0.01) * np.exp(-tt / (0.3 * note_s + 0.05))
        tone = sum(np.sin(2 * np.pi * f0 * h * tt) / h for h in range(1, int(rng.integers(2, 7))))
        out[seg] += (env * tone).astype(np.float32)
        if rng.random() < 0.3:
            click = (tt < 0.03) * rng.standard_normal(len(tt)) * np.exp(-tt / 0.01)
            out[seg] += click.astype(np.float32)
    return out


def noise_like(seconds: float, rng: np.random.Generator, rate_hz: int = 16000) -> np.ndarray:
    """Steady or fluctuating coloured noise (fans, rain, wind, crowd-like rumble): sound that is not speech."""
    n = int(seconds * rate_hz)
    white = rng.standard_normal(n).astype(np.float32)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1 / rate_hz)
    spectrum /= np.maximum(freqs, 20.0) ** float(rng.uniform(0.0, 1.0))      # white … pink … brown-ish
    noise = np.fft.irfft(spectrum, n).astype(np.float32)
    if rng.random() < 0.5:                                                    # slow swells (wind, traffic)
        noise *= (1.0 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.2, 2.0) * np.arange(n) / rate_hz)).astype(np.float32)
    return noise
