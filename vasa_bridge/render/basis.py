"""The blendshape basis of the portrait rig: how far each mesh point moves for each ARKit blendshape at weight 1,
authored in the face frame (origin between the irises, x along the eye line, unit = interocular distance, IOD) on
the MediaPipe mesh topology. One function per region; each writes only its own blendshapes."""

from __future__ import annotations

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.render import topology as topo

# Blendshape amplitudes in IOD units (displacement at weight 1). Chosen from facial anatomy: a fully open jaw
# parts the incisors by ~45 mm (0.7 IOD) but the visible lip gap is smaller; brows travel ~10 mm.
JAW_OPEN_IOD = 0.42

Basis = dict[str, np.ndarray]   # blendshape name -> (468, 2) view into the (52, 468, 2) basis


def build_blendshape_basis(f: np.ndarray) -> np.ndarray:
    """(52, 468, 2) displacements in IOD units for the mesh points `f` (468, 2) in the face frame.
    Subject's left is image right (+x) for a frontal portrait."""
    basis = np.zeros((layout.N_BLENDSHAPES, len(f), 2))
    B = {name: basis[i] for i, name in enumerate(layout.ARKIT_NAMES)}   # views: writing B[...] fills basis
    _jaw_and_mouth(B, f)
    _brows(B, f)
    _cheeks_and_nose(B, f)
    _eyelids(B, f)
    return basis


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _gauss(f: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    return np.exp(-np.sum((f - centre) ** 2, axis=1) / (2 * radius ** 2))


def _jaw_and_mouth(B: Basis, f: np.ndarray) -> None:
    n = len(f)
    upper_lip = np.zeros(n, bool)
    upper_lip[list(topo.LIP_UPPER_INNER + topo.LIP_UPPER_OUTER)] = True
    lower_lip = np.zeros(n, bool)
    lower_lip[list(topo.LIP_LOWER_INNER + topo.LIP_LOWER_OUTER)] = True
    corners = [topo.MOUTH_CORNER_IMAGE_LEFT, topo.MOUTH_CORNER_IMAGE_RIGHT, 78, 308]
    mouth_c = (f[13] + f[14]) / 2
    half_w = abs(f[topo.MOUTH_CORNER_IMAGE_RIGHT, 0] - f[topo.MOUTH_CORNER_IMAGE_LEFT, 0]) / 2
    x, y = f[:, 0], f[:, 1]

    # Jaw: the chin and lower lip drop; the weight fades up towards the mouth line and out towards the ears.
    lateral = np.clip(1.0 - np.clip(np.abs(x - mouth_c[0]) - 0.45, 0, None) / 0.7, 0.0, 1.0)
    # The mandible is rigid: skin below the lower lip and the chin drop as much as the lip does (a softer ramp
    # squashes the chin, and the face mesh then reads a smaller opening than the one drawn).
    w_jaw = _smoothstep(mouth_c[1] - 0.05, mouth_c[1] + 0.16, y) * lateral
    w_jaw[upper_lip] = 0.0
    lens = np.clip(1.0 - 0.55 * ((x - mouth_c[0]) / half_w) ** 2, 0.3, 1.0)   # lip gap is widest mid-mouth
    w_jaw[lower_lip] = lens[lower_lip]
    w_jaw[corners] = 0.35
    B["jawOpen"][:, 1] = JAW_OPEN_IOD * w_jaw
    B["jawOpen"][:, 0] = -0.14 * (x - mouth_c[0]) * _gauss(f, mouth_c, 0.45)   # the mouth narrows as it opens
    B["jawLeft"][:, 0] = 0.12 * w_jaw       # jawLeft moves the jaw to the subject's left: image right (+x)
    B["jawRight"][:, 0] = -0.12 * w_jaw
    B["jawForward"][:, 1] = 0.04 * w_jaw

    mouth_region = _gauss(f, mouth_c, 0.35)
    lips = (upper_lip | lower_lip).astype(float)
    towards_c = (mouth_c - f) * lips[:, None]
    B["mouthFunnel"][:] = 0.25 * towards_c * np.array([1.0, 0.0])
    B["mouthFunnel"][:, 1] += 0.05 * (lower_lip.astype(float) - upper_lip.astype(float))
    B["mouthPucker"][:] = 0.4 * towards_c * np.array([1.0, 0.0])
    B["mouthLeft"][:, 0] = 0.15 * np.maximum(mouth_region, lips)
    B["mouthRight"][:, 0] = -0.15 * np.maximum(mouth_region, lips)

    def at_corner(idx: int, dx: float, dy: float, radius: float = 0.28) -> np.ndarray:
        out = np.zeros((n, 2))
        out += _gauss(f, f[idx], radius)[:, None] * np.array([dx, dy])
        return out
    L, R = topo.MOUTH_CORNER_IMAGE_RIGHT, topo.MOUTH_CORNER_IMAGE_LEFT   # subject's left corner is image right
    B["mouthSmileLeft"][:] = at_corner(L, 0.10, -0.11)
    B["mouthSmileRight"][:] = at_corner(R, -0.10, -0.11)
    B["mouthFrownLeft"][:] = at_corner(L, 0.02, 0.09)
    B["mouthFrownRight"][:] = at_corner(R, -0.02, 0.09)
    B["mouthDimpleLeft"][:] = at_corner(L, 0.06, 0.0, 0.2)
    B["mouthDimpleRight"][:] = at_corner(R, -0.06, 0.0, 0.2)
    B["mouthStretchLeft"][:] = at_corner(L, 0.11, 0.03)
    B["mouthStretchRight"][:] = at_corner(R, -0.11, 0.03)
    upper_outer = np.zeros(n, bool)
    upper_outer[list(topo.LIP_UPPER_OUTER[1:-1])] = True
    lower_outer = np.zeros(n, bool)
    lower_outer[list(topo.LIP_LOWER_OUTER[1:-1])] = True
    B["mouthRollLower"][:, 1] = -0.05 * lower_outer
    B["mouthRollUpper"][:, 1] = 0.05 * upper_outer
    B["mouthShrugLower"][:, 1] = -0.06 * (lower_lip | (w_jaw > 0.5)) * mouth_region
    B["mouthShrugUpper"][:, 1] = -0.04 * upper_lip
    side_l = _smoothstep(-0.1, 0.3, x - mouth_c[0])
    side_r = _smoothstep(-0.1, 0.3, mouth_c[0] - x)
    press = 0.02 * (lower_lip.astype(float) * -1 + upper_lip.astype(float))
    B["mouthPressLeft"][:, 1] = press * side_l
    B["mouthPressRight"][:, 1] = press * side_r
    B["mouthLowerDownLeft"][:, 1] = 0.10 * lower_lip * side_l
    B["mouthLowerDownRight"][:, 1] = 0.10 * lower_lip * side_r
    B["mouthUpperUpLeft"][:, 1] = -0.08 * upper_lip * side_l
    B["mouthUpperUpRight"][:, 1] = -0.08 * upper_lip * side_r


def _brows(B: Basis, f: np.ndarray) -> None:
    # Brows: the whole brow band moves, fading into the forehead and the upper lid.
    brow_l, brow_r = list(topo.BROW_IMAGE_RIGHT), list(topo.BROW_IMAGE_LEFT)
    for side, brow, sign, down_name, outer_name in ((1, brow_l, 1.0, "browDownLeft", "browOuterUpLeft"),
                                                   (-1, brow_r, -1.0, "browDownRight", "browOuterUpRight")):
        bc = f[brow].mean(0)
        region = _gauss(f, bc, 0.3)
        B[down_name][:] = region[:, None] * np.array([-0.03 * sign, 0.10])
        outer_c = bc + np.array([0.18 * sign, 0.0])
        B[outer_name][:, 1] = -0.11 * _gauss(f, outer_c, 0.2)
        inner_c = bc - np.array([0.2 * sign, 0.0])
        B["browInnerUp"][:, 1] += -0.12 * _gauss(f, inner_c, 0.18)


def _cheeks_and_nose(B: Basis, f: np.ndarray) -> None:
    cheek_l = f[topo.MOUTH_CORNER_IMAGE_RIGHT] + np.array([0.2, -0.35])
    cheek_r = f[topo.MOUTH_CORNER_IMAGE_LEFT] + np.array([-0.2, -0.35])
    B["cheekPuff"][:, 0] = 0.07 * (_gauss(f, cheek_l, 0.3) - _gauss(f, cheek_r, 0.3))
    B["cheekSquintLeft"][:, 1] = -0.05 * _gauss(f, cheek_l, 0.25)
    B["cheekSquintRight"][:, 1] = -0.05 * _gauss(f, cheek_r, 0.25)
    nose_l = f[topo.NOSE_TIP] + np.array([0.17, -0.1])
    nose_r = f[topo.NOSE_TIP] + np.array([-0.17, -0.1])
    B["noseSneerLeft"][:, 1] = -0.05 * _gauss(f, nose_l, 0.12)
    B["noseSneerRight"][:, 1] = -0.05 * _gauss(f, nose_r, 0.12)


def _eyelids(B: Basis, f: np.ndarray) -> None:
    n = len(f)
    x, y = f[:, 0], f[:, 1]
    # Eyelids: lid margins close onto each other (80% upper lid, 20% lower lid, as in a real blink); squint
    # lifts the lower lid; wide lifts the upper lid. The lid skin above follows with a short falloff.
    for eye, blink, squint, wide in ((topo.EYE_IMAGE_RIGHT, "eyeBlinkLeft", "eyeSquintLeft", "eyeWideLeft"),
                                     (topo.EYE_IMAGE_LEFT, "eyeBlinkRight", "eyeSquintRight", "eyeWideRight")):
        up, lo = np.array(eye.upper[1:-1]), np.array(eye.lower[1:-1])
        gap = f[lo] - f[up]                      # (n, 2) upper → lower
        B[blink][up] += 0.8 * gap
        B[blink][lo] += -0.2 * gap
        B[squint][lo] += -0.35 * gap
        B[squint][up] += 0.1 * gap
        B[wide][up] += -0.25 * gap
        # Skin just above the upper lid unfolds downwards with the lid: spread from the lid points.
        eye_c = f[list(eye.upper) + list(eye.lower)].mean(0)
        contour = np.zeros(n, bool)
        contour[list(eye.upper) + list(eye.lower)] = True
        above = (~contour) & (y < eye_c[1]) & (np.abs(x - eye_c[0]) < 0.3)
        closeness = _gauss(f, eye_c, 0.12) * above
        B[blink][:, 1] += 0.35 * float(np.mean(gap[:, 1])) * closeness
        B[wide][:, 1] += -0.1 * float(np.mean(gap[:, 1])) * closeness
