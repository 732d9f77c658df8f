"""Polyphase FIR resampling that gives identical results offline and when fed in chunks of any size.

The offline `resample` is the streaming resampler fed once and flushed, so a sidecar session that receives
48 kHz chunks sees exactly the samples a file bake would.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

ZERO_CROSSINGS = 16   # filter half-length in zero crossings of the narrower band: ~ -80 dB stopband with Kaiser
KAISER_BETA = 8.0
ROLLOFF = 0.94        # cutoff as a fraction of the output Nyquist: keeps the anti-alias band out of speech


@lru_cache(maxsize=32)
def _polyphase_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """Filter as (up, taps_per_phase) rows plus its centre delay in input samples (times up)."""
    band = max(up, down)
    half = ZERO_CROSSINGS * band
    taps = _kaiser_lowpass(2 * half + 1, ROLLOFF / band) * up
    taps_per_phase = -(-len(taps) // up)
    padded = np.zeros(taps_per_phase * up)
    padded[: len(taps)] = taps
    # Row p holds taps p, p+up, p+2up...: the weights that output phase p applies to x[base], x[base-1], ...
    return padded.reshape(taps_per_phase, up).T.copy(), half


def _kaiser_lowpass(n_taps: int, cutoff: float) -> np.ndarray:
    """Linear-phase low-pass FIR, `cutoff` a fraction of Nyquist, unit gain at DC: what scipy.signal.firwin(n_taps,
    cutoff, window=("kaiser", KAISER_BETA)) gives (to float precision; tests/test_audio.py), in numpy alone. A
    sidecar session at a rate other than 16 kHz would otherwise import scipy on its first use (~50 MB and ~0.8 s on
    the 2-core machine): costly for a cluster replica taking over a lost one's sessions."""
    m = np.arange(n_taps) - (n_taps - 1) / 2.0
    taps = cutoff * np.sinc(cutoff * m) * np.kaiser(n_taps, KAISER_BETA)
    return taps / taps.sum()


class StreamingResampler:
    """Resample a stream from `in_rate_hz` to `out_rate_hz`; `push` chunks of any size, then `flush` once."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int) -> None:
        if in_rate_hz <= 0 or out_rate_hz <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate_hz} -> {out_rate_hz}")
        g = gcd(int(in_rate_hz), int(out_rate_hz))
        self.up, self.down = int(out_rate_hz) // g, int(in_rate_hz) // g
        self.passthrough = self.up == self.down
        if not self.passthrough:
            self.phases, self.delay = _polyphase_filter(self.up, self.down)
            self.taps_per_phase = self.phases.shape[1]
        self._buffer = np.zeros(0, np.float32)  # input samples not yet fully consumed
        self._buffer_start = 0                   # absolute index of _buffer[0] in the input stream
        self._n_in = 0                           # input samples seen
        self._n_out = 0                          # output samples produced

    def _produce(self, final: bool) -> np.ndarray:
        # Output k sits at upsampled position p = k*down + delay (the delay centres the linear-phase filter);
        # it needs input samples up to p // up, and reaches back taps_per_phase - 1 samples from there.
        k = self._n_out
        if final:
            k_end = -(-self._n_in * self.up // self.down)  # ceil: every output inside the stream's duration
        else:
            # largest k with (k*down + delay) // up <= n_in - 1, i.e. its newest input sample has arrived
            k_end = max(0, (self._n_in * self.up - 1 - self.delay) // self.down + 1)
        if k_end <= k:
            return np.zeros(0, np.float32)
        ks = np.arange(k, k_end)
        p = ks * self.down + self.delay
        base = p // self.up                                   # (K,)
        phase = p % self.up                                   # (K,)
        idx = base[:, None] - np.arange(self.taps_per_phase)[None, :] - self._buffer_start  # (K, taps)
        padded = np.concatenate([self._buffer, np.zeros(self.taps_per_phase * 2 + 1, np.float32)])
        valid = (idx >= 0) & (idx < len(self._buffer))
        x = np.where(valid, padded[np.clip(idx, 0, len(padded) - 1)], 0.0)  # before the stream: zeros
        y = np.einsum("kt,kt->k", x, self.phases[phase]).astype(np.float32)
        self._n_out = k_end
        # Drop input no future output can reach.
        next_base = (k_end * self.down + self.delay) // self.up
        keep_from = max(0, next_base - self.taps_per_phase + 1 - self._buffer_start)
        self._buffer = self._buffer[keep_from:]
        self._buffer_start += keep_from
        return y

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, np.float32).reshape(-1)
        if self.passthrough:
            return samples.copy()
        self._buffer = np.concatenate([self._buffer, samples])
        self._n_in += len(samples)
        return self._produce(final=False)

    def flush(self) -> np.ndarray:
        """The remaining output, treating what follows the stream as silence."""
        if self.passthrough:
            return np.zeros(0, np.float32)
        return self._produce(final=True)


def resample(samples: np.ndarray, in_rate_hz: int, out_rate_hz: int) -> np.ndarray:
    """Offline resampling of a whole signal; identical to streaming it through StreamingResampler."""
    r = StreamingResampler(in_rate_hz, out_rate_hz)
    if r.passthrough:
        return np.asarray(samples, np.float32).reshape(-1).copy()
    return np.concatenate([r.push(samples), r.flush()])
