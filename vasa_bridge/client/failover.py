"""A session that outlives the server process serving it: a cluster replica lost, or a sidecar restarted.

    client = await AsyncClient.connect("tcp://directory:5570")      # or the cluster's ws:// address
    session = await ReopeningSession.open(client, sample_rate_hz=16000, seed=7)
    await session.push(samples); await session.end_audio()
    async for batch in session.batches(): ...                        # seq / pts_ms continue across a re-open

On a lost connection it reconnects the client (a cluster directory assigns a live replica, SPEC §8.6; a cluster
WebSocket lands on one), opens a session with the same options, and pushes again the audio whose motion had not
arrived, so frames continue at the seq where they stopped, on the same audio clock. What is lost: the old
session's motion history (the new session starts without context, so the first frames after the seam may differ
from what the old one would have produced) and the time the re-open takes. One ReopeningSession per client:
reconnecting ends the client's other sessions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, AsyncIterator

import numpy as np

from vasa_bridge.client.core import AsyncClient, AsyncSession, MotionBatch, RenderBatch
from vasa_bridge.protocol.errors import ConnectionLost, ServerError
from vasa_bridge.protocol.messages import AUDIO_SAMPLE_BYTES

RESEND_CHUNK_S = 0.5   # audio pushed again after a re-open goes in chunks of this length
RETRY_PERIOD_S = 0.2   # between re-open attempts while no server answers
# Replies that mean this server will not continue the session, though another would: re-open elsewhere.
REOPEN_CODES = ("shutting_down", "unknown_session", "hello_required")


class ReopenFailed(ConnectionLost):
    """No server took the session again within reopen_timeout_s."""


class ReopeningSession:
    def __init__(self, client: AsyncClient, session: AsyncSession, open_options: dict,
                 reopen_timeout_s: float) -> None:
        self.client, self.session = client, session
        self.open_options, self.reopen_timeout_s = open_options, reopen_timeout_s
        self.sample_rate_hz = int(open_options.get("sample_rate_hz", 16000))
        self._sample_bytes = AUDIO_SAMPLE_BYTES[session.audio_format]
        self._audio = bytearray()       # every audio byte pushed, in the session's format
        self._audio_ended = False       # end_audio was asked for
        self._sent = 0                  # bytes of _audio the current session has been sent
        self._end_sent = False          # the current session has had end_audio
        self._resending = False         # catching a new session up: send in RESEND_CHUNK_S pieces
        self._seq_offset = 0            # frames delivered by earlier sessions: added to the new session's seq
        self.frames_received = 0        # frames delivered so far, all sessions together
        self.reopens: list[float] = []  # seconds each re-open took, from noticing the loss to the new open_ok
        self.end: dict | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, client: AsyncClient, *, reopen_timeout_s: float = 10.0,
                   **open_options: Any) -> "ReopeningSession":
        """`open_options`: AsyncClient.open's keywords (used again for every re-open)."""
        return cls(client, await client.open(**open_options), dict(open_options), reopen_timeout_s)

    @property
    def fps(self) -> float:
        return self.session.fps

    async def push(self, samples: np.ndarray) -> None:
        self._audio += self.session.encode_audio(samples)
        async with self._lock:
            await self._send_pending()

    async def end_audio(self) -> None:
        self._audio_ended = True
        async with self._lock:
            await self._send_pending()

    async def _send_pending(self) -> None:
        """(Lock held.) Send the current session what it has not had: normally just the chunk pushed last; after a
        re-open, the audio from the seam on (in RESEND_CHUNK_S pieces), then end_audio if it was sent before. All
        sends go through here under the lock, so a chunk pushed while another task re-opens is never skipped."""
        resend_bytes = max(1, round(RESEND_CHUNK_S * self.sample_rate_hz)) * self._sample_bytes
        while self._sent < len(self._audio) or (self._audio_ended and not self._end_sent):
            current = self.session
            try:
                if self._sent < len(self._audio):
                    end = len(self._audio)
                    if self._resending:
                        end = min(end, self._sent + resend_bytes)
                    await current.push_bytes(bytes(self._audio[self._sent:end]))
                    self._sent = end
                else:
                    await current.end_audio()
                    self._end_sent = True
                    self._resending = False
            except ServerError as e:
                if e.code not in REOPEN_CODES:
                    raise
                await self._reopen_locked()
            except ConnectionLost:
                await self._reopen_locked()
        self._resending = False

    async def batches(self, timeout_s: float = 10.0) -> AsyncIterator[MotionBatch | RenderBatch]:
        """Batches until `end`, seq and pts_ms continuous across re-opens. A stream silent for `timeout_s` counts
        as lost (ZeroMQ has no close event: keep it a little above hello_ok.heartbeat_ms)."""
        while True:
            current = self.session
            try:
                async for batch in current.batches(timeout_s):
                    if current is not self.session:
                        break  # re-opened meanwhile (a push noticed first): the new session resends from the seam
                    if self._seq_offset:
                        batch = dataclasses.replace(batch, seq=batch.seq + self._seq_offset,
                                                    pts_ms=batch.pts_ms + self._seq_offset * 1000.0 / self.fps)
                    if isinstance(batch, MotionBatch):
                        self.frames_received = batch.seq + len(batch.frames)
                    yield batch
                if current is not self.session:
                    continue
                end = current.end or {}
                if end.get("reason") not in ("shutdown", "error"):
                    self.end = end
                    return
                # The replica stopped under the session (scale-down past its drain time, a backend failure).
                raise ConnectionLost(f"the session ended: {end.get('reason')}")
            except ConnectionLost:
                if current is self.session:
                    await self._reopen(current)
            except ServerError as e:  # an asynchronous session error: the server ended the session (SPEC §5.5)
                if e.code != "internal" or e.reply.get("id") is not None:
                    raise
                if current is self.session:
                    await self._reopen(current)

    async def _reopen(self, failed: AsyncSession) -> None:
        """Replace `failed` by a new session and catch it up, once however many tasks noticed the loss."""
        async with self._lock:
            if self.session is failed:
                await self._reopen_locked()
                await self._send_pending()

    async def _reopen_locked(self) -> None:
        started = time.monotonic()
        deadline = started + self.reopen_timeout_s
        while True:
            try:
                await self.client.reconnect()
                self.session = await self.client.open(**self.open_options)
                break
            except (ConnectionLost, ServerError) as e:
                if time.monotonic() + RETRY_PERIOD_S > deadline:
                    raise ReopenFailed(f"no server re-opened the session within {self.reopen_timeout_s:g} s: "
                                       f"{e}") from None
                await asyncio.sleep(RETRY_PERIOD_S)
        self.reopens.append(time.monotonic() - started)
        # The new session's frame 0 is the first frame not received: its audio starts at that frame's time, and
        # _send_pending sends it from there.
        self._seq_offset = self.frames_received
        self._sent = round(self.frames_received * self.sample_rate_hz / self.fps) * self._sample_bytes
        self._end_sent = False
        self._resending = True
