"""Head motion and brows: idle sway, prosody-driven nods and brow raises on accented syllables, and the head
partly following the eyes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.motion.controls import Controls
from vasa_bridge.phones.types import Phone

VOWEL_VISEMES = frozenset({"aa", "E", "I", "O", "U"})


@dataclass(frozen=True)
class HeadStyle:
    sway_rad: tuple[float, float, float] = (0.025, 0.035, 0.015)  # pitch, yaw, roll at rest
    speech_sway_gain: float = 1.8        # people move more while they talk
    sway_translation_m: float = 0.004
    nod_rad: float = 0.06                # a strong accent's nod
    accent_min_gap_s: float = 0.45
    accent_fraction: float = 0.35        # share of vowels that carry an accent
    brow_raise_chance: float = 0.45
    brow_raise: float = 0.45
    head_follows_gaze: float = 0.3


def smooth_noise(times_s: np.ndarray, amplitude: float, rng: np.random.Generator,
                 freqs_hz: tuple[float, float] = (0.07, 0.6), n_partials: int = 4) -> np.ndarray:
    """Band-limited wandering: a few sinusoids of random frequency and phase, 1/f-weighted."""
    out = np.zeros_like(times_s)
    freqs = rng.uniform(*freqs_hz, n_partials)
    for f in freqs:
        out += np.sin(2 * np.pi * f * times_s + rng.uniform(0, 2 * np.pi)) / np.sqrt(f / freqs_hz[0])
    norm = np.sqrt(np.sum(1.0 / (freqs / freqs_hz[0]))) / np.sqrt(2)
    return amplitude * out / max(norm, 1e-9)


def accents(phones: Sequence[Phone], energy_dbfs: np.ndarray, fps: float, style: HeadStyle) -> list[tuple[float, float]]:
    """(time_s, strength in 0..1) of accented vowels: stressed or among the loudest, spaced apart."""
    candidates = []
    for p in phones:
        if p.viseme not in VOWEL_VISEMES:
            continue
        lo, hi = int(p.start_s * fps), max(int(p.start_s * fps) + 1, int(np.ceil(p.end_s * fps)))
        seg = energy_dbfs[lo:hi]
        if len(seg) == 0:
            continue
        candidates.append((0.5 * (p.start_s + p.end_s), float(seg.max()) + (6.0 if p.stressed else 0.0)))
    if not candidates:
        return []
    levels = np.array([c[1] for c in candidates])
    cutoff = np.quantile(levels, 1.0 - style.accent_fraction)
    span = max(levels.max() - cutoff, 1e-3)
    chosen: list[tuple[float, float]] = []
    for t, level in sorted(candidates, key=lambda c: -c[1]):
        if level < cutoff:
            break
        if all(abs(t - c[0]) >= style.accent_min_gap_s for c in chosen):
            chosen.append((t, float(np.clip(0.5 + 0.5 * (level - cutoff) / span, 0, 1))))
    return sorted(chosen)


def _bump(times_s: np.ndarray, centre_s: float, width_s: float) -> np.ndarray:
    return np.exp(-0.5 * ((times_s - centre_s) / width_s) ** 2)


def write_head_and_brows(frames: np.ndarray, times_s: np.ndarray, speaking: np.ndarray,
                         accent_list: list[tuple[float, float]], gaze_yaw: np.ndarray, controls: Controls,
                         style: HeadStyle, motion_gain: float, rng: np.random.Generator) -> None:
    """In place. `speaking` is a (T,) 0..1 activity curve; `motion_gain` scales all head motion (emotion)."""
    c = layout.channel
    # ~1 s of context; "full" then cut, so a clip shorter than the kernel keeps its own length
    activity = np.convolve(speaking, np.ones(25) / 25, mode="full")[12: 12 + len(speaking)]
    gain = motion_gain * (1.0 + (style.speech_sway_gain - 1.0) * activity)
    pitch = smooth_noise(times_s, style.sway_rad[0], rng) * gain
    yaw = smooth_noise(times_s, style.sway_rad[1], rng) * gain
    roll = smooth_noise(times_s, style.sway_rad[2], rng) * gain
    brow = np.zeros_like(times_s)
    for t, strength in accent_list:
        # The nod's downstroke lands on the accented vowel; a small rebound follows.
        pitch += motion_gain * style.nod_rad * strength * (_bump(times_s, t - 0.03, 0.09)
                                                           - 0.35 * _bump(times_s, t + 0.22, 0.12))
        if rng.random() < style.brow_raise_chance:
            brow = np.maximum(brow, style.brow_raise * strength * _bump(times_s, t - 0.05, 0.18))
    follow = np.convolve(gaze_yaw, np.ones(9) / 9, mode="same")  # the head turns slower than the eyes
    yaw += style.head_follows_gaze * follow
    frames[:, c("headPitch")] += pitch
    frames[:, c("headYaw")] += yaw
    frames[:, c("headRoll")] += roll
    frames[:, c("headX")] += smooth_noise(times_s, style.sway_translation_m, rng) * gain
    frames[:, c("headY")] += smooth_noise(times_s, style.sway_translation_m, rng) * gain
    frames[:, c("headZ")] = controls.head_distance_m + smooth_noise(times_s, 2 * style.sway_translation_m, rng)
    frames[:, c("browInnerUp")] += brow
    frames[:, c("browOuterUpLeft")] += 0.8 * brow
    frames[:, c("browOuterUpRight")] += 0.8 * brow
