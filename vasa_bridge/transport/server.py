"""The sidecar server: sessions, requests, the batched motion engine, reaping and draining (protocol/SPEC.md).

Layout of one server process (one asyncio loop + one worker thread):

    ZeroMQ binding (zmq_binding.py) ──┐
    WebSocket binding (ws_binding.py) ┴─► Sidecar.handle (validate, limits, session state)
                                              │ audio queued per session
                                              ▼
                        motion worker thread: resample + backend.step(all sessions with new audio), one
                        batched call per round ──► frames published on each session's stream

Bindings turn wire messages into logical ones and back; everything about sessions lives here, so both bindings
behave identically. Backend objects are touched only from the worker thread.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from vasa_bridge import __version__
from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.audio.resample import StreamingResampler
from vasa_bridge.motion import layout
from vasa_bridge.motion.controls import EMOTIONS
from vasa_bridge.runtime.backend import MotionBackend, MotionChunk, SessionControls, default_backend
from vasa_bridge import protocol as m
from vasa_bridge.transport.errors import SidecarConfigError
from vasa_bridge.protocol.version import parse_version, protocol_version

if TYPE_CHECKING:
    from vasa_bridge.transport.rendering import RenderService, SessionRenderer

log = logging.getLogger("vasa_bridge.sidecar")
log.addHandler(logging.NullHandler())  # silent unless `serve` (runner.setup_logging) configures it

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# ZeroMQ has no disconnect event: a peer identity with no sessions and no request for this long is forgotten
# (its next request gets hello_required), so reconnecting clients cannot grow the client table without bound.
ZMQ_CLIENT_FORGET_S = 600.0
MAX_CLIENTS = 4096
RESAMPLE_SLICE_SAMPLES = 16384
ENGINE_COALESCE_S = 0.004


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    zmq_port: int | None = 5570          # request socket (ROUTER); None disables ZeroMQ; 0 picks a free port
    zmq_stream_port: int | None = 5571   # stream socket (XPUB); 0 picks a free port
    ws_port: int | None = 5572           # WebSocket; None disables it; 0 picks a free port
    token: str | None = None             # required in hello when set
    allow_origins: tuple[str, ...] = ()  # WebSocket Origin allow-list ("null" admits clients without Origin)
    curve_dir: str | None = None         # directory with server.key_secret: enables CURVE on ZeroMQ
    curve_clients_dir: str | None = None  # public keys of admitted clients; None admits any CURVE client
    insecure: bool = False               # allow a non-loopback host without CURVE / token / Origin list
    max_message_bytes: int = 1 << 20
    max_sessions: int = 128
    max_sessions_per_client: int = 64
    audio_rate_x: float = 64.0           # sustained audio per client, multiples of real time
    audio_burst_s: float = 30.0          # token-bucket depth, seconds of audio
    idle_timeout_s: float = 60.0
    heartbeat_ms: float = 1000.0
    max_buffered_audio_s: float = 10.0   # per session, audio received but not yet through the backend
    ws_send_queue: int = 1024            # per WebSocket connection, messages
    ws_sndbuf_bytes: int | None = None   # kernel send buffer per WebSocket (tests make it small)
    zmq_hwm: int = 10_000                # per ZeroMQ peer, messages
    zmq_sndbuf_bytes: int | None = None  # kernel send buffer of the ZeroMQ sockets (tests make it small)
    stream_hold_max: int = 256           # stream messages held per session until its topic is subscribed
    max_requests_in_flight: int = 64     # per ZeroMQ client
    sample_rate_hz_min: int = 8_000
    sample_rate_hz_max: int = 96_000

    def __post_init__(self) -> None:
        positive = ("max_message_bytes", "max_sessions", "max_sessions_per_client", "audio_rate_x", "audio_burst_s",
                    "idle_timeout_s", "heartbeat_ms", "max_buffered_audio_s", "ws_send_queue", "zmq_hwm",
                    "stream_hold_max", "max_requests_in_flight", "sample_rate_hz_min")
        for name in positive:
            if not getattr(self, name) > 0:
                raise SidecarConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("zmq_port", "zmq_stream_port", "ws_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                raise SidecarConfigError(f"{name} must be a TCP port (0..65535, 0 = any free one), got {port}")
        if self.sample_rate_hz_max < self.sample_rate_hz_min:
            raise SidecarConfigError("sample_rate_hz_max must be >= sample_rate_hz_min")

    def check_security(self) -> None:
        """Refuse a public interface without protection (SPEC §11)."""
        if self.host in LOOPBACK_HOSTS or self.host.startswith("127.") or self.insecure:
            return
        problems = []
        if self.zmq_port is not None and not self.curve_dir:
            problems.append("ZeroMQ needs CURVE keys (vasa-bridge keys DIR, then --curve DIR)")
        if self.ws_port is not None and not (self.token and self.allow_origins):
            problems.append("WebSocket needs --token and at least one --allow-origin")
        if problems:
            raise SidecarConfigError(f"refusing to listen on {self.host} unprotected: " + "; ".join(problems)
                                     + ". Pass --insecure to do it anyway.")


class Binding(Protocol):
    def send_reply(self, client: "ClientState", msg: dict) -> None: ...
    def send_stream(self, client: "ClientState", session: "Session", msg: dict) -> None: ...
    def on_session_closed(self, session: "Session") -> None: ...


@dataclass(eq=False)
class ClientState:
    key: tuple
    binding: Binding
    name: str = ""
    hello_done: bool = False
    sessions: dict[str, "Session"] = field(default_factory=dict)
    bucket_s: float = 0.0                 # audio-seconds tokens of the rate limiter
    bucket_time: float = 0.0
    last_seen: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # serializes a ZeroMQ client's requests
    in_flight: int = 0
    close_after_reply: str | None = None  # WebSocket: close reason after this reply (unauthorized)
    gone: bool = False


@dataclass(eq=False)
class Session:
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
    zmq_subscribed: bool = False
    hold: deque = field(default_factory=deque)  # ZeroMQ stream frames awaiting a subscription

    @property
    def received_ms(self) -> float:
        return self.received_samples * 1000.0 / self.sample_rate_hz


@dataclass
class _Work:
    session: Session
    samples: np.ndarray | None
    flush: bool
    controls: list[tuple[SessionControls, asyncio.Future]]


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured log record; JsonLogFormatter prints it as a JSON line."""
    log.log(level, event, extra={"fields": fields})


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(), "event": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class Sidecar:
    """Protocol logic shared by both bindings."""

    def __init__(self, config: ServerConfig, backend: MotionBackend | None = None,
                 renderer: "RenderService | None" = None) -> None:
        config.check_security()
        self.config = config
        self.backend = backend or default_backend()
        self.renderer = renderer
        self.instance = secrets.token_hex(8)
        self.started = time.monotonic()
        self.clients: dict[tuple, ClientState] = {}
        self.sessions: dict[str, Session] = {}
        self.draining = False
        self.frames_total = 0
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vasa-motion")
        # Portrait prep (face detection + mesh, ~0.1-0.5 s) must not stall the motion worker.
        self._prep_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vasa-portrait")
        self._step_ms: deque[float] = deque(maxlen=512)
        self._busy: deque[tuple[float, float]] = deque()  # (end time, busy seconds) of recent steps
        self._step_running = False
        self._tasks: list[asyncio.Task] = []
        self._error_log_window = [0.0, 0]

    # ---- capabilities ------------------------------------------------------------------------------------------
    def outputs(self) -> list[str]:
        out = ["motion"]
        if self.backend.latent_dim > 0:
            out.append("latent")
        if self.renderer is not None:
            out += self.renderer.outputs()
        return out

    def limits(self) -> dict:
        c = self.config
        return {"max_message_bytes": c.max_message_bytes, "max_sessions": c.max_sessions,
                "max_sessions_per_client": c.max_sessions_per_client, "audio_rate_x": float(c.audio_rate_x),
                "audio_burst_s": float(c.audio_burst_s), "idle_timeout_s": float(c.idle_timeout_s)}

    # ---- clients -----------------------------------------------------------------------------------------------
    def client_for(self, key: tuple, binding: Binding) -> ClientState:
        client = self.clients.get(key)
        if client is None:
            if len(self.clients) >= MAX_CLIENTS:  # bound the table: forget the longest-idle client without sessions
                idle = [c for c in self.clients.values() if not c.sessions and c.key[0] == "zmq"]
                if idle:
                    self.clients.pop(min(idle, key=lambda c: c.last_seen).key, None)
            client = ClientState(key, binding, bucket_s=self.config.audio_burst_s, bucket_time=time.monotonic())
            self.clients[key] = client
        client.last_seen = time.monotonic()
        return client

    def client_gone(self, client: ClientState) -> None:
        """The connection dropped (WebSocket): end its sessions without trying to tell it."""
        if client.gone:
            return
        client.gone = True
        for session in list(client.sessions.values()):
            self._close_session(session, reason="closed", notify=False)
        self.clients.pop(client.key, None)
        log_event("client_gone", client=client.name or str(client.key[0]))

    # ---- requests ----------------------------------------------------------------------------------------------
    async def handle_wire(self, client: ClientState, decode: Callable[[], Any]) -> dict:
        """The reply to one request as a binding received it: `decode()` gives the logical message (or raises
        ProtocolError, answered as such); both bindings come through here, each with its own framing."""
        try:
            msg = decode()
        except m.ProtocolError as e:
            return e.to_message()
        return await self.handle(client, msg)

    async def handle(self, client: ClientState, msg: Any) -> dict:
        """The reply (or error message) to one decoded request."""
        request_id = None
        try:
            msg = m.validate_request(msg)
            request_id = msg["id"]
            mtype = msg["type"]
            if mtype != "hello" and not client.hello_done:
                raise m.ProtocolError("hello_required", "send hello first (after connecting, or after the server "
                                      "restarted)", request_id)
            handler = getattr(self, f"_on_{mtype}")
            return await handler(client, msg)
        except m.ProtocolError as e:
            if e.request_id is None and request_id is not None:
                e.request_id = request_id
            if self._error_log_allowed():
                log_event("request_error", logging.WARNING, code=e.code, detail=e.message[:200],
                          client=client.name or str(client.key[0]))
            return e.to_message()
        except Exception as e:  # a bug: answer, log, keep serving
            log.exception("internal_error")
            return m.ProtocolError("internal", f"{type(e).__name__}: {e}"[:200], request_id).to_message()

    def _error_log_allowed(self, per_second: int = 20) -> bool:
        """Garbage floods must not become log floods: at most `per_second` request errors logged per second."""
        now = time.monotonic()
        if now - self._error_log_window[0] >= 1.0:
            if self._error_log_window[1] > per_second:
                log_event("request_errors_suppressed", logging.WARNING, count=self._error_log_window[1] - per_second)
            self._error_log_window = [now, 0]
        self._error_log_window[1] += 1
        return self._error_log_window[1] <= per_second

    def _session(self, client: ClientState, msg: dict) -> Session:
        session = client.sessions.get(msg["session"])
        if session is None or session.closed:
            raise m.ProtocolError("unknown_session", f"no session {msg['session']} (closed, reaped, or opened "
                                  "before a server restart); open a new one", msg["id"], msg["session"])
        session.last_activity = time.monotonic()
        return session

    async def _on_hello(self, client: ClientState, msg: dict) -> dict:
        try:
            major, _ = parse_version(msg["protocol"])
        except ValueError:
            raise m.ProtocolError("bad_request", f"protocol must be MAJOR.MINOR, got {msg['protocol']!r}") from None
        ours = protocol_version()
        if major != parse_version(ours)[0]:
            raise m.ProtocolError("version_mismatch", f"client speaks protocol {msg['protocol']}, server speaks "
                                  f"{ours}; use a client of major version {ours.split('.')[0]}")
        if self.config.token is not None:
            given = msg.get("token")
            if not isinstance(given, str) or not hmac.compare_digest(given.encode(), self.config.token.encode()):
                client.close_after_reply = "unauthorized: token missing or wrong"
                raise m.ProtocolError("unauthorized", "token missing or wrong; pass the server's token in hello")
        client.hello_done = True
        client.name = str(msg.get("client", ""))[:64]
        log_event("hello", client=client.name, binding=client.key[0], protocol=msg["protocol"])
        return {"type": "hello_ok", "id": msg["id"], "protocol": ours, "server": f"vasa_bridge {__version__}",
                "instance": self.instance, "synthetic": True, "motion_layout_version": layout.MOTION_LAYOUT_VERSION,
                "fps": float(self.backend.fps), "backend": self.backend.name, "outputs": self.outputs(),
                "audio_formats": list(m.AUDIO_FORMATS), "sample_rate_hz_min": self.config.sample_rate_hz_min,
                "sample_rate_hz_max": self.config.sample_rate_hz_max, "emotions": list(EMOTIONS),
                "heartbeat_ms": float(self.config.heartbeat_ms), "limits": self.limits(),
                **({"render": self.renderer.describe()} if self.renderer is not None else {})}

    async def _on_open(self, client: ClientState, msg: dict) -> dict:
        c = self.config
        if self.draining:
            raise m.ProtocolError("shutting_down", "the server is shutting down")
        outputs = tuple(dict.fromkeys(msg.get("outputs", ["motion"])))
        if "motion" not in outputs:
            raise m.ProtocolError("bad_request", "outputs must include \"motion\"")
        missing = [o for o in outputs if o not in self.outputs()]
        if missing:
            raise m.ProtocolError("unsupported_output", f"this server cannot produce {', '.join(missing)} "
                                  f"(backend {self.backend.name}, "
                                  f"{'no renderer: start it with --render' if self.renderer is None else 'renderer on'}"
                                  f"); it offers {', '.join(self.outputs())}")
        image_formats = [o[len("frames_"):] for o in outputs if o.startswith("frames_")]
        if len(image_formats) > 1:
            raise m.ProtocolError("bad_request", "ask for frames_jpeg or frames_rgba, not both")
        render_fields = [k for k in ("portrait", "portrait_landmarks", "render") if k in msg]
        if render_fields and not image_formats:
            raise m.ProtocolError("bad_request", f"{', '.join(render_fields)} need output frames_jpeg or frames_rgba")
        audio = msg["audio"]
        rate = audio["sample_rate_hz"]
        if not c.sample_rate_hz_min <= rate <= c.sample_rate_hz_max:
            raise m.ProtocolError("unsupported_audio", f"sample_rate_hz must be in [{c.sample_rate_hz_min}, "
                                  f"{c.sample_rate_hz_max}], got {rate}")
        if "fps" in msg and abs(float(msg["fps"]) - self.backend.fps) > 1e-6:
            raise m.ProtocolError("unsupported_audio", f"fps must be {self.backend.fps:g}, got {msg['fps']}")
        try:
            controls = SessionControls().updated(msg.get("controls", {}))
        except (ValueError, TypeError) as e:
            raise m.ProtocolError("invalid_controls", str(e)) from None
        if len(self.sessions) >= c.max_sessions:
            raise m.ProtocolError("session_limit", f"the server has its maximum of {c.max_sessions} sessions")
        if len(client.sessions) >= c.max_sessions_per_client:
            raise m.ProtocolError("session_limit", f"this client has its maximum of {c.max_sessions_per_client} "
                                  "sessions; close some")
        seed = msg.get("seed", secrets.randbits(31))
        session_render = None
        if image_formats:
            request = self.renderer.check_options(image_formats[0], msg.get("render", {}))
            session_render = await asyncio.get_running_loop().run_in_executor(
                self._prep_executor, self.renderer.open_session, request, msg.get("portrait"),
                msg.get("portrait_landmarks"))
            if self.draining:
                raise m.ProtocolError("shutting_down", "the server is shutting down")
        stream = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.backend.new_stream, controls, seed)
        session_id = secrets.token_hex(8)
        while session_id in self.sessions:
            session_id = secrets.token_hex(8)
        resampler = StreamingResampler(rate, MODEL_SAMPLE_RATE_HZ)
        session = Session(session_id, client, stream, audio["format"], rate, msg.get("frames_dtype", "f32"),
                          outputs, controls, resampler, render=session_render)
        self.sessions[session_id] = session
        client.sessions[session_id] = session
        resample_delay_ms = 0.0 if resampler.passthrough else resampler.delay / resampler.up / rate * 1000.0
        log_event("session_open", session=session_id, client=client.name, binding=client.key[0],
                  audio=audio["format"], sample_rate_hz=rate, outputs=list(outputs))
        return {"type": "open_ok", "id": msg["id"], "session": session_id, "fps": float(self.backend.fps),
                "channel_names": list(layout.CHANNEL_NAMES), "motion_layout_version": layout.MOTION_LAYOUT_VERSION,
                "frames_dtype": session.frames_dtype,
                "latent_dim": self.backend.latent_dim if "latent" in outputs else 0, "outputs": list(outputs),
                "audio": {"format": audio["format"], "sample_rate_hz": rate}, "controls": controls.to_dict(),
                "lookahead_ms": float(self.backend.lookahead_ms + resample_delay_ms), "synthetic": True,
                **({"render": session_render.describe()} if session_render is not None else {})}

    def _take_audio_tokens(self, client: ClientState, seconds: float, request_id: int, session_id: str) -> None:
        c = self.config
        now = time.monotonic()
        client.bucket_s = min(c.audio_burst_s, client.bucket_s + (now - client.bucket_time) * c.audio_rate_x)
        client.bucket_time = now
        if seconds > c.audio_burst_s:
            raise m.ProtocolError("bad_request", f"a chunk of {seconds:.1f} s exceeds audio_burst_s "
                                  f"({c.audio_burst_s:g} s); send smaller chunks", request_id, session_id)
        if seconds > client.bucket_s:
            retry_ms = (seconds - client.bucket_s) / c.audio_rate_x * 1000.0
            raise m.ProtocolError("rate_limited", f"audio faster than {c.audio_rate_x:g}x real time after a "
                                  f"{c.audio_burst_s:g} s burst; chunk dropped, resend it", request_id, session_id,
                                  retry_after_ms=round(retry_ms, 3))
        client.bucket_s -= seconds

    async def _on_audio(self, client: ClientState, msg: dict) -> dict:
        session = self._session(client, msg)
        rid, sid = msg["id"], session.id
        if session.end_requested:
            raise m.ProtocolError("audio_ended", "audio after end_audio; open a new session", rid, sid)
        data = msg["audio"]
        sample_bytes = m.AUDIO_SAMPLE_BYTES[session.audio_format]
        if len(data) % sample_bytes:
            raise m.ProtocolError("bad_request", f"audio of {len(data)} bytes is not a whole number of "
                                  f"{session.audio_format} samples ({sample_bytes} bytes each)", rid, sid)
        if session.audio_format == "pcm16":
            samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
        else:
            samples = np.frombuffer(data, "<f4").astype(np.float32)
            if not np.all(np.isfinite(samples)):
                raise m.ProtocolError("bad_request", "f32 audio contains NaN or infinity", rid, sid)
        if session.pending_samples > self.config.max_buffered_audio_s * session.sample_rate_hz:
            raise m.ProtocolError("busy", "the session's audio queue is full (the server is behind real time); "
                                  "chunk dropped", rid, sid, retry_after_ms=200.0)
        self._take_audio_tokens(client, len(samples) / session.sample_rate_hz, rid, sid)
        session.received_samples += len(samples)
        if len(samples):
            session.pending.append(samples)  # resampled in the worker: the event loop only moves bytes
            session.pending_samples += len(samples)
            self._wake.set()
        return {"type": "audio_ok", "id": rid, "session": sid, "received_ms": session.received_ms}

    async def _on_end_audio(self, client: ClientState, msg: dict) -> dict:
        session = self._session(client, msg)
        if not session.end_requested:
            session.end_requested = True
            self._wake.set()
        return {"type": "end_audio_ok", "id": msg["id"], "session": session.id, "received_ms": session.received_ms}

    async def _on_controls(self, client: ClientState, msg: dict) -> dict:
        session = self._session(client, msg)
        base = session.pending_controls[-1][0] if session.pending_controls else session.controls
        try:
            controls = base.updated(msg["controls"])
        except (ValueError, TypeError) as e:
            raise m.ProtocolError("invalid_controls", str(e), msg["id"], session.id) from None
        # The reply waits for the worker to apply them, so effective_seq is exact (at most one step's wait).
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        session.pending_controls.append((controls, future))
        self._wake.set()
        effective_seq = await future
        return {"type": "controls_ok", "id": msg["id"], "session": session.id, "controls": controls.to_dict(),
                "effective_seq": effective_seq}

    async def _on_close(self, client: ClientState, msg: dict) -> dict:
        session = self._session(client, msg)
        self._close_session(session, reason="closed")
        return {"type": "close_ok", "id": msg["id"], "session": session.id, "frames_total": session.next_seq}

    async def _on_status(self, client: ClientState, msg: dict) -> dict:
        steps = np.array(self._step_ms) if self._step_ms else np.zeros(1)
        return {"type": "status_ok", "id": msg["id"], "instance": self.instance, "sessions": len(self.sessions),
                "max_sessions": self.config.max_sessions, "clients": len(self.clients), "load": self.load(),
                "step_ms_p50": float(np.percentile(steps, 50)), "step_ms_p95": float(np.percentile(steps, 95)),
                "frames_total": self.frames_total, "uptime_s": time.monotonic() - self.started}

    def load(self, window_s: float = 10.0) -> float:
        now = time.monotonic()
        while self._busy and self._busy[0][0] < now - window_s:
            self._busy.popleft()
        span = min(window_s, max(now - self.started, 1e-3))
        return float(sum(b for _, b in self._busy) / span)

    # ---- sessions ----------------------------------------------------------------------------------------------
    def _send_stream(self, session: Session, msg: dict) -> None:
        if session.stream_ended:
            return
        session.stream_ended = msg["type"] == "end"
        session.last_stream_sent = time.monotonic()
        if not session.client.gone:
            session.client.binding.send_stream(session.client, session, msg)

    def _close_session(self, session: Session, reason: str, notify: bool = True, code: str | None = None) -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        session.client.sessions.pop(session.id, None)
        for _, future in session.pending_controls:
            if not future.done():
                future.set_exception(m.ProtocolError("unknown_session", "the session ended before the controls "
                                                     "applied", None, session.id))
        session.pending_controls.clear()
        session.pending.clear()
        if notify:
            end = {"type": "end", "session": session.id, "reason": reason, "frames_total": session.next_seq,
                   "duration_ms": session.received_ms}
            if code is not None:
                end["code"] = code
            self._send_stream(session, end)
        session.client.binding.on_session_closed(session)
        log_event("session_end", session=session.id, reason=reason, frames_total=session.next_seq,
                  duration_ms=round(session.received_ms, 1))

    def _publish_chunk(self, session: Session, chunk: MotionChunk, images: list[bytes] | None) -> None:
        n = len(chunk.frames)
        if n == 0 or session.closed:
            return
        dtype = "<f4" if session.frames_dtype == "f32" else "<f2"
        msg = {"type": "motion", "session": session.id, "seq": session.next_seq, "n": n,
               "pts_ms": session.next_seq * 1000.0 / self.backend.fps, "channels": layout.N_CHANNELS,
               "dtype": session.frames_dtype, "frames": np.ascontiguousarray(chunk.frames, dtype).tobytes()}
        if "latent" in session.outputs and chunk.latent is not None:
            msg["latent_dim"] = int(chunk.latent.shape[1])
            msg["latent"] = np.ascontiguousarray(chunk.latent, "<f4").tobytes()
        msg["synthetic"] = True
        self._send_stream(session, msg)
        if session.render is not None and images:
            r = session.render
            self._send_stream(session, {"type": "render", "session": session.id, "seq": session.next_seq, "n": n,
                                        "pts_ms": msg["pts_ms"], "format": r.format, "width": r.width,
                                        "height": r.height, "images": images, "synthetic": True})
        session.next_seq += n
        self.frames_total += n

    # ---- the motion engine -------------------------------------------------------------------------------------
    def _collect_work(self) -> list[_Work]:
        work = []
        for session in list(self.sessions.values()):
            # Draining flushes every stream, so frames a backend holds back for lookahead still go out.
            flush = (session.end_requested or self.draining) and not session.flush_sent
            if not (session.pending or flush or session.pending_controls):
                continue
            samples = np.concatenate(session.pending) if session.pending else None
            session.pending.clear()
            session.pending_samples = 0
            if flush:
                session.flush_sent = True
            work.append(_Work(session, samples, flush, list(session.pending_controls)))
            session.pending_controls.clear()
        return work

    def _run_step(self, work: list[_Work]) -> tuple[dict, dict, dict, float]:
        """Worker thread: feed every stream, one batched backend step, then the rendering sessions' images.
        Per-session failures are isolated."""
        t0 = time.perf_counter()
        failures: dict[Session, str] = {}
        ready = []
        for item in work:
            try:
                for controls, _ in item.controls:
                    item.session.stream.set_controls(controls)
                parts = []
                if item.samples is not None:
                    # Bounded slices: the polyphase gather is memory-bound and 3x slower on multi-second arrays.
                    for start in range(0, len(item.samples), RESAMPLE_SLICE_SAMPLES):
                        parts.append(item.session.resampler.push(item.samples[start:start + RESAMPLE_SLICE_SAMPLES]))
                if item.flush:
                    parts.append(item.session.resampler.flush())
                samples_16k = np.concatenate(parts) if parts else np.zeros(0, np.float32)
                if len(samples_16k):
                    item.session.stream.push(samples_16k)
                if item.flush:
                    item.session.stream.flush()
                ready.append(item.session)
            except Exception as e:
                failures[item.session] = f"{type(e).__name__}: {e}"
        out: dict = {}
        try:
            out = self.backend.step([s.stream for s in ready])
        except Exception:
            log.exception("batched_step_failed")  # find the culprit: retry one by one
            for s in ready:
                try:
                    out.update(self.backend.step([s.stream]))
                except Exception as e:
                    failures[s] = f"{type(e).__name__}: {e}"
        images: dict[Session, list[bytes]] = {}
        for s in ready:
            chunk = out.get(s.stream)
            if s.render is not None and chunk is not None and len(chunk.frames) and s not in failures:
                try:
                    images[s] = s.render.render(chunk.frames)
                except Exception as e:
                    failures[s] = f"renderer: {type(e).__name__}: {e}"
        return out, images, failures, time.perf_counter() - t0

    async def _engine(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            # Let audio from other sessions arriving in the next moment join this step: one batched call for
            # many sessions instead of a thread hand-off per request (costs at most ENGINE_COALESCE_S latency).
            await asyncio.sleep(ENGINE_COALESCE_S)
            self._wake.clear()
            work = self._collect_work()
            if not work:
                continue
            self._step_running = True
            try:
                out, images, failures, busy_s = await loop.run_in_executor(self._executor, self._run_step, work)
            finally:
                self._step_running = False
            self._step_ms.append(busy_s * 1000.0)
            self._busy.append((time.monotonic(), busy_s))
            for item in work:
                session = item.session
                for controls, future in item.controls:
                    session.controls = controls
                    if not future.done():
                        future.set_result(session.next_seq)
                if session in failures:
                    if not session.closed:
                        log_event("session_failed", logging.ERROR, session=session.id, error=failures[session])
                        self._send_stream(session, {"type": "error", "id": None, "code": "internal",
                                                    "message": f"motion backend failed: {failures[session]}"[:200],
                                                    "session": session.id})
                        self._close_session(session, reason="error", code="internal")
                    continue
                chunk = out.get(session.stream)
                if chunk is not None:
                    self._publish_chunk(session, chunk, images.get(session))
                if item.flush and session.end_requested and not session.closed:
                    self._send_stream(session, {"type": "end", "session": session.id, "reason": "end_of_audio",
                                                "frames_total": session.next_seq,
                                                "duration_ms": session.received_ms})
                    log_event("end_of_audio", session=session.id, frames_total=session.next_seq)

    async def _housekeeping(self) -> None:
        """Heartbeats, idle reaping, forgetting idle ZeroMQ clients."""
        c = self.config
        period_s = min(0.1, c.heartbeat_ms / 4000.0)
        while True:
            await asyncio.sleep(period_s)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if now - session.last_activity > c.idle_timeout_s:
                    self._close_session(session, reason="idle")
                elif not session.stream_ended and now - session.last_stream_sent > c.heartbeat_ms / 1000.0:
                    self._send_stream(session, {"type": "heartbeat", "session": session.id,
                                                "next_seq": session.next_seq, "received_ms": session.received_ms,
                                                "server_time_ms": time.time() * 1000.0})
            for client in list(self.clients.values()):
                if client.key[0] == "zmq" and not client.sessions and \
                        now - client.last_seen > max(c.idle_timeout_s, ZMQ_CLIENT_FORGET_S):
                    self.clients.pop(client.key, None)

    def start_tasks(self) -> None:
        if self.renderer is not None:
            self._prep_executor.submit(self._warm_renderer)
        self._tasks = [asyncio.create_task(self._engine(), name="vasa-engine"),
                       asyncio.create_task(self._housekeeping(), name="vasa-housekeeping")]

    def _warm_renderer(self) -> None:
        try:
            self.renderer.warm_up()
            log_event("renderer_ready")
        except Exception:  # the demo portrait failing must not stop a server whose clients upload their own
            log.exception("renderer_warm_up_failed")

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Stop taking sessions, run the audio already received through the backend, end every session."""
        self.draining = True
        deadline = time.monotonic() + timeout_s
        self._wake.set()
        while time.monotonic() < deadline and (self._step_running or any(
                s.pending or s.pending_controls or not s.flush_sent
                for s in self.sessions.values())):
            self._wake.set()
            await asyncio.sleep(0.01)
        for session in list(self.sessions.values()):
            self._close_session(session, reason="shutdown")

    async def stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)
        self._prep_executor.shutdown(wait=True)
