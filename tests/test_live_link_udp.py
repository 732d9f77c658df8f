"""Live Link Face UDP packets, decoded by a reader written here from the format (not from our encoder).

The format (Unreal's AppleARKitLiveLinkSource, packet version 6, network byte order): uint8 version; device id
and subject name as int32 length + UTF-8 bytes; frame time as int32 frame, float32 sub-frame, int32 rate
numerator, int32 rate denominator; uint8 value count; that many float32 in Unreal's EARFaceBlendShape order.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from vasa_bridge.cli import main
from vasa_bridge.interop.live_link_udp import LiveLinkSender, encode_packet, parse_host_port
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip

# EARFaceBlendShape, as Unreal declares it (ARTypes.h): the order of the packet's floats.
SPEC_NAMES = (
    "EyeBlinkLeft EyeLookDownLeft EyeLookInLeft EyeLookOutLeft EyeLookUpLeft EyeSquintLeft EyeWideLeft "
    "EyeBlinkRight EyeLookDownRight EyeLookInRight EyeLookOutRight EyeLookUpRight EyeSquintRight EyeWideRight "
    "JawForward JawLeft JawRight JawOpen MouthClose MouthFunnel MouthPucker MouthLeft MouthRight MouthSmileLeft "
    "MouthSmileRight MouthFrownLeft MouthFrownRight MouthDimpleLeft MouthDimpleRight MouthStretchLeft "
    "MouthStretchRight MouthRollLower MouthRollUpper MouthShrugLower MouthShrugUpper MouthPressLeft "
    "MouthPressRight MouthLowerDownLeft MouthLowerDownRight MouthUpperUpLeft MouthUpperUpRight BrowDownLeft "
    "BrowDownRight BrowInnerUp BrowOuterUpLeft BrowOuterUpRight CheekPuff CheekSquintLeft CheekSquintRight "
    "NoseSneerLeft NoseSneerRight TongueOut HeadYaw HeadPitch HeadRoll LeftEyeYaw LeftEyePitch LeftEyeRoll "
    "RightEyeYaw RightEyePitch RightEyeRoll").split()


def decode(packet: bytes) -> dict:
    """An independent Live Link Face packet reader."""
    at = 0

    def take(fmt: str):
        nonlocal at
        values = struct.unpack_from(fmt, packet, at)
        at += struct.calcsize(fmt)
        return values

    def text() -> str:
        nonlocal at
        (n,) = take(">i")
        s = packet[at:at + n].decode("utf-8")
        at += n
        return s

    (version,) = take(">B")
    device, subject = text(), text()
    frame, sub_frame, rate_num, rate_den = take(">ifii")
    (count,) = take(">B")
    values = take(f">{count}f")
    assert at == len(packet), "trailing bytes after the values"
    return {"version": version, "device": device, "subject": subject, "frame": frame, "sub_frame": sub_frame,
            "rate": (rate_num, rate_den), "values": dict(zip(SPEC_NAMES, values))}


def test_packet_carries_header_and_values_in_unreals_order():
    frame = MotionClip.neutral(1).frames[0]
    for name, v in (("jawLeft", 0.3), ("jawRight", 0.1), ("mouthRight", 0.7), ("mouthLeft", 0.2),
                    ("tongueOut", 0.9), ("eyeBlinkLeft", 0.5)):
        frame[layout.channel(name)] = v
    frame[layout.channel("headRoll")] = 0.2
    from vasa_bridge.interop.live_link_face import to_values
    packet = decode(encode_packet(to_values(frame[None])[0], "Ava", "D3ADBEEF-0000", 1234, 0.25))
    assert packet["version"] == 6 and packet["device"] == "D3ADBEEF-0000" and packet["subject"] == "Ava"
    assert packet["frame"] == 1234 and packet["sub_frame"] == 0.25 and packet["rate"] == (60, 1)
    v = packet["values"]
    assert len(v) == 61
    assert (v["JawLeft"], v["JawRight"], v["MouthRight"], v["MouthLeft"]) == pytest.approx((0.3, 0.1, 0.7, 0.2))
    assert v["TongueOut"] == pytest.approx(0.9) and v["EyeBlinkLeft"] == pytest.approx(0.5)
    assert v["HeadRoll"] == pytest.approx(0.2 / np.pi)


def test_bad_targets_and_names_are_refused():
    assert parse_host_port("10.0.0.5:11111") == ("10.0.0.5", 11111)
    assert parse_host_port("unreal-pc") == ("unreal-pc", 11111)
    assert parse_host_port("[::1]:7000") == ("::1", 7000)
    for bad in ("host:port", "host:0", ":11111", "host:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_host_port(bad)
    with pytest.raises(ValueError, match="subject name"):
        LiveLinkSender("127.0.0.1", 11111, subject_name="")


class Receiver:
    """A loopback UDP socket collecting datagrams on a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []
        self.arrivals_s: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.packets.append(self.sock.recv(2048))
                self.arrivals_s.append(time.perf_counter())
            except socket.timeout:
                continue

    def close(self) -> list[bytes]:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        return self.packets


@pytest.fixture(scope="module")
def spoken_line(tmp_path_factory):
    from vasa_bridge.phones.espeak import synthesize

    speech = synthesize("Maybe Bob bought a map of the bumpy path.", voice="en-us")
    path = tmp_path_factory.mktemp("speech") / "line.wav"
    sf.write(path, speech.audio, speech.sample_rate_hz)
    return path


def test_stream_sends_a_spoken_line_to_live_link_frame_by_frame(spoken_line, tmp_path, capsys):
    receiver = Receiver()
    csv_path = tmp_path / "line.csv"
    try:
        assert main(["stream", str(spoken_line), "--local", "--seed", "1", "--speed", "0", "--out", str(csv_path),
                     "--livelink", f"127.0.0.1:{receiver.port}", "--subject", "MetaHuman_Ava"]) == 0
    finally:
        packets = [decode(p) for p in receiver.close()]
    assert "Live Link Face packets" in capsys.readouterr().out
    lines = csv_path.read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    # Every frame of the line arrives, once and in order, as the same 60-fps frames the CSV holds.
    assert len(packets) == len(rows) > 60
    frames = [p["frame"] for p in packets]
    assert frames == list(range(frames[0], frames[0] + len(packets)))
    assert {p["subject"] for p in packets} == {"MetaHuman_Ava"} and len({p["device"] for p in packets}) == 1
    for packet, row in zip(packets, rows):
        expected = {name: float(v) for name, v in zip(header[2:], row[2:])}
        got = packet["values"]
        # Head and eye rotations ride along; eye yaw/pitch change as the face moves, as in the CSV.
        assert got.keys() == expected.keys()
        assert max(abs(got[n] - expected[n]) for n in expected) < 2e-6
    jaw = np.array([p["values"]["JawOpen"] for p in packets])
    assert jaw.max() > 0.2  # a spoken line, not a still face
    # Paced in real time (Unreal shows frames as they arrive), not sent in bursts as the batches came.
    span_s = receiver.arrivals_s[-1] - receiver.arrivals_s[0]
    assert span_s >= 0.9 * (len(packets) - 1) / 60, span_s


def test_stream_refuses_a_bad_live_link_target_before_streaming(spoken_line, capsys):
    assert main(["stream", str(spoken_line), "--livelink", "unreal-pc:eleven"]) != 0
    assert "--livelink: expected HOST:PORT" in capsys.readouterr().err


def test_pacer_resamples_across_batches_like_the_csv_writer():
    from vasa_bridge.interop.live_link_face import resample
    from vasa_bridge.interop.live_link_pacer import LiveLinkPacer

    class Recorder:
        packets_sent = 0

        def __init__(self) -> None:
            self.sent: list[tuple[np.ndarray, float]] = []

        def send(self, frame: np.ndarray, time_s: float) -> None:
            self.sent.append((frame, time_s))
            self.packets_sent += 1

    clip = MotionClip.neutral(11)
    clip.frames[:, layout.channel("jawOpen")] = np.linspace(0, 1, 11) ** 2
    recorder = Recorder()
    pacer = LiveLinkPacer(recorder, motion_fps=25, buffer_ms=0)  # type: ignore[arg-type]
    for start, stop in ((0, 1), (1, 4), (4, 5), (5, 11)):  # uneven batches, as a session sends them
        pacer.push(clip.frames[start:stop])
    assert pacer.close() == len(recorder.sent) == 27  # ceil(11 x 60 / 25)
    expected = resample(clip, 60)
    assert [t for _, t in recorder.sent] == pytest.approx(list(np.arange(27) / 60))
    assert np.allclose(np.stack([f for f, _ in recorder.sent]), expected.frames, atol=1e-6)
