"""The motion-runtime interface the sidecar batches sessions through, and its first backend.

A `MotionBackend` creates one `MotionStream` per session. Streams only buffer what they are given (`push`,
`flush`, `set_controls` are cheap and never compute); the backend's `step` does the work for every stream that
has something new in one call, so a model backend can run all sessions as one batch (one forward pass of B
windows) instead of B small ones. The server calls `new_stream`, the stream methods and `step` from a single
worker thread, so implementations need no locking.

Contract of `step(streams) -> {stream: MotionChunk}`:
- It returns, for each stream given, the frames that became complete since the last step (possibly none).
- Frames are contiguous per stream: the k-th frame ever returned for a stream is frame k of its audio clock,
  covering 16 kHz samples [k * 640, (k + 1) * 640) at 25 fps.
- A frame may be returned once the stream holds audio up to its end plus `lookahead_ms` (or after `flush`).
- After `flush`, a stream returns all remaining frames in the next step: ceil(samples / 640) frames in total.
- Controls set before a step apply to every frame that step returns.
- A failure in one stream should raise; the server then retries the streams one by one and ends the failing one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.motion.controls import Controls

GUIDANCE_SCALE_RANGE = (0.0, 10.0)
# Classifier-free guidance on the audio, the default for every session and offline tool. Real read English, the
# Dec 2026 weights: 1 gave aperture r 0.51 and 47 % of p/b/m closed, 2 gave 0.65 / 71 %, 3 and 4 no better; it
# doubles each session's batch (32 guided streams still ran in real time on 2 cores).
DEFAULT_GUIDANCE_SCALE = 2.0


@dataclass(frozen=True)
class SessionControls:
    """Performance controls of one session: the shared Controls plus the diffusion guidance scale."""

    performance: Controls = Controls()
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE   # backends without guidance ignore it

    def __post_init__(self) -> None:
        lo, hi = GUIDANCE_SCALE_RANGE
        if not lo <= self.guidance_scale <= hi:
            raise ValueError(f"guidance_scale must be in [{lo}, {hi}], got {self.guidance_scale}")

    def to_dict(self) -> dict:
        c = self.performance
        return {"emotion": c.emotion, "emotion_intensity": float(c.emotion_intensity),
                "gaze_yaw_rad": None if c.gaze_yaw_rad is None else float(c.gaze_yaw_rad),
                "gaze_pitch_rad": None if c.gaze_pitch_rad is None else float(c.gaze_pitch_rad),
                "head_distance_m": float(c.head_distance_m), "guidance_scale": float(self.guidance_scale)}

    def updated(self, changes: dict) -> "SessionControls":
        """A copy with the protocol's partial controls map applied; ValueError when a value is out of range."""
        changes = dict(changes)
        guidance = float(changes.pop("guidance_scale", self.guidance_scale))
        known = {"emotion", "emotion_intensity", "gaze_yaw_rad", "gaze_pitch_rad", "head_distance_m"}
        performance = replace(self.performance, **{k: v for k, v in changes.items() if k in known})
        return SessionControls(performance, guidance)


@dataclass(frozen=True)
class MotionChunk:
    frames: np.ndarray                 # (n, N_CHANNELS) float32, motion layout
    latent: np.ndarray | None = None   # (n, latent_dim) float32 when the backend has a latent


class MotionStream(Protocol):
    lookahead_ms: float   # audio past a frame's end the stream waits for before emitting the frame

    def push(self, samples_16k: np.ndarray) -> None: ...   # queue mono float32 audio at 16 kHz
    def flush(self) -> None: ...                            # no more audio: emit everything at the next step
    def set_controls(self, controls: SessionControls) -> None: ...


class MotionBackend(Protocol):
    name: str
    fps: float
    latent_dim: int       # 0 when the backend has no latent to publish
    lookahead_ms: float

    def new_stream(self, controls: SessionControls, seed: int) -> MotionStream: ...
    def step(self, streams: Sequence[MotionStream]) -> dict[MotionStream, MotionChunk]: ...


class AmplitudeMotionStream:
    """One session of the amplitude baseline (loudness -> jawOpen), behind the MotionStream interface."""

    lookahead_ms = 0.0  # the baseline's features are causal: a frame is ready when its 40 ms of audio are in

    def __init__(self, controls: SessionControls) -> None:
        from vasa_bridge.baselines import AmplitudeStream

        self._inner = AmplitudeStream(controls.performance)
        self._pending: list[np.ndarray] = []
        self._flush_requested = False
        self._flushed = False

    def push(self, samples_16k: np.ndarray) -> None:
        if self._flush_requested:
            raise RuntimeError("push after flush")
        self._pending.append(np.asarray(samples_16k, np.float32).reshape(-1))

    def flush(self) -> None:
        self._flush_requested = True

    def set_controls(self, controls: SessionControls) -> None:
        # AmplitudeStream reads its controls when it emits frames, so replacing them applies from the next step.
        self._inner.controls = controls.performance

    def compute(self) -> MotionChunk:
        parts = []
        if self._pending:
            audio = np.concatenate(self._pending)
            self._pending.clear()
            parts.append(self._inner.push(audio))
        if self._flush_requested and not self._flushed:
            self._flushed = True
            parts.append(self._inner.flush())
        frames = np.concatenate(parts) if parts else np.zeros((0, layout.N_CHANNELS), np.float32)
        return MotionChunk(frames.astype(np.float32, copy=False))


class AmplitudeBackend:
    """The amplitude baseline as a MotionBackend. It has no batch dimension to exploit, so `step` loops; the
    diffusion backend replaces the loop with one batched forward pass."""

    name = "amplitude-baseline"
    fps = float(layout.FPS)
    latent_dim = 0
    lookahead_ms = AmplitudeMotionStream.lookahead_ms

    def new_stream(self, controls: SessionControls, seed: int) -> AmplitudeMotionStream:
        return AmplitudeMotionStream(controls)  # deterministic: the seed has nothing to vary

    def step(self, streams: Sequence[AmplitudeMotionStream]) -> dict[AmplitudeMotionStream, MotionChunk]:
        return {s: s.compute() for s in streams}


def default_backend() -> MotionBackend:
    """The backend for embedded servers and tests: the amplitude baseline (cheap, deterministic). `vasa-bridge serve`
    defaults to the diffusion model (--backend)."""
    return AmplitudeBackend()
