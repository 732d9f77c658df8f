"""ZeroMQ binding (SPEC.md §8): ROUTER for requests, XPUB for the per-session streams (topic = session id)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path

import zmq
import zmq.asyncio

from vasa_bridge import protocol as m
from vasa_bridge.transport.errors import SidecarConfigError
from vasa_bridge.transport.server import ClientState, ServerConfig, Session, Sidecar, log_event

log = logging.getLogger("vasa_bridge.sidecar")

HARD_CAP_FACTOR = 4  # frames above this many times max_message_bytes are dropped by libzmq unread (SPEC §10)
LINGER_MS = 500      # on shutdown, give queued `end` messages this long to leave
LATE_HOLD_S = 5.0    # a closed session's held stream waits this long for a subscriber
LATE_HOLD_ON_SHUTDOWN_S = 1.0


def _endpoint(host: str, port: int) -> str:
    host = "[::1]" if host == "::1" else host
    return f"tcp://{host}:{port if port else '*'}"


class ZmqBinding:
    def __init__(self, core: Sidecar, config: ServerConfig) -> None:
        self.core, self.config = core, config
        self.ctx = zmq.asyncio.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.xpub = self.ctx.socket(zmq.XPUB)
        self.subscriptions: Counter[bytes] = Counter()
        self._reply_prefix: dict[bytes, list[bytes]] = {}  # identity -> [b""] for REQ clients
        self._tasks: list[asyncio.Task] = []
        self._auth = None
        self._late_holds: dict[bytes, tuple[float, object]] = {}  # topic -> (deadline, held frames)
        self.request_endpoint = self.stream_endpoint = ""

    def start(self) -> None:
        c = self.config
        for sock in (self.router, self.xpub):
            sock.setsockopt(zmq.LINGER, LINGER_MS)
            sock.setsockopt(zmq.MAXMSGSIZE, HARD_CAP_FACTOR * c.max_message_bytes)
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
                       asyncio.create_task(self._subscriptions(), name="zmq-subscriptions")]
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
        while True:
            frames = await self.router.recv_multipart()
            identity, body = frames[0], frames[1:]
            prefix: list[bytes] = []
            if len(body) >= 2 and body[0] == b"":  # a REQ client: strip its delimiter, mirror it in replies
                prefix, body = [b""], body[1:]
            client = self.core.client_for(("zmq", identity), self)
            self._reply_prefix[identity] = prefix
            if client.in_flight >= self.config.max_requests_in_flight:
                self.send_reply(client, m.ProtocolError("busy", "too many requests in flight; wait for replies",
                                                        retry_after_ms=100.0).to_message())
                continue
            client.in_flight += 1
            asyncio.create_task(self._serve_one(client, body))

    async def _serve_one(self, client: ClientState, body: list[bytes]) -> None:
        try:
            async with client.lock:  # FIFO: one client's replies keep its request order
                reply = await self.core.handle_wire(
                    client, lambda: m.from_zmq_frames(body, self.config.max_message_bytes))
                self.send_reply(client, reply)
        finally:
            client.in_flight -= 1

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

    def send_stream(self, client: ClientState, session: Session, msg: dict) -> None:
        frames = [session.id.encode("ascii"), *m.to_zmq_frames(msg)]
        if not session.zmq_subscribed:
            session.zmq_subscribed = self._matches(frames[0])
        if session.zmq_subscribed:
            self._publish(frames)
            return
        # No subscriber yet: hold the start of the stream so a client that subscribes after open_ok loses nothing.
        if len(session.hold) >= self.config.stream_hold_max:
            session.hold.popleft()
        session.hold.append(frames)

    def _publish(self, frames: list[bytes]) -> None:
        try:
            self.xpub.send_multipart(frames, flags=zmq.NOBLOCK)  # XPUB drops for slow peers, never blocks
        except zmq.ZMQError as e:
            log_event("zmq_publish_dropped", logging.WARNING, error=str(e))

    def on_session_closed(self, session: Session) -> None:
        # A session can end before its client's subscription arrives (a short clip, a shutdown right after
        # open): keep what is held, `end` included, a little longer for that subscription.
        if session.hold:
            self._late_holds[session.id.encode("ascii")] = (time.monotonic() + LATE_HOLD_S, session.hold)

    def _release(self, prefix: bytes) -> None:
        for session in list(self.core.sessions.values()):
            if not session.zmq_subscribed and session.id.encode("ascii").startswith(prefix) \
                    and session.client.binding is self:
                session.zmq_subscribed = True
                while session.hold:
                    self._publish(session.hold.popleft())
        now = time.monotonic()
        for topic, (deadline, hold) in list(self._late_holds.items()):
            if deadline < now:
                del self._late_holds[topic]
            elif topic.startswith(prefix):
                del self._late_holds[topic]
                while hold:
                    self._publish(hold.popleft())

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
                    for session in self.core.sessions.values():
                        if session.zmq_subscribed and session.client.binding is self:
                            session.zmq_subscribed = self._matches(session.id.encode("ascii"))

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
