"""The Unity client's WebGL path, in its two halves, each live against the real sidecar's WebSocket binding.

C# (compiled with mcs, run with mono): PumpedWebSocketLink, VasaLineStreamer and the non-blocking Begin* request API,
driven from a single-threaded game loop over a bridge that behaves like a browser's socket (events queued until
Update takes them). JavaScript: Runtime/Plugins/WebGL/VasaBridgeWebSocket.jslib, loaded into a small emulation of the
Emscripten glue a Unity WebGL build gives it (Tests~/WebGL/jslib_harness.js), under node and in headless Chromium.
No Unity editor, Emscripten or Unity WebGL player runs here."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from sidecar_helpers import free_ports
from test_unity_client import PACKAGE, REPO, drive_restart, harness, run_harness, spoken_line  # noqa: F401
from test_unity_client import pytestmark as needs_mono
from test_unity_websocket import WebSocketSidecar

JSLIB = PACKAGE / "Runtime" / "Plugins" / "WebGL" / "VasaBridgeWebSocket.jslib"


WEBGL_BRIDGE = PACKAGE / "Runtime" / "Core" / "WebGLWebSocketBridge.cs"


# ---- the package's WebGL build pieces (what a Unity editor would compile and link) ------------------------------
@needs_mono
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


@needs_mono
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


@needs_mono
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


# ---- the .jslib in headless Chromium ---------------------------------------------------------------------------
CHROMIUM = Path("/usr/lib/chromium/chromium")  # Debian's, as the Godot engine tests run it (not the wrapper)
PAGE_HTML = b"<!doctype html><title>jslib</title>"


@contextlib.contextmanager
def loopback_page() -> Iterator[str]:
    """An empty page served from 127.0.0.1 by a real socket. Chromium's Local Network Access checks block a page of
    unknown address (one Playwright fulfils itself, or a public site) from opening ws://127.0.0.1 (measured:
    net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS); a loopback page may, and the sidecar admits its origin."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE_HTML)))
            self.end_headers()
            self.wfile.write(PAGE_HTML)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def run_jslib_in_chromium(mode: str, args: list[str], pcm: bytes | None = None,
                          on_line: Callable[[str], None] | None = None, timeout_s: float = 60) -> dict:
    """The node harness's scenario in a real browser: the same harness file, the page's globals as the Emscripten
    scope, Chromium's own WebSocket. Returns {lines, frames}; `on_line` sees each printed line as it appears."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium (scripts/install_system.sh)")
    with loopback_page() as page_url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page()
            page.goto(page_url)
            page.add_script_tag(content=JS_HARNESS.read_text(encoding="utf-8"))
            page.evaluate("""([src, mode, args, pcm]) => {
                if (pcm !== null) args[1] = Uint8Array.from(atob(pcm), (c) => c.charCodeAt(0));
                window.harnessResult = null;
                runJslibHarness(src, mode, args).then((r) => { window.harnessResult = r; });
            }""", [JSLIB.read_text(encoding="utf-8"), mode, args,
                   None if pcm is None else base64.b64encode(pcm).decode()])
            seen = 0
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                lines = page.evaluate("printed.slice()")
                for line in lines[seen:]:
                    if on_line is not None:
                        on_line(line)
                seen = len(lines)
                result = page.evaluate("window.harnessResult")
                if result is not None:
                    return result
                page.wait_for_timeout(50)
            pytest.fail("the page's harness did not finish:\n" + "\n".join(page.evaluate("printed.slice()")))
        finally:
            browser.close()


def assert_page_passed(result: dict) -> str:
    out = "\n".join(result["lines"])
    assert "FAIL" not in out and " passed, 0 failed" in out, out
    return out


def test_jslib_in_chromium_streams_a_whole_line(spoken_line):
    import soundfile

    pcm, rate = soundfile.read(spoken_line, dtype="int16")
    server = WebSocketSidecar(free_ports(1)[0])
    try:
        result = run_jslib_in_chromium("line", [server.url, "", str(rate), PROTOCOL_VERSION],
                                       pcm=pcm.astype("<i2").tobytes())
    finally:
        server.kill()
    out = assert_page_passed(result)
    assert "PASS a client close ends with code 1000" in out
    received = np.frombuffer(bytes(result["frames"]), "<f4").reshape(-1, 60)   # (T, 60)
    expected = _amplitude_frames(spoken_line)
    assert received.shape == expected.shape
    np.testing.assert_allclose(received, expected, atol=1e-6)


def test_jslib_in_chromium_reports_close_codes_and_a_refused_connection():
    for stop, code in (("term", 1001), ("kill", 1006)):
        server = WebSocketSidecar(free_ports(1)[0])

        def stop_server(line: str, server: WebSocketSidecar = server, stop: str = stop) -> None:
            if line == "READY":
                if stop == "term":
                    server.proc.terminate()
                    server.proc.wait(timeout=15)
                server.kill()

        try:
            result = run_jslib_in_chromium("close", [server.url, PROTOCOL_VERSION], on_line=stop_server)
            out = assert_page_passed(result)
        finally:
            server.kill()
        closed = json.loads([line for line in out.splitlines() if line.startswith("CLOSED ")][0][len("CLOSED "):])
        assert closed["code"] == code, closed
        if stop == "term":
            assert closed["reason"] == "server shutting down"
    assert_page_passed(run_jslib_in_chromium("refused", [f"ws://127.0.0.1:{free_ports(1)[0]}/"]))
