"""The amplitude baseline: loudness → jawOpen, nothing else moves. Every evaluation reports it, so the model and
the teacher are always measured against the simplest thing that "moves the mouth with the sound"."""

from __future__ import annotations

import numpy as np

from vasa_bridge.audio.constants import FEATURES_PER_MOTION_FRAME, HOP_LENGTH_SAMPLES, N_MELS
from vasa_bridge.audio.features import FeatureStream
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.motion.controls import Controls

SILENCE_DBFS = -50.0   # at or below: mouth closed
LOUD_DBFS = -12.0      # at or above: jaw fully at JAW_OPEN_MAX
JAW_OPEN_MAX = 0.7
SMOOTHING = 0.5        # one-pole smoothing per motion frame (0 = none); trades jitter for lag


def _energy_to_jaw(energy_dbfs: np.ndarray) -> np.ndarray:
    return JAW_OPEN_MAX * np.clip((energy_dbfs - SILENCE_DBFS) / (LOUD_DBFS - SILENCE_DBFS), 0.0, 1.0)


class AmplitudeStream:
    """Streaming amplitude baseline: push 16 kHz samples, get motion frames as soon as they are complete."""

    def __init__(self, controls: Controls = Controls()) -> None:
        self.controls = controls
        self._features = FeatureStream()
        self._energy = np.zeros(0, np.float32)  # per-feature-frame energy not yet in a motion frame
        self._jaw = 0.0
        self.n_frames = 0

    def _emit(self, energy_dbfs: np.ndarray) -> np.ndarray:
        self._energy = np.concatenate([self._energy, energy_dbfs])
        n = len(self._energy) // FEATURES_PER_MOTION_FRAME
        frame_energy = self._energy[: n * FEATURES_PER_MOTION_FRAME].reshape(n, FEATURES_PER_MOTION_FRAME).max(1)
        self._energy = self._energy[n * FEATURES_PER_MOTION_FRAME:]
        frames = MotionClip.neutral(n, head_distance_m=self.controls.head_distance_m).frames
        for i, target in enumerate(_energy_to_jaw(frame_energy)):
            self._jaw = SMOOTHING * self._jaw + (1.0 - SMOOTHING) * float(target)
            frames[i, layout.channel("jawOpen")] = self._jaw
        self.n_frames += n
        return frames

    def push(self, samples_16k: np.ndarray) -> np.ndarray:
        """(n_new_frames, N_CHANNELS) motion frames."""
        return self._emit(self._features.push(samples_16k)[:, N_MELS])

    def flush(self) -> np.ndarray:
        tail = self._features.flush()[:, N_MELS]
        if (len(self._energy) + len(tail)) % FEATURES_PER_MOTION_FRAME:  # complete the last motion frame
            pad = FEATURES_PER_MOTION_FRAME - (len(self._energy) + len(tail)) % FEATURES_PER_MOTION_FRAME
            tail = np.concatenate([tail, np.full(pad, -100.0, np.float32)])
        return self._emit(tail)


def amplitude_baseline(audio_16k: np.ndarray, controls: Controls = Controls()) -> MotionClip:
    """Whole-clip amplitude baseline; equal to streaming the same audio through AmplitudeStream."""
    stream = AmplitudeStream(controls)
    frames = np.concatenate([stream.push(audio_16k), stream.flush()])
    return MotionClip(frames, metadata={"source": "amplitude-baseline"})


def motion_frame_count(n_samples_16k: int) -> int:
    """Motion frames that `n_samples_16k` of audio yields (ceil to whole motion frames)."""
    samples_per_frame = HOP_LENGTH_SAMPLES * FEATURES_PER_MOTION_FRAME
    return -(-n_samples_16k // samples_per_frame)


__all__ = ["AmplitudeStream", "amplitude_baseline", "motion_frame_count"]
