"""Blocking client: the asyncio client driven from a private event-loop thread, so both share one code path."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

import numpy as np

from vasa_bridge.client.core import (DEFAULT_ZMQ_URL, AsyncClient, AsyncSession, MotionBatch, RenderBatch,
                                     decode_stream_batch)
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.protocol.errors import ConnectionLost


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="vasa-client", daemon=True)
        self.thread.start()

    def run(self, coro, timeout_s: float | None = None) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise ConnectionLost(f"no answer within {timeout_s:g} s") from None

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class Client:
    """`Client("tcp://127.0.0.1:5570")` or `Client("ws://127.0.0.1:5572/", token=...)`; see AsyncClient."""

    def __init__(self, url: str = DEFAULT_ZMQ_URL, **kwargs: Any) -> None:
        self._loop = _LoopThread()
        try:
            self._client: AsyncClient = self._loop.run(AsyncClient.connect(url, **kwargs))
        except BaseException:
            self._loop.stop()
            raise

    @property
    def hello(self) -> dict:
        return self._client.hello

    def open(self, **kwargs: Any) -> "Session":
        return Session(self, self._loop.run(self._client.open(**kwargs)))

    def status(self) -> dict:
        return self._loop.run(self._client.status())

    def request(self, msg: dict) -> dict:
        return self._loop.run(self._client.request(msg))

    def reconnect(self) -> None:
        self._loop.run(self._client.reconnect())

    def close(self) -> None:
        try:
            self._loop.run(self._client.close(), 10)
        finally:
            self._loop.stop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Session:
    def __init__(self, client: Client, session: AsyncSession) -> None:
        self._client, self._session = client, session
        self.id, self.info, self.channel_names, self.fps = session.id, session.info, session.channel_names, session.fps

    def _run(self, coro, timeout_s: float | None = None) -> Any:
        return self._client._loop.run(coro, timeout_s)

    def push(self, samples: np.ndarray) -> dict:
        return self._run(self._session.push(samples))

    def push_bytes(self, data: bytes) -> dict:
        return self._run(self._session.push_bytes(data))

    def end_audio(self) -> dict:
        return self._run(self._session.end_audio())

    def set_controls(self, **controls: Any) -> dict:
        return self._run(self._session.set_controls(**controls))

    def close(self) -> dict:
        return self._run(self._session.close())

    def next_message(self, timeout_s: float = 10.0) -> dict:
        return self._run(self._session.next_message(timeout_s))[0]

    def batches(self, timeout_s: float = 10.0) -> Iterator[MotionBatch | RenderBatch]:
        """Motion batches (and render batches, when rendered frames were asked for) until `end` (then in
        `self.end`)."""
        while True:
            msg, size = self._run(self._session.next_message(timeout_s))
            batch = decode_stream_batch(msg, size)
            if batch is not None:
                yield batch
            elif msg["type"] == "end":
                self._session.end = msg
                return

    @property
    def end(self) -> dict | None:
        return self._session.end

    @property
    def audio_retries(self) -> int:
        """Chunks resent after busy / rate_limited (each was accepted in the end: no audio lost)."""
        return self._session.audio_retries

    def collect(self, timeout_s: float = 10.0) -> MotionClip:
        """All remaining frames until `end`, as a clip (call after end_audio)."""
        frames = [b.frames for b in self.batches(timeout_s) if isinstance(b, MotionBatch)]
        return MotionClip(np.concatenate(frames) if frames else np.zeros((0, len(self.channel_names)), np.float32),
                          self.fps, {"synthetic": True, "source": "vasa_bridge sidecar", "session": self.id})
