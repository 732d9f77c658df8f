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

import numpy as np

from vasa_bridge.render import topology as topo
from vasa_bridge.render.errors import PortraitError

RENDER_SIZES = (256, 512)
MIN_FACE_IMAGE_PX = 64          # below this the mesh model has nothing to work with
WORKING_MAX_SIDE_PX = 4096      # huge photos are downscaled first: the crop is at most 512 px anyway
CROP_FACE_HEIGHTS = 2.1         # crop side in units of the mesh's forehead-to-chin height: hair and shoulders
CROP_CENTRE_UP = 0.12           # shift the crop up (in face heights) so the hair fits
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

    @property
    def interocular_px(self) -> float:
        return float(np.linalg.norm(self.iris[1, 0] - self.iris[0, 0]))

    @classmethod
    def prepare(cls, image_or_path: "str | Path | np.ndarray | bytes", size: int = 512,
                landmarks_json: "str | Path | dict | None" = None) -> "Portrait":
        """`landmarks_json`: a landmarks file, or its parsed content (what a sidecar client uploads)."""
        if size not in RENDER_SIZES:
            raise PortraitError(f"render size must be one of {RENDER_SIZES}, got {size}")
        rgb, source = load_image(image_or_path)
        if isinstance(landmarks_json, dict):
            landmarks_text = json.dumps(landmarks_json, sort_keys=True)
        else:
            landmarks_text = Path(landmarks_json).read_text() if landmarks_json is not None else ""
        key = hashlib.sha256(rgb.tobytes() + str(rgb.shape).encode() + f"|{size}|".encode()
                             + landmarks_text.encode()).hexdigest()
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        portrait = _prepare_uncached(rgb, source, size, landmarks_json)
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


def _prepare_uncached(rgb: np.ndarray, source: str, size: int, landmarks_json: "str | Path | dict | None"
                      ) -> Portrait:
    from vasa_bridge.render.face_models import FaceModels

    notes: list[str] = []
    models = FaceModels.shared()
    if landmarks_json is not None:
        points_full = read_landmarks_json(landmarks_json, rgb.shape[:2])
    else:
        dets = models.detect(rgb)
        if not dets:
            raise PortraitError(
                f"no face found in {source}. For paintings, cartoons or unusual photos pass a landmarks file: "
                "--landmarks FACE.json (see docs/renderer.md)")
        if len(dets) > 1:
            notes.append(f"{len(dets)} faces found in {source}; animating the largest")
        det = max(dets, key=lambda d: d.area_px2)
        mesh = models.mesh_from_detection(rgb, det, refine_steps=1)
        if mesh.presence < 0.5:
            raise PortraitError(
                f"the face in {source} could not be meshed (presence {mesh.presence:.2f}); "
                "pass --landmarks FACE.json (see docs/renderer.md)")
        points_full = mesh.points

    # Crop: a square around the face, upright (no rotation: the photo's background and body stay as they are).
    p = points_full[:, :2]
    face_h = float(p[:, 1].max() - p[:, 1].min())
    face_w = float(p[:, 0].max() - p[:, 0].min())
    side = CROP_FACE_HEIGHTS * max(face_h, face_w * 1.1)
    cx = float(p[:, 0].min() + p[:, 0].max()) / 2
    cy = float(p[:, 1].min() + p[:, 1].max()) / 2 - CROP_CENTRE_UP * face_h
    crop = _crop_square(rgb, cx, cy, side, size)
    scale = size / side
    offset = np.array([cx - side / 2, cy - side / 2])

    # Mesh again at render resolution: the landmarks then describe exactly the pixels we warp.
    guess = np.concatenate([(points_full[:, :2] - offset) * scale, points_full[:, 2:3] * scale], axis=1)
    if landmarks_json is None:
        mesh = models.mesh_from_points(crop, guess, with_iris=True)
        points, iris = mesh.points, mesh.iris
    else:
        points = guess.astype(np.float32)
        iris = np.stack([_iris_from_eye(points, topo.EYE_IMAGE_LEFT), _iris_from_eye(points, topo.EYE_IMAGE_RIGHT)])
    return Portrait(crop, points.astype(np.float32), iris.astype(np.float32), size, source, tuple(notes))


def _crop_square(rgb: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """Crop a square (edge-replicated where it leaves the photo) and resample it to size x size, antialiased."""
    from PIL import Image
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
    pad = int(np.ceil(max(0.0, -x0, -y0, x1 - w, y1 - h))) + 2
    src = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad > 2 else rgb
    if pad <= 2:
        pad = 0
    box = (x0 + pad, y0 + pad, x1 + pad, y1 + pad)
    return np.asarray(Image.fromarray(src).resize((size, size), Image.LANCZOS, box=box))


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
