"""The sidecar over both bindings: sessions, frames, controls, coded errors, limits, reaping, security."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import msgpack
import numpy as np
import pytest

from vasa_bridge.audio.synthetic import syllable_bursts
from vasa_bridge.baselines import amplitude_baseline
from vasa_bridge.client import Client, ConnectionLost, ServerError
from vasa_bridge.motion import layout
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.transport.errors import SidecarConfigError
from vasa_bridge.transport.runner import BackgroundServer

from sidecar_helpers import connect, free_ports

pytestmark = pytest.mark.timeout(60)
BINDINGS = ("zmq", "ws")
REPO = Path(__file__).resolve().parents[1]


@contextmanager
def sidecar(**overrides):
    config = ServerConfig(**{"zmq_port": 0, "zmq_stream_port": 0, "ws_port": 0, **overrides})
    with BackgroundServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def server():
    with sidecar() as s:
        yield s


def error_code(fn) -> str:
    with pytest.raises(ServerError) as e:
        fn()
    return e.value.code


@pytest.mark.parametrize("binding", BINDINGS)
def test_hello_reports_version_capabilities_and_synthetic(server, binding):
    with connect(server, binding) as client:
        hello = client.hello
    assert hello["protocol"] == (REPO / "protocol" / "VERSION").read_text().strip()
    assert hello["synthetic"] is True and hello["fps"] == layout.FPS
    assert hello["outputs"] == ["motion", "visemes"] and hello["instance"] == server.endpoints.instance
    assert hello["limits"]["max_sessions"] == 128


@pytest.mark.parametrize("binding", BINDINGS)
def test_streamed_frames_equal_the_offline_baseline_with_contiguous_seq_and_pts(server, binding):
    audio = syllable_bursts(2.0)
    with connect(server, binding) as client:
        session = client.open(sample_rate_hz=16000, audio_format="f32")
        assert tuple(session.channel_names) == layout.CHANNEL_NAMES and session.info["synthetic"] is True
        for start, size in zip(range(0, len(audio), 777), [777] * len(audio)):  # odd chunk sizes
            session.push(audio[start:start + size])
        session.end_audio()
        batches = list(session.batches())
        end = session.end
    seqs = np.concatenate([np.arange(b.seq, b.seq + len(b.frames)) for b in batches])
    assert np.array_equal(seqs, np.arange(50))                      # 2 s at 25 fps, none lost or repeated
    assert all(b.pts_ms == b.seq * 40.0 for b in batches)
    assert end["reason"] == "end_of_audio" and end["frames_total"] == 50 and end["duration_ms"] == 2000.0
    frames = np.concatenate([b.frames for b in batches])
    np.testing.assert_allclose(frames, amplitude_baseline(audio).frames, atol=1e-6)
    jaw = frames[:, layout.channel("jawOpen")]
    assert jaw.max() > 0.3 and jaw.min() < 0.05                      # the mouth follows the bursts


@pytest.mark.parametrize("binding", BINDINGS)
def test_visemes_output_carries_the_oculus_visemes_of_each_frame(server, binding):
    from vasa_bridge.interop.presets import VISEME_PRESET, get_preset
    from vasa_bridge.protocol.vectors import VISEME_NAMES

    preset = get_preset(VISEME_PRESET)
    audio = syllable_bursts(1.2)
    with connect(server, binding) as client:
        session = client.open(sample_rate_hz=16000, outputs=["motion", "visemes"])
        assert session.info["viseme_names"] == list(preset.targets) == list(VISEME_NAMES)
        plain = client.open(sample_rate_hz=16000)
        assert "viseme_names" not in plain.info
        for s in (session, plain):
            s.push(audio)
            s.end_audio()
        batches = list(session.batches())
        plain_batches = list(plain.batches())
    frames = np.concatenate([b.frames for b in batches])
    visemes = np.concatenate([b.visemes for b in batches])                # (30, 15)
    assert visemes.shape == (30, 15) and visemes.dtype == np.float32
    np.testing.assert_allclose(visemes, preset.apply(frames[:, :layout.N_BLENDSHAPES]), atol=1e-6)
    np.testing.assert_array_equal(frames, np.concatenate([b.frames for b in plain_batches]))  # frames unchanged
    assert all(b.visemes is None for b in plain_batches)
    jaw = frames[:, layout.channel("jawOpen")]
    aa, sil = visemes[:, VISEME_NAMES.index("aa")], visemes[:, VISEME_NAMES.index("sil")]
    assert aa[jaw.argmax()] > 0.3 and sil[jaw.argmin()] > sil[jaw.argmax()]  # open mouth reads as aa


@pytest.mark.parametrize("binding", BINDINGS)
def test_pcm16_at_44k1_is_resampled_and_yields_ceil_duration_frames(server, binding):
    rate = 44100
    audio = syllable_bursts(1.33, rate)                                  # 1330 ms -> ceil(33.25) = 34 frames
    pcm = np.round(audio * 32767).astype("<i2")
    with connect(server, binding) as client:
        session = client.open(sample_rate_hz=rate, audio_format="pcm16", frames_dtype="f16")
        for start in range(0, len(pcm), 4410):
            assert session.push(pcm[start:start + 4410])["received_ms"] == pytest.approx(
                min(start + 4410, len(pcm)) / rate * 1000)
        session.end_audio()
        clip = session.collect()
    assert len(clip) == 34 and session.end["frames_total"] == 34
    assert clip["jawOpen"].max() > 0.3
    assert np.all(clip["headZ"] == np.float16(0.6).astype(np.float32))  # f16 on the wire


@pytest.mark.parametrize("binding", BINDINGS)
def test_controls_mid_stream_apply_from_effective_seq(server, binding):
    audio = syllable_bursts(2.0)
    with connect(server, binding) as client:
        session = client.open(sample_rate_hz=16000, controls={"head_distance_m": 0.5})
        session.push(audio[:16000])
        first = []
        while len(first) < 25:                                          # the first second's frames are out
            msg = session.next_message()
            if msg["type"] == "motion":
                first.extend(np.frombuffer(msg["frames"], "<f4").reshape(msg["n"], 60))
        reply = session.set_controls(head_distance_m=1.2, emotion="happy")
        assert reply["controls"]["head_distance_m"] == 1.2 and reply["controls"]["emotion"] == "happy"
        assert reply["controls"]["gaze_yaw_rad"] is None                 # untouched keys keep their values
        session.push(audio[16000:])
        session.end_audio()
        rest = session.collect()
    frames = np.concatenate([np.array(first), rest.frames])
    head_z = frames[:, layout.channel("headZ")]
    assert reply["effective_seq"] == 25 and len(frames) == 50
    assert np.all(head_z[:25] == np.float32(0.5)) and np.all(head_z[25:] == np.float32(1.2))


@pytest.mark.parametrize("binding", BINDINGS)
def test_bad_requests_get_coded_errors_and_the_session_survives(server, binding):
    with connect(server, binding) as client:
        session = client.open(sample_rate_hz=16000, audio_format="pcm16")
        assert error_code(lambda: client.open(sample_rate_hz=4000)) == "unsupported_audio"
        assert error_code(lambda: client.request({"type": "open", "fps": 30.0,
                                                  "audio": {"format": "f32", "sample_rate_hz": 16000}})
                          ) == "unsupported_audio"
        assert error_code(lambda: client.open(outputs=["motion", "frames_jpeg"])) == "unsupported_output"
        assert error_code(lambda: client.open(outputs=["motion", "latent"])) == "unsupported_output"
        assert error_code(lambda: client.open(outputs=["motion", "hologram"])) == "unsupported_output"
        assert error_code(lambda: client.open(audio_format="mp3")) == "unsupported_audio"
        assert error_code(lambda: client.open(controls={"emotion": "smug"})) == "invalid_controls"
        assert error_code(lambda: session.set_controls(head_distance_m=9.0)) == "invalid_controls"
        assert error_code(lambda: session.push_bytes(b"\x00\x01\x02")) == "bad_request"   # odd pcm16 length
        assert error_code(lambda: client.request({"type": "close", "session": "0123456789abcdef"})
                          ) == "unknown_session"
        assert error_code(lambda: client.request({"type": "fly"})) == "unknown_type"
        assert error_code(lambda: client.request({"type": "hello", "protocol": "2.0"})) == "version_mismatch"
        session.push(np.zeros(1600, np.int16))
        session.end_audio()
        assert error_code(lambda: session.push(np.zeros(160, np.int16))) == "audio_ended"
        clip = session.collect()
        assert len(clip) == 3                                            # 100 ms -> ceil(2.5) frames
        assert client.status()["sessions"] >= 1


def test_real_server_messages_have_the_golden_vectors_fields_in_order(server):
    """What the server sends is what the vectors (and the C#/GDScript clients tested on them) show."""
    import json

    from websockets.sync.client import connect as ws_connect

    from vasa_bridge import protocol as m

    vectors = {p.stem: json.loads(p.read_text()) for p in (REPO / "protocol" / "vectors").glob("*.json")}
    seen: dict[str, dict] = {}
    with ws_connect(server.endpoints.ws_url, max_size=None) as ws:
        def call(msg: dict) -> dict:
            ws.send(msgpack.packb(msg, use_bin_type=True))
            while True:
                reply = msgpack.unpackb(ws.recv(timeout=5))
                seen.setdefault(reply["type"], reply)
                if "id" in reply and reply["id"] == msg["id"]:
                    return reply
        call(vectors["hello"] | {"token": "ignored when the server has none"})
        sid = call(vectors["open"])["session"]
        call(m.from_json_obj(vectors["audio"]) | {"session": sid, "audio": np.zeros(16000, "<i2").tobytes()})
        call(vectors["controls"] | {"session": sid})
        call(vectors["end_audio"] | {"session": sid})
        call(vectors["status"])
        time.sleep(0.3)
        call(vectors["close"] | {"session": sid})
        call({"type": "close", "id": 99, "session": sid})  # closed by now: an error
    for mtype in ("hello_ok", "open_ok", "audio_ok", "controls_ok", "end_audio_ok", "status_ok", "close_ok",
                  "motion", "end", "error"):
        assert mtype in seen, mtype
        assert m.check_message(seen[mtype]) is None
        assert list(seen[mtype]) == list(vectors[mtype]), mtype


def test_f32_audio_with_nan_is_refused(server):
    with connect(server, "zmq") as client:
        session = client.open(sample_rate_hz=16000, audio_format="f32")
        assert error_code(lambda: session.push(np.array([0.0, np.nan], np.float32))) == "bad_request"


@pytest.mark.parametrize("binding", BINDINGS)
def test_requests_before_hello_are_refused(server, binding):
    e = server.endpoints
    if binding == "zmq":
        import zmq

        ctx = zmq.Context()
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(e.zmq_url)
        dealer.send(msgpack.packb({"type": "status", "id": 7}))
        assert dealer.poll(5000)
        reply = msgpack.unpackb(dealer.recv())
        dealer.close(0)
        ctx.term()
    else:
        from websockets.sync.client import connect as ws_connect

        with ws_connect(e.ws_url) as ws:
            ws.send(msgpack.packb({"type": "status", "id": 7}))
            reply = msgpack.unpackb(ws.recv(timeout=5))
    assert reply == {"type": "error", "id": 7, "code": "hello_required", "message": reply["message"]}


def test_req_sockets_get_replies_with_the_delimiter_mirrored(server):
    import zmq

    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    try:
        req.connect(server.endpoints.zmq_url)
        for msg, reply_type in (({"type": "hello", "id": 1, "protocol": "1.0"}, "hello_ok"),
                                ({"type": "status", "id": 2}, "status_ok")):
            req.send(msgpack.packb(msg))
            assert req.poll(5000)
            assert msgpack.unpackb(req.recv())["type"] == reply_type
    finally:
        req.close(0)
        ctx.term()


def test_oversized_websocket_message_closes_with_1009():
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    with sidecar(max_message_bytes=1000) as s, ws_connect(s.endpoints.ws_url) as ws:
        ws.send(b"\x00" * 2000)
        assert msgpack.unpackb(ws.recv(timeout=5))["code"] == "too_large"   # up to 4x: an error reply
        ws.send(b"\x00" * 5000)
        with pytest.raises(ConnectionClosed) as e:                          # beyond: the connection closes
            ws.recv(timeout=5)
        assert e.value.rcvd.code == 1009


def test_session_limits_and_too_large_messages():
    with sidecar(max_sessions_per_client=2, max_message_bytes=4096) as s:
        for binding in BINDINGS:
            with connect(s, binding) as client:
                session = client.open()
                client.open()
                assert error_code(lambda: client.open()) == "session_limit"
                assert error_code(lambda: session.push_bytes(b"\x00" * 8000)) == "too_large"
                session.push(np.zeros(160, np.float32))   # still fine afterwards


def test_rate_limit_drops_the_chunk_and_says_when_to_retry():
    with sidecar(audio_rate_x=2.0, audio_burst_s=1.0) as s, connect(s, "zmq") as client:
        session = client.open(sample_rate_hz=16000)
        session.push(np.zeros(12000, np.float32))                        # 0.75 s: within the burst
        with pytest.raises(ServerError) as e:                            # 0.5 s more: over it (raw request)
            client.request({"type": "audio", "session": session.id, "audio": np.zeros(8000, "<f4").tobytes()})
        assert e.value.code == "rate_limited" and e.value.reply["retry_after_ms"] > 0
        assert e.value.reply["id"] is not None and e.value.reply["session"] == session.id
        # push() resends a refused chunk after retry_after_ms: accepted, and the audio clock is whole.
        assert session.push(np.zeros(8000, np.float32))["received_ms"] == 1250.0
        assert session.audio_retries >= 1


@pytest.mark.parametrize("binding", BINDINGS)
def test_idle_session_is_reaped_and_heartbeats_flow_meanwhile(binding):
    with sidecar(idle_timeout_s=0.6, heartbeat_ms=100) as s, connect(s, binding) as client:
        session = client.open()
        types = []
        while True:
            msg = session.next_message(timeout_s=5)
            types.append(msg["type"])
            if msg["type"] == "end":
                break
        assert msg["reason"] == "idle"
        assert types.count("heartbeat") >= 3
        assert s.call(lambda core: len(core.sessions)) == 0
        assert error_code(lambda: session.push(np.zeros(160, np.float32))) == "unknown_session"


@pytest.mark.parametrize("binding", BINDINGS)
def test_end_is_the_last_stream_message_of_a_session(binding):
    with sidecar(heartbeat_ms=50) as s, connect(s, binding) as client:
        session = client.open()
        session.push(syllable_bursts(0.2))
        session.end_audio()
        assert len(session.collect()) == 5 and session.end["reason"] == "end_of_audio"
        with pytest.raises(ConnectionLost):
            session.next_message(timeout_s=0.3)                         # no heartbeats after `end`
        assert session.close()["frames_total"] == 5
        with pytest.raises(ConnectionLost):
            session.next_message(timeout_s=0.2)                         # and no second `end`


def test_status_reports_sessions_and_step_timing(server):
    with connect(server, "zmq") as client:
        sessions = [client.open() for _ in range(3)]
        for s in sessions:
            s.push(syllable_bursts(0.5))
        status = client.status()
        assert status["sessions"] >= 3 and status["instance"] == server.endpoints.instance
        assert status["step_ms_p95"] >= status["step_ms_p50"] > 0 and 0 <= status["load"] < 1


class _RecordingLatentBackend:
    """The amplitude backend behind the MotionBackend interface, plus a 4-wide latent (the first 4 channels) and
    a record of how many streams each step received."""
    name, fps, latent_dim, lookahead_ms = "recording", 25.0, 4, 0.0

    def __init__(self) -> None:
        from vasa_bridge.runtime import AmplitudeBackend

        self.inner = AmplitudeBackend()
        self.batch_sizes: list[int] = []

    def new_stream(self, controls, seed):
        return self.inner.new_stream(controls, seed)

    def step(self, streams):
        from vasa_bridge.runtime import MotionChunk

        self.batch_sizes.append(len(streams))
        return {s: MotionChunk(c.frames, c.frames[:, :4].copy()) for s, c in self.inner.step(streams).items()}


def test_backend_steps_many_sessions_in_one_call_and_latent_reaches_the_wire():
    import asyncio

    from vasa_bridge.client import AsyncClient

    backend = _RecordingLatentBackend()
    config = ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=0)
    audio = syllable_bursts(1.0)

    async def run(endpoints) -> None:
        client = await AsyncClient.connect(endpoints.zmq_url, stream_url=endpoints.zmq_stream_url)
        try:
            assert client.hello["outputs"] == ["motion", "latent", "visemes"]
            assert client.hello["backend"] == "recording"
            sessions = [await client.open(outputs=["motion", "latent"]) for _ in range(8)]
            assert sessions[0].info["latent_dim"] == 4
            for start in range(0, len(audio), 1600):   # 8 sessions' chunks arrive together, as from a game's NPCs
                await asyncio.gather(*(s.push(audio[start:start + 1600]) for s in sessions))
            await asyncio.gather(*(s.end_audio() for s in sessions))
            for session in sessions:
                n = 0
                async for batch in session.batches():
                    np.testing.assert_array_equal(batch.latent, batch.frames[:, :4])
                    n += len(batch.frames)
                assert n == 25
        finally:
            await client.close()

    with BackgroundServer(config, backend=backend) as s:
        asyncio.run(run(s.endpoints))
    assert max(backend.batch_sizes) >= 4      # sessions were batched into shared steps, not one call each


# ---- security ---------------------------------------------------------------------------------------------------
def test_public_interface_is_refused_without_keys_and_token():
    with pytest.raises(SidecarConfigError, match="CURVE.*token"):
        ServerConfig(host="0.0.0.0").check_security()
    ServerConfig(host="0.0.0.0", insecure=True).check_security()
    ServerConfig(host="0.0.0.0", curve_dir="k", token="t").check_security()


def test_bad_server_settings_and_busy_ports_are_clear_errors():
    with pytest.raises(SidecarConfigError, match="max_sessions must be positive"):
        ServerConfig(max_sessions=0)
    with pytest.raises(SidecarConfigError, match="ws_port must be a TCP port"):
        ServerConfig(ws_port=70000)
    with sidecar() as first:
        taken = int(first.endpoints.ws_url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(SidecarConfigError, match="cannot listen for WebSocket"):
            BackgroundServer(ServerConfig(zmq_port=None, ws_port=taken)).start()


def test_ws_refuses_foreign_web_pages_by_default_and_admits_native_and_loopback_clients():
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect as ws_connect

    with sidecar() as s:                                                  # no --allow-origin
        with pytest.raises(InvalidStatus) as e:
            ws_connect(s.endpoints.ws_url, origin="https://evil.example")
        assert e.value.response.status_code == 403
        assert b"origin not allowed: https://evil.example; start the server with --allow-origin" in \
            e.value.response.body
        with Client(s.endpoints.ws_url) as client:                          # native: no Origin header
            assert client.hello["synthetic"] is True
        for origin in ("http://localhost:8060", "http://127.0.0.1:3000", "http://[::1]:8000"):
            with Client(s.endpoints.ws_url, origin=origin) as client:       # the browser demo's pages
                assert client.hello["synthetic"] is True
        with pytest.raises(ConnectionLost, match="403 origin not allowed: http://localhost.evil.example"):
            Client(s.endpoints.ws_url, origin="http://localhost.evil.example")


def test_ws_admits_a_listed_origin():
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect as ws_connect

    with sidecar(allow_origins=("https://game.example",)) as s:
        with pytest.raises(InvalidStatus):
            ws_connect(s.endpoints.ws_url, origin="https://evil.example")
        with Client(s.endpoints.ws_url, origin="https://game.example") as client:
            assert client.hello["synthetic"] is True


def test_ws_without_the_token_is_refused_and_closed_with_a_reason():
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    with sidecar(token="sesame") as s:
        with ws_connect(s.endpoints.ws_url) as ws:
            ws.send(msgpack.packb({"type": "hello", "id": 1, "protocol": "1.0", "token": "wrong"}))
            reply = msgpack.unpackb(ws.recv(timeout=5))
            assert reply["code"] == "unauthorized" and reply["id"] == 1
            with pytest.raises(ConnectionClosed) as e:
                ws.recv(timeout=5)
            assert e.value.rcvd.code == 1008 and e.value.rcvd.reason.startswith("unauthorized")
        assert error_code(lambda: Client(s.endpoints.zmq_url, stream_url=s.endpoints.zmq_stream_url)
                          ) == "unauthorized"                           # ZeroMQ checks the token too
        with connect(s, "ws", token="sesame") as client:
            assert client.open().id


def test_curve_keys_secure_the_zeromq_binding(tmp_path):
    import zmq

    from vasa_bridge.commands import keys

    keys.run(type("Args", (), {"dir": str(tmp_path), "client": None, "force": False})())
    server_public = (tmp_path / "server.key").read_text().split('public-key = "')[1].split('"')[0].encode()
    with sidecar(curve_dir=str(tmp_path), ws_port=None) as s:
        with Client(s.endpoints.zmq_url, stream_url=s.endpoints.zmq_stream_url,
                    curve_server_key=server_public) as client:
            session = client.open()
            session.push(syllable_bursts(0.4))
            session.end_audio()
            assert len(session.collect()) == 10
        # A plain (unencrypted) client gets no answer at all.
        ctx = zmq.Context()
        dealer = ctx.socket(zmq.DEALER)
        try:
            dealer.connect(s.endpoints.zmq_url)
            dealer.send(msgpack.packb({"type": "hello", "id": 1, "protocol": "1.0"}))
            assert dealer.poll(500) == 0
        finally:
            dealer.close(0)
            ctx.term()


# ---- process life ----------------------------------------------------------------------------------------------
def test_serve_drains_on_sigterm_and_exits_cleanly_with_json_logs():
    zmq_port, stream_port, ws_port = free_ports(3)
    code = ("import sys; from vasa_bridge.commands import serve; import argparse; p = argparse.ArgumentParser(); "
            "serve.add_arguments(p); sys.exit(serve.run(p.parse_args(sys.argv[1:])))")
    proc = subprocess.Popen([sys.executable, "-c", code, "--zmq-port", str(zmq_port), "--zmq-stream-port",
                             str(stream_port), "--ws-port", str(ws_port)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client = Client(f"tcp://127.0.0.1:{zmq_port}", stream_url=f"tcp://127.0.0.1:{stream_port}",
                                timeout_s=1.0)
                break
            except ConnectionLost:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not come up"
        with client:
            session = client.open()
            session.push(syllable_bursts(1.0))
            proc.send_signal(signal.SIGTERM)
            batches = list(session.batches(timeout_s=5))
            assert session.end["reason"] == "shutdown"
            assert sum(len(b.frames) for b in batches) == 25              # received audio was drained first
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    logs = [line for line in proc.stderr.read().splitlines() if line.startswith("{")]
    events = [__import__("json").loads(line)["event"] for line in logs]
    assert "ready" in events and "session_open" in events and events[-1] == "stopped"


def test_a_dealer_sending_an_empty_delimiter_gets_it_back_and_a_lone_empty_frame_is_answered(server):
    import zmq

    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    try:
        dealer.connect(server.endpoints.zmq_url)
        dealer.send_multipart([b"", msgpack.packb({"type": "hello", "id": 1, "protocol": "1.2"})])
        assert dealer.poll(5000)
        frames = dealer.recv_multipart()
        assert frames[0] == b"" and msgpack.unpackb(frames[1])["type"] == "hello_ok"   # SPEC §8.3
        dealer.send(b"")
        assert dealer.poll(5000)
        frames = dealer.recv_multipart()
        assert msgpack.unpackb(frames[-1])["code"] == "bad_message"
    finally:
        dealer.close(0)
        ctx.term()


def test_ws_connection_that_never_says_hello_is_closed():
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    with sidecar(hello_timeout_s=0.3) as s, ws_connect(s.endpoints.ws_url) as ws:
        with pytest.raises(ConnectionClosed) as e:
            ws.recv(timeout=5)
        assert e.value.rcvd.code == 1008 and e.value.rcvd.reason.startswith("no hello within")


def test_open_without_motion_output_is_a_bad_request_that_says_why(server):
    with connect(server, "zmq") as client:
        with pytest.raises(ServerError, match="outputs must include \"motion\"") as e:
            client.open(outputs=("latent",))
        assert e.value.code == "bad_request"


def test_a_held_zmq_stream_of_an_ended_session_expires_after_5_s(server):
    import zmq

    ctx = zmq.Context()
    dealer, sub = ctx.socket(zmq.DEALER), ctx.socket(zmq.SUB)
    try:
        dealer.connect(server.endpoints.zmq_url)
        sub.connect(server.endpoints.zmq_stream_url)

        def ask(msg: dict, *payload: bytes) -> dict:
            dealer.send_multipart([msgpack.packb(msg), *payload])
            assert dealer.poll(5000)
            return msgpack.unpackb(dealer.recv())

        ask({"type": "hello", "id": 1, "protocol": "1.2"})
        opened = [ask({"type": "open", "id": 2 + i, "audio": {"format": "f32", "sample_rate_hz": 16000}})["session"]
                  for i in range(2)]
        for session in opened:                              # ended before anyone subscribed: held (SPEC §8.4)
            ask({"type": "close", "id": 9, "session": session})
        sub.setsockopt(zmq.SUBSCRIBE, opened[0].encode())   # within 5 s: the held `end` arrives
        assert sub.poll(3000) and msgpack.unpackb(sub.recv_multipart()[1])["type"] == "end"
        time.sleep(5.8)
        sub.setsockopt(zmq.SUBSCRIBE, opened[1].encode())   # after 5 s: discarded
        assert not sub.poll(700)
    finally:
        dealer.close(0)
        sub.close(0)
        ctx.term()
