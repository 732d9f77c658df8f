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


def render(meshes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], yaw_rad: float = 0.0, size_px: int = 360,
           camera_distance_m: float = 0.55, fov_deg: float = 26.0, look_at_y_m: float = 0.045) -> np.ndarray:
    """Render (vertices (N,3) head frame, triangles (M,3), colours (N,3|4) sRGB) lists; returns (H, W, 3) floats.
    The camera sits on +Z looking back at the face, turned around the head by yaw_rad (+ = toward the subject's
    left)."""
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    # rotate the head by -yaw about Y instead of moving the camera: same picture
    rot = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])
    focal_px = 0.5 * size_px / np.tan(np.deg2rad(fov_deg) / 2)
    zbuf = np.full((size_px, size_px), np.inf)
    image = np.tile(np.asarray(BACKGROUND_RGB, dtype=np.float64), (size_px, size_px, 1))
    for vertices, triangles, colors in meshes:
        v = vertices @ rot.T
        depth = camera_distance_m - v[:, 2]  # (N,) distance along the view axis
        px = size_px / 2 + focal_px * v[:, 0] / depth
        py = size_px / 2 - focal_px * (v[:, 1] - look_at_y_m) / depth
        t = triangles.astype(np.int64)
        normals = vertex_normals(v, t)  # (N, 3), of the posed, rotated surface
        rgb = colors[:, :3].astype(np.float64)
        # back-face culling in screen space (counter-clockwise = front; screen y points down)
        x0, y0 = px[t[:, 0]], py[t[:, 0]]
        x1, y1 = px[t[:, 1]], py[t[:, 1]]
        x2, y2 = px[t[:, 2]], py[t[:, 2]]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        visible = area < -1e-9
        for k in np.nonzero(visible)[0]:
            xs = (x0[k], x1[k], x2[k])
            ys = (y0[k], y1[k], y2[k])
            lo_x, hi_x = max(int(np.floor(min(xs))), 0), min(int(np.ceil(max(xs))), size_px - 1)
            lo_y, hi_y = max(int(np.floor(min(ys))), 0), min(int(np.ceil(max(ys))), size_px - 1)
            if lo_x > hi_x or lo_y > hi_y:
                continue
            gx, gy = np.meshgrid(np.arange(lo_x, hi_x + 1) + 0.5, np.arange(lo_y, hi_y + 1) + 0.5)
            # barycentric weights of the pixel centres
            w0 = ((x1[k] - gx) * (y2[k] - gy) - (x2[k] - gx) * (y1[k] - gy)) / area[k]
            w1 = ((x2[k] - gx) * (y0[k] - gy) - (x0[k] - gx) * (y2[k] - gy)) / area[k]
            w2 = 1.0 - w0 - w1
            inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
            if not inside.any():
                continue
            tri = t[k]
            z = w0 * depth[tri[0]] + w1 * depth[tri[1]] + w2 * depth[tri[2]]
            sub = zbuf[lo_y:hi_y + 1, lo_x:hi_x + 1]
            win = inside & (z < sub)
            if not win.any():
                continue
            sub[win] = z[win]
            bary = np.stack([w0[win], w1[win], w2[win]], axis=1)  # (P, 3)
            n = bary @ normals[tri]
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
            shade = AMBIENT + (1.0 - AMBIENT) * np.clip(n @ LIGHT_DIR, 0.0, 1.0)
            image[lo_y:hi_y + 1, lo_x:hi_x + 1][win] = (bary @ rgb[tri]) * shade[:, None]
    return np.clip(image, 0.0, 1.0)


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
