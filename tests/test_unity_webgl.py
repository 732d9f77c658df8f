"""The Unity client's WebGL path, in its two halves, each live against the real sidecar's WebSocket binding.

C# (compiled with mcs, run with mono): PumpedWebSocketLink and the non-blocking Begin* request API, driven from a
single-threaded game loop over a bridge that behaves like a browser's socket (events queued until Update takes them).
JavaScript (run with node): Runtime/Plugins/WebGL/VasaBridgeWebSocket.jslib, loaded into a small emulation of the
Emscripten glue a Unity WebGL build gives it (Tests~/WebGL/jslib_harness.js). No Unity editor or browser runs here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sidecar_helpers import free_ports
from test_unity_client import (PACKAGE, REPO, drive_restart, harness, pytestmark, run_harness,  # noqa: F401
                               spoken_line)
from test_unity_websocket import WebSocketSidecar

JSLIB = PACKAGE / "Runtime" / "Plugins" / "WebGL" / "VasaBridgeWebSocket.jslib"


WEBGL_BRIDGE = PACKAGE / "Runtime" / "Core" / "WebGLWebSocketBridge.cs"


# ---- the package's WebGL build pieces (what a Unity editor would compile and link) ------------------------------
def test_runtime_compiles_for_a_webgl_player_against_unity_api_stubs(tmp_path):
    """With UNITY_WEBGL defined (and not UNITY_EDITOR), as in a WebGL player build: the .jslib bridge and the link
    choice that uses it compile, with the Unity layer, against the API stand-ins."""
    sources = sorted(str(p) for p in (PACKAGE / "Runtime").rglob("*.cs"))
    sources += sorted(str(p) for p in (PACKAGE / "Tests~" / "UnityStubs").glob("*.cs"))
    result = subprocess.run(["mcs", "-langversion:7.2", "-warnaserror", "-target:library", "-d:UNITY_WEBGL",
                             "-r:System.Core.dll", f"-out:{tmp_path / 'webgl_player.dll'}", *sources],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dllimport_of_the_webgl_bridge_is_a_jslib_function():
    imported = set(re.findall(r'DllImport\("__Internal"\)\]\s*static extern \w+ (\w+)\(', WEBGL_BRIDGE.read_text()))
    defined = set(re.findall(r"^  (VasaWS_\w+): function", JSLIB.read_text(), re.MULTILINE))
    assert len(imported) >= 8 and imported == defined


def test_jslib_is_imported_for_webgl_only_and_the_runtime_assembly_no_longer_excludes_webgl():
    meta = (JSLIB.parent / (JSLIB.name + ".meta")).read_text()
    platforms = re.findall(r"- first:\n\s+(\w+): ?\w*\n\s+second:\n\s+enabled: (\d)", meta)
    assert dict(platforms) == {"Any": "0", "Editor": "0", "WebGL": "1"}
    asmdef = json.loads((PACKAGE / "Runtime" / "VasaBridge.Client.asmdef").read_text())
    assert "WebGL" not in asmdef["excludePlatforms"]
    # A WebGL player has no threads: the engine layer must not start any (the core's are skipped there).
    for path in (PACKAGE / "Runtime" / "Unity").rglob("*.cs"):
        assert not re.search(r"new Thread\b|ThreadPool|Task\.Run", path.read_text()), path


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


def test_csharp_pumped_link_reports_a_sidecar_crash_reconnects_and_streams_a_new_line(harness, spoken_line):
    port = free_ports(1)[0]
    text = drive_restart([str(harness), "wspumpedrestart", f"ws://127.0.0.1:{port}/", str(spoken_line)],
                         lambda: WebSocketSidecar(port))
    assert "PASS pumped restart: the open session ends with connection_lost" in text
    assert "PASS pumped restart: retries with back-off, one report per outage" in text
    assert "PASS pumped line: received every frame" in text


# ---- the .jslib under node -------------------------------------------------------------------------------------
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="needs node (Debian nodejs: scripts/install_system.sh)")
JS_HARNESS = PACKAGE / "Tests~" / "WebGL" / "jslib_harness.js"
PROTOCOL_VERSION = (REPO / "protocol" / "VERSION").read_text(encoding="utf-8").strip()


def run_jslib(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    # Node 22 has a global WebSocket; 20 and 21 have it behind this flag (and 22+ accept the flag).
    return subprocess.run([NODE, "--experimental-websocket", "--no-warnings", str(JS_HARNESS), str(JSLIB), *args],
                          capture_output=True, text=True, timeout=timeout_s, cwd=REPO)


def assert_js_passed(result: subprocess.CompletedProcess) -> str:
    out = result.stdout + result.stderr
    assert result.returncode == 0 and "FAIL" not in out, out[-3000:]
    assert " passed, 0 failed" in out, out[-3000:]
    return out


@needs_node
def test_jslib_streams_a_whole_line_through_the_emulated_unity_glue(spoken_line, tmp_path):
    import soundfile

    pcm, rate = soundfile.read(spoken_line, dtype="int16")
    raw = tmp_path / "line.pcm16"
    raw.write_bytes(pcm.astype("<i2").tobytes())
    dump = tmp_path / "frames.f32"
    server = WebSocketSidecar(free_ports(1)[0])
    try:
        out = assert_js_passed(run_jslib("line", server.url, str(raw), str(rate), PROTOCOL_VERSION, str(dump)))
    finally:
        server.kill()
    assert "PASS every library function depends on $VasaWS (autoAddDeps)" in out
    assert "PASS an error reply reaches its request by id" in out
    assert "PASS the heap grew (replacing HEAPU8)" in out
    expected = _amplitude_frames(spoken_line)
    received = np.fromfile(dump, "<f4").reshape(-1, 60)                 # (T, 60)
    assert received.shape == expected.shape
    np.testing.assert_allclose(received, expected, atol=1e-6)


def _close_seen_by_jslib(stop: str) -> dict:
    """Connects through the .jslib, stops the sidecar (`term`: SIGTERM, a clean shutdown; `kill`: SIGKILL) and returns
    the close code and reason the Close event carried."""
    server = WebSocketSidecar(free_ports(1)[0])
    proc = subprocess.Popen([NODE, "--experimental-websocket", "--no-warnings", str(JS_HARNESS), str(JSLIB), "close",
                             server.url, PROTOCOL_VERSION], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=REPO)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == "READY":
                if stop == "term":
                    server.proc.terminate()
                    server.proc.wait(timeout=15)  # SIGTERM: the sidecar closes every connection (1001), exits 0
                server.kill()
                break
        rest, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 0 and "FAIL" not in out, out[-3000:]
    closed = [line for line in out.splitlines() if line.startswith("CLOSED ")]
    assert closed, out
    return json.loads(closed[0][len("CLOSED "):])


@needs_node
def test_jslib_reports_the_close_code_when_the_sidecar_shuts_down_or_dies():
    assert _close_seen_by_jslib("term") == {"code": 1001, "reason": "server shutting down"}
    assert _close_seen_by_jslib("kill")["code"] == 1006    # no close frame: the connection just dropped


@needs_node
def test_jslib_reports_a_refused_connection_as_error_then_close():
    assert_js_passed(run_jslib("refused", f"ws://127.0.0.1:{free_ports(1)[0]}/"))
