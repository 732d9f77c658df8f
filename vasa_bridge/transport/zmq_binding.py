"""ZeroMQ binding (SPEC.md §8): ROUTER for requests, XPUB for the per-session streams (topic = session id)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from pathlib import Path

import zmq
import zmq.asyncio

from vasa_bridge import protocol as m
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.transport.errors import SidecarConfigError
from vasa_bridge.transport.logs import log_event
from vasa_bridge.transport.server import Sidecar
from vasa_bridge.transport.state import ClientState, SessionState

# libzmq cuts a peer's connection for a frame above MAXMSGSIZE, and a cut ZeroMQ connection comes back as a new
# client (its sessions stranded). So the cap sits far above max_message_bytes: anything up to it is read and
# answered `too_large` with its id, connection kept (SPEC §10); only frames above it are cut.
HARD_CAP_MIN_BYTES = 64 << 20
HARD_CAP_FACTOR = 16
LINGER_MS = 500      # on shutdown, give queued `end` messages this long to leave
LATE_HOLD_S = 5.0    # a closed session's held stream waits this long for a subscriber (SPEC §8.4)
LATE_HOLD_ON_SHUTDOWN_S = 1.0
HOLD_SWEEP_S = 0.5   # how often expired holds are dropped


def hard_cap_bytes(max_message_bytes: int) -> int:
    return max(HARD_CAP_MIN_BYTES, HARD_CAP_FACTOR * max_message_bytes)


def _endpoint(host: str, port: int) -> str:
    host = "[::1]" if host == "::1" else host
    return f"tcp://{host}:{port if port else '*'}"


class ZmqBinding:
    def __init__(self, core: Sidecar, config: ServerConfig) -> None:
        self.core, self.config = core, config
        self.ctx = zmq.asyncio.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.xpub = self.ctx.socket(zmq.XPUB)
        # Stream state of this binding (SPEC §8.4): subscription counts per prefix, which sessions have a
        # subscriber, and the stream messages held for sessions that have none yet.
        self.subscriptions: Counter[bytes] = Counter()
        self._subscribed: set[str] = set()                 # session ids with a matching subscription
        self._holds: dict[str, deque] = {}                 # session id -> stream frames awaiting a subscription
        self._late_holds: dict[bytes, tuple[float, deque]] = {}  # closed session's topic -> (deadline, frames)
        self._reply_prefix: dict[bytes, list[bytes]] = {}  # identity -> [b""] for REQ clients
        self._banned: dict[bytes, float] = {}              # flooder identity -> ignored until (monotonic)
        self._tasks: list[asyncio.Task] = []
        self._auth = None
        self.request_endpoint = self.stream_endpoint = ""

    def start(self) -> None:
        c = self.config
        for sock in (self.router, self.xpub):
            sock.setsockopt(zmq.LINGER, LINGER_MS)
            sock.setsockopt(zmq.MAXMSGSIZE, hard_cap_bytes(c.max_message_bytes))
            sock.setsockopt(zmq.SNDHWM, c.zmq_hwm)
            sock.setsockopt(zmq.RCVHWM, c.zmq_hwm)
            if c.zmq_sndbuf_bytes:
                sock.setsockopt(zmq.SNDBUF, c.zmq_sndbuf_bytes)
        self.xpub.setsockopt(zmq.XPUB_VERBOSE, 1)  # see every subscription, not only the first per topic
        if c.curve_dir:
            self._setup_curve(Path(c.curve_dir), Path(c.curve_clients_dir) if c.curve_clients_dir else None)
        try:
            self.router.bind(_endpoint(c.host, c.zmq_port or 0))
            self.xpub.bind(_endpoint(c.host, c.zmq_stream_port or 0))
        except zmq.ZMQError as e:
            raise SidecarConfigError(f"cannot bind ZeroMQ on {c.host}:{c.zmq_port}/{c.zmq_stream_port}: {e}") from None
        self.request_endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.stream_endpoint = self.xpub.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._tasks = [asyncio.create_task(self._requests(), name="zmq-requests"),
                       asyncio.create_task(self._subscriptions(), name="zmq-subscriptions"),
                       asyncio.create_task(self._sweep_holds(), name="zmq-hold-expiry")]
        log_event("zmq_listening", requests=self.request_endpoint, stream=self.stream_endpoint,
                  curve=bool(c.curve_dir))

    def _setup_curve(self, key_dir: Path, clients_dir: Path | None) -> None:
        import zmq.auth
        from zmq.auth.asyncio import AsyncioAuthenticator

        secret_file = key_dir / "server.key_secret"
        if not secret_file.is_file():
            raise SidecarConfigError(f"no {secret_file}; create keys with: vasa-bridge keys {key_dir}")
        public, secret = zmq.auth.load_certificate(secret_file)
        self._auth = AsyncioAuthenticator(self.ctx)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(clients_dir) if clients_dir else zmq.auth.CURVE_ALLOW_ANY)
        for sock in (self.router, self.xpub):
            sock.curve_secretkey = secret
            sock.curve_publickey = public
            sock.curve_server = True

    # ---- requests ----------------------------------------------------------------------------------------------
    async def _requests(self) -> None:
        max_bytes = self.config.max_message_bytes
        while True:
            frames = await self.router.recv_multipart(copy=False)
            # A received message does not suspend this loop (its future is already done): yield after each one,
            # or a flood from one peer would keep every other task of the server waiting.
            await asyncio.sleep(0)
            identity, body = frames[0].bytes, frames[1:]
            banned_until = self._banned.get(identity)
            if banned_until is not None:
                if time.monotonic() < banned_until:
                    continue  # a disconnected flooder (SPEC §10): dropped unread until its ban ends
                del self._banned[identity]
            prefix: list[bytes] = []
            if len(body) >= 2 and len(body[0]) == 0:  # an empty delimiter (REQ, or a DEALER emulating it, §8.3)
                prefix, body = [b""], body[1:]
            client = self.core.client_for(("zmq", identity), self)
            self._reply_prefix[identity] = prefix
            wire_bytes = sum(len(f) for f in body)
            parts = [f.bytes for f in body] if wire_bytes <= max_bytes else [body[0].bytes]
            if wire_bytes > max_bytes:  # answered from the id in frame 0; the payload frames are never copied
                def decode(frame0=parts[0], size=wire_bytes) -> None:
                    raise m.ProtocolError("too_large", f"message of {size} bytes exceeds the limit of {max_bytes}",
                                          m.peek_id(frame0))
                self.core.submit(client, decode, len(parts[0]), lambda: m.peek_id(parts[0]))
                continue
            self.core.submit(client, lambda parts=parts: m.from_zmq_frames(parts, max_bytes), wire_bytes,
                             lambda: m.peek_id(parts[0]) if parts else None)

    def send_reply(self, client: ClientState, msg: dict) -> None:
        identity = client.key[1]
        try:
            # ROUTER drops (never blocks) when the peer is gone or its queue is full.
            self.router.send_multipart([identity, *self._reply_prefix.get(identity, []), m.encode(msg)],
                                       flags=zmq.NOBLOCK)
        except zmq.ZMQError as e:
            log_event("zmq_reply_dropped", logging.WARNING, error=str(e))

    # ---- stream ------------------------------------------------------------------------------------------------
    def _matches(self, topic: bytes) -> bool:
        return any(topic.startswith(prefix) for prefix, count in self.subscriptions.items() if count > 0)

    def send_stream(self, client: ClientState, session: SessionState, msg: dict) -> None:
        frames = [session.id.encode("ascii"), *m.to_zmq_frames(msg)]
        if session.id not in self._subscribed and self._matches(frames[0]):
            self._subscribed.add(session.id)
        if session.id in self._subscribed:
            self._publish(frames)
            return
        # No subscriber yet: hold the start of the stream so a client that subscribes after open_ok loses nothing.
        hold = self._holds.setdefault(session.id, deque())
        if len(hold) >= self.config.stream_hold_max:
            hold.popleft()
        hold.append(frames)

    def _publish(self, frames: list[bytes]) -> None:
        try:
            self.xpub.send_multipart(frames, flags=zmq.NOBLOCK)  # XPUB drops for slow peers, never blocks
        except zmq.ZMQError as e:
            log_event("zmq_publish_dropped", logging.WARNING, error=str(e))

    def on_session_closed(self, session: SessionState) -> None:
        # A session can end before its client's subscription arrives (a short clip, a shutdown right after
        # open): keep what is held, `end` included, LATE_HOLD_S longer for that subscription (SPEC §8.4).
        self._subscribed.discard(session.id)
        hold = self._holds.pop(session.id, None)
        if hold:
            self._late_holds[session.id.encode("ascii")] = (time.monotonic() + LATE_HOLD_S, hold)

    def disconnect(self, client: ClientState, reason: str) -> None:
        """A flooder (SPEC §10): its sessions end (reason error, code rate_limited) and, since a ROUTER cannot cut
        one peer, its identity's messages are dropped unread for flood_ban_s; afterwards it must hello again."""
        for session in list(client.sessions.values()):
            self.core.close_session(session, reason="error", code="rate_limited")
        self.core.client_gone(client)
        self._banned[client.key[1]] = time.monotonic() + self.config.flood_ban_s
        log_event("zmq_client_disconnected", logging.WARNING, client=client.name, reason=reason)

    def _release(self, prefix: bytes) -> None:
        for session_id in [s for s in self._holds if s.encode("ascii").startswith(prefix)]:
            self._subscribed.add(session_id)
            hold = self._holds.pop(session_id)
            while hold:
                self._publish(hold.popleft())
        for session in self.core.sessions.values():
            if session.client.binding is self and session.id.encode("ascii").startswith(prefix):
                self._subscribed.add(session.id)
        self._expire_late_holds()
        for topic in [t for t in self._late_holds if t.startswith(prefix)]:
            _, hold = self._late_holds.pop(topic)
            while hold:
                self._publish(hold.popleft())

    def _expire_late_holds(self) -> None:
        now = time.monotonic()
        for topic, (deadline, _) in list(self._late_holds.items()):
            if deadline < now:
                del self._late_holds[topic]
        for identity, until in list(self._banned.items()):
            if until < now:
                del self._banned[identity]

    async def _sweep_holds(self) -> None:
        while True:
            await asyncio.sleep(HOLD_SWEEP_S)
            self._expire_late_holds()

    async def _subscriptions(self) -> None:
        while True:
            event = await self.xpub.recv()
            if not event:
                continue
            kind, prefix = event[0], bytes(event[1:])
            if kind == 1:
                self.subscriptions[prefix] += 1
                self._release(prefix)
            elif kind == 0 and self.subscriptions[prefix] > 0:
                self.subscriptions[prefix] -= 1
                if self.subscriptions[prefix] == 0:
                    del self.subscriptions[prefix]
                    self._subscribed = {s for s in self._subscribed if self._matches(s.encode("ascii"))}

    async def close(self) -> None:
        deadline = time.monotonic() + LATE_HOLD_ON_SHUTDOWN_S
        while self._late_holds and time.monotonic() < deadline:  # subscriptions still on their way
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0.05)  # let the loop hand queued sends to libzmq before closing
        self.router.close(linger=LINGER_MS)
        self.xpub.close(linger=LINGER_MS)
        if self._auth is not None:
            self._auth.stop()
        self.ctx.term()
