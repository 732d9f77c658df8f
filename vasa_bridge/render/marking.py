"""The visible "synthetic" mark on every rendered frame, and the words written into output metadata.

The mark can be moved to another corner (`--mark-position`) but not removed: a generated talking face must be
recognisable as generated wherever a frame ends up (see docs/responsible-use.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MARK_TEXT = "synthetic"
MARK_POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
MARK_OPACITY = 0.8
METADATA_COMMENT = "AI-generated: synthetic talking-face video rendered by vasa_bridge from a single portrait"
METADATA: dict[str, str] = {
    "comment": METADATA_COMMENT,
    "description": METADATA_COMMENT,
    "synthetic": "true",
    "encoder_software": "vasa_bridge",
}


@dataclass(frozen=True)
class SyntheticMark:
    """A small white "synthetic" label with a dark outline, pre-rendered as RGBA for one frame size."""

    frame_size: int
    position: str = "bottom-right"
    rgba: np.ndarray = field(init=False, repr=False)          # (h, w, 4) uint8
    top_left: tuple[int, int] = field(init=False)             # (y, x) in the frame

    def __post_init__(self) -> None:
        from PIL import Image, ImageDraw, ImageFont

        if self.position not in MARK_POSITIONS:
            raise ValueError(f"mark position must be one of {', '.join(MARK_POSITIONS)}, got {self.position!r}")
        font_px = max(11, self.frame_size // 30)
        try:
            font = ImageFont.truetype("DejaVuSans.ttf", font_px)
        except OSError:
            font = ImageFont.load_default(font_px)
        x0, y0, x1, y1 = font.getbbox(MARK_TEXT)
        pad = max(2, font_px // 5)
        w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
        im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(im)
        draw.text((pad - x0, pad - y0), MARK_TEXT, font=font, fill=(255, 255, 255, 255),
                  stroke_width=max(1, font_px // 12), stroke_fill=(0, 0, 0, 255))
        rgba = np.asarray(im).copy()
        rgba[..., 3] = (rgba[..., 3].astype(np.float32) * MARK_OPACITY).astype(np.uint8)
        margin = max(4, self.frame_size // 64)
        y = margin if self.position.startswith("top") else self.frame_size - h - margin
        x = margin if self.position.endswith("left") else self.frame_size - w - margin
        object.__setattr__(self, "rgba", rgba)
        object.__setattr__(self, "top_left", (y, x))

    def draw_on(self, rgb: np.ndarray) -> np.ndarray:
        """A copy of one (H, W, 3) uint8 frame with the mark drawn."""
        out = rgb.copy()
        self.draw_over(out[None], None)
        return out

    def draw_over(self, frames: np.ndarray, only_if_touching: "tuple[int, int, int, int] | None") -> None:
        """Draw the mark in place on (B, H, W, 3) uint8 frames; with `only_if_touching` = (y0, y1, x0, x1), only
        when the mark overlaps that region (the rest of the frame already carries it)."""
        y, x = self.top_left
        h, w = self.rgba.shape[:2]
        if only_if_touching is not None:
            y0, y1, x0, x1 = only_if_touching
            if y + h <= y0 or y >= y1 or x + w <= x0 or x >= x1:
                return
        a = self.rgba[..., 3:4].astype(np.float32) / 255.0
        region = frames[:, y:y + h, x:x + w].astype(np.float32)
        frames[:, y:y + h, x:x + w] = (region + (self.rgba[..., :3] - region) * a + 0.5).astype(np.uint8)
