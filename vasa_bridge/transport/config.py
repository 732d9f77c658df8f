"""Server settings (one frozen dataclass) and the security policy that goes with them (SPEC.md §10, §11)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from vasa_bridge.transport.errors import SidecarConfigError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    zmq_port: int | None = 5570          # request socket (ROUTER); None disables ZeroMQ; 0 picks a free port
    zmq_stream_port: int | None = 5571   # stream socket (XPUB); 0 picks a free port
    ws_port: int | None = 5572           # WebSocket; None disables it; 0 picks a free port
    token: str | None = None             # required in hello when set
    allow_origins: tuple[str, ...] = ()  # WebSocket origins admitted besides no-Origin and loopback ("*": any)
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
    # Fairness (SPEC §10): every client has its own request queue, served round-robin with the others.
    max_queued_requests: int = 256       # per client, received but not yet handled; beyond: busy
    max_queued_bytes: int = 32 << 20     # per client, the same in bytes; beyond: busy
    request_rate_per_s: float = 5000.0   # per client, every request kind, sustained
    request_burst: int = 2000            # per client, requests beyond the sustained rate at once
    flood_refusals: int = 20_000         # refusals (busy / rate_limited) within flood_window_s that disconnect
    flood_window_s: float = 10.0
    flood_ban_s: float = 10.0            # ZeroMQ: a disconnected flooder's identity is ignored this long
    hello_timeout_s: float = 10.0        # WebSocket: a connection that sends no hello for this long is closed
    # Admission control (SPEC §10): refuse `open` when the motion worker could not keep up with one more session.
    max_load: float = 0.8                # worker busy fraction a new session may push it to; inf = no admission control
    # Live Link Face forwarding (SPEC §4.2 open.livelink): the one (host, port) every asking session sends to.
    livelink_target: tuple[str, int] | None = None
    sample_rate_hz_min: int = 8_000
    sample_rate_hz_max: int = 96_000

    def __post_init__(self) -> None:
        positive = ("max_message_bytes", "max_sessions", "max_sessions_per_client", "audio_rate_x", "audio_burst_s",
                    "idle_timeout_s", "heartbeat_ms", "max_buffered_audio_s", "ws_send_queue", "zmq_hwm",
                    "stream_hold_max", "max_queued_requests", "max_queued_bytes", "request_rate_per_s",
                    "request_burst", "flood_refusals", "flood_window_s", "flood_ban_s", "hello_timeout_s",
                    "max_load", "sample_rate_hz_min")
        for name in positive:
            if not getattr(self, name) > 0:
                raise SidecarConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("zmq_port", "zmq_stream_port", "ws_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                raise SidecarConfigError(f"{name} must be a TCP port (0..65535, 0 = any free one), got {port}")
        if self.livelink_target is not None and not 0 < self.livelink_target[1] < 65536:
            raise SidecarConfigError(f"livelink_target port must be 1..65535, got {self.livelink_target[1]}")
        if self.sample_rate_hz_max < self.sample_rate_hz_min:
            raise SidecarConfigError("sample_rate_hz_max must be >= sample_rate_hz_min")

    def check_security(self) -> None:
        """Refuse a public interface without protection (SPEC §11)."""
        if self.host in LOOPBACK_HOSTS or self.host.startswith("127.") or self.insecure:
            return
        problems = []
        if self.zmq_port is not None and not self.curve_dir:
            problems.append("ZeroMQ needs CURVE keys (vasa-bridge keys DIR, then --curve DIR)")
        if self.ws_port is not None and not self.token:
            problems.append("WebSocket needs --token")
        if problems:
            raise SidecarConfigError(f"refusing to listen on {self.host} unprotected: " + "; ".join(problems)
                                     + ". Pass --insecure to do it anyway.")


def is_loopback_origin(origin: str) -> bool:
    """http(s)://localhost, 127.x.x.x or [::1] on any port: a page served from this machine."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and (host in LOOPBACK_HOSTS or host.startswith("127."))


def origin_allowed(origin: str | None, allow_origins: tuple[str, ...]) -> bool:
    """SPEC §11: native clients (no Origin header) and pages from this machine are admitted; any other web page
    needs its origin listed with --allow-origin ("*" admits every origin, for trusted networks only)."""
    if origin is None or "*" in allow_origins or origin in allow_origins:
        return True
    return is_loopback_origin(origin)
