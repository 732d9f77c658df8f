"""The 52 ARKit blend shapes of the procedural head, as per-vertex deltas built from smooth region weights.

Every shape does what Apple's name says (subject's left = +X). Amplitudes are for weight 1.0, roughly what an
iPhone reports at the extreme of each expression. The eye meshes carry only their own eyeLook* shapes (the eyeball
turned by a fixed angle), so an engine that drives blend shapes by name on every mesh gets gaze for free; an engine
that rotates the eye nodes from the gaze channels instead should leave those four shapes at zero. The head mesh's
eyeLook* shapes move the eyelids with the eye (lids follow gaze), so no shape is all-zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vasa_bridge.avatar import head as H
from vasa_bridge.avatar.parts import lid_margin_elevation
from vasa_bridge.motion.layout import ARKIT_NAMES

JAW_OPEN_RAD = 0.30  # ~3 cm at the chin
EYE_LOOK_YAW_RAD = np.deg2rad(28.0)  # eyeLookIn/Out at 1.0
EYE_LOOK_PITCH_RAD = np.deg2rad(22.0)  # eyeLookUp/Down at 1.0
DELTA_EPSILON_M = 1e-6  # deltas smaller than this are written as exact zeros (smaller files, no float dust)

_smooth = H.smoothstep
_gauss2 = H.gauss2


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rotation_delta(p: np.ndarray, rot: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    return (p - pivot) @ rot.T + pivot - p


class _Regions:
    """Region weights over the head mesh's rest vertices (each (N,) in 0..1)."""

    def __init__(self, p: np.ndarray, rig: H.HeadRig) -> None:
        self.p = p
        self.rig = rig
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        self.x, self.y, self.z = x, y, z
        part = rig.part
        skin = part == H.SKIN
        self.face = (skin | (part == H.LID)) * _smooth(0.03, 0.06, z)  # the front of the head only
        dy = y - H.MOUTH_Y_M
        self.dy = dy
        up_h, lo_h = H.lip_heights(x)
        # lips: the vermilion and a few millimetres around it, on the face
        lip_shape = (x / (H.MOUTH_CORNER_X_M + 0.006)) ** 2 + (dy / 0.0135) ** 2
        self.lips = skin * _smooth(1.25, 0.55, lip_shape) * _smooth(0.05, 0.07, z)
        self.upper = rig.lip_side > 0
        self.lower = rig.lip_side < 0
        # the part of a lip right at the mouth line (for rolling and parting the lips)
        self.lip_edge = self.lips * np.exp(-((dy / 0.004) ** 2))
        self.mouth_area = skin * _gauss2(x, y, 0.0, H.MOUTH_Y_M, 0.03, 0.022) * _smooth(0.04, 0.065, z)
        self.teeth_tongue = np.isin(part, (H.TEETH_UPPER, H.TEETH_LOWER, H.TONGUE, H.CAVITY))
        self.jaw = self._jaw_weight()

    def corner(self, side: float, sigma: float = 0.010) -> np.ndarray:
        """Around one mouth corner (side +1 = the subject's left = +X), on the skin."""
        g = _gauss2(self.x, self.y, side * H.MOUTH_CORNER_X_M, H.MOUTH_Y_M, sigma * 1.3, sigma)
        return g * (self.rig.part == H.SKIN) * _smooth(0.04, 0.065, self.z)

    def half(self, side: float) -> np.ndarray:
        """The subject's left (+1) or right (-1) half, with a soft seam over the midline."""
        return _smooth(-0.008, 0.010, side * self.x)

    def _jaw_weight(self) -> np.ndarray:
        """How much of the jaw rotation each vertex follows: all of the lower lip, chin, lower teeth, tongue and
        the floor of the mouth; fading up the cheeks toward the hinge and down the throat."""
        rig, x, y, z = self.rig, self.x, self.y, self.z
        part = rig.part
        ax = np.abs(x)
        # inside the mouth width the cut decides; outside it the cheek stretches over ~2.5 cm
        lateral = _smooth(H.MOUTH_CORNER_X_M - 0.007, H.MOUTH_CORNER_X_M + 0.004, ax)
        # near the mouth line the lower lip follows less toward the corners (an oval opening); lower down the
        # jaw is rigid
        near_line = _smooth(H.MOUTH_Y_M - 0.02, H.MOUTH_Y_M, y)
        lip_relief = 0.5 * np.clip(ax / H.MOUTH_CORNER_X_M, 0.0, 1.0) ** 2 * near_line
        below_cut = np.where(rig.lip_side < 0, 1.0 - lip_relief, 0.0)
        cheek = _smooth(H.MOUTH_Y_M + 0.004, H.MOUTH_Y_M - 0.024, y)
        w = (1.0 - lateral) * below_cut + lateral * cheek
        w *= _smooth(-0.015, 0.035, z)  # nothing behind the hinge moves
        w *= _smooth(-0.082, -0.058, y)  # the throat stays
        skin_like = part == H.SKIN
        w = np.where(skin_like, w, 0.0)
        w = np.where(part == H.TEETH_LOWER, 1.0, w)
        w = np.where(part == H.TONGUE, 1.0, w)
        cav = _smooth(H.MOUTH_Y_M + 0.004, H.MOUTH_Y_M - 0.012, y)
        w = np.where(part == H.CAVITY, cav, w)
        return w


def _lid_deltas(p: np.ndarray, rig: H.HeadRig, select: np.ndarray, margin_shift_rad: np.ndarray,
                azimuth_shift_rad: float = 0.0) -> np.ndarray:
    """Move the selected lid vertices: each lid column's margin moves by margin_shift (radians of elevation, per
    vertex), its hidden edge stays, rows between are spread evenly; optionally turn the lid about the eye's
    vertical axis. Returns (N, 3) deltas, zero outside `select`."""
    d = np.zeros_like(p)
    idx = np.nonzero(select)[0]
    if len(idx) == 0:
        return d
    u, az = rig.lid_u[idx], rig.lid_azimuth[idx]
    margin, edge = rig.lid_margin[idx], rig.lid_edge[idx]
    new_margin = margin + margin_shift_rad[idx]
    elev_new = new_margin + (edge - new_margin) * u
    centers = np.where((rig.side[idx] > 0)[:, None], rig.eye_centers[0], rig.eye_centers[1])
    az_new = az + azimuth_shift_rad * (1.0 - u)  # the margin turns, the hidden edge stays
    target = centers + rig.lid_radius_m * np.stack(
        [np.cos(elev_new) * np.sin(az_new), np.sin(elev_new), np.cos(elev_new) * np.cos(az_new)], axis=1)
    d[idx] = target - p[idx]
    return d


@dataclass(frozen=True)
class _Mesh:
    """What every group of shapes reads: the neutral head's vertices (N, 3), its rig and its regions."""

    p: np.ndarray
    rig: H.HeadRig
    r: _Regions

    @property
    def n(self) -> int:
        return len(self.p)


def head_blendshapes(model: H.HeadModel) -> dict[str, np.ndarray]:
    """All 52 ARKit shapes of the head mesh, name -> (N, 3) float32 deltas in ARKit order."""
    p = model.head.vertices.astype(np.float64)
    c = _Mesh(p, model.rig, _Regions(p, model.rig))
    shapes: dict[str, np.ndarray] = {}
    _eye_shapes(c, shapes)
    jaw_rot, centre_weight = _jaw_shapes(c, shapes)
    _mouth_shapes(c, shapes, jaw_rot, centre_weight)
    _brow_cheek_nose_shapes(c, shapes)
    _tongue_shape(c, shapes)
    x = c.r.x
    # one-sided shapes of the upper face stop at the midline (the lower face keeps a soft seam: one mouth)
    for name in ARKIT_NAMES:
        if name.startswith(("eye", "brow", "cheekSquint", "noseSneer")) and name.endswith(("Left", "Right")):
            side = 1.0 if name.endswith("Left") else -1.0
            shapes[name] = shapes[name] * _smooth(-0.001, 0.008, side * x)[:, None]

    out = {}
    for name in ARKIT_NAMES:
        d = shapes[name]
        d = np.where(np.abs(d) < DELTA_EPSILON_M, 0.0, d)
        out[name] = d.astype(np.float32)
    return out


def _vec(weight: np.ndarray, dx: float, dy: float, dz: float) -> np.ndarray:
    return weight[:, None] * np.array([dx, dy, dz])


def _lids(c: _Mesh, side: float, upper: bool) -> np.ndarray:
    return (c.rig.part == H.LID) & (c.rig.side == side) & (c.rig.lid_upper == upper)


def _lid_shift(c: _Mesh, side: float, upper_deg: float, lower_deg: float, az_deg: float = 0.0) -> np.ndarray:
    shift = np.zeros(c.n)
    shift[_lids(c, side, True)] = np.deg2rad(upper_deg)
    shift[_lids(c, side, False)] = np.deg2rad(lower_deg)
    sel = _lids(c, side, True) | _lids(c, side, False)
    return _lid_deltas(c.p, c.rig, sel, shift, np.deg2rad(az_deg))


def _blink(c: _Mesh, side: float) -> np.ndarray:
    p, rig, r, n = c.p, c.rig, c.r, c.n
    x, y = r.x, r.y
    # the upper margin comes down to just past the lower margin, which itself rises a little
    shift = np.zeros(n)
    up, lo = _lids(c, side, True), _lids(c, side, False)
    shift[lo] = np.deg2rad(5.0) * np.cos(np.clip(rig.lid_azimuth[lo] / H.LID_CORNER_AZIMUTH_RAD, -1, 1) * np.pi / 2)
    lower_margin_there = lid_margin_elevation(rig.lid_azimuth[up], upper=False)
    closed = lower_margin_there + np.deg2rad(5.0) * np.cos(
        np.clip(rig.lid_azimuth[up] / H.LID_CORNER_AZIMUTH_RAD, -1, 1) * np.pi / 2) - np.deg2rad(3.0)
    shift[up] = closed - rig.lid_margin[up]
    d = _lid_deltas(p, rig, up | lo, shift)
    # the skin just above the eye follows the lid down a little
    ex = rig.eye_centers[0 if side > 0 else 1][0]
    d += _vec(r.face * (rig.part == H.SKIN) * _gauss2(x, y, ex, H.EYE_Y_M + 0.011, 0.012, 0.004), 0, -0.0015, 0)
    return d


def _eye_shapes(c: _Mesh, shapes: dict[str, np.ndarray]) -> None:
    rig, r = c.rig, c.r
    x, y = r.x, r.y
    for side, sfx in ((1.0, "Left"), (-1.0, "Right")):
        ex = rig.eye_centers[0 if side > 0 else 1][0]
        shapes[f"eyeBlink{sfx}"] = _blink(c, side)
        # lids follow the eyeball: down lowers both lids, up raises them; in/out turn the lid margins sideways
        shapes[f"eyeLookDown{sfx}"] = _lid_shift(c, side, -14.0, -6.0)
        shapes[f"eyeLookUp{sfx}"] = _lid_shift(c, side, 10.0, 5.0)
        # "in" is toward the nose: -X for the left eye, +X for the right one
        shapes[f"eyeLookIn{sfx}"] = _lid_shift(c, side, 0.0, 0.0, az_deg=-6.0 * side)
        shapes[f"eyeLookOut{sfx}"] = _lid_shift(c, side, 0.0, 0.0, az_deg=6.0 * side)
        cheek_up = r.face * (rig.part == H.SKIN) * _gauss2(x, y, ex + side * 0.006, H.EYE_Y_M - 0.022, 0.014, 0.009)
        shapes[f"eyeSquint{sfx}"] = _lid_shift(c, side, -6.0, 14.0) + _vec(cheek_up, 0, 0.002, 0.0005)
        brow_lift = r.face * (rig.part == H.SKIN) * _gauss2(x, y, ex, H.EYE_Y_M + 0.014, 0.014, 0.005)
        shapes[f"eyeWide{sfx}"] = _lid_shift(c, side, 14.0, -4.0) + _vec(brow_lift, 0, 0.0012, 0)


def _jaw_shapes(c: _Mesh, shapes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """jawOpen, jawForward, jawLeft/Right; returns the jaw's rotation delta and the mouth's centre weight (the
    mouth shapes use both)."""
    p, r = c.p, c.r
    x = r.x
    # ---- jaw
    centre_weight = np.clip(1.0 - (x / (H.MOUTH_CORNER_X_M + 0.004)) ** 2, 0.0, 1.0)
    hinge = np.asarray(H.JAW_HINGE_M)
    jaw_rot = _rotation_delta(p, _rot_x(JAW_OPEN_RAD), hinge)
    # the upper lip edge lifts a little in the middle so the opening is an oval, not a trapezoid
    shapes["jawOpen"] = r.jaw[:, None] * jaw_rot + _vec(r.lip_edge * r.upper * centre_weight, 0, 0.002, 0)
    shapes["jawForward"] = _vec(r.jaw, 0, 0, 0.006)
    for side, name in ((1.0, "jawLeft"), (-1.0, "jawRight")):
        yaw = _rotation_delta(p, _rot_y(side * np.deg2rad(3.5)), hinge + np.array([0, 0, -0.04]))
        shapes[name] = r.jaw[:, None] * (yaw + np.array([side * 0.003, 0.0, 0.0]))
    return jaw_rot, centre_weight


def _mouth_shapes(c: _Mesh, shapes: dict[str, np.ndarray], jaw_rot: np.ndarray, centre_weight: np.ndarray) -> None:
    rig, r, n = c.rig, c.r, c.n
    x, y = r.x, r.y
    # ---- mouth
    lips, upper, lower = r.lips, r.upper, r.lower
    upper_lip, lower_lip = lips * upper, lips * lower
    # mouthClose undoes the jaw for the lips only: with jawOpen it closes the lips over an open jaw
    lower_follows_jaw = lower_lip * _smooth(0.0, 0.5, r.jaw)
    shapes["mouthClose"] = -0.95 * lower_follows_jaw[:, None] * jaw_rot + _vec(upper_lip, 0, -0.0012, 0)
    inward = np.stack([-x, np.zeros(n), np.zeros(n)], axis=1)  # toward the midline, proportional to |x|
    # funnel: lips flare forward and part into a rounded opening; corners come in
    part_open = r.lip_edge * centre_weight
    shapes["mouthFunnel"] = (_vec(lips, 0, 0, 0.006) + 0.25 * lips[:, None] * inward
                             + _vec(part_open * upper, 0, 0.0035, 0.001) + _vec(part_open * lower, 0, -0.0045, 0.001))
    # pucker: lips pushed forward and gathered to the middle, closed
    squeeze = np.stack([-0.5 * x, 0.12 * r.dy, np.zeros(n)], axis=1)  # narrower, a little fuller
    shapes["mouthPucker"] = (_vec(lips * (0.5 + 0.5 * centre_weight), 0, 0, 0.011)
                             + (r.mouth_area * _smooth(0.0, 0.4, r.mouth_area))[:, None] * squeeze)
    for side, sfx in ((1.0, "Left"), (-1.0, "Right")):
        half = r.half(side)
        # corner shapes fade out across the midline so the other corner stays put
        corner = r.corner(side) * half
        wide = r.corner(side, sigma=0.016) * half
        shapes[f"mouth{sfx}"] = _vec(r.mouth_area, side * 0.010, 0, -0.001)
        shapes[f"mouthSmile{sfx}"] = _vec(corner, side * 0.006, 0.008, -0.004) + _vec(wide * 0.4, 0, 0.003, 0.002)
        shapes[f"mouthFrown{sfx}"] = _vec(corner, side * 0.002, -0.007, -0.001)
        shapes[f"mouthDimple{sfx}"] = _vec(corner, side * 0.004, 0.0008, -0.005)
        shapes[f"mouthStretch{sfx}"] = _vec(wide, side * 0.008, -0.003, -0.002)
        press = lips * half
        shapes[f"mouthPress{sfx}"] = (np.stack([np.zeros(n), -0.3 * r.dy, np.full(n, -0.0015)], axis=1)
                                      * press[:, None])
        shapes[f"mouthLowerDown{sfx}"] = _vec(lower_lip * half * (0.4 + 0.6 * centre_weight), 0, -0.006, 0.0008)
        shapes[f"mouthUpperUp{sfx}"] = _vec(upper_lip * half * (0.4 + 0.6 * centre_weight), 0, 0.005, 0.0008)
    # rolls: the lip turns in over the teeth (its edge goes back most)
    shapes["mouthRollLower"] = _vec(lower_lip, 0, 0.0012, -0.002) + _vec(r.lip_edge * lower, 0, 0.001, -0.003)
    shapes["mouthRollUpper"] = _vec(upper_lip, 0, -0.0012, -0.002) + _vec(r.lip_edge * upper, 0, -0.001, -0.003)
    chin = r.face * (rig.part == H.SKIN) * _gauss2(x, y, 0.0, H.MOUTH_Y_M - 0.028, 0.016, 0.016)
    shapes["mouthShrugLower"] = _vec(lower_lip + chin * lower, 0, 0.004, 0.002)
    shapes["mouthShrugUpper"] = _vec(upper_lip, 0, 0.002, 0.0015)


def _brow_cheek_nose_shapes(c: _Mesh, shapes: dict[str, np.ndarray]) -> None:
    rig, r, n = c.rig, c.r, c.n
    x, y = r.x, r.y
    lips, upper_lip = r.lips, r.lips * r.upper
    # ---- brows, cheeks, nose
    skin_face = r.face * (rig.part == H.SKIN)
    for side, sfx in ((1.0, "Left"), (-1.0, "Right")):
        brow = skin_face * _gauss2(x, y, side * 0.031, H.BROW_Y_M + 0.002, 0.017, 0.010)
        shapes[f"browDown{sfx}"] = _vec(brow, -side * 0.0015, -0.005, -0.001)
        outer = skin_face * _gauss2(x, y, side * 0.046, H.BROW_Y_M, 0.011, 0.011)
        shapes[f"browOuterUp{sfx}"] = _vec(outer, side * 0.0005, 0.006, 0)
    inner = skin_face * (_gauss2(x, y, 0.016, H.BROW_Y_M, 0.009, 0.011)
                         + _gauss2(x, y, -0.016, H.BROW_Y_M, 0.009, 0.011))
    shapes["browInnerUp"] = _vec(inner, 0, 0.007, 0)
    cheeks = skin_face * (_gauss2(x, y, 0.046, H.MOUTH_Y_M + 0.004, 0.014, 0.016)
                          + _gauss2(x, y, -0.046, H.MOUTH_Y_M + 0.004, 0.014, 0.016))
    outward = np.stack([x, np.zeros(n), np.full(n, 0.02)], axis=1)
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    shapes["cheekPuff"] = 0.009 * cheeks[:, None] * outward + _vec(lips, 0, 0, 0.0015)
    for side, sfx in ((1.0, "Left"), (-1.0, "Right")):
        ex = side * H.EYE_X_M
        cheek = skin_face * _gauss2(x, y, ex + side * 0.01, H.EYE_Y_M - 0.025, 0.014, 0.010)
        shapes[f"cheekSquint{sfx}"] = _vec(cheek, 0, 0.004, 0.001) + _lid_shift(c, side, 0.0, 6.0)
        wing = skin_face * _gauss2(x, y, side * 0.010, 0.024, 0.007, 0.010)
        brow_in = skin_face * _gauss2(x, y, side * 0.014, H.BROW_Y_M - 0.004, 0.008, 0.008)
        lip_side = upper_lip * _gauss2(x, y, side * 0.010, H.MOUTH_Y_M, 0.008, 0.02)
        shapes[f"noseSneer{sfx}"] = (_vec(wing, side * 0.0008, 0.004, 0.001) + _vec(brow_in, 0, -0.002, 0)
                                     + _vec(lip_side, 0, 0.0015, 0))


def _tongue_shape(c: _Mesh, shapes: dict[str, np.ndarray]) -> None:
    rig, n = c.rig, c.n
    z = c.r.z
    # ---- tongue slides out, its tip leading
    tongue = rig.part == H.TONGUE
    tz = z[tongue]
    lead = np.zeros(n)
    lead[tongue] = _smooth(tz.min(), tz.max(), tz) * 0.6 + 0.4
    # it rises as it comes out so it clears the lower teeth and lip
    shapes["tongueOut"] = _vec(lead * tongue, 0, 0.006, 0.030)


def normal_deltas(mesh: H.AvatarMesh, epsilon: float = 2e-3) -> dict[str, np.ndarray]:
    """Per-shape normal deltas at weight 1 (the posed surface's normals minus the rest normals), so engines shade a
    dropped jaw or a closed lid correctly. Changes below `epsilon` (about 0.1 degree) are written as zeros."""
    rest = mesh.vertices.astype(np.float64)
    base = H.vertex_normals(rest, mesh.triangles)
    out = {}
    for name, d in mesh.blendshapes.items():
        moved = np.any(d != 0.0, axis=1)
        delta = np.zeros_like(rest)
        if moved.any():
            delta = H.vertex_normals(rest + d, mesh.triangles) - base
        delta = np.where(np.linalg.norm(delta, axis=1, keepdims=True) < epsilon, 0.0, delta)
        out[name] = delta.astype(np.float32)
    return out


def eye_blendshapes(model: H.HeadModel, side: float) -> dict[str, np.ndarray]:
    """The eyeLook* shapes of one eye mesh (vertices are relative to the eye centre): the eyeball turned."""
    mesh = model.eye_left if side > 0 else model.eye_right
    v = mesh.vertices.astype(np.float64)
    sfx = "Left" if side > 0 else "Right"
    zero = np.zeros(3)
    # in = toward the nose (-X for the left eye), up = +Y; rotating about +Y by +a moves the front toward +X
    turns = {
        f"eyeLookIn{sfx}": _rot_y(-side * EYE_LOOK_YAW_RAD),
        f"eyeLookOut{sfx}": _rot_y(side * EYE_LOOK_YAW_RAD),
        f"eyeLookUp{sfx}": _rot_x(-EYE_LOOK_PITCH_RAD),
        f"eyeLookDown{sfx}": _rot_x(EYE_LOOK_PITCH_RAD),
    }
    out = {}
    for name in ARKIT_NAMES:  # keep ARKit order
        if name in turns:
            d = _rotation_delta(v, turns[name], zero)
            out[name] = np.where(np.abs(d) < DELTA_EPSILON_M, 0.0, d).astype(np.float32)
    return out
