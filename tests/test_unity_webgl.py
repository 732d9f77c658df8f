"""The Unity client's WebGL path, in its two halves, each live against the real sidecar's WebSocket binding.

C# (compiled with mcs, run with mono): PumpedWebSocketLink and the non-blocking Begin* request API, driven from a
single-threaded game loop over a bridge that behaves like a browser's socket (events queued until Update takes them).
JavaScript (run with node): Runtime/Plugins/WebGL/VasaBridgeWebSocket.jslib, loaded into a small emulation of the
Emscripten glue a Unity WebGL build gives it (tests/webgl/jslib_harness.js). No Unity editor or browser runs here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sidecar_helpers import free_ports
from test_unity_client import PACKAGE, REPO, harness, pytestmark, run_harness, spoken_line  # noqa: F401 (fixtures)
from test_unity_websocket import WebSocketSidecar

JSLIB = PACKAGE / "Runtime" / "Plugins" / "WebGL" / "VasaBridgeWebSocket.jslib"
NODE_HARNESS = REPO / "tests" / "webgl" / "jslib_harness.js"


def _amplitude_frames(wav: Path) -> np.ndarray:
    import soundfile

    from vasa_bridge.baselines import amplitude_baseline

    pcm, _rate = soundfile.read(wav, dtype="int16")
    return amplitude_baseline(pcm.astype(np.float32) / 32768.0).frames


def test_csharp_pumped_link_streams_a_whole_line_from_update_without_blocking(harness, spoken_line, tmp_path):
    server = WebSocketSidecar(free_ports(1)[0])
    dump = tmp_path / "frames.f32"
    try:
        out = run_harness(harness, "wspumped", server.url, str(spoken_line), str(dump), timeout_s=90)
    finally:
        server.kill()
    assert "PASS pumped line: received every frame" in out
    assert "PASS pumped line: no game frame blocked for a reply" in out
    assert "PASS pumped: a blocking call is refused with a pointer to the Begin* methods" in out
    expected = _amplitude_frames(spoken_line)
    received = np.fromfile(dump, "<f4").reshape(-1, 60)                 # (T, 60)
    assert received.shape == expected.shape
    np.testing.assert_allclose(received, expected, atol=1e-6)
