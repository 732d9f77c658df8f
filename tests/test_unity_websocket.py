"""The Unity client's WebSocket binding (Runtime/Core/WebSocketLink.cs: System.Net.WebSockets, chosen by a ws:// URL),
compiled with mcs and run with mono against the real sidecar's WebSocket binding: golden vectors byte for byte,
every frame of a spoken line equal to the offline baseline, a sidecar restart. The WebGL path (a .jslib bridge)
is not built: see unity_sample/README.md."""

from __future__ import annotations

import numpy as np

from sidecar_helpers import free_ports
from test_unity_client import (VECTORS, Sidecar, drive_restart, harness, pytestmark,  # noqa: F401 (fixtures)
                               run_harness, spoken_line)


class WebSocketSidecar(Sidecar):
    """The real sidecar with only its WebSocket binding, on a given loopback port."""

    def __init__(self, ws_port: int, start_timeout_s: float = 30) -> None:
        self.url = f"ws://127.0.0.1:{ws_port}/"
        self._launch(["--ws-port", str(ws_port), "--no-zmq", "--backend", "amplitude"], start_timeout_s)


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
