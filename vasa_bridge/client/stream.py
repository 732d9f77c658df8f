"""Play audio into a sidecar session in real time (or faster) and collect what comes back, with latency figures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vasa_bridge.client.core import DEFAULT_WS_URL, DEFAULT_ZMQ_URL, AsyncClient, MotionBatch, RenderBatch
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.protocol.errors import ServerError


@dataclass
class StreamResult:
    clip: MotionClip
    chunk_latency_ms: np.ndarray              # per audio chunk: chunk sent -> the last frame it completed received
    batches: list[MotionBatch] = field(default_factory=list)
    motion_wire_bytes: int = 0
    end: dict | None = None
    renders: list[RenderBatch] = field(default_factory=list)      # with rendered frames asked for
    render_latency_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))   # as chunk_latency_ms, images

    @property
    def bytes_per_frame(self) -> float:
        return self.motion_wire_bytes / max(1, len(self.clip))

    def latency_ms(self, q: float) -> float:
        return float(np.percentile(self.chunk_latency_ms, q)) if len(self.chunk_latency_ms) else float("nan")


async def stream_audio(client: AsyncClient, samples: np.ndarray, sample_rate_hz: int, *, speed: float = 1.0,
                       chunk_ms: float = 40.0, audio_format: str = "pcm16", controls: dict | None = None,
                       seed: int | None = None, frames_dtype: str = "f32", timeout_s: float = 10.0,
                       image_format: str | None = None, portrait: "bytes | str | Path | None" = None,
                       render: dict | None = None, on_motion: "Callable[[MotionBatch], None] | None" = None
                       ) -> StreamResult:
    """Open a session, push `samples` in chunks paced at `speed` x real time (0 = as fast as allowed), end the
    audio, and gather every motion batch (and, with `image_format` "jpeg" or "rgba", every render batch of the
    `portrait`) until `end`. `on_motion` sees each motion batch as it arrives (e.g. to forward it live)."""
    outputs = ["motion"] + ([f"frames_{image_format}"] if image_format else [])
    session = await client.open(sample_rate_hz=sample_rate_hz, audio_format=audio_format, controls=controls,
                                seed=seed, frames_dtype=frames_dtype, outputs=outputs, portrait=portrait,
                                render=render)
    chunk = max(1, int(round(sample_rate_hz * chunk_ms / 1000.0)))
    sent: list[tuple[float, int]] = []  # (perf_counter at send, cumulative samples after this chunk)
    batches: list[MotionBatch] = []
    renders: list[RenderBatch] = []

    async def produce() -> None:
        t0 = time.perf_counter()
        for start in range(0, len(samples), chunk):
            part = samples[start:start + chunk]
            if speed > 0:  # pace on the audio clock so sending does not drift
                delay = t0 + start / sample_rate_hz / speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent.append((time.perf_counter(), start + len(part)))
            await session.push(part)  # resends a chunk refused with busy / rate_limited (no audio lost)
        await session.end_audio()

    async def consume() -> None:
        async for batch in session.batches(timeout_s):
            (batches if isinstance(batch, MotionBatch) else renders).append(batch)
            if on_motion is not None and isinstance(batch, MotionBatch):
                on_motion(batch)

    consumer = asyncio.create_task(consume())
    try:
        await produce()
        await consumer
    finally:
        if not consumer.done():
            consumer.cancel()
    try:
        await session.close()
    except ServerError:
        pass
    frames = np.concatenate([b.frames for b in batches]) if batches else np.zeros((0, 60), np.float32)
    lookahead_s = session.info["lookahead_ms"] / 1000.0

    def chunk_latencies(arrivals: list[tuple[int, float]]) -> np.ndarray:
        """Per chunk: frames k with (k + 1) / fps + lookahead <= the audio sent so far are what the chunk
        completed; its latency is from sending it to receiving the last of those frames (or their images)."""
        received_s = np.concatenate([np.full(n, t) for n, t in arrivals]) if arrivals else np.zeros(0)
        latencies, done_before = [], 0
        for t_send, n_samples in sent:
            ready = int(np.floor((n_samples / sample_rate_hz - lookahead_s) * session.fps + 1e-9))
            ready = min(ready, len(received_s))
            if ready > done_before:
                latencies.append((received_s[ready - 1] - t_send) * 1000.0)
                done_before = ready
        return np.asarray(latencies)

    clip = MotionClip(frames, session.fps, {"synthetic": True, "source": "vasa_bridge sidecar",
                                            "backend": client.hello.get("backend"), "binding": client.binding,
                                            "session": session.id})
    return StreamResult(clip, chunk_latencies([(len(b.frames), b.received_s) for b in batches]), batches,
                        session.motion_bytes, session.end, renders,
                        chunk_latencies([(len(b.images), b.received_s) for b in renders]))


def read_audio_native(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples at the file's own rate (the server resamples), or 16 kHz for formats soundfile
    cannot read (decoded by vasa_bridge.audio.load_audio)."""
    import soundfile as sf

    from vasa_bridge.audio import load_audio
    from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
    from vasa_bridge.errors import AudioError

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # not a libsndfile format (mp3 in a container, m4a...): decode and resample the usual way
        return load_audio(path), MODEL_SAMPLE_RATE_HZ
    if len(data) == 0:
        raise AudioError(f"{path}: no audio samples")
    return data.mean(axis=1).astype(np.float32), int(rate)


def stream_file(path: str | Path, url: str, *, speed: float = 1.0,
                chunk_ms: float = 40.0, controls: dict | None = None, seed: int | None = None,
                token: str | None = None, timeout_s: float = 10.0) -> MotionClip:
    """Stream a speech file through the sidecar at `url` and return the clip that came back (metadata: synthetic,
    latency). Without a running sidecar, `vasa_bridge.private_sidecar.stream_file_private` starts one for the
    call (the client never imports server code)."""
    return stream_file_result(path, url, speed=speed, chunk_ms=chunk_ms, controls=controls, seed=seed,
                              token=token, timeout_s=timeout_s).clip


def stream_file_result(path: str | Path, url: str, *, speed: float = 1.0,
                       chunk_ms: float = 40.0, controls: dict | None = None, seed: int | None = None,
                       token: str | None = None, timeout_s: float = 10.0, image_format: str | None = None,
                       portrait: "str | Path | None" = None, render: dict | None = None,
                       on_motion: "Callable[[MotionBatch], None] | None" = None,
                       stream_url: str | None = None) -> StreamResult:
    """As `stream_file`, with the whole StreamResult; `image_format` asks for rendered frames too; `on_motion` as
    in `stream_audio`; `stream_url` is a ZeroMQ server's stream socket when it is not the default one. The url's
    scheme picks the binding (tcp:// ZeroMQ, ws:// WebSocket)."""
    samples, rate = read_audio_native(path)

    async def run() -> StreamResult:
        client = await AsyncClient.connect(url, stream_url=stream_url, token=token, timeout_s=timeout_s)
        try:
            result = await stream_audio(client, samples, rate, speed=speed, chunk_ms=chunk_ms, controls=controls,
                                        seed=seed, timeout_s=timeout_s, image_format=image_format,
                                        portrait=portrait, render=render, on_motion=on_motion)
        finally:
            await client.close()
        result.clip.metadata.update({"latency_ms_p50": result.latency_ms(50), "latency_ms_p95": result.latency_ms(95),
                                     "bytes_per_frame": result.bytes_per_frame, "audio": str(path)})
        return result

    return asyncio.run(run())


__all__ = ["StreamResult", "stream_audio", "stream_file", "stream_file_result", "read_audio_native",
           "DEFAULT_WS_URL", "DEFAULT_ZMQ_URL"]
