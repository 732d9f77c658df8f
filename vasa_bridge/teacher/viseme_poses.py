"""Each viseme as an ARKit pose (the lip shape at the middle of the phone), and how strongly it holds its
neighbours off (dominance) and how far ahead it starts / how long it lingers (Cohen–Massaro coarticulation).

Values are for a moderately loud, neutral speaker; the teacher scales the opening channels by loudness.
"""

from __future__ import annotations

from dataclasses import dataclass

from vasa_bridge.phones.types import VISEMES


@dataclass(frozen=True)
class VisemePose:
    pose: dict[str, float]       # ARKit channel -> value at the phone's centre
    dominance: float             # weight against neighbours in the blend (bilabials and f/v win)
    anticipation_s: float        # dominance falls to 1/e this long before the centre
    carryover_s: float           # ... and this long after it
    rounding_anticipation_s: float = 0.0  # wider lead for funnel/pucker: lips round before a rounded vowel


def _pair(name: str, value: float) -> dict[str, float]:
    return {f"{name}Left": value, f"{name}Right": value}


VISEME_POSES: dict[str, VisemePose] = {
    "sil": VisemePose({}, 0.35, 0.10, 0.10),
    # Bilabials p b m: lips pressed together; mouthClose equals jawOpen so the lips meet against the jaw.
    "PP": VisemePose({"jawOpen": 0.06, "mouthClose": 0.06, **_pair("mouthPress", 0.35)}, 1.0, 0.05, 0.04),
    # Labiodentals f v: lower lip tucked under the upper teeth.
    "FF": VisemePose({"jawOpen": 0.10, "mouthClose": 0.04, "mouthRollLower": 0.55, **_pair("mouthUpperUp", 0.15),
                      **_pair("mouthPress", 0.1)}, 0.95, 0.05, 0.04),
    "TH": VisemePose({"jawOpen": 0.14, "tongueOut": 0.25, **_pair("mouthStretch", 0.05)}, 0.75, 0.05, 0.04),
    "DD": VisemePose({"jawOpen": 0.16, **_pair("mouthStretch", 0.08), **_pair("mouthLowerDown", 0.1)}, 0.55,
                     0.05, 0.05),
    "kk": VisemePose({"jawOpen": 0.22, **_pair("mouthStretch", 0.06)}, 0.45, 0.05, 0.05),
    "CH": VisemePose({"jawOpen": 0.12, "mouthFunnel": 0.45, "mouthPucker": 0.25, **_pair("mouthUpperUp", 0.2),
                      **_pair("mouthLowerDown", 0.15)}, 0.8, 0.06, 0.05, 0.10),
    "SS": VisemePose({"jawOpen": 0.07, **_pair("mouthStretch", 0.22), **_pair("mouthUpperUp", 0.12),
                      **_pair("mouthLowerDown", 0.12)}, 0.7, 0.05, 0.05),
    "nn": VisemePose({"jawOpen": 0.14, **_pair("mouthStretch", 0.05)}, 0.45, 0.05, 0.05),
    "RR": VisemePose({"jawOpen": 0.18, "mouthFunnel": 0.3, "mouthPucker": 0.25}, 0.6, 0.06, 0.05, 0.08),
    "aa": VisemePose({"jawOpen": 0.62, **_pair("mouthLowerDown", 0.25), **_pair("mouthUpperUp", 0.1)}, 0.5, 0.06, 0.07),
    "E": VisemePose({"jawOpen": 0.38, **_pair("mouthStretch", 0.3), **_pair("mouthSmile", 0.12),
                     **_pair("mouthLowerDown", 0.2)}, 0.5, 0.06, 0.07),
    "I": VisemePose({"jawOpen": 0.2, **_pair("mouthStretch", 0.42), **_pair("mouthSmile", 0.22),
                     **_pair("mouthUpperUp", 0.1)}, 0.5, 0.06, 0.07),
    "O": VisemePose({"jawOpen": 0.42, "mouthFunnel": 0.6, "mouthPucker": 0.3, **_pair("mouthLowerDown", 0.1)}, 0.55,
                    0.07, 0.07, 0.14),
    "U": VisemePose({"jawOpen": 0.18, "mouthFunnel": 0.35, "mouthPucker": 0.75}, 0.6, 0.07, 0.07, 0.16),
}
assert set(VISEME_POSES) == set(VISEMES)

# Channels whose amplitude follows loudness (shouting opens wider, whispering barely moves).
OPENING_CHANNELS = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
                    "mouthStretchLeft", "mouthStretchRight")
# Channels that anticipate further ahead for rounded segments.
ROUNDING_CHANNELS = ("mouthFunnel", "mouthPucker")
