"""Performance controls shared by the teacher, the model, the sidecar protocol and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from vasa_bridge.motion.layout import DEFAULT_HEAD_DISTANCE_M

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")

HEAD_DISTANCE_RANGE_M = (0.3, 1.5)
GAZE_LIMIT_RAD = 0.6


@dataclass(frozen=True)
class Controls:
    emotion: str = "neutral"
    emotion_intensity: float = 1.0                 # 0 = neutral face, 1 = full expression
    gaze_yaw_rad: float | None = None              # gaze target; None lets the performer look around freely
    gaze_pitch_rad: float | None = None
    head_distance_m: float = DEFAULT_HEAD_DISTANCE_M

    def __post_init__(self) -> None:
        if self.emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {self.emotion!r}; choose one of {', '.join(EMOTIONS)}")
        if not 0.0 <= self.emotion_intensity <= 1.0:
            raise ValueError(f"emotion_intensity must be in [0, 1], got {self.emotion_intensity}")
        lo, hi = HEAD_DISTANCE_RANGE_M
        if not lo <= self.head_distance_m <= hi:
            raise ValueError(f"head_distance_m must be in [{lo}, {hi}] m, got {self.head_distance_m}")
        for name in ("gaze_yaw_rad", "gaze_pitch_rad"):
            v = getattr(self, name)
            if v is not None and abs(v) > GAZE_LIMIT_RAD:
                raise ValueError(f"{name} must be within ±{GAZE_LIMIT_RAD} rad, got {v}")

    @property
    def emotion_index(self) -> int:
        return EMOTIONS.index(self.emotion)
