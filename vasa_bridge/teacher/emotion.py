"""Emotions as offsets on the face plus changes to how the performer moves (VASA-1 conditions on emotion
the same way: a global control that colours the whole performance)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vasa_bridge.motion import layout


@dataclass(frozen=True)
class EmotionStyle:
    offsets: dict[str, float]     # added to blendshapes, scaled by intensity
    head_pitch_rad: float = 0.0   # posture: sad looks down, surprised pulls back and up
    motion_gain: float = 1.0      # head motion energy
    blink_rate_gain: float = 1.0
    mouth_gain: float = 1.0       # articulation size


def _both(name: str, value: float) -> dict[str, float]:
    return {f"{name}Left": value, f"{name}Right": value}


EMOTION_STYLES: dict[str, EmotionStyle] = {
    "neutral": EmotionStyle({}),
    "happy": EmotionStyle({**_both("mouthSmile", 0.55), **_both("cheekSquint", 0.35), **_both("eyeSquint", 0.2),
                           **_both("mouthDimple", 0.15), "browInnerUp": 0.05}, -0.02, 1.2, 1.0, 1.05),
    "sad": EmotionStyle({**_both("mouthFrown", 0.45), "browInnerUp": 0.55, **_both("browDown", 0.1),
                         "mouthShrugLower": 0.2, **_both("eyeSquint", 0.1)}, 0.07, 0.6, 0.8, 0.8),
    "angry": EmotionStyle({**_both("browDown", 0.65), **_both("noseSneer", 0.3), **_both("eyeSquint", 0.35),
                           **_both("mouthPress", 0.15), "jawForward": 0.1}, 0.04, 1.35, 0.7, 1.15),
    "surprised": EmotionStyle({**_both("eyeWide", 0.65), "browInnerUp": 0.65, **_both("browOuterUp", 0.6),
                               "jawOpen": 0.08}, -0.05, 1.1, 0.6, 1.1),
}


def apply_emotion(frames: np.ndarray, style: EmotionStyle, intensity: float) -> None:
    """In place: expression offsets and posture, scaled by `intensity` in [0, 1]."""
    for name, value in style.offsets.items():
        frames[:, layout.channel(name)] += intensity * value
    frames[:, layout.channel("headPitch")] += intensity * style.head_pitch_rad
