"""A stylized procedural head: the demo face both engine samples load.

Coordinates: metres, +Y up, the face looks toward +Z, +X is the subject's left (glTF's convention). The origin is
the head-pose pivot (top of the neck, below the skull centre), so an engine can apply head pose by rotating the
root node. The head is about 0.21 m from chin to crown.

Three meshes:
- `head`: skin (one grid of horizontal slices around the head, cut along the mouth line so the lips can part),
  eyelids, ears, an inward-facing mouth cavity, upper and lower teeth and a tongue. Vertex colours paint skin, hair,
  brows, lips and lash lines, so no texture is needed.
- `eyeLeft`, `eyeRight`: eyeballs (sclera, iris, pupil) with their vertices relative to the eye centre, so an
  engine turns a whole eye for gaze by rotating its node.

The skin and what every part shares (landmarks, colours, mesh helpers) are here; the other parts and the assembly
(`build_head`) are in `parts.py`. Besides the geometry, `build_head` returns a `HeadRig`: per-vertex labels (which part, which side of the mouth
cut, eyelid parameters) that `vasa_bridge.avatar.shapes` turns into the 52 ARKit blend shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# ---- Landmarks (metres, head-pivot frame) -------------------------------------------------------------------
CROWN_Y_M = 0.155  # top of the skull
DOME_BASE_Y_M = 0.045  # below this the head is shaped by profile curves, above it by an ellipsoid dome
NECK_BOTTOM_Y_M = -0.12  # the skin grid ends (open) here
MOUTH_Y_M = -0.004  # the lip line (the mouth cut)
MOUTH_CORNER_X_M = 0.0225  # half the mouth width
EYE_Y_M = 0.055
EYE_X_M = 0.032  # eye centres at +-EYE_X_M
EYE_RADIUS_M = 0.0125
EYE_PROTRUSION_M = 0.0015  # how far the cornea sits in front of the (unrecessed) skin surface
LID_GAP_M = 0.0013  # eyelid shells float this far outside the eyeball
UPPER_LID_OPEN_RAD = np.deg2rad(22.0)  # upper lid margin elevation at rest (covers the top of the iris a little)
LOWER_LID_OPEN_RAD = np.deg2rad(-27.0)
LID_CORNER_AZIMUTH_RAD = np.deg2rad(78.0)  # the eye corners, as an azimuth around the eye centre
LID_EDGE_ELEVATION_RAD = np.deg2rad(78.0)  # how far the lid shells reach up/down (hidden under skin there)
BROW_Y_M = 0.074
JAW_HINGE_M = (0.0, 0.024, 0.004)  # the jaw rotates about the X axis through this point (near the ears)
# The skin is a grid of horizontal slices: this many columns around.
N_COLUMNS = 72
N_CROWN_ROWS = 7  # rows above CROWN_ROWS_FROM_Y_M, evenly spaced in angle (the skull top needs little detail)
CROWN_ROWS_FROM_Y_M = 0.12

# Part ids of head-mesh vertices (what shapes.py keys its region weights on).
SKIN, LID, EAR, CAVITY, TEETH_UPPER, TEETH_LOWER, TONGUE = range(7)

# ---- Colours (sRGB, 0..1) -------------------------------------------------------------------------------------
SKIN_RGB = (0.93, 0.75, 0.63)
LIP_RGB = (0.80, 0.42, 0.42)
HAIR_RGB = (0.30, 0.19, 0.12)
BROW_RGB = (0.27, 0.17, 0.11)
LASH_RGB = (0.10, 0.07, 0.06)
LID_RGB = (0.90, 0.70, 0.60)
NOSTRIL_RGB = (0.50, 0.30, 0.26)
MOUTH_RGB = (0.22, 0.05, 0.06)
TEETH_RGB = (0.95, 0.93, 0.86)
TONGUE_RGB = (0.82, 0.42, 0.45)
SCLERA_RGB = (0.96, 0.95, 0.92)
IRIS_RGB = (0.26, 0.47, 0.66)
LIMBUS_RGB = (0.10, 0.18, 0.28)
PUPIL_RGB = (0.03, 0.03, 0.04)


@dataclass(frozen=True)
class AvatarMesh:
    """One mesh of the avatar. Vertices are relative to `pivot` (the mesh's node position in the head frame)."""

    name: str
    vertices: np.ndarray  # (N, 3) float32, metres, relative to pivot
    normals: np.ndarray  # (N, 3) float32, unit
    colors: np.ndarray  # (N, 4) float32 sRGB + alpha, 0..1
    triangles: np.ndarray  # (M, 3) uint32, counter-clockwise seen from outside
    pivot: np.ndarray  # (3,) float32, metres in the head frame
    blendshapes: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N, 3) float32 vertex deltas
    # name -> (N, 3) float32 normal deltas at weight 1 (posed normals minus rest normals); same keys as blendshapes
    blendshape_normals: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class HeadRig:
    """Per-vertex labels of the head mesh, the raw material for blend shapes."""

    part: np.ndarray  # (N,) int: SKIN, LID, ...
    lip_side: np.ndarray  # (N,) float: +1 above the mouth cut, -1 below (lower lip, jaw), 0 elsewhere/corners
    side: np.ndarray  # (N,) float: +1 on the subject's left eye/lid, -1 right, 0 for non-lid vertices
    lid_upper: np.ndarray  # (N,) bool: an upper-lid vertex (only meaningful where part == LID)
    lid_u: np.ndarray  # (N,) float: 0 at the lid margin .. 1 at the lid's hidden edge
    lid_azimuth: np.ndarray  # (N,) float radians around the eye centre (+ toward the subject's left)
    lid_margin: np.ndarray  # (N,) float radians: the rest elevation of this lid column's margin
    lid_edge: np.ndarray  # (N,) float radians: the elevation of this lid column's hidden edge
    eye_centers: np.ndarray  # (2, 3): left (+X) then right eye centre
    lid_radius_m: float
    mouth_row_vertices: np.ndarray  # indices of the skin vertices on the mouth cut (both copies)


@dataclass(frozen=True)
class HeadModel:
    head: AvatarMesh  # blendshapes empty here; shapes.py fills them
    eye_left: AvatarMesh
    eye_right: AvatarMesh
    rig: HeadRig


# ---- small helpers ---------------------------------------------------------------------------------------------
def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 at edge0, 1 at edge1 (either order), C1-smooth between."""
    t = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def gauss2(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def rgb(c: tuple[float, float, float]) -> np.ndarray:
    return np.asarray(c, dtype=np.float64)


def mix_rgb(a: np.ndarray, b: np.ndarray | tuple, t: np.ndarray) -> np.ndarray:
    """Per-vertex blend of colour arrays: a (N,3), b colour or (N,3), t (N,)."""
    return a * (1.0 - t[:, None]) + np.asarray(b, dtype=np.float64) * t[:, None]


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit); isolated vertices get +Z."""
    v = vertices.astype(np.float64)
    t = triangles.astype(np.int64)
    face = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])  # (M, 3), length = 2 * area
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, t[:, k], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 1e-12, normals / np.maximum(length, 1e-12), np.array([0.0, 0.0, 1.0]))
    return normals


def sphere(polar_rad: np.ndarray, n_segments: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit sphere with poles on +Z (index 0) and -Z (last): rings at the given polar angles (0 < a < pi,
    ascending). Returns vertices (N,3), triangles (M,3) wound counter-clockwise seen from outside, and each
    vertex's polar angle (N,)."""
    phi = 2.0 * np.pi * np.arange(n_segments) / n_segments
    rings = [np.stack([np.sin(a) * np.cos(phi), np.sin(a) * np.sin(phi), np.full_like(phi, np.cos(a))], axis=1)
             for a in polar_rad]
    vertices = np.concatenate([[[0.0, 0.0, 1.0]], *rings, [[0.0, 0.0, -1.0]]])
    polar = np.concatenate([[0.0], np.repeat(polar_rad, n_segments), [np.pi]])
    tris: list[tuple[int, int, int]] = []
    s = np.arange(n_segments)
    s1 = (s + 1) % n_segments
    first = 1
    tris += list(zip(np.zeros(n_segments, int), first + s, first + s1))
    for k in range(len(polar_rad) - 1):
        a, b = first + k * n_segments, first + (k + 1) * n_segments
        tris += list(zip(a + s, b + s, b + s1))
        tris += list(zip(a + s, b + s1, a + s1))
    last = first + (len(polar_rad) - 1) * n_segments
    back = len(vertices) - 1
    tris += list(zip(np.full(n_segments, back), last + s1, last + s))
    return vertices, np.asarray(tris, dtype=np.int64), polar


# ---- the skin ------------------------------------------------------------------------------------------------
def _row_heights() -> tuple[np.ndarray, int]:
    """Heights of the skin's horizontal slices (bottom to top) and the index of the mouth row. Rows are denser
    around the mouth and eyes, where the blend shapes need resolution."""

    def step(y: float) -> float:
        near = max(np.exp(-(((y - MOUTH_Y_M) / 0.016) ** 2)), np.exp(-(((y - EYE_Y_M) / 0.014) ** 2)))
        return 0.0017 + 0.0016 * (1.0 - near)

    up = [MOUTH_Y_M]
    while up[-1] + step(up[-1]) < CROWN_ROWS_FROM_Y_M:
        up.append(up[-1] + step(up[-1]))
    down = []
    y = MOUTH_Y_M
    while y - step(y) > -0.066:
        y -= step(y)
        down.append(y)
    neck = list(np.linspace(-0.072, NECK_BOTTOM_Y_M, 5))
    height = CROWN_Y_M - DOME_BASE_Y_M
    start = np.arcsin((up[-1] - DOME_BASE_Y_M) / height)
    crown_angles = np.linspace(start, np.pi / 2, N_CROWN_ROWS + 2)[1:-1]
    crown = list(DOME_BASE_Y_M + height * np.sin(crown_angles))
    rows = np.array(sorted(neck + down + up + crown))
    rows = np.unique(np.round(rows, 9))
    mouth_row = int(np.argmin(np.abs(rows - MOUTH_Y_M)))
    return rows, mouth_row


# Cross-section profile control points below the dome: height -> half width, front depth, back depth, front
# superellipse exponent (lower = more V-shaped jaw), centre z.
# The last two points repeat so the curves arrive flat at the dome (no crease across the forehead).
_PROFILE_Y = np.array([-0.12, -0.085, -0.07, -0.06, -0.05, -0.035, -0.015, 0.005, 0.025, 0.038, DOME_BASE_Y_M])
_PROFILE_W = np.array([0.039, 0.040, 0.044, 0.047, 0.052, 0.060, 0.065, 0.069, 0.072, 0.073, 0.073])
_PROFILE_DF = np.array([0.043, 0.045, 0.058, 0.074, 0.080, 0.080, 0.081, 0.084, 0.085, 0.085, 0.085])
_PROFILE_DB = np.array([0.042, 0.044, 0.052, 0.062, 0.070, 0.080, 0.088, 0.094, 0.097, 0.098, 0.098])
_PROFILE_N = np.array([2.0, 2.0, 1.8, 1.55, 1.6, 1.75, 1.9, 2.0, 2.1, 2.2, 2.2])
_PROFILE_CZ = np.array([-0.016, -0.014, -0.008, -0.002, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])


def monotone_cubic(xk: np.ndarray, yk: np.ndarray, x: float) -> float:
    """Piecewise-cubic Hermite interpolation with Fritsch-Carlson slopes: smooth, and no overshoot between
    control points (what scipy's PCHIP does, without importing scipy for one curve)."""
    h = np.diff(xk)
    delta = np.diff(yk) / h
    slopes = np.zeros_like(yk)
    for k in range(1, len(xk) - 1):
        if delta[k - 1] * delta[k] > 0:  # harmonic mean keeps the curve monotone between points
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            slopes[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    slopes[0], slopes[-1] = delta[0], delta[-1]
    k = int(np.clip(np.searchsorted(xk, x) - 1, 0, len(h) - 1))
    t = (x - xk[k]) / h[k]
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return float(h00 * yk[k] + h10 * h[k] * slopes[k] + h01 * yk[k + 1] + h11 * h[k] * slopes[k + 1])


def _profile(y: float) -> tuple[float, float, float, float, float]:
    if y >= DOME_BASE_Y_M:
        t = min(1.0, (y - DOME_BASE_Y_M) / (CROWN_Y_M - DOME_BASE_Y_M))

        def arc(p: float) -> float:  # superellipse quarter: p = 2 is a circle, larger p is fuller
            return max(0.0, 1.0 - t**p) ** (1.0 / p)

        # a full forehead (the front stays forward longer), a rounder back
        return _PROFILE_W[-1] * arc(2.3), _PROFILE_DF[-1] * arc(3.5), _PROFILE_DB[-1] * arc(2.2), _PROFILE_N[-1], 0.0
    vals = [monotone_cubic(_PROFILE_Y, arr, y) for arr in
            (_PROFILE_W, _PROFILE_DF, _PROFILE_DB, _PROFILE_N, _PROFILE_CZ)]
    return vals[0], vals[1], vals[2], vals[3], vals[4]


def _column_angles() -> np.ndarray:
    """Azimuths of the skin columns, symmetric about the front (index N_COLUMNS // 2 is straight ahead), denser in
    front where the face is."""
    s = -1.0 + 2.0 * np.arange(N_COLUMNS) / N_COLUMNS
    a = 0.42
    return np.pi * (a * s + (1.0 - a) * s**3)


def slice_points(y: float, theta: np.ndarray) -> np.ndarray:
    """Undisplaced skin points of the slice at height y for azimuths theta (+ toward +X)."""
    w, df, db, n, cz = _profile(y)
    if w < 1e-9:
        return np.tile([0.0, y, cz], (len(theta), 1))
    sin, cos = np.sin(theta), np.cos(theta)
    front = cos >= 0
    depth = np.where(front, df, db)
    expo = np.where(front, n, 2.0)
    rho = (np.abs(sin / w) ** expo + np.abs(cos / depth) ** expo) ** (-1.0 / expo)
    return np.stack([rho * sin, np.full_like(theta, y), cz + rho * cos], axis=1)


def front_surface_z(x: float, y: float) -> float:
    """z of the undisplaced skin at (x, y) on the face (for placing the eyes)."""
    theta = np.linspace(-1.2, 1.2, 4001)
    pts = slice_points(y, theta)
    return float(np.interp(x, pts[:, 0], pts[:, 2]))


def lip_heights(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vermilion heights above (upper lip) and below (lower lip) the mouth line at x; zero past the corners."""
    q = np.clip(np.abs(x) / (MOUTH_CORNER_X_M + 0.002), 0.0, 1.0)
    base = np.sqrt(np.maximum(0.0, 1.0 - q**2))
    bow = 0.0013 * np.exp(-(((np.abs(x) - 0.0055) / 0.0032) ** 2)) - 0.0009 * np.exp(-((x / 0.0025) ** 2))
    upper = 0.0068 * base + bow * base
    lower = 0.0100 * base**0.7
    return upper, lower


def _face_displacement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Forward (+Z) displacement of the face features, metres."""
    dz = np.zeros_like(x)
    ax = np.abs(x)
    # nose: a ridge growing from the bridge to the tip, then falling away under the tip to the upper lip
    nose_h = np.interp(y, [0.008, 0.016, 0.021, 0.030, 0.045, 0.060, 0.068],
                       [0.0, 0.009, 0.019, 0.016, 0.009, 0.004, 0.0])
    nose_w = np.interp(y, [0.008, 0.018, 0.03, 0.06], [0.007, 0.0105, 0.0075, 0.006])
    dz += nose_h * np.exp(-((x / nose_w) ** 2))
    dz += 0.0055 * gauss2(ax, y, 0.011, 0.019, 0.0045, 0.004)  # nostril wings
    # muzzle and lips
    dz += 0.009 * gauss2(x, y, 0.0, MOUTH_Y_M + 0.002, 0.026, 0.022)
    upper, lower = lip_heights(x)
    dy = y - MOUTH_Y_M
    v = np.where(dy >= 0, dy / np.maximum(upper, 1e-4), -dy / np.maximum(lower, 1e-4))
    lip_extent = np.clip(1.0 - (ax / (MOUTH_CORNER_X_M + 0.003)) ** 2, 0.0, 1.0) ** 0.5
    # peaks mid-lip and dips toward the mouth line, so the closed lips meet in a shallow groove
    dz += 0.0048 * lip_extent * np.exp(-(((v - 0.5) / 0.5) ** 2)) * np.where(dy >= 0, 0.9, 1.1)
    # chin, cheekbones, brow ridge
    dz += 0.009 * gauss2(x, y, 0.0, -0.041, 0.015, 0.011)
    dz -= 0.003 * gauss2(x, y, 0.0, -0.022, 0.012, 0.005)  # the groove under the lower lip
    dz += 0.005 * gauss2(ax, y, 0.045, 0.030, 0.013, 0.012)
    dz += 0.006 * gauss2(ax, y, 0.027, BROW_Y_M + 0.002, 0.018, 0.006)
    # eye sockets: the skin inside each eye opening sinks behind the eyeball and lids
    for ex in (EYE_X_M, -EYE_X_M):
        e = np.sqrt(((x - ex) / 0.0150) ** 2 + ((y - EYE_Y_M) / 0.0118) ** 2)
        dz -= 0.014 * (1.0 - smoothstep(0.62, 1.0, e))
    return dz


def build_skin(eye_centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Skin grid: vertices, triangles, colours, lip_side, mouth-row vertex indices."""
    rows, mouth_row = _row_heights()
    theta = _column_angles()
    n_rows, n_cols = len(rows), len(theta)
    grid = np.concatenate([slice_points(y, theta) for y in rows])  # (n_rows * n_cols, 3)
    x, y = grid[:, 0], grid[:, 1]
    front = smoothstep(0.25, 0.6, np.cos(np.tile(theta, n_rows)))
    grid[:, 2] += front * _face_displacement(x, y)
    # hair: a cap whose front edge is the hairline, lifted a little off the scalp
    hairline = np.interp(np.abs(np.tile(theta, n_rows)), [0.0, 0.6, 1.1, 1.5, 2.2, np.pi],
                         [0.113, 0.108, 0.090, 0.075, 0.02, -0.035])
    # the hairline falls steeply down the sides, across coarse columns: soften it there so it does not stair-step
    soft_m = np.interp(np.abs(np.tile(theta, n_rows)), [0.0, 1.0, 1.4, np.pi], [0.004, 0.005, 0.012, 0.012])
    hair = smoothstep(-soft_m, soft_m, y - hairline)
    radial = grid - np.array([0.0, 0.03, 0.0])
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    grid += radial * (0.004 * hair)[:, None]
    vertices = np.concatenate([grid, [[0.0, CROWN_Y_M + 0.004, 0.0]]])  # crown pole (under the hair)
    pole = len(vertices) - 1

    # the mouth cut: interior mouth-row columns get a second ("lower lip") copy
    centre = n_cols // 2
    mouth_pts = grid[mouth_row * n_cols:(mouth_row + 1) * n_cols]
    inside = np.where(np.abs(mouth_pts[:, 0]) < MOUTH_CORNER_X_M)[0]
    inside = inside[np.abs(inside - centre) < n_cols // 4]
    lower_copy = {int(c): len(vertices) + k for k, c in enumerate(inside)}
    vertices = np.concatenate([vertices, mouth_pts[inside]])

    def vid(r: int, c: int, below_cut: bool = False) -> int:
        c %= n_cols
        if below_cut and r == mouth_row and c in lower_copy:
            return lower_copy[c]
        return r * n_cols + c

    tris = []
    for r in range(n_rows - 1):
        below = r + 1 == mouth_row  # the band just under the mouth row uses the lower copies
        for c in range(n_cols):
            a, b = vid(r, c), vid(r, c + 1)
            cc, d = vid(r + 1, c + 1, below), vid(r + 1, c, below)
            tris.append((a, b, cc))
            tris.append((a, cc, d))
    for c in range(n_cols):
        tris.append((vid(n_rows - 1, c), vid(n_rows - 1, c + 1), pole))
    triangles = np.asarray(tris, dtype=np.int64)

    # labels: which side of the mouth cut (for the jaw and the lip shapes)
    n = len(vertices)
    row_of = np.concatenate([np.repeat(np.arange(n_rows), n_cols), [n_rows], np.full(len(inside), mouth_row)])
    lip_side = np.where(row_of > mouth_row, 1.0, np.where(row_of < mouth_row, -1.0, 0.0))
    lip_side[[mouth_row * n_cols + int(c) for c in inside]] = 1.0
    lip_side[list(lower_copy.values())] = -1.0
    mouth_row_vertices = np.array([mouth_row * n_cols + int(c) for c in inside] + list(lower_copy.values()))

    colors = _skin_colors(vertices, lip_side, np.concatenate([hair, [1.0], np.zeros(len(inside))]), eye_centers)
    assert len(colors) == n
    return vertices, triangles, colors, lip_side, mouth_row_vertices


def _skin_colors(v: np.ndarray, lip_side: np.ndarray, hair: np.ndarray, eye_centers: np.ndarray) -> np.ndarray:
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    ax = np.abs(x)
    col = np.tile(rgb(SKIN_RGB), (len(v), 1))
    on_face = smoothstep(0.02, 0.05, z)
    # a warmer tint on the cheeks
    col = mix_rgb(col, (0.93, 0.66, 0.58), 0.5 * gauss2(ax, y, 0.045, 0.022, 0.012, 0.010) * on_face)
    # lips: inside the vermilion outline (each side of the cut takes its own lip)
    upper, lower = lip_heights(x)
    dy = y - MOUTH_Y_M
    in_upper = smoothstep(-0.0006, 0.0006, upper - dy) * (lip_side >= 0)
    in_lower = smoothstep(-0.0006, 0.0006, lower + dy) * (lip_side <= 0)
    lips = np.where(dy >= 0, in_upper, in_lower) * (upper > 1e-4) * on_face
    col = mix_rgb(col, LIP_RGB, lips)
    # brows: an arch over each eye
    bx = ax - 0.031
    brow_centre = BROW_Y_M + 0.0045 * (1.0 - (bx / 0.02) ** 2)
    brow = (smoothstep(0.0042, 0.0024, np.abs(y - brow_centre)) * smoothstep(0.024, 0.018, np.abs(bx))
            * smoothstep(0.008, 0.012, ax)) * on_face
    col = mix_rgb(col, BROW_RGB, brow)
    # nostrils
    col = mix_rgb(col, NOSTRIL_RGB, 0.9 * gauss2(ax, y, 0.0065, 0.0125, 0.0022, 0.0017) * on_face)
    col = mix_rgb(col, HAIR_RGB, hair)
    return np.concatenate([col, np.ones((len(v), 1))], axis=1)
