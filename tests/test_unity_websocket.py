"""The Unity client's WebSocket binding (Runtime/Core/WebSocketLink.cs: System.Net.WebSockets, chosen by a ws:// URL),
compiled with mcs and run with mono against the real sidecar's WebSocket binding: golden vectors byte for byte,
every frame of a spoken line equal to the offline baseline, a sidecar restart, rendered frames of an uploaded
portrait. The WebGL path (PumpedWebSocketLink and the .jslib bridge) is tested in test_unity_webgl.py."""

from __future__ import annotations

import numpy as np

from sidecar_helpers import free_ports
from test_unity_client import (VECTORS, Sidecar, assert_rendered_frames_follow_motion,  # noqa: F401 (fixtures)
                               astronaut_png, drive_restart, harness, pytestmark, run_harness, spoken_line)


class WebSocketSidecar(Sidecar):
    """The real sidecar with only its WebSocket binding, on a given loopback port."""

    def __init__(self, ws_port: int, *extra: str, start_timeout_s: float = 30) -> None:
        self.url = f"ws://127.0.0.1:{ws_port}/"
        self._launch(["--ws-port", str(ws_port), "--no-zmq", "--backend", "amplitude", *extra], start_timeout_s)


def test_websocket_link_joins_requests_and_routes_messages_like_the_golden_vectors(harness):
    out = run_harness(harness, "wsvectors", str(VECTORS))
    assert "PASS vector audio: the request's frames join to its WebSocket message" in out
    assert "PASS vector open_portrait: the request's frames join to its WebSocket message" in out
    assert "PASS vector motion routes to the stream side under its session" in out


def test_csharp_client_streams_a_spoken_line_over_websocket(harness, spoken_line, tmp_path):
    import soundfile

    from vasa_bridge.baselines import amplitude_baseline

    server = WebSocketSidecar(free_ports(1)[0])
    dump = tmp_path / "frames.f32"
    try:
        out = run_harness(harness, "wslive", server.url, str(spoken_line), str(dump))
    finally:
        server.kill()
    assert "PASS ws line: received every frame" in out and "PASS ws second line: received every frame" in out
    pcm, rate = soundfile.read(spoken_line, dtype="int16")
    expected = amplitude_baseline(pcm.astype(np.float32) / 32768.0).frames
    received = np.fromfile(dump, "<f4").reshape(-1, 60)                 # (T, 60)
    assert received.shape == expected.shape
    np.testing.assert_allclose(received, expected, atol=1e-6)


def test_csharp_websocket_client_reports_a_sidecar_restart_and_reconnects(harness, spoken_line):
    port = free_ports(1)[0]
    url = f"ws://127.0.0.1:{port}/"
    text = drive_restart([str(harness), "wsrestart", url, str(spoken_line)], lambda: WebSocketSidecar(port))
    assert "PASS a ServerRestarted event is raised" in text
    assert "PASS ws after restart: received every frame" in text


def test_csharp_client_uploads_a_portrait_and_receives_rendered_frames_over_websocket(harness, spoken_line,
                                                                                      astronaut_png, tmp_path):
    """`serve --render` over WebSocket: the portrait goes as bin inside `open`, the images come inside each `render`
    map (SPEC §9.2), one JPEG per motion frame with its seq and pts, whose mouth follows jawOpen."""
    server = WebSocketSidecar(free_ports(1)[0], "--render", start_timeout_s=90)
    out_dir = tmp_path / "rendered"
    try:
        out = run_harness(harness, "wsrender", server.url, str(spoken_line), str(astronaut_png), str(out_dir),
                          timeout_s=150)
    finally:
        server.kill()
    assert_rendered_frames_follow_motion(out, out_dir)
