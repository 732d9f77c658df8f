"""Portrait prep: load any photo, find the largest face, crop it to the render size and measure its mesh.

`Portrait.prepare(image_or_path, size)` is cached per (pixels, size, landmarks file) in memory, so a sidecar
that opens many sessions on one portrait preps it once.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vasa_bridge.render import topology as topo
from vasa_bridge.render.errors import PortraitError

if TYPE_CHECKING:
    from vasa_bridge.render.face_models import Detection

RENDER_SIZES = (256, 512)
MIN_FACE_IMAGE_PX = 64          # below this the mesh model has nothing to work with
WORKING_MAX_SIDE_PX = 4096      # huge photos are downscaled first: the crop is at most 512 px anyway
CROP_FACE_HEIGHTS = 2.1         # crop side in units of the mesh's forehead-to-chin height: hair and shoulders
CROP_CENTRE_UP = 0.12           # shift the crop up (in face heights) so the hair fits
# A photo cropped tighter than that is framed by its own edges: the square shrinks to the photo's short side, but
# never below this many face heights (the warp needs a band of hair and background around the face).
CROP_MIN_FACE_HEIGHTS = 1.35
EDGE_MARGIN_FACE_HEIGHTS = 0.02  # mesh points closer than this to the photo's edge: the face is cut off
MAX_YAW_DEG = 45.0              # a warp of one photo cannot show the hidden side of a face turned further
_CACHE_ENTRIES = 16

_cache: "OrderedDict[str, Portrait]" = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class Portrait:
    """A face photo cropped to `size` x `size` with its 468-point mesh and irises in crop pixels."""

    image: np.ndarray            # (size, size, 3) uint8 RGB
    points: np.ndarray           # (468, 3) float32 crop pixels (z in the same scale)
    iris: np.ndarray             # (2, 5, 2) float32: [image-left eye, image-right eye] x (centre + 4 rim)
    size: int
    source: str                  # file name or "array"
    notes: tuple[str, ...] = field(default=())   # warnings worth showing the user (e.g. several faces)
    yaw_deg: float = 0.0         # head turn in the photo (+: nose towards image right), from the mesh's depth
    filled_fraction: float = 0.0  # share of the crop beyond the photo's edges, filled with a plain colour

    @property
    def interocular_px(self) -> float:
        return float(np.linalg.norm(self.iris[1, 0] - self.iris[0, 0]))

    @classmethod
    def prepare(cls, image_or_path: "str | Path | np.ndarray | bytes", size: int = 512,
                landmarks_json: "str | Path | dict | None" = None, face: int | None = None) -> "Portrait":
        """`landmarks_json`: a landmarks file, or its parsed content (what a sidecar client uploads).
        `face`: which face to animate in a photo of several, numbered from 1 left to right; default the largest."""
        if size not in RENDER_SIZES:
            raise PortraitError(f"render size must be one of {RENDER_SIZES}, got {size}")
        if face is not None and face < 1:
            raise PortraitError(f"faces are numbered from 1 (left to right), got {face}")
        rgb, source = load_image(image_or_path)
        if isinstance(landmarks_json, dict):
            landmarks_text = json.dumps(landmarks_json, sort_keys=True)
        else:
            landmarks_text = Path(landmarks_json).read_text() if landmarks_json is not None else ""
        key = hashlib.sha256(rgb.tobytes() + str(rgb.shape).encode() + f"|{size}|".encode()
                             + landmarks_text.encode() + f"|{face}".encode()).hexdigest()
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        portrait = _prepare_uncached(rgb, source, size, landmarks_json, face)
        with _cache_lock:
            _cache[key] = portrait
            while len(_cache) > _CACHE_ENTRIES:
                _cache.popitem(last=False)
        return portrait


DEFAULT_PORTRAIT_NAME = "astronaut (scikit-image)"


def portrait_source(path: "str | Path | None") -> tuple["str | Path | np.ndarray", str]:
    """What to prepare and what to call it: the user's file, or the demo portrait (scikit-image's astronaut)."""
    if path is not None:
        return path, str(path)
    import skimage.data

    return skimage.data.astronaut(), DEFAULT_PORTRAIT_NAME


def load_image(image_or_path: "str | Path | np.ndarray | bytes") -> tuple[np.ndarray, str]:
    """Any photo → (H, W, 3) uint8 RGB, upright (EXIF orientation applied), grayscale/RGBA/CMYK converted."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(image_or_path, np.ndarray):
        arr = image_or_path
        if arr.dtype != np.uint8:
            if np.issubdtype(arr.dtype, np.floating) and arr.size and arr.max() <= 1.0:
                arr = arr * 255.0
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
            raise PortraitError(f"portrait array must be (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
        if arr.shape[2] == 1:
            arr = np.repeat(arr, 3, axis=2)
        if arr.shape[2] == 4:
            arr = _flatten_alpha(arr)
        rgb, source = np.ascontiguousarray(arr), "array"
    else:
        source = "bytes" if isinstance(image_or_path, bytes) else str(image_or_path)
        try:
            if isinstance(image_or_path, bytes):
                im = Image.open(io.BytesIO(image_or_path))
            else:
                if not Path(image_or_path).exists():
                    raise PortraitError(f"portrait {image_or_path} does not exist")
                im = Image.open(image_or_path)
            im.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise PortraitError(f"cannot read portrait {source}: not an image or a corrupt file ({e})") from None
        im = ImageOps.exif_transpose(im)       # phone photos are stored sideways with an EXIF rotation tag
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgb = _flatten_alpha(np.asarray(im.convert("RGBA")))
        else:
            rgb = np.asarray(im.convert("RGB"))  # CMYK, grayscale, palette, 16-bit: PIL converts them all
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_FACE_IMAGE_PX:
        raise PortraitError(f"portrait {source} is {w}x{h} px; it needs at least {MIN_FACE_IMAGE_PX} px per side")
    if max(h, w) > WORKING_MAX_SIDE_PX:
        rgb = _resize(rgb, WORKING_MAX_SIDE_PX / max(h, w))
    return rgb, source


def _flatten_alpha(rgba: np.ndarray) -> np.ndarray:
    """Composite over mid-grey: transparent cut-outs get a neutral background instead of black."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3].astype(np.float32) * a + 128.0 * (1 - a) + 0.5).astype(np.uint8)


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image
    h, w = rgb.shape[:2]
    im = Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    return np.asarray(im)


def _prepare_uncached(rgb: np.ndarray, source: str, size: int, landmarks_json: "str | Path | dict | None",
                      face: int | None = None) -> Portrait:
    from vasa_bridge.render.face_models import MESH_PRESENCE_MIN, FaceModels

    notes: list[str] = []
    models = FaceModels.shared()
    name = Path(source).name if source not in ("array", "bytes") else "the portrait"
    if landmarks_json is not None:
        points_full = read_landmarks_json(landmarks_json, rgb.shape[:2])
    else:
        dets = models.detect(rgb)
        if not dets:
            raise PortraitError(
                f"no human face found in {name}. If it shows a face the detector cannot see (a painting, drawing "
                "or cartoon), mark it with a landmarks file: --landmarks FACE.json (see docs/renderer.md)")
        det = _choose_face(dets, face, name, notes)
        mesh = models.mesh_from_detection(rgb, det, refine_steps=1)
        if mesh.presence < MESH_PRESENCE_MIN:
            raise PortraitError(
                f"the face in {name} is too unclear to animate (covered, blurred, turned away or not a human "
                "face). Try a sharper photo of an uncovered face, or mark it with --landmarks FACE.json "
                "(see docs/renderer.md)")
        points_full = mesh.points

    yaw = face_yaw_deg(points_full)
    if abs(yaw) > MAX_YAW_DEG:
        raise PortraitError(
            f"the face in {name} is turned about {abs(yaw):.0f} degrees away from the camera; faces turned up to "
            f"{MAX_YAW_DEG:.0f} degrees can be animated (both eyes and both mouth corners visible). Use a photo "
            "that looks more towards the camera")

    # Crop: a square around the face, upright (no rotation: the photo's background and body stay as they are).
    # It stays inside the photo: a photo cropped tighter than the usual head-and-shoulders framing is framed by
    # its own edges; only when even the face does not fit is the rest filled, with a plain colour (never by
    # repeating edge pixels, which smeared "towers" of skin and streaks above the head).
    p = points_full[:, :2]
    h_img, w_img = rgb.shape[:2]
    face_h = float(p[:, 1].max() - p[:, 1].min())
    face_w = float(p[:, 0].max() - p[:, 0].min())
    extent = max(face_h, face_w * 1.1)
    side = min(CROP_FACE_HEIGHTS * extent, float(min(h_img, w_img)))
    side = max(side, CROP_MIN_FACE_HEIGHTS * extent)
    cx = float(p[:, 0].min() + p[:, 0].max()) / 2
    cy = float(p[:, 1].min() + p[:, 1].max()) / 2 - CROP_CENTRE_UP * face_h * side / (CROP_FACE_HEIGHTS * extent)
    x0 = _fit_into(cx - side / 2, side, w_img)
    y0 = _fit_into(cy - side / 2, side, h_img)
    crop, filled = _crop_square(rgb, x0, y0, side, size)
    margin = EDGE_MARGIN_FACE_HEIGHTS * face_h
    cut = [edge for edge, hit in (("top", p[:, 1].min() < margin), ("bottom", p[:, 1].max() > h_img - margin),
                                  ("left", p[:, 0].min() < margin), ("right", p[:, 0].max() > w_img - margin))
           if hit]
    if cut:
        notes.append(f"the face in {name} is cut off by the photo's {' and '.join(cut)} edge; the missing part "
                     "cannot be animated (a photo with room around the head looks better)")
    if filled > 0.005:
        notes.append(f"{name} is cropped close around the face: {100 * filled:.0f}% of the frame lies beyond the "
                     "photo and is filled with a plain colour (a photo with room around the head looks better)")
    scale = size / side
    offset = np.array([x0, y0])

    # Mesh again at render resolution: the landmarks then describe exactly the pixels we warp.
    guess = np.concatenate([(points_full[:, :2] - offset) * scale, points_full[:, 2:3] * scale], axis=1)
    if landmarks_json is None:
        mesh = models.mesh_from_points(crop, guess, with_iris=True)
        points, iris = mesh.points, mesh.iris
    else:
        points = guess.astype(np.float32)
        iris = np.stack([_iris_from_eye(points, topo.EYE_IMAGE_LEFT), _iris_from_eye(points, topo.EYE_IMAGE_RIGHT)])
    return Portrait(crop, points.astype(np.float32), iris.astype(np.float32), size, source, tuple(notes),
                    yaw_deg=yaw, filled_fraction=filled)


def _choose_face(dets: "list[Detection]", face: int | None, name: str, notes: list[str]) -> "Detection":
    """The face to animate: number `face` counted left to right, else the largest. Says which, when several."""
    ordered = sorted(dets, key=lambda d: float(d.box_xyxy[0] + d.box_xyxy[2]))
    if face is not None and face > len(ordered):
        raise PortraitError(f"--face {face}: {name} shows {len(ordered)} face{'s' if len(ordered) > 1 else ''}")
    if face is None:
        chosen = max(range(len(ordered)), key=lambda i: ordered[i].area_px2)
        how = "the largest"
    else:
        chosen, how = face - 1, "as asked"
    if len(ordered) > 1:
        notes.append(f"{len(ordered)} faces found in {name} (numbered 1-{len(ordered)} from left to right); "
                     f"animating face {chosen + 1}, {how}. Choose another with --face N")
    return ordered[chosen]


def face_yaw_deg(points: np.ndarray) -> float:
    """Head turn from the mesh's 3D points: the angle of the cheek-to-cheek line (234 → 454) out of the image
    plane (+: the image-right cheek is further away, i.e. the nose points towards image right)."""
    d = points[454] - points[234]
    return float(np.degrees(np.arctan2(d[2], d[0]))) if points.shape[1] > 2 else 0.0


def _fit_into(start: float, side: float, length: int) -> float:
    """Slide a window [start, start + side) into [0, length); centre it if it is longer than that."""
    if side >= length:
        return (length - side) / 2
    return float(np.clip(start, 0.0, length - side))


def _crop_square(rgb: np.ndarray, x0: float, y0: float, side: float, size: int) -> tuple[np.ndarray, float]:
    """Crop a square and resample it to size x size, antialiased. Where it leaves the photo (only when the face
    itself does not fit), the frame is a plain colour: the median of the photo's edge pixels. Returns the crop
    and the share of it that was filled."""
    from PIL import Image
    h, w = rgb.shape[:2]
    x1, y1 = x0 + side, y0 + side
    scale = size / side
    # The photo's part of the square, resampled on its own so no filled pixel leaks into its edge.
    sx0, sy0, sx1, sy1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
    out_x0, out_y0 = int(round((sx0 - x0) * scale)), int(round((sy0 - y0) * scale))
    out_x1, out_y1 = int(round((sx1 - x0) * scale)), int(round((sy1 - y0) * scale))
    if (out_x0, out_y0, out_x1, out_y1) == (0, 0, size, size):
        return np.asarray(Image.fromarray(rgb).resize((size, size), Image.LANCZOS, box=(x0, y0, x1, y1))), 0.0
    edges = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    out = np.empty((size, size, 3), np.uint8)
    out[:] = np.median(edges, axis=0).astype(np.uint8)
    part = Image.fromarray(rgb).resize((out_x1 - out_x0, out_y1 - out_y0), Image.LANCZOS, box=(sx0, sy0, sx1, sy1))
    out[out_y0:out_y1, out_x0:out_x1] = np.asarray(part)
    filled = 1.0 - (out_x1 - out_x0) * (out_y1 - out_y0) / float(size * size)
    return out, filled


def _iris_from_eye(points: np.ndarray, eye: "topo.EyeIndices") -> np.ndarray:
    """Iris centre + rim guessed from the eye contour, for landmark files that carry no iris."""
    ring = points[list(eye.upper) + list(eye.lower), :2]
    centre = ring.mean(0)
    width = float(np.linalg.norm(points[eye.outer_corner, :2] - points[eye.inner_corner, :2]))
    r = 0.22 * width   # an iris is ~44% of the eye's corner-to-corner width
    return np.array([centre, centre + [r, 0], centre + [0, -r], centre + [-r, 0], centre + [0, r]], np.float32)


def _as_float_array(value: object, path: "str | Path", what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise PortraitError(f"landmarks file {path}: {what!r} must hold numbers") from None


def read_landmarks_json(path: "str | Path | dict", image_hw: tuple[int, int]) -> np.ndarray:
    """A landmarks file for faces the detector misses (paintings, cartoons), in the photo's pixel coordinates:
    - `{"points": [[x, y] or [x, y, z], ...]}` with all 468 MediaPipe mesh points, or
    - `{"keypoints": {"right_eye": [x, y], "left_eye": [x, y], "nose_tip": [x, y], "mouth_right": [x, y],
      "mouth_left": [x, y]}}` (the subject's right/left): a reference face mesh is fitted to them.
    """
    if isinstance(path, dict):      # already parsed (uploaded with a sidecar session)
        data, path = path, "(uploaded landmarks)"
    else:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise PortraitError(f"cannot read landmarks file {path}: {e}") from None
    h, w = image_hw
    if isinstance(data, dict) and "points" in data:
        pts = _as_float_array(data["points"], path, "points")
        if pts.ndim != 2 or pts.shape[0] != topo.N_POINTS or pts.shape[1] not in (2, 3):
            raise PortraitError(f"landmarks file {path}: 'points' must be {topo.N_POINTS} [x, y(, z)] pairs, "
                                f"got shape {pts.shape}")
        if pts.shape[1] == 2:
            ref = topo.reference_mesh()
            scale = np.linalg.norm(pts[topo.NOSE_TIP] - pts[topo.CHIN]) / np.linalg.norm(
                ref[topo.NOSE_TIP, :2] - ref[topo.CHIN, :2])
            pts = np.concatenate([pts, ref[:, 2:3] * scale], axis=1)
    elif isinstance(data, dict) and "keypoints" in data:
        kp = data["keypoints"]
        if not isinstance(kp, dict):
            raise PortraitError(f"landmarks file {path}: 'keypoints' must be an object of named [x, y] points")
        names = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")
        missing = [n for n in names if n not in kp]
        if missing:
            raise PortraitError(f"landmarks file {path}: keypoints missing {', '.join(missing)}")
        dst = _as_float_array([kp[n] for n in names], path, "keypoints")
        if dst.shape != (5, 2):
            raise PortraitError(f"landmarks file {path}: each keypoint must be [x, y]")
        ref = topo.reference_mesh()
        src = np.stack([ref[list(topo.EYE_IMAGE_LEFT.upper + topo.EYE_IMAGE_LEFT.lower), :2].mean(0),
                        ref[list(topo.EYE_IMAGE_RIGHT.upper + topo.EYE_IMAGE_RIGHT.lower), :2].mean(0),
                        ref[topo.NOSE_TIP, :2], ref[topo.MOUTH_CORNER_IMAGE_LEFT, :2],
                        ref[topo.MOUTH_CORNER_IMAGE_RIGHT, :2]])
        # Least-squares affine from the reference face to the five clicked points.
        a = np.concatenate([src, np.ones((5, 1))], axis=1)
        m, *_ = np.linalg.lstsq(a, dst, rcond=None)       # (3, 2)
        xy = np.concatenate([ref[:, :2], np.ones((len(ref), 1))], axis=1) @ m
        z_scale = float(np.sqrt(abs(np.linalg.det(m[:2]))))
        pts = np.concatenate([xy, ref[:, 2:3] * z_scale], axis=1)
    else:
        raise PortraitError(f"landmarks file {path} needs a 'points' list (468 mesh points) or a 'keypoints' "
                            "object (right_eye, left_eye, nose_tip, mouth_right, mouth_left)")
    if not np.isfinite(pts).all() or pts[:, 0].max() < 0 or pts[:, 1].max() < 0 or pts[:, 0].min() > w \
            or pts[:, 1].min() > h:
        raise PortraitError(f"landmarks in {path} do not lie inside the {w}x{h} image")
    return pts.astype(np.float32)
