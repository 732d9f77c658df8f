"""Lip and jaw motion from phones: dominance-blended viseme poses, loudness-scaled, with hard constraints for
the contacts a viewer notices when they are missing (p b m close the lips, f v touch lip to teeth)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.phones.types import Phone
from vasa_bridge.teacher.viseme_poses import OPENING_CHANNELS, ROUNDING_CHANNELS, VISEME_POSES

DOMINANCE_SHAPE = 1.2   # exponent c in exp(-|dt/tau|^c): 1 is a sharp peak, 2 a Gaussian
REACH_S = 0.4           # beyond this distance from its centre a phone has no influence (keeps it O(phones))
REST_DOMINANCE = 0.08   # a weak pull toward the closed rest pose everywhere, so long silences close the mouth
LOUDNESS_GAIN_RANGE = (0.45, 1.35)  # opening scale for the quietest / loudest speech in a clip


def _dominance(t: np.ndarray, centre: float, before_s: float, after_s: float) -> np.ndarray:
    dt = t - centre
    tau = np.where(dt < 0, before_s, after_s)
    return np.exp(-np.abs(dt / tau) ** DOMINANCE_SHAPE)


def blend_visemes(phones: Sequence[Phone], times_s: np.ndarray, tempo_scale: float = 1.0) -> np.ndarray:
    """(T, N_CHANNELS) mouth channels at `times_s` from dominance-weighted viseme poses.

    `tempo_scale` stretches the coarticulation spans: fast speakers articulate less distinctly."""
    n_ch = layout.N_CHANNELS
    numerator = np.zeros((len(times_s), n_ch))
    denominator = np.full((len(times_s), n_ch), REST_DOMINANCE)
    for phone in phones:
        spec = VISEME_POSES[phone.viseme]
        centre = 0.5 * (phone.start_s + phone.end_s)
        half = 0.5 * max(phone.duration_s, 0.02)
        lo, hi = np.searchsorted(times_s, [centre - REACH_S, centre + REACH_S])
        if lo >= hi:
            continue
        t = times_s[lo:hi]
        # The pose holds through the phone's own span, then falls off: long vowels stay open.
        inside = np.clip(t, centre - half, centre + half)
        base = _dominance(t - (inside - centre), centre, spec.anticipation_s * tempo_scale,
                          spec.carryover_s * tempo_scale) * spec.dominance
        weight = np.repeat(base[:, None], n_ch, axis=1)  # (t, C)
        if spec.rounding_anticipation_s:
            rounding = _dominance(t - (inside - centre), centre, spec.rounding_anticipation_s * tempo_scale,
                                  spec.carryover_s * tempo_scale) * spec.dominance
            for name in ROUNDING_CHANNELS:
                weight[:, layout.channel(name)] = rounding
        target = np.zeros(n_ch)
        for name, value in spec.pose.items():
            target[layout.channel(name)] = value
        numerator[lo:hi] += weight * target[None, :]
        denominator[lo:hi] += weight
    return numerator / denominator


def loudness_gain(energy_dbfs: np.ndarray) -> np.ndarray:
    """(T,) opening scale from frame energy, relative to this clip's own speech level (so a quiet recording of
    normal speech still articulates normally, while shouted words inside it open wider)."""
    voiced = energy_dbfs[energy_dbfs > -60.0]
    if len(voiced) < 3:
        return np.full_like(energy_dbfs, 1.0)
    reference = np.percentile(voiced, 90)
    lo, hi = LOUDNESS_GAIN_RANGE
    return np.clip(1.0 + (energy_dbfs - reference) / 20.0, lo, hi)


def apply_loudness(mouth: np.ndarray, gain: np.ndarray) -> np.ndarray:
    out = mouth.copy()
    for name in OPENING_CHANNELS:
        i = layout.channel(name)
        out[:, i] *= gain
    # Keep mouthClose tied to the jaw it closes against, whatever the gain did to jawOpen.
    jaw, close = layout.channel("jawOpen"), layout.channel("mouthClose")
    ratio = np.divide(mouth[:, close], np.maximum(mouth[:, jaw], 1e-6))
    out[:, close] = np.minimum(ratio, 1.0) * out[:, jaw]
    return out


def frames_inside(phone: Phone, times_s: np.ndarray) -> np.ndarray:
    """Indices of frames whose instant lies inside the phone; the nearest frame when the phone falls between."""
    idx = np.flatnonzero((times_s >= phone.start_s) & (times_s < phone.end_s))
    if len(idx) == 0:
        centre = 0.5 * (phone.start_s + phone.end_s)
        idx = np.array([int(np.clip(np.argmin(np.abs(times_s - centre)), 0, len(times_s) - 1))])
    return idx


def enforce_contacts(frames: np.ndarray, phones: Sequence[Phone], times_s: np.ndarray) -> None:
    """In place: lips meet during every bilabial and the lower lip reaches the teeth during every f/v, however
    the blend came out (a fast 'b' between two open vowels would otherwise only half close)."""
    jaw, close = layout.channel("jawOpen"), layout.channel("mouthClose")
    raisers = [layout.channel(n) for n in ("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
                                           "mouthLowerDownRight", "mouthFunnel")]
    press = [layout.channel("mouthPressLeft"), layout.channel("mouthPressRight")]
    roll_lower = layout.channel("mouthRollLower")
    for phone in phones:
        if phone.viseme == "PP":
            idx = frames_inside(phone, times_s)
            frames[idx, jaw] = np.minimum(frames[idx, jaw], 0.12)
            frames[idx, close] = frames[idx, jaw]
            for r in raisers:
                frames[idx, r] = 0.0
            for p in press:
                frames[idx, p] = np.maximum(frames[idx, p], 0.3)
        elif phone.viseme == "FF":
            idx = frames_inside(phone, times_s)
            frames[idx, jaw] = np.minimum(frames[idx, jaw], 0.16)
            frames[idx, roll_lower] = np.maximum(frames[idx, roll_lower], 0.45)
            frames[idx, close] = np.maximum(frames[idx, close], 0.5 * frames[idx, jaw])
