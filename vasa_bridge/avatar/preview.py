"""A small software renderer for looking at the avatar without an engine: perspective camera, z-buffer, back-face
culling (as engines do by default), vertex colours and normals interpolated across each triangle (Gouraud-style
colour, per-pixel Lambert light). `render_preview` draws the neutral head and a
few blend shapes side by side into a PNG (matplotlib only writes the image and the labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vasa_bridge.avatar.head import AvatarMesh, vertex_normals

LIGHT_DIR = np.array([-0.35, 0.45, 0.82]) / np.linalg.norm([-0.35, 0.45, 0.82])  # from the viewer's upper left
AMBIENT = 0.38
BACKGROUND_RGB = (0.16, 0.17, 0.20)
DEFAULT_PANELS: tuple[tuple[str, dict[str, float], float], ...] = (
    ("neutral", {}, 0.0),
    ("neutral (3/4 view)", {}, 0.55),
    ("jawOpen", {"jawOpen": 1.0}, 0.0),
    ("eyeBlinkLeft", {"eyeBlinkLeft": 1.0}, 0.0),
    ("mouthSmileLeft", {"mouthSmileLeft": 1.0}, 0.0),
    ("mouthPucker", {"mouthPucker": 1.0}, 0.0),
    ("mouthFunnel + browInnerUp", {"mouthFunnel": 1.0, "browInnerUp": 1.0}, 0.0),
    ("jawOpen 0.5 + tongueOut (side)", {"jawOpen": 0.5, "tongueOut": 1.0}, 1.2),
    ("eyeLookOut/InLeft+Right, smile", {"eyeLookOutLeft": 1.0, "eyeLookInRight": 1.0, "mouthSmileLeft": 0.6,
                                        "mouthSmileRight": 0.6, "cheekSquintLeft": 0.5, "cheekSquintRight": 0.5}, 0.0),
)


def posed_world_vertices(mesh: AvatarMesh, weights: dict[str, float]) -> np.ndarray:
    """Vertices of a mesh in the head frame with blend-shape weights applied (unknown names are ignored, as an
    engine ignores shapes a mesh lacks)."""
    v = mesh.vertices.astype(np.float64).copy()
    for name, w in weights.items():
        if name in mesh.blendshapes and w != 0.0:
            v += w * mesh.blendshapes[name]
    return v + mesh.pivot


SMALL_TRIANGLE_PX = 4  # triangles whose bounding box fits in this many pixels are rasterized all at once


def _fragments(px, py, depth, tris, area, lo_x, lo_y, size_px, span):
    """Candidate pixels of many triangles at once: every pixel of a span x span box from each triangle's
    bounding-box corner. Returns (pixel index, depth, triangle index, barycentric weights (P, 3)) for the pixels
    inside their triangle."""
    off_y, off_x = np.divmod(np.arange(span * span), span)
    gx = lo_x[:, None] + off_x[None, :]  # (T, span*span)
    gy = lo_y[:, None] + off_y[None, :]
    cx, cy = gx + 0.5, gy + 0.5
    x0, x1, x2 = (px[tris[:, k]][:, None] for k in range(3))
    y0, y1, y2 = (py[tris[:, k]][:, None] for k in range(3))
    a = area[:, None]
    w0 = ((x1 - cx) * (y2 - cy) - (x2 - cx) * (y1 - cy)) / a
    w1 = ((x2 - cx) * (y0 - cy) - (x0 - cx) * (y2 - cy)) / a
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6) & (gx < size_px) & (gy < size_px)
    t_idx, c_idx = np.nonzero(inside)
    bary = np.stack([w0[t_idx, c_idx], w1[t_idx, c_idx], w2[t_idx, c_idx]], axis=1)
    z = (bary * depth[tris[t_idx]]).sum(axis=1)
    return gy[t_idx, c_idx] * size_px + gx[t_idx, c_idx], z, t_idx, bary


def render(meshes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], yaw_rad: float = 0.0, size_px: int = 360,
           camera_distance_m: float = 0.55, fov_deg: float = 26.0, look_at_y_m: float = 0.045) -> np.ndarray:
    """Render (vertices (N,3) head frame, triangles (M,3), colours (N,3|4) sRGB) lists; returns (H, W, 3) floats.
    The camera sits on +Z looking back at the face, turned around the head by yaw_rad (+ = toward the subject's
    left)."""
    # one combined mesh: fragments of all parts then compete in one z-buffer pass
    offsets = np.cumsum([0] + [len(v) for v, _, _ in meshes])
    vertices = np.concatenate([v for v, _, _ in meshes]).astype(np.float64)
    tris = np.concatenate([t.astype(np.int64) + o for (_, t, _), o in zip(meshes, offsets)])
    rgb = np.concatenate([c[:, :3] for _, _, c in meshes]).astype(np.float64)
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    rot = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])  # turning the head by -yaw = moving the camera
    v = vertices @ rot.T
    normals = vertex_normals(v, tris)  # (N, 3) of the posed, turned surface
    focal_px = 0.5 * size_px / np.tan(np.deg2rad(fov_deg) / 2)
    depth = camera_distance_m - v[:, 2]  # (N,) distance along the view axis
    px = size_px / 2 + focal_px * v[:, 0] / depth
    py = size_px / 2 - focal_px * (v[:, 1] - look_at_y_m) / depth
    # back-face culling in screen space (counter-clockwise = front; screen y points down)
    x0, y0, x1, y1, x2, y2 = px[tris[:, 0]], py[tris[:, 0]], px[tris[:, 1]], py[tris[:, 1]], px[tris[:, 2]], py[
        tris[:, 2]]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    lo_x = np.floor(np.minimum(np.minimum(x0, x1), x2)).astype(np.int64)
    lo_y = np.floor(np.minimum(np.minimum(y0, y1), y2)).astype(np.int64)
    hi_x = np.floor(np.maximum(np.maximum(x0, x1), x2)).astype(np.int64)
    hi_y = np.floor(np.maximum(np.maximum(y0, y1), y2)).astype(np.int64)
    keep = (area < -1e-9) & (hi_x >= 0) & (hi_y >= 0) & (lo_x < size_px) & (lo_y < size_px)
    lo_x, lo_y = np.maximum(lo_x, 0), np.maximum(lo_y, 0)
    span = np.maximum(hi_x - lo_x, hi_y - lo_y) + 1
    parts = []
    small = keep & (span <= SMALL_TRIANGLE_PX)
    idx = np.nonzero(small)[0]
    pix, z, t_local, bary = _fragments(px, py, depth, tris[idx], area[idx], lo_x[idx], lo_y[idx], size_px,
                                       SMALL_TRIANGLE_PX)
    parts.append((pix, z, idx[t_local], bary))
    for k in np.nonzero(keep & ~small)[0]:  # the few big triangles, one at a time
        one = np.array([k])
        pix, z, _, bary = _fragments(px, py, depth, tris[one], area[one], lo_x[one], lo_y[one], size_px,
                                     int(span[k]))
        parts.append((pix, z, np.full(len(pix), k), bary))
    pix = np.concatenate([p[0] for p in parts])
    z = np.concatenate([p[1] for p in parts])
    tri_of = np.concatenate([p[2] for p in parts])
    bary = np.concatenate([p[3] for p in parts])
    # z-buffer: for each pixel keep the nearest fragment
    order = np.lexsort((z, pix))
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]] if len(order) else order
    corners = tris[tri_of[first]]  # (P, 3)
    w = bary[first][:, :, None]  # (P, 3, 1)
    n = (w * normals[corners]).sum(axis=1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    shade = AMBIENT + (1.0 - AMBIENT) * np.clip(n @ LIGHT_DIR, 0.0, 1.0)
    colour = (w * rgb[corners]).sum(axis=1) * shade[:, None]
    image = np.tile(np.asarray(BACKGROUND_RGB, dtype=np.float64), (size_px * size_px, 1))
    image[pix[first]] = colour
    return np.clip(image.reshape(size_px, size_px, 3), 0.0, 1.0)


def render_avatar(meshes: list[AvatarMesh], weights: dict[str, float], yaw_rad: float = 0.0,
                  size_px: int = 360) -> np.ndarray:
    return render([(posed_world_vertices(m, weights), m.triangles, m.colors) for m in meshes], yaw_rad, size_px)


def render_preview(meshes: list[AvatarMesh], path: Path,
                   panels: tuple[tuple[str, dict[str, float], float], ...] = DEFAULT_PANELS,
                   size_px: int = 360) -> None:
    """Write a PNG with one rendered panel per (title, weights, yaw) entry."""
    import matplotlib  # noqa: PLC0415 (heavy; only the preview needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    n = len(panels)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size_px / 100, rows * size_px / 100 + 0.3 * rows),
                             dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, weights, yaw) in zip(axes.ravel(), panels):
        ax.imshow(render_avatar(meshes, weights, yaw, size_px), interpolation="nearest")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    # a fixed Agg backend and no timestamps in the metadata keep the PNG reproducible
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
