"""Per-portrait rig: everything the renderer precomputes once so that a frame is a few matrix products, gathers and
`grid_sample` calls.

- A face frame: origin between the irises, x along the eye line, unit = interocular distance (IOD). Blendshape
  displacements are authored in these units on the MediaPipe mesh topology and scaled to the portrait.
- Control vertices: the 468 mesh points, a ring just outside the face that follows the head partly (hair, ears),
  an outer ring and the crop border that never move. A Delaunay triangulation of them, rasterised once into a
  sparse (pixels x vertices) barycentric matrix, turns vertex displacements into a dense field.
- Static masks and colours for the synthesized parts: the mouth opening, eye openings, iris discs, sclera, skin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import Delaunay

from vasa_bridge.motion import layout
from vasa_bridge.render import topology as topo
from vasa_bridge.render.basis import JAW_OPEN_IOD, build_blendshape_basis
from vasa_bridge.render.portrait import Portrait

INNER_RING_SCALE = 1.22      # ring following the head (x face-oval radius)
OUTER_RING_SCALE = 1.55      # fixed ring: nothing outside it moves
INNER_RING_POSE_SHARE = 0.8  # how much of the head motion the hair ring follows
BORDER_STEP_PX = 64
FIELD_CELLS_PER_IOD = 24      # displacement-field grid density: ~4 px cells at 512, ~2 px at 256
TEETH_UPPER_SHARE = 1.0
ENAMEL_RGB = np.array([228.0, 222.0, 210.0])   # teeth never brighter than this
TEETH_HUE_SHARE = 0.3        # share of the eye whites' hue the synthesized teeth keep
IRIS_RADIUS_SCALE = 1.15
LIP_SEAM_MIX = 0.45          # sealed lips meet 45% of the way from the upper lip (the lower lip travels more)
LID_SEAM_MIX = 0.8           # closed lids meet near the lower lid (the upper lid does 80% of a blink)
# Head rotations pivot at the depth of the face outline: the outline then stays nearly in place (the warp has no
# hidden side of the head to reveal) while nose, eyes and mouth shift by parallax, which is what reads as a turn.
HEAD_CENTRE_HEIGHT_IOD = 0.35
FRONT_RELIEF = 0.6


@dataclass(frozen=True)
class EyeRig:
    pairs_upper: np.ndarray      # (n,) vertex index of upper lid points (corners excluded)
    pairs_lower: np.ndarray      # (n,)
    polygon: np.ndarray          # (m,) closed eye-opening polygon, vertex indices
    iris_centre_px: np.ndarray   # (2,)
    iris_radius_px: float
    roi: tuple[int, int, int, int]   # y0, y1, x0, x1 (crop pixels) where the eye layer can appear
    sclera_rgb: np.ndarray       # (3,) float 0..255
    iris_rgb: np.ndarray
    lid_rgb: np.ndarray
    opening_px: float            # mean source lid-to-lid distance


@dataclass(frozen=True)
class Rig:
    size: int
    iod_px: float
    origin_px: np.ndarray        # (2,)
    ex: np.ndarray               # (2,) unit vector along the eye line (image right)
    ey: np.ndarray               # (2,) unit vector down the face
    vertices_px: np.ndarray      # (V, 2) all control vertices in crop pixels (468 mesh + rings + border)
    depth_iod: np.ndarray        # (V,) face-frame depth of each vertex (rings get the oval's depth)
    head_centre_face: np.ndarray  # (3,) rotation centre in the face frame (x, y, depth), IOD units
    seam_index: np.ndarray       # (S,) seam vertices (last S of vertices_px): (1 - mix) * upper + mix * lower
    seam_upper: np.ndarray       # (S,)
    seam_lower: np.ndarray       # (S,)
    seam_mix: np.ndarray         # (S,)
    pose_share: np.ndarray       # (V,) 1 for the face, <1 for the hair ring, 0 for fixed vertices
    basis_px: np.ndarray         # (52, V, 2) displacement per blendshape at weight 1, crop pixels
    lip_upper_inner: np.ndarray  # (11,) vertex indices
    lip_lower_inner: np.ndarray
    closure_up_weights: np.ndarray   # (V, 11): how much each vertex follows the upper inner lip point i
    closure_low_weights: np.ndarray  # (V, 11)
    mouth_polygon: np.ndarray    # (20,) vertex indices
    mouth_roi: tuple[int, int, int, int]
    mouth_rest_gap_px: float
    teeth_rgb: np.ndarray        # (3,)
    lip_rgb: np.ndarray
    src_mouth_upper_mask: np.ndarray  # (H, W) float32: inside the source mouth opening, upper half
    src_mouth_lower_mask: np.ndarray
    src_opening_mouth: np.ndarray  # (H, W) bool: the photo's mouth opening, slightly dilated
    lip_edge_rgb: np.ndarray     # (2, W, 3) colour just outside the upper / lower inner lip, per column
    src_eye_mask: np.ndarray     # (H, W) float32: inside either source eye opening
    src_opening_eye: np.ndarray  # (H, W) bool: the eye openings, dilated like the mouth's (the white of the eye
                                 # shows a pixel or two beyond the mesh's lid contour: a blink must cover it too)
    src_iris_mask: np.ndarray    # (H, W) float32: inside either source iris disc (not clipped to the eye)
    eyes: tuple[EyeRig, EyeRig]
    warp_roi: tuple[int, int, int, int]
    coarse_hw: tuple[int, int]   # the field grid inside the warp ROI
    coarse_points: np.ndarray    # (Pc, 2) its cell centres, crop pixels
    bary_rows: np.ndarray        # (3Pc,) field-grid cell index
    bary_cols: np.ndarray        # (3P,) vertex index
    bary_vals: np.ndarray        # (3P,) barycentric weight
    feather_coarse: np.ndarray   # (hc, wc) float32 1 inside the face region, 0 at the fixed ring

    @property
    def n_vertices(self) -> int:
        return len(self.vertices_px)


def polygon_mask(poly_xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H, W) bool: pixel centres inside a polygon (even-odd rule)."""
    from matplotlib.path import Path as MplPath
    out = np.zeros((h, w), bool)
    # Only pixel centres inside the polygon's bounding box can be inside it: test those (features are small).
    x0, y0 = np.clip(np.floor(poly_xy.min(0) - 0.5).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(poly_xy.max(0) + 0.5).astype(int), 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return out
    ys, xs = np.mgrid[y0:y1, x0:x1]
    pts = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    out[y0:y1, x0:x1] = MplPath(poly_xy).contains_points(pts).reshape(y1 - y0, x1 - x0)
    return out


def build_rig(portrait: Portrait) -> Rig:
    size = portrait.size
    face = _face_frame(portrait)
    ctrl = _control_vertices(face, size)
    basis_px = np.zeros((layout.N_BLENDSHAPES, len(ctrl.vertices), 2))
    basis_px[:, :len(face.pts)] = (build_blendshape_basis(face.f) @ face.rot.T) * face.iod
    warp_roi, coarse_hw, q, rows, cols, bary = _field_grid(ctrl.vertices, ctrl.outer, size, face.iod)
    img = portrait.image.astype(np.float64)
    up_in, lo_in, close_up, close_low = _lip_closure_weights(face, len(ctrl.vertices))
    mouth = _mouth_appearance(img, face, size)
    eyes, src_eye, src_iris = _eye_rigs(img, face, size)
    teeth_rgb = mouth.pop("teeth_rgb")
    if teeth_rgb is None:
        teeth_rgb = _teeth_from_eye_whites(img, face.pts, eyes, size)
    return Rig(size=size, iod_px=face.iod, origin_px=face.origin, ex=face.ex, ey=face.ey,
               vertices_px=ctrl.vertices.astype(np.float32), depth_iod=ctrl.depth.astype(np.float32),
               seam_index=ctrl.seam_index, seam_upper=ctrl.seam_upper, seam_lower=ctrl.seam_lower,
               seam_mix=ctrl.seam_mix.astype(np.float32),
               head_centre_face=np.array([0.0, HEAD_CENTRE_HEIGHT_IOD, ctrl.pivot_depth], np.float32),
               pose_share=ctrl.pose_share.astype(np.float32),
               basis_px=basis_px.astype(np.float32), lip_upper_inner=up_in, lip_lower_inner=lo_in,
               closure_up_weights=close_up.astype(np.float32), closure_low_weights=close_low.astype(np.float32),
               teeth_rgb=teeth_rgb.astype(np.float32), **mouth,
               src_eye_mask=src_eye.astype(np.float32), src_iris_mask=src_iris.astype(np.float32),
               src_opening_eye=ndimage.binary_dilation(src_eye, iterations=max(1, int(round(0.02 * face.iod)))),
               eyes=(eyes[0], eyes[1]), warp_roi=warp_roi, coarse_hw=coarse_hw, coarse_points=q.astype(np.float32),
               bary_rows=rows, bary_cols=cols.ravel(), bary_vals=bary.ravel().astype(np.float32),
               feather_coarse=_feather(ctrl.inner, ctrl.outer, q, *coarse_hw))


@dataclass(frozen=True)
class _FaceFrame:
    """The portrait's mesh in pixels and in the face frame (origin between the irises, unit = IOD)."""

    pts: np.ndarray      # (468, 3) mesh points, crop pixels (z: MediaPipe's relative depth)
    iris: np.ndarray     # (2, 5, 2) iris centre + rim points, crop pixels
    origin: np.ndarray   # (2,) between the iris centres
    ex: np.ndarray       # (2,) unit vector along the eye line
    ey: np.ndarray       # (2,) unit vector down the face
    rot: np.ndarray      # (2, 2) face → pixel directions
    iod: float           # interocular distance, pixels
    f: np.ndarray        # (468, 2) mesh points in the face frame
    depth: np.ndarray    # (468,) depth in IOD units, mean 0


def _face_frame(portrait: Portrait) -> _FaceFrame:
    pts = portrait.points.astype(np.float64)
    iris = portrait.iris.astype(np.float64)
    origin = (iris[0, 0] + iris[1, 0]) / 2
    ex = iris[1, 0] - iris[0, 0]
    iod = float(np.linalg.norm(ex))
    if iod < 8:
        raise ValueError("face too small in the crop")
    ex = ex / iod
    ey = np.array([-ex[1], ex[0]])
    rot = np.stack([ex, ey], axis=1)                     # face → pixel directions (2, 2)
    f = ((pts[:, :2] - origin) @ rot) / iod              # (468, 2) face frame
    depth = (pts[:, 2] - pts[:, 2].mean()) / iod
    return _FaceFrame(pts, iris, origin, ex, ey, rot, iod, f, depth)


@dataclass(frozen=True)
class _ControlVertices:
    vertices: np.ndarray     # (V, 2) mesh points, inner ring, outer ring, border, seams: crop pixels
    inner: np.ndarray        # (k, 2) the ring that follows the head partly
    outer: np.ndarray        # (k, 2) the fixed ring
    seam_index: np.ndarray   # (S,) the seam vertices' indices (the last S)
    seam_upper: np.ndarray   # (S,) mesh index of each seam vertex's upper partner
    seam_lower: np.ndarray   # (S,)
    seam_mix: np.ndarray     # (S,)
    pose_share: np.ndarray   # (V,)
    depth: np.ndarray        # (V,) face-frame depth, IOD units
    pivot_depth: float


def _control_vertices(face: _FaceFrame, size: int) -> _ControlVertices:
    pts, depth = face.pts, face.depth
    # Rings around the face: centre = the oval's centroid; border points along the crop edges.
    oval = pts[list(topo.FACE_OVAL), :2]
    centre = oval.mean(0)
    inner = centre + (oval - centre) * INNER_RING_SCALE
    outer = centre + (oval - centre) * OUTER_RING_SCALE
    outer = np.clip(outer, 1.0, size - 1.0)
    edge = np.arange(0, size + 1, BORDER_STEP_PX, dtype=np.float64)
    border = np.concatenate([np.stack([edge, np.zeros_like(edge)], 1), np.stack([edge, np.full_like(edge, size)], 1),
                             np.stack([np.zeros_like(edge), edge], 1), np.stack([np.full_like(edge, size), edge], 1)])
    border = np.unique(border, axis=0)
    # Drop border points that sit on top of the (clipped) outer ring: they would make degenerate triangles.
    keep = np.min(np.linalg.norm(border[:, None] - outer[None], axis=2), axis=1) > 4.0
    border = border[keep]
    # Seam vertices inside each opening, on the line where the lips (lids) meet when they close: with them the
    # photo's teeth (eye) between the margins collapse onto a clean seam instead of Delaunay zigzags.
    seam_up, seam_low, seam_mix = [], [], []
    for up_c, lo_c, mix in ((topo.LIP_UPPER_INNER, topo.LIP_LOWER_INNER, LIP_SEAM_MIX),
                            (topo.EYE_IMAGE_LEFT.upper, topo.EYE_IMAGE_LEFT.lower, LID_SEAM_MIX),
                            (topo.EYE_IMAGE_RIGHT.upper, topo.EYE_IMAGE_RIGHT.lower, LID_SEAM_MIX)):
        seam_up += list(up_c[1:-1])
        seam_low += list(lo_c[1:-1])
        seam_mix += [mix] * (len(up_c) - 2)
    seam_up_a, seam_low_a, seam_mix_a = np.array(seam_up), np.array(seam_low), np.array(seam_mix)
    seam = (1 - seam_mix_a[:, None]) * pts[seam_up_a, :2] + seam_mix_a[:, None] * pts[seam_low_a, :2]
    vertices = np.concatenate([pts[:, :2], inner, outer, border, seam])
    seam_index = np.arange(len(vertices) - len(seam), len(vertices))
    n_mesh, n_inner = len(pts), len(inner)
    pose_share = np.zeros(len(vertices))
    pose_share[:n_mesh] = 1.0
    pose_share[n_mesh:n_mesh + n_inner] = INNER_RING_POSE_SHARE
    depth_all = np.zeros(len(vertices))
    # Points behind the pivot (the sides of the face, seen edge-on) are flattened onto it: rotating them by their
    # true depth would fold the thin, foreshortened triangles at the silhouette over each other.
    pivot_depth = float(depth[list(topo.FACE_OVAL)].mean())
    # In front, relief is softened (nose, lips) for the same reason: a photo has no pixels for what a turn
    # would reveal behind the nose.
    depth_all[:n_mesh] = pivot_depth - FRONT_RELIEF * np.maximum(pivot_depth - depth, 0.0)
    depth_all[n_mesh:n_mesh + n_inner] = pivot_depth
    return _ControlVertices(vertices, inner, outer, seam_index, seam_up_a, seam_low_a, seam_mix_a, pose_share,
                            depth_all, pivot_depth)


def _field_grid(vertices: np.ndarray, outer: np.ndarray, size: int, iod: float):
    """The warp ROI, its coarse field grid (hc, wc), the grid's cell centres q (P, 2) and the sparse barycentric
    matrix (rows, cols (P, 3), weights (P, 3)) from vertices to grid cells."""
    # Warp ROI = bounding box of the outer ring; rasterise the triangulation there once.
    x0, y0 = np.floor(outer.min(0)).astype(int)
    x1, y1 = np.ceil(outer.max(0)).astype(int)
    x0, y0, x1, y1 = int(max(0, x0)), int(max(0, y0)), int(min(size, x1)), int(min(size, y1))
    tri = Delaunay(vertices)
    # The displacement field is evaluated on a grid `field_stride` x coarser than the pixels and upsampled per frame.
    field_stride = max(1, int(round(iod / FIELD_CELLS_PER_IOD)))
    hc, wc = -(-(y1 - y0) // field_stride), -(-(x1 - x0) // field_stride)
    # Cell centres sit on pixel centres with the ROI's first and last pixels included, so that upsampling with
    # align_corners=True reproduces the identity map exactly where the field is zero (the ROI's edges).
    cy = y0 + 0.5 + np.arange(hc) * (y1 - y0 - 1) / max(hc - 1, 1)
    cx = x0 + 0.5 + np.arange(wc) * (x1 - x0 - 1) / max(wc - 1, 1)
    ys, xs = np.meshgrid(cy, cx, indexing="ij")
    q = np.stack([xs.ravel(), ys.ravel()], axis=1)
    # matplotlib's trapezoid-map finder: scipy's find_simplex falls back to brute force for every grid point
    # outside the hull (the ROI corners), which took seconds at 512.
    from matplotlib.tri import Triangulation
    simplex = Triangulation(vertices[:, 0], vertices[:, 1], tri.simplices).get_trifinder()(q[:, 0], q[:, 1])
    inside = simplex >= 0
    cols = tri.simplices[np.maximum(simplex, 0)]          # (P, 3)
    # Barycentric coordinates: (l0, l1) = T⁻¹ (q − v2) with T = [v0 − v2, v1 − v2] (what scipy's
    # Delaunay.transform holds, but that property took seconds to build for every simplex).
    v = vertices[cols]                                    # (P, 3, 2)
    t = np.stack([v[:, 0] - v[:, 2], v[:, 1] - v[:, 2]], axis=2)            # (P, 2, 2), columns = edges
    det = t[:, 0, 0] * t[:, 1, 1] - t[:, 0, 1] * t[:, 1, 0]
    det = np.where(np.abs(det) > 1e-12, det, np.inf)     # degenerate triangles: weights 0
    d = q - v[:, 2]
    b2 = np.stack([(t[:, 1, 1] * d[:, 0] - t[:, 0, 1] * d[:, 1]) / det,
                   (t[:, 0, 0] * d[:, 1] - t[:, 1, 0] * d[:, 0]) / det], axis=1)
    bary = np.concatenate([b2, 1 - b2.sum(1, keepdims=True)], axis=1)   # (P, 3)
    bary[~inside] = 0.0
    rows = np.repeat(np.arange(len(q)), 3)
    return (y0, y1, x0, x1), (int(hc), int(wc)), q, rows, cols, bary


def _feather(inner: np.ndarray, outer: np.ndarray, q: np.ndarray, hc: int, wc: int) -> np.ndarray:
    # Feather (on the field grid): 1 inside the inner ring, fading to 0 at the outer ring.
    from matplotlib.path import Path as MplPath
    inner_m = MplPath(inner).contains_points(q).reshape(hc, wc).astype(np.float32)
    outer_m = MplPath(outer).contains_points(q).reshape(hc, wc)
    dist_out = ndimage.distance_transform_edt(outer_m)
    dist_in = ndimage.distance_transform_edt(1 - inner_m)
    feather = np.where(inner_m > 0, 1.0, dist_out / np.maximum(dist_out + dist_in, 1e-6)).astype(np.float32)
    feather = np.clip(feather * 1.5, 0, 1) * outer_m
    return feather.astype(np.float32)


def _lip_closure_weights(face: _FaceFrame, n_vertices: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inner-lip pairs (upper, lower indices) and (V, 11) weights: how much each vertex follows each inner-lip
    point when the lips seal."""
    pts, f = face.pts, face.f
    # Mouth: lip pairs, closure weights, static masks and colours.
    up_in, lo_in = np.array(topo.LIP_UPPER_INNER), np.array(topo.LIP_LOWER_INNER)
    up_out, lo_out = np.array(topo.LIP_UPPER_OUTER), np.array(topo.LIP_LOWER_OUTER)
    close_up = np.zeros((n_vertices, len(up_in)))
    close_low = np.zeros((n_vertices, len(lo_in)))
    # Each lip point follows its inner-lip partner; the skin around follows with a short falloff so that sealing
    # lips over an open jaw does not tear the philtrum or the chin.
    lips_all = set(topo.LIP_UPPER_INNER + topo.LIP_UPPER_OUTER + topo.LIP_LOWER_INNER + topo.LIP_LOWER_OUTER)
    skin = np.array([v for v in range(len(pts)) if v not in lips_all])
    for i in range(1, len(up_in) - 1):
        close_up[up_in[i], i] = 1.0
        close_up[up_out[i], i] = 0.75
        close_low[lo_in[i], i] = 1.0
        close_low[lo_out[i], i] = 0.75
        for weights, anchor, sign in ((close_up, up_out[i], -1.0), (close_low, lo_out[i], 1.0)):
            rel = (f[skin] - f[anchor]) @ np.array([0.0, sign])       # > 0: on the far side of the lip
            near = np.exp(-np.sum((f[skin] - f[anchor]) ** 2, axis=1) / (2 * 0.08 ** 2)) * (rel > 0)
            weights[skin, i] = np.maximum(weights[skin, i], 0.6 * near)
    # Normalise so a point near several partners moves by their average, never more than its nearest lip point.
    for weights in (close_up, close_low):
        total = weights.sum(1, keepdims=True)
        peak = weights.max(1, keepdims=True)
        np.divide(weights * peak, total, out=weights, where=total > 0)
    return up_in, lo_in, close_up, close_low


def _mouth_appearance(img: np.ndarray, face: _FaceFrame, size: int) -> dict:
    """The Rig's mouth fields: static masks of the photo's opening, lip and teeth colours (teeth_rgb None when
    the photo shows no teeth), the mouth's ROI."""
    pts, iod = face.pts, face.iod
    up_in, lo_in = np.array(topo.LIP_UPPER_INNER), np.array(topo.LIP_LOWER_INNER)
    mouth_poly = np.array(topo.inner_lip_polygon())
    H = W = size
    src_mouth = polygon_mask(pts[mouth_poly, :2], H, W)
    yy = np.arange(H)[:, None] + 0.5
    # Upper teeth fill most of a smile's opening: split the photo's visible teeth at 70% of the lip gap.
    split = pts[up_in, :2] + TEETH_UPPER_SHARE * (pts[lo_in, :2] - pts[up_in, :2])
    split_y = np.interp(np.arange(W) + 0.5, *_sorted_xy(split))
    upper_half = yy < split_y[None, :]
    src_mouth_upper = (src_mouth & upper_half).astype(np.float32)
    src_mouth_lower = (src_mouth & ~upper_half).astype(np.float32)
    # Teeth often show a pixel or two beyond the mesh's inner-lip contour: the mask that says "the warp fetched
    # the photo's opening" (used to seal lips) is dilated by ~1% of the IOD so no teeth ghost through.
    grow = max(1, int(round(0.015 * iod)))
    src_opening_mouth = ndimage.binary_dilation(src_mouth, iterations=grow)
    # Colour of each lip's inner edge per column: sealed lips are drawn with it (lips pressed together).
    lip_edge_rgb = np.zeros((2, W, 3), np.float32)
    up_y = np.interp(np.arange(W) + 0.5, *_sorted_xy(pts[up_in, :2]))
    lo_y = np.interp(np.arange(W) + 0.5, *_sorted_xy(pts[lo_in, :2]))
    columns = np.arange(W)
    for k, (edge_y, step) in enumerate(((up_y, -1.0), (lo_y, 1.0))):
        samples = [img[np.clip((edge_y + step * (grow + d)).astype(int), 0, H - 1), columns] for d in (1, 2, 3)]
        lip_edge_rgb[k] = np.median(np.stack(samples), axis=0)
    rest_gap = float(np.linalg.norm(pts[14, :2] - pts[13, :2]))
    interior = img[src_mouth]
    teeth_rgb = None            # None: the photo shows no teeth; derived from the whites of the eyes below
    if len(interior) > 20:
        lum = interior.mean(1)
        teeth_rgb = interior[lum >= np.percentile(lum, 75)].mean(0)
        if teeth_rgb.mean() < 150:      # a dark open mouth shows no teeth
            teeth_rgb = None
    lip_mask = polygon_mask(pts[list(topo.LIP_UPPER_OUTER) + list(reversed(topo.LIP_LOWER_OUTER[1:-1])), :2], H, W)
    lip_mask &= ~src_mouth
    lip_rgb = img[lip_mask].mean(0) if lip_mask.sum() > 10 else np.array([170.0, 90.0, 90.0])
    mouth_pts = pts[mouth_poly, :2]
    mx0, my0 = mouth_pts.min(0) - 0.25 * iod
    mx1, my1 = mouth_pts.max(0) + np.array([0.25 * iod, (JAW_OPEN_IOD + 0.3) * iod])
    mouth_roi = _roi(my0, my1, mx0, mx1, size)
    return dict(mouth_polygon=mouth_poly, mouth_roi=mouth_roi, mouth_rest_gap_px=rest_gap, teeth_rgb=teeth_rgb,
                lip_rgb=lip_rgb.astype(np.float32), src_mouth_upper_mask=src_mouth_upper,
                src_mouth_lower_mask=src_mouth_lower, src_opening_mouth=src_opening_mouth, lip_edge_rgb=lip_edge_rgb)


def _eye_rigs(img: np.ndarray, face: _FaceFrame, size: int) -> tuple[list[EyeRig], np.ndarray, np.ndarray]:
    """Both eyes' rigs, and the (H, W) masks of the photo's eye openings and iris discs."""
    pts, iris, ey, iod = face.pts, face.iris, face.ey, face.iod
    H = W = size
    eyes = []
    src_eye = np.zeros((H, W), bool)
    src_iris = np.zeros((H, W), bool)
    for k, eye in enumerate(topo.EYES):
        poly = np.array(topo.eye_polygon(eye))
        m = polygon_mask(pts[poly, :2], H, W)
        c = iris[k, 0]
        # The iris model places the rim a little inside the dark limbal ring; take the ring with the iris.
        r = IRIS_RADIUS_SCALE * float(np.mean(np.linalg.norm(iris[k, 1:] - c, axis=1)))
        disc = (np.add.outer((np.arange(H) + 0.5 - c[1]) ** 2, (np.arange(W) + 0.5 - c[0]) ** 2)) < r * r
        src_eye |= m
        src_iris |= disc          # the whole disc, also where the lids hide it: it says where the iris is
        sclera_px = img[m & ~disc]
        if len(sclera_px) > 5:
            lum = sclera_px.mean(1)
            sclera_rgb = sclera_px[lum >= np.percentile(lum, 60)].mean(0)
        else:
            sclera_rgb = np.array([215.0, 205.0, 200.0])
        iris_px = img[disc & m]
        iris_rgb = iris_px.mean(0) if len(iris_px) > 3 else np.array([80.0, 60.0, 50.0])
        up, lo = np.array(eye.upper[1:-1]), np.array(eye.lower[1:-1])
        opening = float(np.mean(np.linalg.norm(pts[lo, :2] - pts[up, :2], axis=1)))
        # Lid skin colour: a band just above the upper lid margin.
        lid_pts = pts[up, :2] - ey * (opening * 1.6 + 2)
        lid_samples = np.array([img[int(np.clip(p[1], 0, H - 1)), int(np.clip(p[0], 0, W - 1))] for p in lid_pts])
        lid_rgb = np.median(lid_samples, axis=0)
        e_pts = pts[poly, :2]
        ex0, ey0 = e_pts.min(0) - 0.12 * iod
        ex1, ey1 = e_pts.max(0) + 0.12 * iod
        eyes.append(EyeRig(up, lo, poly, c, r, _roi(ey0, ey1, ex0, ex1, size), sclera_rgb, iris_rgb, lid_rgb,
                           opening))
    return eyes, src_eye, src_iris


def _teeth_from_eye_whites(img: np.ndarray, pts: np.ndarray, eyes: list[EyeRig], size: int) -> np.ndarray:
    """Teeth the photo does not show take the colour of its eye whites, a little dimmer (teeth sit in the mouth's
    shade): the photo's white balance, varnish or paint, never a clean white on a yellowed painting."""
    H = W = size
    # Eye whites behind glasses or in shadow read dark: the teeth are then lifted to 85% of the brightness of
    # the face's highlights (keeping the whites' hue).
    # Only a third of their hue is kept: small or shaded eyes give a skin-coloured "white".
    whites = 0.92 * np.mean([e.sclera_rgb for e in eyes], axis=0)
    teeth_rgb = whites.mean() + TEETH_HUE_SHARE * (whites - whites.mean())
    face_px = img[polygon_mask(pts[list(topo.FACE_OVAL), :2], H, W)]
    if len(face_px) > 20:
        highlight = float(np.percentile(face_px.mean(1), 90))
        teeth_rgb = teeth_rgb * max(1.0, 0.85 * highlight / max(float(teeth_rgb.mean()), 1.0))
    teeth_rgb = np.minimum(teeth_rgb, ENAMEL_RGB)
    return teeth_rgb


def _sorted_xy(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(p[:, 0])
    return p[order, 0], p[order, 1]


def _roi(y0: float, y1: float, x0: float, x1: float, size: int) -> tuple[int, int, int, int]:
    return (int(max(0, np.floor(y0))), int(min(size, np.ceil(y1))), int(max(0, np.floor(x0))),
            int(min(size, np.ceil(x1))))
