"""Asyncio client of the vasa_bridge sidecar, over ZeroMQ (`tcp://...`) or WebSocket (`ws://...`).

    client = await AsyncClient.connect("tcp://127.0.0.1:5570")        # or "ws://127.0.0.1:5572/"
    session = await client.open(sample_rate_hz=16000)
    await session.push(samples)            # float32 or int16 numpy array, mono
    await session.end_audio()
    async for batch in session.batches():  # MotionBatch(seq, pts_ms, frames (n, 60))
        ...
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlparse

import numpy as np

from vasa_bridge import protocol as m
from vasa_bridge.protocol.errors import ConnectionLost, ServerError
from vasa_bridge.protocol.version import protocol_version

DEFAULT_ZMQ_URL = "tcp://127.0.0.1:5570"
DEFAULT_WS_URL = "ws://127.0.0.1:5572/"
OPEN_RENDER_TIMEOUT_S = 60.0
STREAM_QUEUE_MAX = 100_000  # stream messages buffered per session before the client drops (and counts) them
AUDIO_RETRY_S = 30.0        # how long push() keeps resending a chunk the server refuses for load
RETRY_CODES = ("busy", "rate_limited")


@dataclass(frozen=True)
class MotionBatch:
    seq: int                    # index of the first frame
    pts_ms: float               # pts of the first frame on the session's audio clock
    frames: np.ndarray          # (n, channels) float32
    latent: np.ndarray | None   # (n, latent_dim) float32, with output "latent"
    received_s: float           # time.perf_counter() when it arrived
    wire_bytes: int             # size of the message on the wire (all ZeroMQ frames, or the WebSocket message)
    visemes: np.ndarray | None = None  # (n, 15) float32 in open_ok.viseme_names order, with output "visemes"


@dataclass(frozen=True)
class RenderBatch:
    seq: int                    # frame index of the first image (pairs with the motion batch of the same seq)
    pts_ms: float
    format: str                 # "jpeg" (JPEG files) or "rgba" (width × height × 4 bytes each)
    width: int
    height: int
    images: list[bytes]
    received_s: float
    wire_bytes: int

    def decode(self, index: int) -> np.ndarray:
        """Image `index` as (height, width, 3) uint8 RGB."""
        if self.format == "rgba":
            return np.frombuffer(self.images[index], np.uint8).reshape(self.height, self.width, 4)[..., :3]
        import io

        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(self.images[index])).convert("RGB"))


def _decode_render(msg: dict, wire_bytes: int) -> RenderBatch:
    images = msg["images"]
    if len(images) != msg["n"]:
        raise ServerError("bad_message", f"render batch of {len(images)} images, expected {msg['n']}")
    return RenderBatch(msg["seq"], msg["pts_ms"], msg["format"], msg["width"], msg["height"], list(images),
                       time.perf_counter(), wire_bytes)


def decode_stream_batch(msg: dict, wire_bytes: int) -> "MotionBatch | RenderBatch | None":
    """A motion or render stream message as a batch; None for the other stream messages."""
    if msg["type"] == "motion":
        return _decode_batch(msg, wire_bytes)
    if msg["type"] == "render":
        return _decode_render(msg, wire_bytes)
    return None


def _decode_batch(msg: dict, wire_bytes: int) -> MotionBatch:
    dtype = "<f4" if msg["dtype"] == "f32" else "<f2"
    n, channels = msg["n"], msg["channels"]
    frames = np.frombuffer(msg["frames"], dtype)
    if frames.size != n * channels:
        raise ServerError("bad_message", f"motion batch of {frames.size} values, expected {n} x {channels}")
    latent = None
    if "latent" in msg:
        latent = np.frombuffer(msg["latent"], "<f4").reshape(n, msg["latent_dim"]).astype(np.float32)
    visemes = None
    if "visemes" in msg:
        visemes = np.frombuffer(msg["visemes"], "<f4")
        if visemes.size % n:
            raise ServerError("bad_message", f"motion batch of {n} frames with {visemes.size} viseme weights")
        visemes = visemes.reshape(n, -1).astype(np.float32)  # (n, 15)
    return MotionBatch(msg["seq"], msg["pts_ms"], frames.reshape(n, channels).astype(np.float32), latent,
                       time.perf_counter(), wire_bytes, visemes)


class _Transport:
    """Moves logical messages; calls `on_message(msg, wire_bytes)` for everything the server sends."""

    def __init__(self, on_message) -> None:
        self.on_message = on_message
        self.closed = False

    async def send(self, msg: dict) -> None: ...
    async def subscribe(self, session_id: str) -> None: ...
    async def unsubscribe(self, session_id: str) -> None: ...
    async def close(self) -> None: ...


class _ZmqTransport(_Transport):
    def __init__(self, on_message, url: str, stream_url: str | None, curve_server_key: bytes | None) -> None:
        import zmq
        import zmq.asyncio

        super().__init__(on_message)
        self.zmq = zmq
        self.ctx = zmq.asyncio.Context()
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.sub = self.ctx.socket(zmq.SUB)
        for sock in (self.dealer, self.sub):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, 100_000)
            if curve_server_key is not None:
                public, secret = zmq.curve_keypair()
                sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve_server_key, public, secret
        if stream_url is None:
            parsed = urlparse(url)
            stream_url = f"tcp://{parsed.hostname}:{parsed.port + 1}"
        self.dealer.connect(url)
        self.sub.connect(stream_url)
        self._tasks = [asyncio.create_task(self._read_replies()), asyncio.create_task(self._read_stream())]

    async def _read_replies(self) -> None:
        while True:
            frames = await self.dealer.recv_multipart()
            self.on_message(m.from_zmq_frames(frames, 1 << 30), sum(len(f) for f in frames))

    async def _read_stream(self) -> None:
        while True:
            frames = await self.sub.recv_multipart()
            self.on_message(m.from_zmq_frames(frames[1:], 1 << 30), sum(len(f) for f in frames))

    async def send(self, msg: dict) -> None:
        await self.dealer.send_multipart(m.to_zmq_frames(msg))

    async def subscribe(self, session_id: str) -> None:
        self.sub.setsockopt(self.zmq.SUBSCRIBE, session_id.encode("ascii"))

    async def unsubscribe(self, session_id: str) -> None:
        self.sub.setsockopt(self.zmq.UNSUBSCRIBE, session_id.encode("ascii"))

    async def close(self) -> None:
        self.closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.dealer.close(0)
        self.sub.close(0)
        self.ctx.term()


class _WsTransport(_Transport):
    def __init__(self, on_message) -> None:
        super().__init__(on_message)
        self.ws = None
        self._task: asyncio.Task | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    async def open(self, url: str, origin: str | None, timeout_s: float) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        try:
            self.ws = await asyncio.wait_for(connect(url, origin=origin, max_size=None, compression=None,
                                                     open_timeout=timeout_s, close_timeout=2), timeout_s)
        except InvalidStatus as e:
            body = e.response.body.decode(errors="replace").strip() if e.response.body else ""
            raise ConnectionLost(f"the server refused the WebSocket: HTTP {e.response.status_code} {body}") from None
        except (OSError, asyncio.TimeoutError, InvalidHandshake) as e:
            # InvalidHandshake: e.g. a server that is stopping closed the socket before answering the upgrade.
            raise ConnectionLost(f"cannot connect to {url}: {e or 'timeout'}; is `vasa-bridge serve` running?"
                                 ) from None
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for data in self.ws:
                if isinstance(data, bytes):
                    self.on_message(m.decode(data, 1 << 30), len(data))
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            if self.ws.close_code is not None:
                self.close_code, self.close_reason = self.ws.close_code, self.ws.close_reason
            self.on_message(None, 0)  # wake everyone waiting: the connection is gone

    async def send(self, msg: dict) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.ws.send(m.encode(msg))
        except ConnectionClosed:
            raise ConnectionLost(f"WebSocket closed: {self.ws.close_code} {self.ws.close_reason}") from None

    async def subscribe(self, session_id: str) -> None:
        pass  # the connection that opened a session receives its stream

    async def unsubscribe(self, session_id: str) -> None:
        pass

    async def close(self) -> None:
        self.closed = True
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


class AsyncClient:
    """One client of the sidecar (one WebSocket connection, or one ZeroMQ DEALER + SUB pair)."""

    def __init__(self, url: str, *, stream_url: str | None = None, token: str | None = None,
                 origin: str | None = None, timeout_s: float = 5.0, client_name: str = "vasa_bridge.client",
                 curve_server_key: bytes | None = None) -> None:
        self.url, self.stream_url, self.token, self.origin = url, stream_url, token, origin
        self.timeout_s, self.client_name, self.curve_server_key = timeout_s, client_name, curve_server_key
        self.binding = "ws" if url.startswith(("ws://", "wss://")) else "zmq"
        self.hello: dict = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._sessions: dict[str, "AsyncSession"] = {}
        self._transport: _Transport | None = None
        self.assigned: dict | None = None  # a cluster directory's `assign` this connection followed (SPEC §8.6)

    @classmethod
    async def connect(cls, url: str = DEFAULT_ZMQ_URL, **kwargs: Any) -> "AsyncClient":
        client = cls(url, **kwargs)
        try:
            await client._connect()
        except BaseException:
            await client._drop_transport()
            raise
        return client

    async def _connect(self) -> None:
        if self.binding == "ws":
            transport = _WsTransport(self._on_message)
            await transport.open(self.url, self.origin, self.timeout_s)
            self._transport = transport
        else:
            self._transport = _ZmqTransport(self._on_message, self.url, self.stream_url, self.curve_server_key)
        hello = {"type": "hello", "protocol": protocol_version(), "client": self.client_name}
        if self.token is not None:
            hello["token"] = self.token
        self.assigned = None
        reply = await self.request(hello)
        if reply["type"] == "assign":
            # A cluster directory (SPEC §8.6): say hello again to the replica it names, and stay there. `self.url`
            # stays the directory's, so reconnect() after a lost replica asks it again.
            if self.binding != "zmq":
                raise ServerError("bad_message", "assign received on a WebSocket: only ZeroMQ directories send it")
            await self._drop_transport()
            self._transport = _ZmqTransport(self._on_message, reply["zmq"], reply["zmq_stream"],
                                            self.curve_server_key)
            self.assigned = reply
            reply = await self.request(hello)
        self.hello = reply

    async def reconnect(self) -> None:
        """A fresh connection and hello (e.g. after the server restarted); old sessions are gone."""
        await self._drop_transport()
        for session in list(self._sessions.values()):
            session._ended("closed")
        self._sessions.clear()
        try:
            await self._connect()
        except BaseException:
            await self._drop_transport()
            raise

    async def _drop_transport(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionLost("connection closed"))
        self._pending.clear()

    def _on_message(self, msg: dict | None, wire_bytes: int) -> None:
        if msg is None:  # the WebSocket closed
            t = self._transport
            reason = f"{t.close_code} {t.close_reason}" if isinstance(t, _WsTransport) else "closed"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionLost(f"WebSocket closed by the server: {reason}"))
            self._pending.clear()
            for session in self._sessions.values():
                session._deliver({"type": "_connection_lost", "reason": reason}, 0)
            return
        mtype = msg.get("type")
        request_id = msg.get("id")
        is_reply = isinstance(mtype, str) and (mtype.endswith("_ok") or mtype == "assign" or (
            mtype == "error" and (request_id is not None or "session" not in msg)))
        if is_reply:
            if request_id is None and self._pending:   # an undecodable-request error: answer the oldest
                request_id = next(iter(self._pending))
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(msg)
            return
        session = self._sessions.get(msg.get("session"))
        if session is not None:
            session._deliver(msg, wire_bytes)

    async def request(self, msg: dict, timeout_s: float | None = None) -> dict:
        """Send a request (id assigned here) and return its reply; ServerError for an error reply."""
        if self._transport is None or self._transport.closed:
            why = ""
            if isinstance(self._transport, _WsTransport) and self._transport.close_code is not None:
                why = f" (WebSocket closed by the server: {self._transport.close_code} {self._transport.close_reason})"
            raise ConnectionLost(f"not connected{why}; call reconnect()")
        msg = {"type": msg["type"], "id": next(self._ids) & m.MAX_ID, **{k: v for k, v in msg.items() if k != "type"}}
        future = asyncio.get_running_loop().create_future()
        self._pending[msg["id"]] = future
        await self._transport.send(msg)
        try:
            reply = await asyncio.wait_for(future, timeout_s or self.timeout_s)
        except asyncio.TimeoutError:
            self._pending.pop(msg["id"], None)
            raise ConnectionLost(f"no reply to {msg['type']} within {timeout_s or self.timeout_s:g} s from "
                                 f"{self.url}; is `vasa-bridge serve` running?") from None
        if reply.get("type") == "error":
            raise ServerError(reply.get("code", "?"), reply.get("message", ""), reply)
        return reply

    async def open(self, *, sample_rate_hz: int = 16000, audio_format: str = "f32", outputs=("motion",),
                   frames_dtype: str = "f32", controls: dict | None = None, seed: int | None = None,
                   portrait: "bytes | str | Path | None" = None, portrait_landmarks: dict | None = None,
                   render: dict | None = None, livelink: dict | None = None,
                   timeout_s: float | None = None) -> "AsyncSession":
        """`portrait` (image bytes or a file), `portrait_landmarks` and `render` ({size, jpeg_quality,
        mark_position}) go with output "frames_jpeg" or "frames_rgba" (protocol 1.1). The server prepares a
        portrait it has not seen before (seconds on a small CPU), so such opens wait up to OPEN_RENDER_TIMEOUT_S.
        `livelink` ({subject}) has a server started with --livelink forward the motion to Unreal (1.3)."""
        msg: dict = {"type": "open", "audio": {"format": audio_format, "sample_rate_hz": int(sample_rate_hz)},
                     "outputs": list(outputs), "frames_dtype": frames_dtype}
        if controls:
            msg["controls"] = controls
        if seed is not None:
            msg["seed"] = seed
        if portrait is not None:
            msg["portrait"] = portrait if isinstance(portrait, bytes) else Path(portrait).read_bytes()
        if portrait_landmarks is not None:
            msg["portrait_landmarks"] = portrait_landmarks
        if render:
            msg["render"] = render
        if livelink is not None:
            msg["livelink"] = livelink
        rendering = any(str(o).startswith("frames_") for o in outputs)
        reply = await self.request(msg, timeout_s or (max(self.timeout_s, OPEN_RENDER_TIMEOUT_S) if rendering
                                                      else None))
        session = AsyncSession(self, reply)
        self._sessions[session.id] = session
        await self._transport.subscribe(session.id)
        return session

    async def status(self) -> dict:
        return await self.request({"type": "status"})

    async def close(self) -> None:
        await self._drop_transport()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class AsyncSession:
    def __init__(self, client: AsyncClient, info: dict) -> None:
        self.client = client
        self.info = info
        self.id: str = info["session"]
        self.channel_names: list[str] = info["channel_names"]
        self.fps: float = info["fps"]
        self.audio_format: str = info["audio"]["format"]
        self._queue: asyncio.Queue = asyncio.Queue()
        self.dropped = 0          # stream messages dropped because this client did not consume them
        self.end: dict | None = None
        self.motion_bytes = 0     # wire bytes of motion batches received
        self.motion_frames = 0
        self.audio_retries = 0    # chunks resent after busy / rate_limited (none lost: see push_bytes)

    def _deliver(self, msg: dict, wire_bytes: int) -> None:
        if msg.get("type") == "motion":
            self.motion_bytes += wire_bytes
            self.motion_frames += msg.get("n", 0)
        if self._queue.qsize() >= STREAM_QUEUE_MAX:
            self.dropped += 1
            return
        self._queue.put_nowait((msg, wire_bytes))

    def _ended(self, reason: str) -> None:
        self._deliver({"type": "end", "session": self.id, "reason": reason, "frames_total": -1,
                       "duration_ms": 0.0}, 0)

    def encode_audio(self, samples: np.ndarray) -> bytes:
        samples = np.asarray(samples)
        if self.audio_format == "pcm16":
            if samples.dtype != np.int16:
                samples = np.clip(np.round(samples.astype(np.float64) * 32767.0), -32768, 32767)
            return samples.astype("<i2").tobytes()
        return samples.astype("<f4").tobytes()

    async def push(self, samples: np.ndarray) -> dict:
        """Send mono audio (float in [-1, 1] or int16) in the session's format; returns audio_ok."""
        return await self.push_bytes(self.encode_audio(samples))

    async def push_bytes(self, data: bytes) -> dict:
        """Send one chunk and return its audio_ok. A chunk the server refuses for load (`busy`, `rate_limited`) is
        not part of the audio clock, so it is resent after the server's `retry_after_ms` until accepted (up to
        AUDIO_RETRY_S): the clock never shortens and lips never drift from the audio (SPEC §4.3). Callers send a
        session's chunks one at a time (await each push), which keeps them in order across retries."""
        deadline = time.monotonic() + AUDIO_RETRY_S
        while True:
            try:
                return await self.client.request({"type": "audio", "session": self.id, "audio": data})
            except ServerError as e:
                retry_ms = e.reply.get("retry_after_ms")
                if e.code not in RETRY_CODES or retry_ms is None or time.monotonic() >= deadline:
                    raise
                self.audio_retries += 1
                await asyncio.sleep(min(float(retry_ms), 2000.0) / 1000.0)

    async def end_audio(self) -> dict:
        return await self.client.request({"type": "end_audio", "session": self.id})

    async def set_controls(self, **controls: Any) -> dict:
        return await self.client.request({"type": "controls", "session": self.id, "controls": controls})

    async def close(self) -> dict:
        reply = await self.client.request({"type": "close", "session": self.id})
        await self.client._transport.unsubscribe(self.id)
        return reply

    async def next_message(self, timeout_s: float | None = None) -> tuple[dict, int]:
        """(stream message, its wire size); ConnectionLost when nothing arrives in time."""
        try:
            msg, size = await asyncio.wait_for(self._queue.get(), timeout_s)
        except asyncio.TimeoutError:
            raise ConnectionLost(f"no stream message for session {self.id} within {timeout_s:g} s") from None
        if msg["type"] == "_connection_lost":
            raise ConnectionLost(f"connection lost: {msg['reason']}")
        if msg["type"] == "error":
            raise ServerError(msg["code"], msg["message"], msg)
        return msg, size

    async def batches(self, timeout_s: float = 10.0) -> AsyncIterator[MotionBatch | RenderBatch]:
        """Motion batches (and, for sessions that asked for rendered frames, render batches, each right after the
        motion batch of the same seq) until the session's `end` (kept in `self.end`)."""
        while True:
            msg, size = await self.next_message(timeout_s)
            batch = decode_stream_batch(msg, size)
            if batch is not None:
                yield batch
            elif msg["type"] == "end":
                self.end = msg
                return
