"""Named vertex groups of MediaPipe's 468-point face mesh (its published topology) and a reference face.

"Image-left" is the side on the viewer's left (the subject's right). Curves run outer corner → inner corner for
eyes and mouth corner → mouth corner for lips, so upper[i] and lower[i] face each other across the opening.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

N_POINTS = 468
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10
MOUTH_CORNER_IMAGE_LEFT = 61
MOUTH_CORNER_IMAGE_RIGHT = 291

LIP_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)

BROW_IMAGE_LEFT = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)      # subject's right brow, outer → inner
BROW_IMAGE_RIGHT = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)


@dataclass(frozen=True)
class EyeIndices:
    upper: tuple[int, ...]     # upper lid margin, outer corner → inner corner
    lower: tuple[int, ...]     # lower lid margin, same order
    outer_corner: int
    inner_corner: int


EYE_IMAGE_LEFT = EyeIndices(upper=(33, 246, 161, 160, 159, 158, 157, 173, 133),
                            lower=(33, 7, 163, 144, 145, 153, 154, 155, 133), outer_corner=33, inner_corner=133)
EYE_IMAGE_RIGHT = EyeIndices(upper=(263, 466, 388, 387, 386, 385, 384, 398, 362),
                             lower=(263, 249, 390, 373, 374, 380, 381, 382, 362), outer_corner=263,
                             inner_corner=362)
EYES = (EYE_IMAGE_LEFT, EYE_IMAGE_RIGHT)

REFERENCE_MESH_FILE = Path(__file__).parent / "data" / "reference_face_mesh.npy"


def inner_lip_polygon() -> tuple[int, ...]:
    """The mouth opening as a closed polygon: upper inner lip left→right, lower inner lip right→left."""
    return LIP_UPPER_INNER + tuple(reversed(LIP_LOWER_INNER[1:-1]))


def eye_polygon(eye: EyeIndices) -> tuple[int, ...]:
    return eye.upper + tuple(reversed(eye.lower[1:-1]))


@lru_cache(maxsize=1)
def reference_mesh() -> np.ndarray:
    """(468, 3) a frontal reference face in pixels (the mesh of skimage's astronaut portrait), used to fit the
    full mesh to a few hand-placed keypoints. Rebuild with `python -m vasa_bridge.render.topology`."""
    return np.load(REFERENCE_MESH_FILE).astype(np.float64)


def _build_reference_mesh() -> None:
    import skimage.data

    from vasa_bridge.render.face_models import FaceModels
    models = FaceModels.shared()
    img = skimage.data.astronaut()
    det = max(models.detect(img), key=lambda d: d.area_px2)
    mesh = models.mesh_from_detection(img, det, refine_steps=2)
    np.save(REFERENCE_MESH_FILE, mesh.points.astype(np.float32))
    print(f"wrote {REFERENCE_MESH_FILE}")


if __name__ == "__main__":
    _build_reference_mesh()
