"""The motion frame layout: the one place that says what a frame of face motion is.

A frame is 52 ARKit blendshapes (Apple's names, in the order Live Link Face exports them), head pose and gaze.
Every other module (teacher, model, protocol, renderer, engine clients) indexes frames through this file.
"""

from __future__ import annotations

# Bump when the meaning or order of any channel changes: weights files and protocol messages carry it.
MOTION_LAYOUT_VERSION = 1

FPS = 25  # VASA-1's video rate; clients interpolate to their own frame rate using pts.

# ARKit blendshape names (camelCase, as ARFaceAnchor.BlendShapeLocation), in Live Link Face CSV column order.
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight",
    "eyeWideRight",
    "jawForward", "jawRight", "jawLeft", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
N_BLENDSHAPES = len(ARKIT_NAMES)
assert N_BLENDSHAPES == 52

# Head pose: rotations in radians (pitch: nod down positive, yaw: turn to the subject's left positive,
# roll: tilt to the subject's left positive); translation in metres relative to the camera, z = head distance.
HEAD_POSE_NAMES: tuple[str, ...] = ("headPitch", "headYaw", "headRoll", "headX", "headY", "headZ")
# Gaze of both eyes together, radians: yaw positive to the subject's left, pitch positive up.
GAZE_NAMES: tuple[str, ...] = ("gazeYaw", "gazePitch")

CHANNEL_NAMES: tuple[str, ...] = ARKIT_NAMES + HEAD_POSE_NAMES + GAZE_NAMES
N_CHANNELS = len(CHANNEL_NAMES)  # 60

BLENDSHAPE_SLICE = slice(0, N_BLENDSHAPES)
HEAD_POSE_SLICE = slice(N_BLENDSHAPES, N_BLENDSHAPES + len(HEAD_POSE_NAMES))
GAZE_SLICE = slice(HEAD_POSE_SLICE.stop, HEAD_POSE_SLICE.stop + len(GAZE_NAMES))

CHANNEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(CHANNEL_NAMES)}
_LOWER_INDEX: dict[str, int] = {name.lower(): i for i, name in enumerate(CHANNEL_NAMES)}

# A neutral head sits 0.6 m from the camera (a typical webcam / portrait framing).
DEFAULT_HEAD_DISTANCE_M = 0.6


def channel(name: str) -> int:
    """Index of a channel by name, case-insensitive ("JawOpen" and "jawOpen" both work)."""
    try:
        return _LOWER_INDEX[name.lower()]
    except KeyError:
        raise KeyError(f"unknown motion channel {name!r}; see vasa_bridge.motion.layout.CHANNEL_NAMES") from None
