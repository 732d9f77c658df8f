"""Outputs of the renderer: mp4 (H.264 + AAC, muxed with PyAV, marked as AI-generated in its metadata), a frame
strip PNG for docs, and JPEG encoding for frames sent on the stream."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from vasa_bridge.render.errors import RenderOutputError
from vasa_bridge.render.marking import METADATA

AUDIO_CHUNK_SAMPLES = 1024      # AAC frame size
AUDIO_BITRATE = 96_000
VIDEO_CRF = "20"


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    """One (H, W, 3) uint8 frame → JPEG bytes (quality 1..95)."""
    from PIL import Image
    if not 1 <= int(quality) <= 95:
        raise ValueError(f"JPEG quality must be 1..95, got {quality}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def encode_rgba(rgb: np.ndarray) -> bytes:
    """One (H, W, 3) uint8 frame → raw RGBA bytes (H*W*4, alpha 255), row-major: a texture upload as is."""
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = rgb
    out[..., 3] = 255
    return out.tobytes()


def animate_to_files(portrait: "object", frames: np.ndarray, audio_16k: "np.ndarray | Iterable[np.ndarray] | None",
                     mp4_path: "str | Path", strip_path: "str | Path | None" = None, device: str = "cpu",
                     mark_position: str = "bottom-right", batch: int = 16) -> int:
    """Render motion frames (T, 60) on a prepared Portrait into an mp4 with the audio (one array, or blocks of
    it: see `write_mp4`), and optionally a strip PNG (12 evenly spaced frames). What `vasa-bridge animate` and the
    demo run. Returns frames written."""
    from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
    from vasa_bridge.motion import layout
    from vasa_bridge.render.renderer import Renderer, RenderOptions
    # This renderer draws one clip: it may smooth the head distance across its batches.
    renderer = Renderer(portrait, device, RenderOptions(mark_position=mark_position, smooth_head_distance=True))
    written = write_mp4(mp4_path, frame_batches(renderer, frames, batch), layout.FPS, audio_16k, MODEL_SAMPLE_RATE_HZ)
    if strip_path is not None:
        picks = np.linspace(0, len(frames) - 1, min(12, len(frames))).round().astype(int)
        save_strip(strip_path, renderer.render(frames[picks], renderer.new_stream()))   # spread-out frames
    return written


def write_mp4(path: "str | Path", frame_batches: Iterable[np.ndarray], fps: float,
              audio: "np.ndarray | Iterable[np.ndarray] | None", sample_rate_hz: int) -> int:
    """Stream frame batches (B, H, W, 3) uint8 into an mp4 with the audio (mono float32) muxed alongside.

    `audio` is one array or an iterable of consecutive blocks (e.g. `AudioSpool.blocks()`); blocks are pulled only
    as far as the video has got. Frames are encoded as they arrive, so memory stays bounded however long the clip
    is. Video frame i has pts i/fps and audio sample j has pts j/rate on the same clock, so they are aligned by
    construction. Returns the number of video frames written."""
    import av

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(path), mode="w", format="mp4")
    except (OSError, av.error.FFmpegError) as e:
        raise RenderOutputError(f"cannot write {path}: {e}") from None
    written = 0
    try:
        for key, value in METADATA.items():
            container.metadata[key] = value
        rate = Fraction(fps).limit_denominator(1001)
        vstream = None
        feed = None
        if audio is not None:
            astream = container.add_stream("aac", rate=int(sample_rate_hz))
            astream.bit_rate = AUDIO_BITRATE
            astream.layout = "mono"
            astream.metadata["handler_name"] = "vasa_bridge speech"
            feed = _AudioFeed(container, astream, [audio] if isinstance(audio, np.ndarray) else audio,
                              sample_rate_hz)
        for batch in frame_batches:
            if vstream is None:
                h, w = batch.shape[1:3]
                vstream = container.add_stream("libx264", rate=rate)
                vstream.width, vstream.height = w, h
                vstream.pix_fmt = "yuv420p"
                vstream.options = {"crf": VIDEO_CRF, "preset": "veryfast"}
                vstream.metadata["handler_name"] = "vasa_bridge synthetic video (AI-generated)"
            for rgb in batch:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = written
                frame.time_base = 1 / rate
                for packet in vstream.encode(frame):
                    container.mux(packet)
                written += 1
            # Interleave: push the audio that belongs to the frames written so far.
            if feed is not None:
                feed.mux_until(int(round(written / float(rate) * sample_rate_hz)))
        if vstream is None:
            raise RenderOutputError("no frames to write")
        for packet in vstream.encode():
            container.mux(packet)
        if feed is not None:
            feed.mux_until(None)
            for packet in feed.astream.encode():
                container.mux(packet)
    except av.error.FFmpegError as e:
        raise RenderOutputError(f"encoding {path} failed: {e}") from None
    finally:
        container.close()
    return written


class _AudioFeed:
    """Audio blocks → AAC frames of AUDIO_CHUNK_SAMPLES with their sample positions as pts, holding at most one
    block plus one chunk in memory."""

    def __init__(self, container: "object", astream: "object", blocks: Iterable[np.ndarray],
                 sample_rate_hz: int) -> None:
        self.container, self.astream, self.sample_rate_hz = container, astream, sample_rate_hz
        self._blocks = iter(blocks)
        self._buffer = np.zeros(0, np.float32)   # samples _pos .. _pos + len - 1 of the stream, not yet muxed
        self._pos = 0

    def _fill(self, until: int | None) -> None:
        while until is None or self._pos + len(self._buffer) < until:
            block = next(self._blocks, None)
            if block is None:
                return
            block = np.clip(np.asarray(block, np.float32).reshape(-1), -1.0, 1.0)
            self._buffer = np.concatenate([self._buffer, block]) if len(self._buffer) else block

    def mux_until(self, until: int | None) -> None:
        """Mux samples up to (not including) `until`, or all that remain when None."""
        import av
        self._fill(until)
        stop = self._pos + len(self._buffer) if until is None else min(until, self._pos + len(self._buffer))
        while self._pos < stop:
            n = min(stop - self._pos, AUDIO_CHUNK_SAMPLES)
            chunk, self._buffer = self._buffer[:n], self._buffer[n:]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk)[None, :], format="fltp", layout="mono")
            frame.sample_rate = self.sample_rate_hz
            frame.pts = self._pos
            frame.time_base = Fraction(1, self.sample_rate_hz)
            for packet in self.astream.encode(frame):
                self.container.mux(packet)
            self._pos += n


def save_strip(path: "str | Path", frames: np.ndarray, columns: int = 6, tile_px: int = 192) -> None:
    """A frame strip PNG (a grid of evenly spaced frames, each scaled to tile_px) for docs and quick checks."""
    from PIL import Image
    frames = np.asarray(frames)
    n = len(frames)
    if n == 0:
        raise RenderOutputError("no frames for the strip")
    rows = -(-n // columns)
    sheet = Image.new("RGB", (columns * tile_px, rows * tile_px), (255, 255, 255))
    for i, f in enumerate(frames):
        tile = Image.fromarray(f).resize((tile_px, tile_px), Image.LANCZOS)
        sheet.paste(tile, ((i % columns) * tile_px, (i // columns) * tile_px))
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path, pnginfo=_png_info())
    except OSError as e:
        raise RenderOutputError(f"cannot write {path}: {e}") from None


def _png_info() -> "object":
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    for key, value in METADATA.items():
        info.add_text(key, value)
    return info


def probe_mp4(path: "str | Path") -> dict[str, float]:
    """Durations, frame count and start times of an mp4's streams, plus its comment: what the tests check."""
    import av
    with av.open(str(path)) as c:
        out: dict[str, float] = {}
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        if v is not None:
            out["video_frames"] = float(v.frames)
            out["video_fps"] = float(v.average_rate)
            out["video_duration_s"] = float(v.duration * v.time_base) if v.duration else float("nan")
            out["video_start_s"] = float((v.start_time or 0) * v.time_base)
        if a is not None:
            out["audio_duration_s"] = float(a.duration * a.time_base) if a.duration else float("nan")
            out["audio_start_s"] = float((a.start_time or 0) * a.time_base)
            out["audio_rate_hz"] = float(a.rate)
        out["has_video"] = float(v is not None)
        out["has_audio"] = float(a is not None)
        return out


def frame_batches(renderer: "object", frames: np.ndarray, batch: int) -> Iterator[np.ndarray]:
    for i in range(0, len(frames), batch):
        yield renderer.render(frames[i:i + batch])
