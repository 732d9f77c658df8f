"""Rendered frames on the stream (SPEC.md §4.2, §5.2): the portrait renderer as a sidecar service.

`RenderService.open_session` turns an `open` request's portrait, landmarks and render options into a
`SessionRenderer` (portrait prep runs once per distinct portrait: prepared portraits and their renderers are
cached). The server calls `SessionRenderer.render(frames)` in its worker thread right after the motion step that
produced the frames, so each `render` batch carries exactly the seq/pts of its `motion` batch. Renderers are
shared between sessions that show the same face; that is safe because only the one worker thread renders, and
the one piece of state rendering keeps between frames (the head-distance smoothing) is each session's own
(`Renderer.new_stream()`), so sessions sharing a renderer never move each other's head.

Cost, this 2-core CPU, one torch thread: about 2 ms a frame at 256² and 7 ms at 512² plus JPEG encoding, all in
the motion worker, so every rendering session adds that to the step time of all sessions (see docs/sidecar.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from vasa_bridge import protocol as m

_RENDERER_CACHE_ENTRIES = 16


@dataclass(frozen=True)
class RenderConfig:
    device: str = "cpu"
    sizes: tuple[int, ...] = (256, 512)
    default_size: int = 256
    jpeg_quality: int = 85
    max_portrait_pixels: int = 40_000_000      # decoded width × height: a decompression bomb stops here
    torch_threads: int | None = 1              # 1: the renderer shares 2 cores with the motion model and I/O
    default_portrait: bool = True              # open without a portrait renders the demo portrait


@dataclass(frozen=True)
class RenderRequest:
    """An `open` request's render choices, checked (`RenderService.check_options`)."""
    image_format: str          # "jpeg" or "rgba"
    size: int
    jpeg_quality: int
    mark_position: str


class SessionRenderer:
    """One session's view of a shared renderer: motion frames → encoded images, one per frame."""

    def __init__(self, renderer: Any, image_format: str, jpeg_quality: int, portrait_name: str) -> None:
        self._renderer = renderer
        self._head_stream = renderer.new_stream()   # this session's head-distance smoothing, across batches
        self.notes = tuple(_for_protocol(note) for note in renderer.portrait.notes)
        self.format = image_format
        self.jpeg_quality = jpeg_quality if image_format == "jpeg" else 0
        self.width = self.height = int(renderer.portrait.size)
        self.mark_position = renderer.options.mark_position
        self.portrait_name = portrait_name

    def render(self, frames: np.ndarray) -> list[bytes]:
        from vasa_bridge.render.video import encode_jpeg, encode_rgba

        images = self._renderer.render(frames, self._head_stream)  # (n, H, W, 3) uint8, mark included
        if self.format == "jpeg":
            return [encode_jpeg(img, self.jpeg_quality) for img in images]
        return [encode_rgba(img) for img in images]

    def describe(self) -> dict:
        """open_ok.render."""
        return {"format": self.format, "width": self.width, "height": self.height,
                "jpeg_quality": self.jpeg_quality, "mark_position": self.mark_position,
                "portrait": self.portrait_name, "notes": list(self.notes)}


class RenderService:
    def __init__(self, config: RenderConfig = RenderConfig()) -> None:
        from vasa_bridge.render.portrait import RENDER_SIZES

        bad = [s for s in config.sizes if s not in RENDER_SIZES]
        if bad or config.default_size not in config.sizes:
            raise ValueError(f"render sizes must be among {RENDER_SIZES} and include the default size")
        if not 1 <= config.jpeg_quality <= 95:
            raise ValueError("jpeg_quality must be 1..95")
        self.config = config
        self._renderers: "OrderedDict[tuple, Any]" = OrderedDict()
        self._lock = threading.Lock()
        if config.torch_threads is not None:
            import torch

            torch.set_num_threads(config.torch_threads)

    def outputs(self) -> list[str]:
        return [f"frames_{f}" for f in m.IMAGE_FORMATS]

    def describe(self) -> dict:
        """hello_ok.render."""
        from vasa_bridge.render.marking import MARK_POSITIONS

        c = self.config
        return {"sizes": list(c.sizes), "formats": list(m.IMAGE_FORMATS), "default_size": c.default_size,
                "jpeg_quality": c.jpeg_quality, "default_portrait": c.default_portrait,
                "max_portrait_pixels": c.max_portrait_pixels, "mark_positions": list(MARK_POSITIONS)}

    def check_options(self, image_format: str, options: dict) -> RenderRequest:
        """open.render checked, or ProtocolError(bad_request). Cheap: the server calls it before spending time on
        the portrait."""
        c = self.config
        size = options.get("size", c.default_size)
        if size not in c.sizes:
            raise m.ProtocolError("bad_request", f"render.size must be one of {list(c.sizes)}, got {size}")
        quality = options.get("jpeg_quality", c.jpeg_quality)
        if not 1 <= quality <= 95:
            raise m.ProtocolError("bad_request", f"render.jpeg_quality must be 1..95, got {quality}")
        return RenderRequest(image_format, size, quality, options.get("mark_position", "bottom-right"))

    def open_session(self, request: RenderRequest, portrait: bytes | None, landmarks: dict | None
                     ) -> SessionRenderer:
        """Blocking (portrait prep takes ~0.1–0.5 s the first time a face is seen): run it off the event loop.
        ProtocolError(invalid_portrait) for an image or landmarks that cannot be used."""
        from vasa_bridge.render.errors import PortraitError

        if portrait is None and not self.config.default_portrait:
            raise m.ProtocolError("invalid_portrait", "this server has no default portrait: send one in "
                                  "open.portrait")
        if portrait is not None:
            self._check_pixels(portrait)
        digest = hashlib.sha256(portrait or b"").hexdigest()
        landmarks_key = json.dumps(landmarks, sort_keys=True) if landmarks is not None else ""
        key = (digest, landmarks_key, request.size, request.mark_position)
        with self._lock:
            renderer = self._renderers.get(key)
            if renderer is not None:
                self._renderers.move_to_end(key)
        try:
            if renderer is None:
                renderer = self._build(portrait, landmarks, request.size, request.mark_position)
        except PortraitError as e:
            raise m.ProtocolError("invalid_portrait", _for_protocol(str(e))) from None
        with self._lock:
            self._renderers[key] = renderer
            while len(self._renderers) > _RENDERER_CACHE_ENTRIES:
                self._renderers.popitem(last=False)
        name = "uploaded" if portrait is not None else _default_name()
        return SessionRenderer(renderer, request.image_format, request.jpeg_quality, name)

    def warm_up(self) -> None:
        """Load the face models and torch and prepare the demo portrait at the default size, so the first session
        does not wait for them (the server runs this in its portrait thread at start)."""
        if self.config.default_portrait:
            self.open_session(self.check_options("jpeg", {}), None, None)

    def _check_pixels(self, portrait: bytes) -> None:
        """Read only the image header: refuse huge images before decoding a single pixel."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(portrait)) as im:
                w, h = im.size
        except Image.DecompressionBombError as e:
            raise m.ProtocolError("invalid_portrait", f"open.portrait is far too large: {e}"[:300]) from None
        except UnidentifiedImageError:
            raise m.ProtocolError("invalid_portrait", "open.portrait is not an image file this server can read "
                                  "(JPEG, PNG, WebP, BMP, TIFF, ...)") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise m.ProtocolError("invalid_portrait", f"open.portrait is not an image file this server can "
                                  f"read (JPEG, PNG, WebP, BMP, TIFF, ...): {e}"[:300]) from None
        if w * h > self.config.max_portrait_pixels:
            raise m.ProtocolError("invalid_portrait", f"open.portrait is {w}x{h} px; this server takes at most "
                                  f"{self.config.max_portrait_pixels} pixels: scale it down (the face is "
                                  "rendered at 512 px at most)")

    def _build(self, portrait: bytes | None, landmarks: dict | None, size: int, mark_position: str) -> Any:
        from vasa_bridge.render.portrait import Portrait, portrait_source
        from vasa_bridge.render.renderer import Renderer, RenderOptions

        source = portrait if portrait is not None else portrait_source(None)[0]
        prepared = Portrait.prepare(source, size, landmarks_json=landmarks)
        return Renderer(prepared, self.config.device, RenderOptions(mark_position=mark_position))


def _for_protocol(text: str) -> str:
    """A portrait message written for the command line, with the protocol's way to do what it suggests."""
    return (text.replace("--landmarks FACE.json", "open.portrait_landmarks")
            .replace("Choose another with --face N", "To animate another, upload a photo cropped to it or send its "
                     "open.portrait_landmarks"))


def _default_name() -> str:
    from vasa_bridge.render.portrait import DEFAULT_PORTRAIT_NAME

    return DEFAULT_PORTRAIT_NAME
