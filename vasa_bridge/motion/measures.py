"""Measures read off motion frames, shared by the teacher's checks, the evaluation and the tests."""

from __future__ import annotations

import numpy as np

from vasa_bridge.motion import layout

LIPS_CLOSED_BELOW = 0.05  # lip aperture under which the lips count as touching
LIP_RAISERS = ("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight")
LIP_RAISER_WEIGHT = 0.4   # how much the raisers open the lips beyond the jaw, in lip_aperture
LIP_FUNNEL_WEIGHT = 0.2   # ...and funnelling
LIP_PRESSERS = ("mouthPressLeft", "mouthPressRight")
LIP_ROLLERS = ("mouthRollLower", "mouthRollUpper")
LIP_HOLDER_WEIGHT = 0.3   # how much pressing (both sides' mean) and rolling (both lips' mean) each pull them together
EYELIDS = ("eyeBlinkLeft", "eyeBlinkRight")
BLINK_CLOSED_AT = 0.5     # eye closure at which a blink starts


def _mean(frames: np.ndarray, *names: str) -> np.ndarray:
    return np.mean([frames[:, layout.channel(n)] for n in names], axis=0)


def lip_gap(frames: np.ndarray) -> np.ndarray:
    """(T,) lip_aperture before its clamp at 0 (negative: lips pressed together harder than the jaw opens them)."""
    return (frames[:, layout.channel("jawOpen")] - frames[:, layout.channel("mouthClose")]
            + LIP_RAISER_WEIGHT * _mean(frames, *LIP_RAISERS)
            + LIP_FUNNEL_WEIGHT * frames[:, layout.channel("mouthFunnel")]
            - LIP_HOLDER_WEIGHT * (_mean(frames, *LIP_PRESSERS) + _mean(frames, *LIP_ROLLERS)))


def lip_aperture(frames: np.ndarray) -> np.ndarray:
    """(T,) how far apart the lips are, in jawOpen units: ARKit's mouthClose closes the lips against an open
    jaw, the upper/lower lip raisers open them further, pressing and rolling pull them together."""
    return np.maximum(lip_gap(frames), 0.0)


def eye_closure(frames: np.ndarray) -> np.ndarray:
    """(T,) mean of both eyeBlink channels."""
    return _mean(frames, *EYELIDS)


def blink_onset_frames(frames: np.ndarray, threshold: float = BLINK_CLOSED_AT) -> np.ndarray:
    """Frame indices where the eyes cross into closed (a blink starts)."""
    closed = eye_closure(frames) >= threshold
    return np.flatnonzero(closed[1:] & ~closed[:-1]) + 1


def blinks_per_minute(frames: np.ndarray, fps: float = layout.FPS) -> float:
    minutes = len(frames) / fps / 60.0
    return float(len(blink_onset_frames(frames)) / minutes) if minutes > 0 else 0.0


def blink_depth(frames: np.ndarray, min_peak: float = 0.3) -> float:
    """How far the lids close in nine blinks out of ten: the 10th percentile of the blinks' peak eye closure (local
    maxima of eye_closure ≥ `min_peak`, ≥ 200 ms apart); 1.0 = lids fully shut, 0.0 when there is no blink. A model
    can blink at the right rate with lids that never close, and a median hides a quarter of blinks that droop."""
    from scipy.signal import find_peaks

    peaks, props = find_peaks(eye_closure(frames), height=min_peak, distance=max(1, int(0.2 * layout.FPS)))
    return float(np.percentile(props["peak_heights"], 10)) if len(peaks) else 0.0
