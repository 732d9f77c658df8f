"""Live Link forwarding by the sidecar (protocol 1.3, `serve --livelink HOST:PORT`, `open.livelink`): a session that
asks for it sends every frame to the server's Live Link target as Live Link Face UDP packets, paced at 60 fps;
sessions that do not ask send nothing; bad options get coded errors with the request's id."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import zmq

from vasa_bridge import protocol as m
from vasa_bridge.interop.live_link_face import CSV_VALUE_NAMES, resample, to_values
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.transport.runner import BackgroundServer

from sidecar_helpers import connect
from test_live_link_udp import Receiver, decode

pytestmark = pytest.mark.timeout(120)
SUBJECT = "MetaHuman_Ava"


@pytest.fixture(scope="module")
def spoken_line() -> tuple[np.ndarray, int]:
    from vasa_bridge.phones.espeak import synthesize

    speech = synthesize("Maybe Bob bought a map of the bumpy path.", voice="en-us")
    return np.asarray(speech.audio, np.float32), int(speech.sample_rate_hz)


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def server(receiver):
    config = ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=0, livelink_target=("127.0.0.1", receiver.port))
    with BackgroundServer(config) as s:
        yield s


def stream_line(session, audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Push the line in 100 ms chunks, end it, return the motion frames the client received, (n, 60)."""
    chunk = sample_rate_hz // 10
    for start in range(0, len(audio), chunk):
        session.push(audio[start:start + chunk])
    session.end_audio()
    return np.concatenate([b.frames for b in session.batches()])


def wait_for_packets(receiver: Receiver, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(receiver.packets) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # anything beyond `count` would arrive now


@pytest.mark.parametrize("binding", ("zmq", "ws"))
def test_session_forwards_every_frame_of_a_spoken_line_to_live_link_in_order(server, receiver, spoken_line,
                                                                             binding):
    audio, rate = spoken_line
    receiver.packets.clear()
    receiver.arrivals_s.clear()
    with connect(server, binding) as client:
        assert client.hello["livelink"] is True
        session = client.open(sample_rate_hz=rate, livelink={"subject": SUBJECT})
        assert session.info["livelink"] == {"subject": SUBJECT, "fps": 60.0}
        assert m.check_message(session.info) is None
        frames = stream_line(session, audio, rate)
        session.close()  # right after the end: the line still goes out to its end, in real time
    expected = to_values(resample(MotionClip(frames), 60).frames)           # (N, 61) in CSV order
    assert len(expected) == math.ceil(len(frames) * 60 / 25) > 60
    wait_for_packets(receiver, len(expected), timeout_s=len(frames) / 25 + 5)
    packets = [decode(p) for p in receiver.packets]
    assert len(packets) == len(expected)
    numbers = [p["frame"] for p in packets]
    assert numbers == list(range(numbers[0], numbers[0] + len(packets)))   # every 60-fps frame, once, in order
    assert {p["subject"] for p in packets} == {SUBJECT} and len({p["device"] for p in packets}) == 1
    assert {p["version"] for p in packets} == {6} and {p["rate"] for p in packets} == {(60, 1)}
    got = np.array([[p["values"][name] for name in CSV_VALUE_NAMES] for p in packets])
    np.testing.assert_allclose(got, expected, atol=2e-6)                  # the motion the client received
    assert got[:, CSV_VALUE_NAMES.index("JawOpen")].max() > 0.2           # a spoken line, not a still face
    span_s = receiver.arrivals_s[-1] - receiver.arrivals_s[0]
    assert span_s >= 0.9 * (len(packets) - 1) / 60, span_s                # paced in real time, not in bursts


def test_session_without_the_option_sends_nothing(server, receiver, spoken_line):
    audio, rate = spoken_line
    receiver.packets.clear()
    with connect(server, "ws") as client:
        session = client.open(sample_rate_hz=rate)
        assert "livelink" not in session.info
        frames = stream_line(session, audio[:rate], rate)
    assert len(frames) == 25
    time.sleep(0.5)  # past the pacer's 100 ms buffer
    assert receiver.packets == []


def test_a_session_closed_mid_line_stops_sending(server, receiver, spoken_line):
    audio, rate = spoken_line
    receiver.packets.clear()
    with connect(server, "zmq") as client:
        session = client.open(sample_rate_hz=rate, livelink={"subject": SUBJECT})
        session.push(audio)              # the whole line at once: ~3 s of packets queued
        next(session.batches())
        session.close()
    time.sleep(0.5)
    sent = len(receiver.packets)
    time.sleep(0.5)
    assert len(receiver.packets) == sent < 60  # stopped, short of the line's ~170 packets


class RawClient:
    """A ZeroMQ DEALER speaking the protocol directly, so requests carry ids the test chooses."""

    def __init__(self, server: BackgroundServer) -> None:
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 5000)
        self.sock.connect(server.endpoints.zmq_url)
        assert self.call({"type": "hello", "id": 1, "protocol": m.protocol_version()})["type"] == "hello_ok"

    def call(self, msg: dict) -> dict:
        self.sock.send_multipart(m.to_zmq_frames(msg))
        return m.decode(self.sock.recv(), 1 << 20)

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("livelink, detail", [
    ({"subject": ""}, "1..255 UTF-8 bytes"),
    ({"subject": "x" * 256}, "1..255 UTF-8 bytes"),
    ({"subject": 7}, "'subject' must be str"),
    ({}, "missing field 'subject'"),
    ("MetaHuman_Ava", "'livelink' must be map"),
])
def test_bad_livelink_options_get_bad_request_with_the_request_id(server, livelink, detail):
    client = RawClient(server)
    try:
        reply = client.call({"type": "open", "id": 4242, "audio": {"format": "f32", "sample_rate_hz": 16000},
                             "livelink": livelink})
        status = client.call({"type": "status", "id": 7})
    finally:
        client.close()
    assert (reply["type"], reply["code"], reply["id"]) == ("error", "bad_request", 4242)
    assert detail in reply["message"]
    assert status["sessions"] == 0


def test_a_server_without_livelink_refuses_the_option_and_says_how_to_enable_it(receiver):
    with BackgroundServer(ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=None)) as plain:
        client = RawClient(plain)
        try:
            hello = client.call({"type": "hello", "id": 2, "protocol": m.protocol_version()})
            reply = client.call({"type": "open", "id": 99, "audio": {"format": "f32", "sample_rate_hz": 16000},
                                 "livelink": {"subject": SUBJECT}})
        finally:
            client.close()
    assert "livelink" not in hello
    assert (reply["code"], reply["id"]) == ("unsupported_output", 99)
    assert "--livelink HOST:PORT" in reply["message"]


def test_serve_refuses_a_bad_livelink_target_at_start(capsys):
    from vasa_bridge.cli import main

    assert main(["serve", "--backend", "amplitude", "--livelink", "unreal-pc:eleven"]) != 0
    assert "--livelink: expected HOST:PORT" in capsys.readouterr().err
