"""What the server knows about each client and session; bindings and the core share these records."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vasa_bridge.audio.resample import StreamingResampler
from vasa_bridge.runtime.backend import SessionControls
from vasa_bridge.transport.fairness import ClientQueue

if TYPE_CHECKING:
    from vasa_bridge.transport.livelink import SessionLiveLink
    from vasa_bridge.transport.rendering import SessionRenderer


class Binding(Protocol):
    """What the core needs from a binding (ZeroMQ, WebSocket): binding-specific state stays in the binding."""

    def send_reply(self, client: "ClientState", msg: dict) -> None: ...
    def send_stream(self, client: "ClientState", session: "SessionState", msg: dict) -> None: ...
    def on_session_closed(self, session: "SessionState") -> None: ...
    def disconnect(self, client: "ClientState", reason: str) -> None: ...  # a flooder: drop it


@dataclass(eq=False)
class ClientState:
    key: tuple
    binding: Binding
    name: str = ""
    hello_done: bool = False
    sessions: dict[str, "SessionState"] = field(default_factory=dict)
    bucket_s: float = 0.0                 # audio-seconds tokens of the rate limiter
    bucket_time: float = 0.0
    last_seen: float = field(default_factory=time.monotonic)
    queue: ClientQueue = field(default_factory=ClientQueue)  # received requests, served in order (fairness.py)
    close_after_reply: str | None = None  # WebSocket: close reason after this reply (unauthorized)
    gone: bool = False


@dataclass(eq=False)
class SessionState:
    """One open session on the server (the client side's handle is `client.Session`)."""

    id: str
    client: ClientState
    stream: Any                           # MotionStream
    audio_format: str
    sample_rate_hz: int
    frames_dtype: str
    outputs: tuple[str, ...]
    controls: SessionControls
    resampler: StreamingResampler
    pending: list[np.ndarray] = field(default_factory=list)   # audio at the declared rate, not yet in the worker
    pending_samples: int = 0
    pending_controls: list[tuple[SessionControls, asyncio.Future]] = field(default_factory=list)
    end_requested: bool = False
    flush_sent: bool = False
    received_samples: int = 0             # at the declared rate
    next_seq: int = 0
    closed: bool = False
    stream_ended: bool = False            # `end` was sent: nothing more goes on this session's stream
    last_activity: float = field(default_factory=time.monotonic)
    last_stream_sent: float = field(default_factory=time.monotonic)
    render: "SessionRenderer | None" = None   # with output frames_jpeg / frames_rgba
    livelink: "SessionLiveLink | None" = None  # with open.livelink

    @property
    def received_ms(self) -> float:
        return self.received_samples * 1000.0 / self.sample_rate_hz
