"""Our motion frames as the 61 values Live Link Face writes (CSV) and sends (UDP), and back.

The values are the 52 ARKit blendshapes followed by nine rotations. The rotation conventions are those of
Unreal's ARKit face support (`ToBlendShapeMap` in AppleARKitFaceSupport), which the Live Link Face app is built
on: each angle is an Unreal `FRotator` component in degrees divided by 180 (1.0 = 180 degrees), with yaw and
roll mirrored. What that means against our layout (motion/layout.py), checked against real exports where
corr(EyeLookDown - EyeLookUp, LeftEyePitch) > 0 and corr(EyeLookIn - EyeLookOut, LeftEyeYaw) > 0:

- `*Pitch` > 0: looking / nodding down      (ours: headPitch > 0 is a nod down, gazePitch > 0 is up)
- `*Yaw`   > 0: turned to the subject's right (ours: yaw > 0 is to the subject's left)
- `HeadRoll` > 0: tilted to the subject's left (ours: headRoll > 0 is to the subject's left)

Each eye gets its own rotation: both fixate the point the gaze looks at, at the head's distance from the camera
(headZ), so the eyes converge (a few degrees at 0.6 m). Eye roll (torsion) is not modelled and stays 0.
"""

from __future__ import annotations

import datetime
import math

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip

ROTATION_NAMES: tuple[str, ...] = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                                   "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
# The CSV's value columns: ARKit names in PascalCase in our layout's order (the app's CSV order), then rotations.
CSV_VALUE_NAMES: tuple[str, ...] = tuple(n[0].upper() + n[1:] for n in layout.ARKIT_NAMES) + ROTATION_NAMES
N_VALUES = len(CSV_VALUE_NAMES)  # 61, the app's BlendShapeCount
assert N_VALUES == 61

ROTATION_UNIT_RAD = math.pi       # a rotation value of 1.0 is 180 degrees
INTERPUPILLARY_M = 0.063          # adult mean; sets the vergence angle of the two eyes
_MIN_FIXATION_M = 0.1             # nearer than this the vergence angle stops being plausible


def time_of_day_s() -> float:
    """Seconds since local midnight: where the app's timecodes start."""
    now = datetime.datetime.now()
    return now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6


def eye_yaws_rad(gaze_yaw_rad: np.ndarray, head_distance_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) eye yaw in our convention (> 0 to the subject's left) for eyes fixating the point
    `head_distance_m` away along the gaze direction. The left eye sits at +IPD/2 on the subject's left."""
    d = np.maximum(np.asarray(head_distance_m, np.float64), _MIN_FIXATION_M)
    yaw = np.asarray(gaze_yaw_rad, np.float64)
    target_x, target_z = d * np.sin(yaw), d * np.cos(yaw)     # x to the subject's left, z ahead
    half = INTERPUPILLARY_M / 2
    return np.arctan2(target_x - half, target_z), np.arctan2(target_x + half, target_z)


def to_values(frames: np.ndarray) -> np.ndarray:
    """(T, 60) motion frames -> (T, 61) Live Link Face values in CSV order (CSV_VALUE_NAMES)."""
    frames = np.asarray(frames, np.float64)
    c = layout.channel
    left_yaw, right_yaw = eye_yaws_rad(frames[:, c("gazeYaw")], frames[:, c("headZ")])
    eye_pitch = frames[:, c("gazePitch")]
    zeros = np.zeros(len(frames))
    rotations_rad = np.stack([-frames[:, c("headYaw")], frames[:, c("headPitch")], frames[:, c("headRoll")],
                              -left_yaw, -eye_pitch, zeros,
                              -right_yaw, -eye_pitch, zeros], axis=1)  # (T, 9)
    return np.concatenate([frames[:, layout.BLENDSHAPE_SLICE], rotations_rad / ROTATION_UNIT_RAD], axis=1)


def from_values(columns: dict[str, np.ndarray], n_frames: int) -> np.ndarray:
    """(T, 60) motion frames from Live Link Face value columns by name (case-insensitive); a missing column
    leaves its channels neutral. Gaze is the mean of the two eyes (their vergence cancels)."""
    lower = {k.lower(): np.asarray(v, np.float64) for k, v in columns.items()}
    frames = MotionClip.neutral(n_frames).frames.astype(np.float64)
    for name in layout.ARKIT_NAMES:
        if name.lower() in lower:
            frames[:, layout.channel(name)] = lower[name.lower()]

    def angle(name: str) -> np.ndarray | None:
        v = lower.get(name.lower())
        return None if v is None else v * ROTATION_UNIT_RAD

    for ours, theirs, sign in (("headYaw", "HeadYaw", -1.0), ("headPitch", "HeadPitch", 1.0),
                               ("headRoll", "HeadRoll", 1.0)):
        v = angle(theirs)
        if v is not None:
            frames[:, layout.channel(ours)] = sign * v
    for ours, part, sign in (("gazeYaw", "Yaw", -1.0), ("gazePitch", "Pitch", -1.0)):
        eyes = [v for v in (angle(f"LeftEye{part}"), angle(f"RightEye{part}")) if v is not None]
        if eyes:
            frames[:, layout.channel(ours)] = sign * np.mean(eyes, axis=0)
    for name in ("headX", "headY", "headZ"):  # our optional extra columns (metres)
        if name.lower() in lower:
            frames[:, layout.channel(name)] = lower[name.lower()]
    return frames


def resample(clip: MotionClip, fps: float) -> MotionClip:
    """The clip at another frame rate, linearly interpolated, over the same duration (`len / fps`: each frame
    lasts 1/fps, so reading it back at the old rate gives as many frames as it had); the end holds."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if len(clip) == 0 or fps == clip.fps:
        return MotionClip(clip.frames.copy(), fps, dict(clip.metadata))
    n_out = math.ceil(len(clip) * fps / clip.fps - 1e-9)
    t_out = np.arange(n_out) / fps
    frames = np.stack([np.interp(t_out, clip.times_s, clip.frames[:, j]) for j in range(clip.frames.shape[1])],
                      axis=1)  # (T_out, 60)
    return MotionClip(frames, fps, dict(clip.metadata))
