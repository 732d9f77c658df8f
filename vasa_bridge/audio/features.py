"""Log-mel + energy features at 100 frames/s, computed identically offline and from a live stream.

Framing is causal: feature frame i covers samples [i*HOP - (WIN - HOP), (i+1)*HOP), with zeros before the start,
so frame i can be emitted as soon as sample (i+1)*HOP - 1 has arrived. A stream of N samples yields N // HOP
frames; `flush` zero-pads the last partial hop, as the offline function does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vasa_bridge.audio.constants import (ENERGY_FLOOR_DBFS, HOP_LENGTH_SAMPLES, LOG_FLOOR, MEL_FMAX_HZ,
                                         MEL_FMIN_HZ, MODEL_SAMPLE_RATE_HZ, N_FFT, N_MELS,
                                         WINDOW_LENGTH_SAMPLES)

_CONTEXT = WINDOW_LENGTH_SAMPLES - HOP_LENGTH_SAMPLES  # samples of history each frame needs


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(N_MELS, N_FFT//2 + 1) triangular HTK-mel filters, area-normalised."""
    fft_hz = np.linspace(0, MODEL_SAMPLE_RATE_HZ / 2, N_FFT // 2 + 1)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.array(MEL_FMIN_HZ)), _hz_to_mel(np.array(MEL_FMAX_HZ)),
                                      N_MELS + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (fft_hz[None, :] - lower) / (centre - lower)
    falling = (upper - fft_hz[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (upper - lower))
    return filters.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(WINDOW_LENGTH_SAMPLES + 1)[:-1].astype(np.float32)


def _frames_to_features(frames: np.ndarray) -> np.ndarray:
    """(T, WIN) windows of samples → (T, N_MELS + 1): log-mel bands, then energy in dBFS of the frame."""
    spectrum = np.abs(np.fft.rfft(frames * _window(), n=N_FFT, axis=1)) ** 2   # (T, N_FFT//2+1)
    log_mel = np.log(spectrum @ mel_filterbank().T + LOG_FLOOR)                 # (T, N_MELS)
    rms = np.sqrt(np.mean(frames[:, -HOP_LENGTH_SAMPLES:] ** 2, axis=1))        # energy of the newest hop
    energy_dbfs = np.maximum(20.0 * np.log10(rms + 1e-12), ENERGY_FLOOR_DBFS)   # (T,)
    return np.concatenate([log_mel, energy_dbfs[:, None]], axis=1).astype(np.float32)


def log_mel_silence(n: int) -> np.ndarray:
    """(n, N_MELS + 1): what `audio_features` gives for digital silence."""
    out = np.full((n, N_MELS + 1), np.log(LOG_FLOOR), np.float32)
    out[:, N_MELS] = ENERGY_FLOOR_DBFS
    return out


def audio_features(samples: np.ndarray) -> np.ndarray:
    """Features of a whole signal at the model rate: (ceil(N / HOP), N_FEATURES)."""
    samples = np.asarray(samples, np.float32).reshape(-1)
    n_frames = -(-len(samples) // HOP_LENGTH_SAMPLES)
    padded = np.concatenate([np.zeros(_CONTEXT, np.float32), samples,
                             np.zeros(n_frames * HOP_LENGTH_SAMPLES - len(samples), np.float32)])
    starts = np.arange(n_frames) * HOP_LENGTH_SAMPLES
    frames = padded[starts[:, None] + np.arange(WINDOW_LENGTH_SAMPLES)[None, :]]  # (T, WIN)
    return _frames_to_features(frames)


class FeatureStream:
    """Incremental `audio_features`: push chunks of any size, get the frames that became complete."""

    def __init__(self) -> None:
        self._pending = np.zeros(_CONTEXT, np.float32)  # history + samples not yet in a frame
        self.n_frames = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        self._pending = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        n_new = (len(self._pending) - _CONTEXT) // HOP_LENGTH_SAMPLES
        if n_new <= 0:
            return np.zeros((0, N_MELS + 1), np.float32)
        starts = np.arange(n_new) * HOP_LENGTH_SAMPLES
        frames = self._pending[starts[:, None] + np.arange(WINDOW_LENGTH_SAMPLES)[None, :]]  # (n_new, WIN)
        self._pending = self._pending[n_new * HOP_LENGTH_SAMPLES:]
        self.n_frames += n_new
        return _frames_to_features(frames)

    def flush(self) -> np.ndarray:
        """Emit the last partial hop (zero-padded), matching the offline frame count."""
        leftover = len(self._pending) - _CONTEXT
        if leftover <= 0:
            return np.zeros((0, N_MELS + 1), np.float32)
        return self.push(np.zeros(HOP_LENGTH_SAMPLES - leftover, np.float32))
