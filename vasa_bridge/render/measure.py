"""Measure what rendered frames actually show, by running the face mesh afresh on their pixels.

Used by the tests and `vasa-bridge eval-render`: the inner-lip gap must follow jawOpen and close on mouthClose,
eye openness must drop on blinks, irises must move with gaze, and the photo outside the face must not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.render import topology as topo


@dataclass(frozen=True)
class FaceMeasure:
    lip_gap_iod: float          # inner-lip gap (points 13-14) / interocular distance
    eye_open: tuple[float, float]   # lid-to-lid distance / eye width, [image-left eye, image-right eye]
    iris_x: tuple[float, float]     # iris centre along the eye's corner line, -0.5 image-left corner .. +0.5
    iris_y: tuple[float, float]     # across the corner line / eye width, + down
    presence: float
    nose_tip_xy: tuple[float, float]   # pixels


def measure_frame(rgb: np.ndarray, guess_points: np.ndarray) -> FaceMeasure:
    """Mesh one frame; `guess_points` (468, 2|3) places the crop (the portrait's mesh is a good guess)."""
    from vasa_bridge.render.face_models import FaceModels
    models = FaceModels.shared()
    mesh = models.mesh_from_points(rgb, guess_points, with_iris=False)
    # Track once: the second crop is placed by this frame's own mesh, as MediaPipe does between video frames.
    mesh = models.mesh_from_points(rgb, mesh.points, with_iris=True)
    p = mesh.points[:, :2]
    iris = mesh.iris
    iod = float(np.linalg.norm(iris[1, 0] - iris[0, 0]))
    gap = float(np.linalg.norm(p[14] - p[13])) / iod
    opens, xs, ys = [], [], []
    for k, eye in enumerate(topo.EYES):
        a, b = p[eye.outer_corner], p[eye.inner_corner]
        left, right = (a, b) if a[0] < b[0] else (b, a)
        width = float(np.linalg.norm(right - left))
        e = (right - left) / width
        n = np.array([-e[1], e[0]])
        up, lo = np.array(eye.upper[1:-1]), np.array(eye.lower[1:-1])
        opens.append(float(np.mean((p[lo] - p[up]) @ n)) / width)
        rel = iris[k, 0] - (left + right) / 2
        xs.append(float(rel @ e) / width)
        ys.append(float(rel @ n) / width)
    return FaceMeasure(gap, (opens[0], opens[1]), (xs[0], xs[1]), (ys[0], ys[1]), mesh.presence,
                       (float(p[topo.NOSE_TIP, 0]), float(p[topo.NOSE_TIP, 1])))


def measure_frames(frames: np.ndarray, guess_points: np.ndarray) -> list[FaceMeasure]:
    return [measure_frame(f, guess_points) for f in frames]


@dataclass(frozen=True)
class RenderReport:
    n_frames: int
    jaw_lip_correlation: float      # Pearson r between jawOpen and the measured lip gap (jaw sweep frames)
    lip_gap_open_iod: float         # measured gap at the widest jawOpen
    lip_gap_rest_iod: float         # at jawOpen = 0
    lip_gap_sealed_iod: float       # at jawOpen = mouthClose > 0 (lips sealed over an open jaw)
    eye_open_rest: float
    eye_open_blink: float
    iris_shift_per_rad: float       # measured iris x shift (eye widths) per radian of gaze yaw
    outside_mask_max_abs: int       # max |rendered - portrait| outside the face region, 0..255
    outside_mask_mean_abs: float
    sealed_lip_streaks: float       # mean |d²I/dx²| over the sealed lips (grey levels): seams and streaks
    speech_lip_r: float = 0.0       # Pearson r, lip gap vs aperture over the speech range 0-0.4 (aperture_sweep)
    speech_gap_at_zero_iod: float = 0.0   # that sweep's fitted gap at aperture 0 (closed lips read ~0.05)

    def lines(self) -> list[str]:
        return [
            f"frames measured                 {self.n_frames}",
            f"lip gap ~ aperture, 0-0.4       r {self.speech_lip_r:.3f}, {self.speech_gap_at_zero_iod:.3f} IOD at 0 "
            "(goal r >= 0.9)",
            f"lip gap ~ jawOpen correlation   {self.jaw_lip_correlation:.3f}   "
            "(0-1 sweep; the mesh flattens above ~0.5)",
            f"lip gap rest / open / sealed    {self.lip_gap_rest_iod:.3f} / {self.lip_gap_open_iod:.3f} / "
            f"{self.lip_gap_sealed_iod:.3f} IOD",
            f"eye openness rest / blink       {self.eye_open_rest:.3f} / {self.eye_open_blink:.3f}",
            f"iris shift per rad of gaze yaw  {self.iris_shift_per_rad:+.3f} eye widths (+ = image right)",
            f"outside face mask |diff|        max {self.outside_mask_max_abs}, mean {self.outside_mask_mean_abs:.3f}",
            f"sealed lips |d2I/dx2|           {self.sealed_lip_streaks:.2f} grey levels (lower = fewer seams)",
        ]


def probe_clip(n_sweep: int = 25) -> tuple[np.ndarray, dict[str, slice]]:
    """A motion clip that exercises what the report measures: a jawOpen sweep 0→1→0, sealed lips over an open
    jaw, blinks, and a gaze sweep; returns frames (T, 60) and which frames are which."""
    n = n_sweep
    jaw = np.concatenate([np.linspace(0, 1, n // 2 + 1), np.linspace(1, 0, n // 2 + 1)[1:]])
    parts = {}
    rows = []
    base = np.zeros(layout.N_CHANNELS, np.float32)
    base[layout.channel("headZ")] = layout.DEFAULT_HEAD_DISTANCE_M
    for v in jaw:
        f = base.copy()
        f[layout.channel("jawOpen")] = v
        rows.append(f)
    parts["jaw"] = slice(0, len(rows))
    start = len(rows)
    for v in (0.3, 0.5, 0.7):
        f = base.copy()
        f[layout.channel("jawOpen")] = v
        f[layout.channel("mouthClose")] = v
        rows.append(f)
    parts["sealed"] = slice(start, len(rows))
    start = len(rows)
    for v in (1.0, 1.0, 0.0):
        f = base.copy()
        f[layout.channel("eyeBlinkLeft")] = v
        f[layout.channel("eyeBlinkRight")] = v
        rows.append(f)
    parts["blink"] = slice(start, start + 2)
    parts["blink_rest"] = slice(start + 2, start + 3)
    start = len(rows)
    for v in np.linspace(-0.4, 0.4, 5):
        f = base.copy()
        f[layout.channel("gazeYaw")] = v
        rows.append(f)
    parts["gaze"] = slice(start, len(rows))
    return np.stack(rows), parts


def evaluate(portrait: "object", renderer: "object", frames: np.ndarray | None = None,
             parts: dict[str, slice] | None = None, batch: int = 16) -> RenderReport:
    """Render the probe clip (or given frames + parts) on a portrait and measure it."""
    if frames is None:
        frames, parts = probe_clip()
    assert parts is not None
    rendered = np.concatenate([renderer.render(frames[i:i + batch]) for i in range(0, len(frames), batch)])
    guess = portrait.points
    m = measure_frames(rendered, guess)
    jaw_idx = range(*parts["jaw"].indices(len(frames)))
    jaw = np.array([frames[i, layout.channel("jawOpen")] for i in jaw_idx])
    gap = np.array([m[i].lip_gap_iod for i in jaw_idx])
    corr = float(np.corrcoef(jaw, gap)[0, 1]) if np.std(gap) > 0 else 0.0
    sealed = [m[i].lip_gap_iod for i in range(*parts["sealed"].indices(len(frames)))]
    blink = [np.mean(m[i].eye_open) for i in range(*parts["blink"].indices(len(frames)))]
    rest = [np.mean(m[i].eye_open) for i in range(*parts["blink_rest"].indices(len(frames)))]
    gaze_idx = list(range(*parts["gaze"].indices(len(frames))))
    yaw = np.array([frames[i, layout.channel("gazeYaw")] for i in gaze_idx])
    ix = np.array([np.mean(m[i].iris_x) for i in gaze_idx])
    slope = float(np.polyfit(yaw, ix, 1)[0]) if len(set(yaw.tolist())) > 1 else 0.0
    outside = outside_mask(renderer)
    sweep = aperture_sweep(portrait, renderer)
    diff = np.abs(rendered.astype(np.int16) - portrait.image.astype(np.int16))[:, outside]
    return RenderReport(
        n_frames=len(frames), jaw_lip_correlation=corr, lip_gap_open_iod=float(gap[np.argmax(jaw)]),
        lip_gap_rest_iod=float(gap[np.argmin(jaw)]), lip_gap_sealed_iod=float(np.mean(sealed)),
        eye_open_rest=float(np.mean(rest)), eye_open_blink=float(np.mean(blink)), iris_shift_per_rad=slope,
        outside_mask_max_abs=int(diff.max()) if diff.size else 0,
        outside_mask_mean_abs=float(diff.mean()) if diff.size else 0.0,
        sealed_lip_streaks=sealed_lip_streaks(portrait, renderer),
        speech_lip_r=sweep.r, speech_gap_at_zero_iod=sweep.gap_at_zero_iod)


def sealed_lip_streaks(portrait: "object", renderer: "object") -> float:
    """Mean |d²I/dx²| (grey levels) in the lips' box on frames with lips sealed over an open jaw (jawOpen =
    mouthClose = 0.3, 0.5, 0.7): vertical streaks and thin seams in the synthesized sealed lips raise it."""
    frames, parts = probe_clip()
    sealed = renderer.render(frames[parts["sealed"]]).astype(np.float32).mean(-1)     # (3, H, W) grey
    lips = portrait.points[list(topo.LIP_UPPER_OUTER) + list(topo.LIP_LOWER_OUTER), :2]
    x0, y0 = np.floor(lips.min(0)).astype(int)
    x1, y1 = np.ceil(lips.max(0)).astype(int)
    box = sealed[:, y0:y1 + 1, x0:x1 + 1]
    return float(np.abs(np.diff(box, 2, axis=2)).mean())


def outside_mask(renderer: "object") -> np.ndarray:
    """(H, W) bool: pixels outside the face region the renderer may change (outside its fixed ring), minus
    the synthetic mark."""
    from matplotlib.path import Path as MplPath
    rig = renderer.rig
    size = rig.size
    n_mesh = topo.N_POINTS
    n_ring = len(topo.FACE_OVAL)
    outer = rig.vertices_px[n_mesh + n_ring:n_mesh + 2 * n_ring]
    ys, xs = np.mgrid[0:size, 0:size]
    inside = MplPath(outer).contains_points(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1)).reshape(size, size)
    mask = ~inside
    y, x = renderer.mark.top_left
    h, w = renderer.mark.rgba.shape[:2]
    mask[y:y + h, x:x + w] = False
    return mask


def replicated_edge_fraction(rgb: np.ndarray, run_px: int = 8, flat_grey: float = 0.75,
                             across_grey: float = 3.0) -> float:
    """Share of pixels in streaks: runs of `run_px` or more pixels that do not change along one axis while the
    image does change across it. Edge replication (padding a photo by repeating its border pixels) makes exactly
    that; real photos almost never do, and a plain fill does not either (it is flat both ways)."""
    from scipy import ndimage
    g = rgb.astype(np.float32).mean(-1)
    streak = np.zeros(g.shape, bool)
    for axis in (0, 1):
        flat = np.abs(np.diff(g, axis=axis)) <= flat_grey                    # no change along the axis
        across = np.abs(np.diff(g, axis=1 - axis)) > across_grey               # texture across it
        size = (run_px, 1) if axis == 0 else (1, run_px)
        flat_run = ndimage.minimum_filter(flat.astype(np.uint8), size=size, mode="constant") > 0
        h, w = min(flat_run.shape[0], across.shape[0]), min(flat_run.shape[1], across.shape[1])
        streak[:h, :w] |= flat_run[:h, :w] & across[:h, :w]
    return float(streak.mean())


def face_height_px(rgb: np.ndarray, guess_points: np.ndarray) -> float:
    """Forehead-to-chin distance of the face mesh run on the pixels (the most stable size figure it gives)."""
    from vasa_bridge.render.face_models import FaceModels
    models = FaceModels.shared()
    mesh = models.mesh_from_points(rgb, guess_points, with_iris=False)
    mesh = models.mesh_from_points(rgb, mesh.points, with_iris=False)
    return float(np.linalg.norm(mesh.points[topo.CHIN, :2] - mesh.points[topo.FOREHEAD, :2]))


def is_greyscale(rgb: np.ndarray, tolerance_grey: float = 2.0) -> bool:
    """True when no pixel's channels differ by more than `tolerance_grey` (JPEG noise aside)."""
    c = rgb.astype(np.int16)
    return bool(np.percentile(c.max(-1) - c.min(-1), 99.5) <= tolerance_grey)


SPEECH_APERTURE_MAX = 0.4      # jawOpen - mouthClose rarely exceeds this in speech


@dataclass(frozen=True)
class ApertureSweep:
    apertures: tuple[float, ...]
    gaps_iod: tuple[float, ...]     # measured inner-lip gap per frame
    r: float                        # Pearson r, gap vs aperture
    slope_iod_per_aperture: float   # least-squares line through (aperture, gap)
    gap_at_zero_iod: float          # that line at aperture 0
    closed_max_iod: float           # largest gap on frames with aperture <= 0.02


def aperture_sweep(portrait: "object", renderer: "object", n: int = 17) -> ApertureSweep:
    """Render jawOpen 0 → 0.4 → 0 (the speech range) and measure the lip gap on the pixels."""
    half = n // 2 + 1
    ap = np.concatenate([np.linspace(0, SPEECH_APERTURE_MAX, half), np.linspace(SPEECH_APERTURE_MAX, 0, half)[1:]])
    frames = np.zeros((len(ap), layout.N_CHANNELS), np.float32)
    frames[:, layout.channel("headZ")] = layout.DEFAULT_HEAD_DISTANCE_M
    frames[:, layout.channel("jawOpen")] = ap
    rendered = renderer.render(frames)
    gaps = np.array([m.lip_gap_iod for m in measure_frames(rendered, portrait.points)])
    r = float(np.corrcoef(ap, gaps)[0, 1]) if np.std(gaps) > 0 else 0.0
    slope, intercept = np.polyfit(ap, gaps, 1)
    return ApertureSweep(tuple(ap.tolist()), tuple(gaps.tolist()), r, float(slope), float(intercept),
                         float(gaps[ap <= 0.02].max()))
