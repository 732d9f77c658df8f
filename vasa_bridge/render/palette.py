"""Colours the synthesized parts (mouth interior, teeth) take from the photo: as much colour as its face has,
and for a two-tone drawing only its two tones."""

from __future__ import annotations

import numpy as np

from vasa_bridge.render import topology as topo
from vasa_bridge.render.portrait import Portrait

FACE_CHROMA_FULL = 30.0   # mean (max - min channel) of the face's pixels above which synthesized colour is kept
FLAT_MID_SHARE_MAX = 0.16  # a two-tone face has at most this share of pixels in the middle 60 % of its range
                           # (antialiased line edges: 0.13 on the line drawing); shaded photos and paintings
                           # have more (0.22 on the palest painting of the set)


def _face_pixels(portrait: Portrait) -> np.ndarray:
    from vasa_bridge.render.rig import polygon_mask
    inside = polygon_mask(portrait.points[list(topo.FACE_OVAL), :2], portrait.size, portrait.size)
    return portrait.image[inside].astype(np.float32)                  # (N, 3)


def face_chroma_share(portrait: Portrait) -> float:
    """0 for a greyscale face, 1 for an ordinarily coloured one: how much colour synthesized parts may carry."""
    pixels = _face_pixels(portrait)
    if len(pixels) < 10:
        return 1.0
    chroma = float((pixels.max(1) - pixels.min(1)).mean())
    return float(np.clip((chroma - 2.0) / (FACE_CHROMA_FULL - 2.0), 0.0, 1.0))


def flat_tones(portrait: Portrait) -> "tuple[np.ndarray, np.ndarray] | None":
    """(ink, paper) RGB 0..255 when the face is drawn in two flat tones (a line drawing, a flat cartoon), else None:
    nearly every face pixel is near its darkest or its lightest tone."""
    pixels = _face_pixels(portrait)
    if len(pixels) < 50:
        return None
    grey = pixels.mean(1)
    dark, light = np.percentile(grey, 3), np.percentile(grey, 97)
    span = light - dark
    if span < 60:
        return None
    middle = (grey > dark + 0.2 * span) & (grey < light - 0.2 * span)
    if middle.mean() > FLAT_MID_SHARE_MAX:
        return None
    return pixels[grey <= dark + 0.2 * span].mean(0), pixels[grey >= light - 0.2 * span].mean(0)
