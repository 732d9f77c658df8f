"""Blinks, saccades and gaze holds.

Numbers from the eye-movement literature for people talking: ~15-25 blinks/min in conversation (8-21 at rest),
a blink lasts 100-400 ms (fast close ~75 ms, slower reopening); gaze holds of 0.5-3 s on the listener with
short aversions, saccades of a few tens of ms (a frame or two at 25 fps). Blinks cluster at pauses and
often accompany large gaze shifts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.motion.controls import Controls


@dataclass(frozen=True)
class EyeStyle:
    blinks_per_min: float = 17.0
    interval_shape: float = 2.5          # gamma shape: >1 avoids implausibly close pairs, keeps some irregularity
    min_interval_s: float = 0.6
    double_blink_chance: float = 0.08
    close_s: float = 0.08
    hold_s: float = 0.04
    open_s: float = 0.16
    gaze_hold_s: tuple[float, float] = (0.6, 2.8)
    aversion_chance: float = 0.3        # a hold away from the listener
    aversion_rad: float = 0.25
    microsaccade_rad: float = 0.015


def blink_curve(times_s: np.ndarray, onsets_s: np.ndarray, style: EyeStyle, rng: np.random.Generator) -> np.ndarray:
    """(T,) eyelid closure in [0, 1] for blinks starting at `onsets_s`."""
    closure = np.zeros_like(times_s)
    for onset in onsets_s:
        speed = rng.uniform(0.8, 1.3)
        close_s, hold_s, open_s = style.close_s * speed, style.hold_s * speed, style.open_s * speed
        t = times_s - onset
        shape = np.where(t < 0, 0.0,
                 np.where(t < close_s, t / close_s,
                 np.where(t < close_s + hold_s, 1.0,
                 np.where(t < close_s + hold_s + open_s, 1.0 - (t - close_s - hold_s) / open_s, 0.0))))
        closure = np.maximum(closure, np.clip(shape, 0, 1) ** 0.8)
    # A 40 ms frame can straddle the brief full closure: make sure the frame nearest each closure peak is shut.
    for onset in onsets_s:
        peak = onset + style.close_s
        i = int(np.argmin(np.abs(times_s - peak)))
        if abs(times_s[i] - peak) < 0.05:
            closure[i] = max(closure[i], 0.95)
    return closure


def blink_onsets_s(duration_s: float, pauses_s: list[tuple[float, float]], style: EyeStyle,
                 rng: np.random.Generator) -> np.ndarray:
    """Blink start times in seconds: a renewal process at the target rate, nudged into nearby pauses."""
    mean_interval = 60.0 / style.blinks_per_min
    scale = mean_interval / style.interval_shape
    onsets: list[float] = []
    t = rng.uniform(0.2, mean_interval)
    while t < duration_s - 0.3:
        for start, end in pauses_s:  # people blink at phrase boundaries: snap to a pause within 0.5 s
            if abs(start - t) < 0.5 and end - start > 0.15:
                t = start + 0.05
                break
        if not onsets or t - onsets[-1] >= style.min_interval_s:
            onsets.append(t)
            if rng.random() < style.double_blink_chance:
                onsets.append(t + rng.uniform(0.35, 0.5))
        t += max(style.min_interval_s, rng.gamma(style.interval_shape, scale))
    return np.array([o for o in onsets if o < duration_s - 0.2])


def gaze_track(times_s: np.ndarray, controls: Controls, style: EyeStyle, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(yaw, pitch) in radians per frame and the times of large saccades (which tend to carry a blink)."""
    n = len(times_s)
    yaw, pitch = np.zeros(n), np.zeros(n)
    target_yaw = controls.gaze_yaw_rad if controls.gaze_yaw_rad is not None else 0.0
    target_pitch = controls.gaze_pitch_rad if controls.gaze_pitch_rad is not None else 0.0
    free = controls.gaze_yaw_rad is None and controls.gaze_pitch_rad is None
    aversion = style.aversion_chance if free else style.aversion_chance * 0.3
    big_saccades: list[float] = []
    t, current = 0.0, (target_yaw, target_pitch)
    duration = times_s[-1] + 1e-3 if n else 0.0
    while t < duration:
        hold = rng.uniform(*style.gaze_hold_s)
        if rng.random() < aversion:
            angle = rng.uniform(0, 2 * np.pi)
            amp = style.aversion_rad * rng.uniform(0.5, 1.0)
            new = (target_yaw + amp * np.cos(angle), target_pitch + 0.6 * amp * np.sin(angle) - 0.03)
            hold *= 0.5  # look-aways are brief
        else:
            new = (target_yaw + rng.normal(0, 0.03), target_pitch + rng.normal(0, 0.02))
        if np.hypot(new[0] - current[0], new[1] - current[1]) > 0.12:
            big_saccades.append(t)
        current = new
        mask = (times_s >= t) & (times_s < t + hold)
        yaw[mask], pitch[mask] = current
        t += hold
    # Microsaccades and drift within a hold; one-frame smoothing stands in for the saccade's ~30-60 ms flight.
    yaw += rng.normal(0, style.microsaccade_rad, n)
    pitch += rng.normal(0, style.microsaccade_rad, n)
    if n > 2:
        yaw[1:] = 0.3 * yaw[:-1] + 0.7 * yaw[1:]
        pitch[1:] = 0.3 * pitch[:-1] + 0.7 * pitch[1:]
    return yaw, pitch, np.array(big_saccades)


def write_eyes(frames: np.ndarray, closure: np.ndarray, yaw: np.ndarray, pitch: np.ndarray) -> None:
    """In place: blink, gaze channels, and the eyeLook* blendshapes consistent with the gaze angles.

    Looking to the subject's left (positive yaw) turns the left eye outward and the right eye inward."""
    c = layout.channel
    frames[:, c("eyeBlinkLeft")] = closure
    frames[:, c("eyeBlinkRight")] = closure
    frames[:, c("gazeYaw")] = yaw
    frames[:, c("gazePitch")] = pitch
    full_rad = 0.5  # eyeLook* reaches 1 at about 30 degrees of eye rotation
    left = np.clip(yaw / full_rad, 0, 1)
    right = np.clip(-yaw / full_rad, 0, 1)
    up = np.clip(pitch / full_rad, 0, 1)
    down = np.clip(-pitch / full_rad, 0, 1)
    frames[:, c("eyeLookOutLeft")] = left
    frames[:, c("eyeLookInRight")] = left
    frames[:, c("eyeLookInLeft")] = right
    frames[:, c("eyeLookOutRight")] = right
    for side in ("Left", "Right"):
        frames[:, c(f"eyeLookUp{side}")] = up
        frames[:, c(f"eyeLookDown{side}")] = down
