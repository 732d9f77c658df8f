"""One misbehaving client never hurts the others (SPEC §1, §3, §10): fairness under a flood, an id on every reply,
no silent audio loss, admission control. Timing tests run the server in its own process and the flooder in
another, so the measuring clients here share a GIL with neither."""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import contextmanager

import msgpack
import numpy as np
import pytest
import zmq

from vasa_bridge import protocol as m
from vasa_bridge.client import AsyncClient, ServerError
from vasa_bridge.runtime.backend import AmplitudeBackend
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.bench.loadtest import flooding
from vasa_bridge.transport.runner import BackgroundServer

from sidecar_helpers import sidecar_process

pytestmark = pytest.mark.timeout(60)
BINDINGS = ("zmq", "ws")
CHUNK_S = 0.04          # one 25 fps frame of audio per chunk
FRAME_DEADLINE_S = 0.25
STATUS_DEADLINE_S = 0.5

@contextmanager
def sidecar(backend=None, **overrides):
    config = ServerConfig(**{"zmq_port": 0, "zmq_stream_port": 0, "ws_port": 0, **overrides})
    with BackgroundServer(config, backend=backend) as server:
        yield server


def url_of(server, binding: str) -> tuple[str, dict]:
    e = server.endpoints
    return (e.zmq_url, {"stream_url": e.zmq_stream_url}) if binding == "zmq" else (e.ws_url, {})


@contextmanager
def flooder(server, binding: str, seconds: float):
    """The loadtest's flooder in its own process: hello, then `status` as fast as the socket takes it (ZeroMQ:
    replies never read, like the report's DEALER; WebSocket: read, so it is not dropped as a slow reader)."""
    with flooding(binding, url_of(server, binding)[0], seconds) as proc:
        yield proc


async def real_time_session(url: str, kwargs: dict, seconds: float) -> tuple[int, int, float]:
    """Stream `seconds` of audio in real time (one 40 ms chunk per frame); (chunks sent, frames received, worst
    time from sending a chunk to receiving its frame, s)."""
    chunk = (0.3 * np.sin(np.arange(int(16000 * CHUNK_S)) / 7.0)).astype(np.float32)
    n = int(round(seconds / CHUNK_S))
    sent_at: list[float] = []
    async with await AsyncClient.connect(url, **kwargs) as client:
        session = await client.open(sample_rate_hz=16000)
        worst, frames = 0.0, 0

        async def receive() -> None:
            nonlocal worst, frames
            async for batch in session.batches(timeout_s=5.0):
                for k in range(batch.seq, batch.seq + len(batch.frames)):
                    if k < len(sent_at):
                        worst = max(worst, batch.received_s - sent_at[k])
                frames += len(batch.frames)

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        for i in range(n):
            sent_at.append(time.perf_counter())
            await session.push(chunk)
            await asyncio.sleep(max(0.0, start + (i + 1) * CHUNK_S - time.perf_counter()))
        await session.end_audio()
        await asyncio.wait_for(receiver, 10.0)
    return n, frames, worst


async def status_poller(url: str, kwargs: dict, seconds: float) -> list[float]:
    """Round-trip times of `status`, one every 100 ms for `seconds`."""
    times = []
    async with await AsyncClient.connect(url, **kwargs) as client:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            await client.status()
            times.append(time.perf_counter() - t0)
            await asyncio.sleep(0.1)
    return times


async def measure(server, binding: str, seconds: float):
    url, kwargs = url_of(server, binding)
    return await asyncio.gather(real_time_session(url, kwargs, seconds), real_time_session(url, kwargs, seconds),
                                status_poller(url, kwargs, seconds))


# ---- fairness -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("binding", BINDINGS)
def test_a_flooding_client_delays_only_itself(binding):
    # flood_refusals out of reach: the flooder stays connected all along, so this measures the round-robin
    # queues alone, not the disconnection.
    with sidecar_process(flood_refusals=10**9) as server:
        asyncio.run(measure(server, binding, seconds=0.4))  # warm up: one-time costs of a first session
        with flooder(server, binding, seconds=6.0) as flood:
            sessions_a, sessions_b, status_rtts = asyncio.run(measure(server, binding, seconds=3.0))
    sent_by_flooder = int(flood.stdout.read().strip() or 0)
    assert sent_by_flooder > 5000, "the flooder did not flood"
    for chunks, frames, worst in (sessions_a, sessions_b):
        assert frames == chunks, f"{chunks - frames} frames missing"
        assert worst < FRAME_DEADLINE_S, f"a frame came {worst * 1000:.0f} ms after its audio"
    assert max(status_rtts) < STATUS_DEADLINE_S, f"status took {max(status_rtts) * 1000:.0f} ms"


def test_a_persistent_zmq_flooder_is_refused_then_ignored_and_its_sessions_end():
    with sidecar(request_rate_per_s=100.0, request_burst=10, flood_refusals=50, flood_ban_s=30.0) as server:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(server.endpoints.zmq_url)
        sock.send(m.encode({"type": "hello", "id": 1, "protocol": m.protocol_version()}))
        assert m.decode(sock.recv(), 1 << 20)["type"] == "hello_ok"
        for i in range(200):
            sock.send(m.encode({"type": "status", "id": 100 + i}))
        replies = []
        while sock.poll(1000):
            replies.append(m.decode(sock.recv(), 1 << 20))
        refused = [r for r in replies if r["type"] == "error"]
        assert refused and all(r["code"] == "rate_limited" and r["retry_after_ms"] > 0 for r in refused)
        assert all(r["id"] >= 100 for r in refused)                  # each refusal names its request
        assert len(replies) < 200                                     # past the limit: ignored, not answered
        assert server.call(lambda core: len(core.clients)) == 0      # forgotten: its next hello starts afresh
        sock.close(0)
        ctx.term()


def test_a_persistent_ws_flooder_is_closed_with_1008():
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    with sidecar(request_rate_per_s=100.0, request_burst=10, flood_refusals=50) as server, \
            ws_connect(server.endpoints.ws_url) as ws:
        ws.send(m.encode({"type": "hello", "id": 1, "protocol": m.protocol_version()}))
        with pytest.raises(ConnectionClosed) as e:
            for i in range(2000):
                ws.send(m.encode({"type": "status", "id": 100 + i}))
            while True:
                ws.recv(timeout=5)
        assert e.value.rcvd is not None and e.value.rcvd.code == 1008 and "flooding" in e.value.rcvd.reason


# ---- an id on every reply -------------------------------------------------------------------------------------
def test_oversize_zmq_requests_are_answered_with_their_id_and_the_connection_is_kept():
    with sidecar(max_message_bytes=4096) as server:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(server.endpoints.zmq_url)

        def ask(*frames: bytes) -> dict:
            sock.send_multipart(list(frames))
            assert sock.poll(5000), "no reply"
            return m.decode(sock.recv(), 1 << 20)

        assert ask(m.encode({"type": "hello", "id": 1, "protocol": m.protocol_version()}))["type"] == "hello_ok"
        header = m.encode({"type": "audio", "id": 77, "session": "0123456789abcdef"})
        for size in (8000, 10 * 4096, 1 << 20):                     # 2x, 10x (over the old 4x cut), 256x
            reply = ask(header, b"\x00" * size)
            assert (reply["type"], reply["code"], reply["id"]) == ("error", "too_large", 77), reply
        big_map = m.encode({"type": "status", "id": 78, "pad": b"\x00" * 10_000})   # the map itself too large
        assert (ask(big_map)["code"], ask(big_map)["id"]) == ("too_large", 78)
        # Same connection, same client: hello still holds (no hello_required), so nothing was cut.
        assert ask(m.encode({"type": "status", "id": 79}))["type"] == "status_ok"
        sock.close(0)
        ctx.term()


def test_oversize_and_undecodable_ws_requests_are_answered_with_their_id():
    from websockets.sync.client import connect as ws_connect

    with sidecar(max_message_bytes=4096) as server, ws_connect(server.endpoints.ws_url) as ws:
        def ask(data: bytes) -> dict:
            ws.send(data)
            return msgpack.unpackb(ws.recv(timeout=5))

        assert ask(m.encode({"type": "hello", "id": 1, "protocol": m.protocol_version()}))["type"] == "hello_ok"
        oversize = m.encode({"type": "audio", "audio": b"\x00" * 10_000, "session": "0123456789abcdef", "id": 91})
        reply = ask(oversize)                                   # the id comes after a 10 kB payload: still found
        assert (reply["code"], reply["id"]) == ("too_large", 91)
        truncated = m.encode({"type": "status", "id": 92, "pad": "x" * 100})[:-20]
        reply = ask(truncated)
        assert (reply["code"], reply["id"]) == ("bad_message", 92)
        assert ask(b"\xc1garbage")["id"] is None                # no id to be found: nil, as SPEC §3 says
        assert ask(m.encode({"type": "status", "id": 93}))["id"] == 93


# ---- no silent audio loss -------------------------------------------------------------------------------------
@pytest.mark.parametrize("binding", BINDINGS)
def test_48_concurrent_amplitude_sessions_lose_no_audio(binding):
    # A low audio rate and a small per-session buffer make the server refuse chunks (rate_limited / busy); the
    # client must resend each one, so every session's audio clock ends exactly at what was sent.
    n_sessions, chunks, chunk_samples = 48, 25, 640
    sent_ms = chunks * chunk_samples / 16.0

    async def run(server) -> list[tuple[dict, dict, int]]:
        url, kwargs = url_of(server, binding)
        async with await AsyncClient.connect(url, timeout_s=20.0, **kwargs) as client:
            async def one(seed: int) -> tuple[dict, dict, int]:
                session = await client.open(sample_rate_hz=16000)
                rng = np.random.default_rng(seed)
                for _ in range(chunks):
                    await session.push((0.2 * rng.standard_normal(chunk_samples)).astype(np.float32))
                ended = await session.end_audio()
                async for _ in session.batches(timeout_s=20.0):
                    pass
                return ended, session.end, session.audio_retries
            return await asyncio.gather(*(one(i) for i in range(n_sessions)))

    with sidecar(audio_rate_x=8.0, audio_burst_s=1.0, max_buffered_audio_s=0.05) as server:
        results = asyncio.run(run(server))
    assert sum(retries for _, _, retries in results) > 0, "no chunk was refused: the test did not exercise retry"
    for ended, end, _ in results:
        assert ended["received_ms"] == sent_ms
        assert end["reason"] == "end_of_audio" and end["frames_total"] == math.ceil(sent_ms * 25 / 1000)


def test_hello_ok_limits_list_every_limit_that_can_refuse_audio():
    with sidecar() as server:
        async def hello() -> dict:
            async with await AsyncClient.connect(server.endpoints.ws_url) as client:
                return client.hello
        limits = asyncio.run(hello())["limits"]
    for name in ("max_message_bytes", "audio_rate_x", "audio_burst_s", "max_buffered_audio_s",
                 "max_queued_requests", "max_queued_bytes", "request_rate_per_s", "request_burst"):
        assert name in limits, name


# ---- admission control ----------------------------------------------------------------------------------------
class _MeteredStream:
    """A MotionStream that counts the audio pushed into it since the last step."""

    def __init__(self, inner) -> None:
        self.inner, self.lookahead_ms, self.pending_s = inner, inner.lookahead_ms, 0.0

    def push(self, samples_16k: np.ndarray) -> None:
        self.pending_s += len(samples_16k) / 16000
        self.inner.push(samples_16k)

    def flush(self) -> None:
        self.inner.flush()

    def set_controls(self, controls) -> None:
        self.inner.set_controls(controls)


class SlowBackend:
    """The amplitude baseline, but each stream costs 0.3 s of worker time per second of audio: at most two such
    sessions fit in real time under max_load 0.8 (three would need 0.9)."""

    COST = 0.3

    def __init__(self) -> None:
        self.inner = AmplitudeBackend()
        self.name, self.fps, self.latent_dim = "slow-amplitude", self.inner.fps, 0
        self.lookahead_ms = self.inner.lookahead_ms

    def new_stream(self, controls, seed: int) -> _MeteredStream:
        return _MeteredStream(self.inner.new_stream(controls, seed))

    def step(self, streams):
        time.sleep(self.COST * sum(s.pending_s for s in streams))
        for s in streams:
            s.pending_s = 0.0
        out = self.inner.step([s.inner for s in streams])
        return {s: out[s.inner] for s in streams}


def test_open_is_refused_overloaded_when_one_more_session_would_make_the_others_late():
    async def run(server) -> None:
        async with await AsyncClient.connect(server.endpoints.ws_url) as client:
            sessions = [await client.open(sample_rate_hz=16000) for _ in range(2)]
            for session in sessions:           # enough audio through the worker for it to measure its cost
                for _ in range(4):
                    await session.push(np.zeros(8000, np.float32))
            await asyncio.sleep(2.0)           # 4 s of audio at 0.3 s each: 1.2 s of worker time
            with pytest.raises(ServerError) as e:
                await client.open(sample_rate_hz=16000)
            assert e.value.code == "overloaded" and e.value.reply["retry_after_ms"] > 0
            await sessions[0].close()          # one session fewer: room again
            await client.open(sample_rate_hz=16000)

    with sidecar(backend=SlowBackend()) as server:
        asyncio.run(run(server))


# ---- the gate's arithmetic ------------------------------------------------------------------------------------
def test_request_gate_refuses_beyond_the_burst_then_refills_at_the_rate(monkeypatch):
    from vasa_bridge.transport import fairness

    now = [100.0]
    monkeypatch.setattr(fairness.time, "monotonic", lambda: now[0])
    gate = fairness.RequestGate(ServerConfig(request_rate_per_s=10.0, request_burst=3, max_queued_requests=100))
    queue = gate.new_queue()
    assert [gate.check(queue, 10, i) for i in range(3)] == [None, None, None]
    refusal = gate.check(queue, 10, 7)
    assert refusal.code == "rate_limited" and refusal.request_id == 7
    assert refusal.retry_after_ms == pytest.approx(100.0)          # one token at 10/s
    now[0] += 0.1
    assert gate.check(queue, 10, 8) is None                          # refilled


def test_request_gate_bounds_the_queue_by_count_and_bytes():
    from vasa_bridge.transport.fairness import RequestGate

    gate = RequestGate(ServerConfig(max_queued_requests=2, max_queued_bytes=1000))
    queue = gate.new_queue()
    for _ in range(2):
        assert gate.check(queue, 10, 1) is None
        queue.push(lambda: None, 10)
    assert gate.check(queue, 10, 1).code == "busy"                    # two queued: full
    queue.pop()
    assert gate.check(queue, 991, 1).code == "busy"                   # 10 + 991 bytes > 1000
    assert gate.check(queue, 990, 1) is None


def test_flooding_is_counted_within_the_window_only(monkeypatch):
    from vasa_bridge.transport import fairness

    now = [0.0]
    monkeypatch.setattr(fairness.time, "monotonic", lambda: now[0])
    gate = fairness.RequestGate(ServerConfig(flood_refusals=3, flood_window_s=1.0))
    queue = gate.new_queue()
    assert not gate.note_refusal(queue) and not gate.note_refusal(queue)
    now[0] = 5.0                                                      # the old refusals left the window
    assert not gate.note_refusal(queue) and not gate.note_refusal(queue)
    assert gate.note_refusal(queue)                                   # three within one second
