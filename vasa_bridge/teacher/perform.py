"""The phonetic teacher: phones + audio + controls + seed → a whole face performance.

It is the training signal for the motion model and a baseline in every evaluation. Same seed, same clip;
another seed, another plausible performance of the same line (blink times, gaze, head motion, nod choices and
small articulation differences all vary)."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from vasa_bridge.audio.constants import FEATURES_PER_MOTION_FRAME, N_MELS
from vasa_bridge.audio.features import audio_features
from vasa_bridge.baselines import motion_frame_count
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.motion.controls import Controls
from vasa_bridge.phones.types import Phone
from vasa_bridge.teacher import eyes, head, lips
from vasa_bridge.teacher.emotion import EMOTION_STYLES, apply_emotion

SPEECH_DBFS = -45.0   # frame energy above this counts as speech activity for head-motion energy


def frame_energy_dbfs(audio_16k: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames,) loudest 10 ms energy within each 40 ms motion frame."""
    energy = audio_features(audio_16k)[:, N_MELS]
    padded = np.full(n_frames * FEATURES_PER_MOTION_FRAME, -100.0, np.float32)
    padded[: min(len(energy), len(padded))] = energy[: len(padded)]
    return padded.reshape(n_frames, FEATURES_PER_MOTION_FRAME).max(axis=1)


def pauses(phones: Sequence[Phone], duration_s: float) -> list[tuple[float, float]]:
    """Silent stretches: 'sil' phones and gaps between phones (and before the first / after the last)."""
    out: list[tuple[float, float]] = []
    t = 0.0
    for p in sorted(phones, key=lambda p: p.start_s):
        if p.viseme == "sil":
            out.append((p.start_s, p.end_s))
        elif p.start_s - t > 0.1:
            out.append((t, p.start_s))
        t = max(t, p.end_s)
    if duration_s - t > 0.1:
        out.append((t, duration_s))
    return out


def perform(phones: Sequence[Phone], audio_16k: np.ndarray, controls: Controls = Controls(), seed: int = 0
            ) -> MotionClip:
    """A (T, N_CHANNELS) performance at 25 fps, frame i showing the face at t = i / 25 s."""
    rng = np.random.default_rng(seed)
    audio_16k = np.asarray(audio_16k, np.float32).reshape(-1)
    n = max(1, motion_frame_count(len(audio_16k)))
    times_s = np.arange(n) / layout.FPS
    duration_s = len(audio_16k) / 16_000
    emotion = EMOTION_STYLES[controls.emotion]
    intensity = controls.emotion_intensity
    energy = frame_energy_dbfs(audio_16k, n)
    speech_phones = [p for p in phones if p.start_s < duration_s]

    frames = MotionClip.neutral(n, head_distance_m=controls.head_distance_m).frames.astype(np.float64)

    # Lips and jaw. Each performance articulates a little differently (tempo and size).
    tempo = rng.uniform(0.85, 1.2)
    mouth = lips.blend_visemes(speech_phones, times_s, tempo_scale=tempo)
    articulation = rng.uniform(0.85, 1.15) * (1.0 + intensity * (emotion.mouth_gain - 1.0))
    mouth = lips.apply_loudness(mouth, lips.loudness_gain(energy) * articulation)
    frames[:, layout.BLENDSHAPE_SLICE] += mouth[:, layout.BLENDSHAPE_SLICE]

    # Eyes.
    eye_style = replace(eyes.EyeStyle(), blinks_per_min=float(
        rng.uniform(12.0, 19.0) * (1.0 + intensity * (emotion.blink_rate_gain - 1.0))))
    silent = pauses(speech_phones, duration_s) if speech_phones else [(0.0, duration_s)]
    gaze_yaw, gaze_pitch, big_saccades = eyes.gaze_track(times_s, controls, eye_style, rng)
    onsets = eyes.blink_onsets_s(duration_s, silent, eye_style, rng)
    with_saccade = [s for s in big_saccades if rng.random() < 0.25 and np.all(np.abs(onsets - s) > 0.8)]
    onsets = np.sort(np.concatenate([onsets, np.array(with_saccade)]))
    closure = eyes.blink_curve(times_s, onsets, eye_style, rng)
    eyes.write_eyes(frames, closure, gaze_yaw, gaze_pitch)

    # Head and brows, driven by prosody.
    speaking = (energy > SPEECH_DBFS).astype(np.float64)
    accent_list = head.accents(speech_phones, energy, layout.FPS, head.HeadStyle())
    head.write_head_and_brows(frames, times_s, speaking, accent_list, gaze_yaw, controls, head.HeadStyle(),
                              1.0 + intensity * (emotion.motion_gain - 1.0), rng)

    apply_emotion(frames, emotion, intensity)
    # Contacts last, so no offset (a smile, a surprised jaw drop) reopens a closed 'b'.
    lips.enforce_contacts(frames, speech_phones, times_s)
    frames[:, layout.BLENDSHAPE_SLICE] = np.clip(frames[:, layout.BLENDSHAPE_SLICE], 0.0, 1.0)
    return MotionClip(frames.astype(np.float32), metadata={
        "source": "teacher", "seed": seed, "emotion": controls.emotion,
        "emotion_intensity": intensity, "head_distance_m": controls.head_distance_m,
        "gaze": [controls.gaze_yaw_rad, controls.gaze_pitch_rad], "blinks": len(onsets)})
