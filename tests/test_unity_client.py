"""The Unity sample's engine-independent C# core, compiled with Debian's `mcs` and run with `mono`.

A console harness (unity_sample/.../Tests~/Harness/Harness.cs) exercises the same code that runs inside Unity:
golden vectors decoded identically to msgpack-python, a spoken line streamed from the real sidecar, a sidecar
restart, and a fake ZeroMQ server that sends garbage. Each harness run prints PASS/FAIL lines and a summary.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import msgpack
import numpy as np
import pytest

from sidecar_helpers import free_ports

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "unity_sample" / "Packages" / "com.vasabridge.client"
VECTORS = REPO / "protocol" / "vectors"
SAMPLE_MESH = PACKAGE / "Samples~" / "TalkingHead" / "Resources" / "vasa_head_mesh.json"
SESSION = "5e55a0f1c0ffee42"  # the golden vectors' session id, reused by the fake server
FLOOD_FRAMES = 3000           # motion batches the fake server sends at once (the harness expects this number)

# `serve` run through its command module (what `vasa-bridge serve` calls), so the test does not depend on every
# other subcommand of the CLI being importable.
SERVE = ("import sys, argparse\nfrom vasa_bridge.commands import serve\np = argparse.ArgumentParser()\n"
         "serve.add_arguments(p)\nsys.exit(serve.run(p.parse_args(sys.argv[1:])))")

needs_mono = pytest.mark.skipif(
    shutil.which("mcs") is None or shutil.which("mono") is None,
    reason="needs Debian mono-mcs and mono-runtime (scripts/install_system.sh installs them; CI has them)")
pytestmark = needs_mono


# ---- helpers ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unity_harness") / "harness.exe"
    sources = sorted(str(p) for p in (PACKAGE / "Runtime" / "Core").rglob("*.cs"))
    sources += sorted(str(p) for p in (PACKAGE / "Tests~" / "Harness").glob("*.cs"))  # Harness + WebSocketModes
    # -warnaserror: the core must compile cleanly as C# 7.2 (what Unity 2021.3 and Debian's mcs both accept).
    result = subprocess.run(["mcs", "-langversion:7.2", "-warnaserror", "-r:System.Core.dll", f"-out:{out}", *sources],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def run_harness(harness: Path, *args: str, timeout_s: float = 60) -> str:
    result = subprocess.run(["mono", str(harness), *args], capture_output=True, text=True, timeout=timeout_s,
                            cwd=REPO, env={**os.environ, "VASA_VECTORS": str(VECTORS)})
    assert_all_passed(result.stdout + result.stderr)
    return result.stdout


def assert_all_passed(output: str) -> None:
    summary = [line for line in output.splitlines() if line.endswith(" failed") and " passed, " in line]
    assert summary, f"harness printed no summary:\n{output[-3000:]}"
    passed, failed = (int(x.split()[0]) for x in summary[-1].split(", "))
    failures = [line for line in output.splitlines() if line.startswith("FAIL")]
    assert failed == 0 and not failures, "\n".join(failures) + "\n" + output[-3000:]
    assert passed > 0


class Sidecar:
    """The real sidecar (`vasa-bridge serve`, ZeroMQ only) as a subprocess on given loopback ports."""

    def __init__(self, request_port: int, stream_port: int, *extra: str, start_timeout_s: float = 30) -> None:
        # --backend amplitude: deterministic frames, compared with the offline baseline.
        self._launch(["--zmq-port", str(request_port), "--zmq-stream-port", str(stream_port), "--no-ws",
                      "--backend", "amplitude", *extra], start_timeout_s)

    def _launch(self, args: list[str], start_timeout_s: float) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVE, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + start_timeout_s
        log = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            log.append(line)
            if '"event": "ready"' in line:
                return
        self.kill()
        raise AssertionError("sidecar did not start:\n" + "".join(log))

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def spoken_line(tmp_path_factory) -> Path:
    """An espeak-ng line as 16 kHz mono pcm16 (the rate the sidecar's backend runs at, so the frames can be
    compared with the offline baseline on exactly the samples the server decodes)."""
    import soundfile

    from vasa_bridge.audio import load_audio

    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng (scripts/install_system.sh installs it)")
    folder = tmp_path_factory.mktemp("unity_line")
    subprocess.run(["espeak-ng", "-w", str(folder / "raw.wav"), "The face should talk in sync with this line."],
                   check=True, timeout=30)
    wav = folder / "line.wav"
    soundfile.write(wav, load_audio(folder / "raw.wav"), 16000, subtype="PCM_16")
    return wav


# ---- the Unity layer -------------------------------------------------------------------------------------------
def test_unity_layer_and_sample_compile_against_unity_api_stubs(tmp_path):
    """UnityEngine.dll cannot be installed here: compile Runtime/Unity and the sample against stand-ins with Unity
    2021.3's signatures, so C# mistakes in the engine layer fail CI (engine behaviour is not checked)."""
    sources = sorted(str(p) for p in (PACKAGE / "Runtime").rglob("*.cs"))
    sources += sorted(str(p) for p in (PACKAGE / "Editor").rglob("*.cs"))     # the baked-clip importer
    sources += sorted(str(p) for p in (PACKAGE / "Samples~").rglob("*.cs"))
    sources += sorted(str(p) for p in (PACKAGE / "Tests~" / "UnityStubs").glob("*.cs"))  # engine, editor, Timeline
    assert any("VasaBridgeFace.cs" in s for s in sources) and any("TalkingHeadDemo.cs" in s for s in sources)
    assert any("VasaClipImporter.cs" in s for s in sources) and any("BakedLineCutScene.cs" in s for s in sources)
    result = subprocess.run(["mcs", "-langversion:7.2", "-warnaserror", "-target:library",
                             "-d:ENABLE_LEGACY_INPUT_MANAGER",
                             "-r:System.Core.dll", f"-out:{tmp_path / 'unity_layer.dll'}", *sources],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_has_no_unity_references():
    """Runtime/Core and Editor/Core must stay engine-independent (they are what mono compiles and tests)."""
    for path in [*(PACKAGE / "Runtime" / "Core").rglob("*.cs"), *(PACKAGE / "Editor" / "Core").rglob("*.cs")]:
        code = path.read_text(encoding="utf-8")
        assert not re.search(r"\busing\s+(UnityEngine|UnityEditor|Unity\.)|\bUnity(Engine|Editor)\.", code), path


# ---- golden vectors --------------------------------------------------------------------------------------------
def canon(v) -> str:
    """The harness's canonical form of a decoded value (floats by IEEE bits, text and bytes as hex)."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"i:{v}"
    if isinstance(v, float):
        return "f:" + struct.pack(">d", v).hex()
    if isinstance(v, str):
        return "s:" + v.encode().hex()
    if isinstance(v, bytes):
        return "b:" + v.hex()
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{canon(k)}={canon(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def test_csharp_core_decodes_every_golden_vector_identically_to_python(harness):
    out = run_harness(harness, "vectors", str(VECTORS))
    decoded = {parts[1]: parts[2] for parts in (line.split(" ", 2) for line in out.splitlines())
               if parts[0] == "CANON"}
    vectors = sorted(p.stem for p in VECTORS.glob("*.msgpack"))
    assert sorted(decoded) == vectors
    for name in vectors:
        python = canon(msgpack.unpackb((VECTORS / f"{name}.msgpack").read_bytes(), raw=False))
        assert decoded[name] == python, name


# ---- decode cost -----------------------------------------------------------------------------------------------
def test_csharp_motion_decode_is_allocation_free_and_reports_its_cost(harness):
    out = run_harness(harness, "bench", timeout_s=90)
    rows = [dict(kv.split("=") for kv in line.split()[1:]) for line in out.splitlines() if line.startswith("BENCH")]
    assert {r["dtype"] for r in rows} == {"f32", "f16"}
    for r in rows:
        print(f"C# decode+sample per motion frame ({r['dtype']}): {r['ns_per_frame']} ns wall, "
              f"{r['cpu_ns_per_frame']} ns CPU, {r['bytes_allocated_per_frame']} bytes allocated")
        assert float(r["bytes_allocated_per_frame"]) < 1.0


def test_csharp_jitter_buffer_and_playback_clock_schedule_frames_on_the_audio_clock(harness):
    out = run_harness(harness, "jitter")
    assert "PASS sampled at 60 fps, values interpolate linearly between 25 fps frames" in out
    assert "PASS the smoothed clock advances in even steps (no block stairs, never backwards)" in out


# ---- the real sidecar ------------------------------------------------------------------------------------------
def test_csharp_client_streams_a_spoken_line_from_the_real_sidecar(harness, spoken_line, tmp_path):
    import soundfile

    from vasa_bridge.baselines import amplitude_baseline

    ports = tuple(free_ports(2))
    server = Sidecar(*ports)
    dump = tmp_path / "frames.f32"
    try:
        out = run_harness(harness, "live", str(ports[0]), str(ports[1]), str(spoken_line), str(dump))
    finally:
        server.kill()
    assert "PASS line: received every frame" in out
    # What the C# client received equals what the backend computes offline from the same samples.
    pcm, rate = soundfile.read(spoken_line, dtype="int16")
    assert rate == 16000
    expected = amplitude_baseline(pcm.astype(np.float32) / 32768.0).frames
    received = np.fromfile(dump, "<f4").reshape(-1, 60)                 # (T, 60)
    assert received.shape == expected.shape
    np.testing.assert_allclose(received, expected, atol=1e-6)


def test_csharp_client_resends_rate_limited_audio_so_no_frame_is_lost(harness, spoken_line, tmp_path):
    from vasa_bridge.baselines import amplitude_baseline

    # A 1x real-time audio budget with a 0.5 s burst: the harness pushes the ~2.5 s line faster than that, so the
    # server refuses chunks (rate_limited) and the client must resend each one after retry_after_ms (SPEC §4.3).
    ports = tuple(free_ports(2))
    server = Sidecar(*ports, "--audio-rate-x", "1", "--audio-burst-s", "0.5")
    dump = tmp_path / "frames.f32"
    try:
        out = run_harness(harness, "live", str(ports[0]), str(ports[1]), str(spoken_line), str(dump))
    finally:
        server.kill()
    log = []
    while not server.lines.empty():
        log.append(server.lines.get())
    assert any('"rate_limited"' in line for line in log), "the server refused nothing: the test proves nothing"
    assert "PASS line: received every frame" in out and "PASS line: audio_ok.received_ms counts all audio" in out
    import soundfile

    pcm, _ = soundfile.read(spoken_line, dtype="int16")
    expected = amplitude_baseline(pcm.astype(np.float32) / 32768.0).frames
    np.testing.assert_allclose(np.fromfile(dump, "<f4").reshape(-1, 60), expected, atol=1e-6)


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory) -> Path:
    """A real photo with a face the server's detector finds (scikit-image's astronaut, 512 px PNG)."""
    import skimage.data
    from PIL import Image

    path = tmp_path_factory.mktemp("unity_portrait") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def test_csharp_client_uploads_a_portrait_and_receives_jpeg_frames_paired_with_motion(harness, spoken_line,
                                                                                       astronaut_png, tmp_path):
    """`serve --render`: the C# client opens with frames_jpeg and the astronaut as ZeroMQ frame 1 of `open`; every
    motion frame gets one JPEG of open_ok.render's size with the same seq and pts, and an undecodable portrait
    gets invalid_portrait. The pictures are decoded here (the harness has no image decoder)."""
    ports = tuple(free_ports(2))
    # The sidecar prepares its default portrait before `ready` (about 5 s on a loaded CPU) and the uploaded one
    # in `open` (the harness allows 60 s for that reply).
    server = Sidecar(*ports, "--render", start_timeout_s=90)
    out_dir = tmp_path / "rendered"
    try:
        out = run_harness(harness, "render", str(ports[0]), str(ports[1]), str(spoken_line), str(astronaut_png),
                          str(out_dir), timeout_s=150)
    finally:
        server.kill()
    assert_rendered_frames_follow_motion(out, out_dir)


def assert_rendered_frames_follow_motion(out: str, out_dir: Path) -> None:
    """What the harness's render mode wrote: one 256 px JPEG per motion frame whose mouth follows jawOpen."""
    from PIL import Image

    from vasa_bridge.motion import layout

    assert "PASS one rendered image per motion frame, with the same seq and pts" in out
    print("\n".join(line for line in out.splitlines() if line.startswith("INFO open")))
    motion = np.fromfile(out_dir / "motion.f32", "<f4").reshape(-1, 60)
    jpegs = sorted(out_dir.glob("*.jpg"))
    assert len(jpegs) == len(motion) == 40                       # 1.6 s at 25 fps
    images = []
    for path in jpegs:
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.size == (256, 256)
            images.append(np.asarray(img.convert("RGB"), dtype=np.int16))
    # The rendered mouth follows the motion: the lower face differs between the most and least open jaw frames.
    jaw = motion[:, layout.channel("jawOpen")]
    lo, hi = int(np.argmin(jaw)), int(np.argmax(jaw))
    assert jaw[hi] - jaw[lo] > 0.05
    assert np.abs(images[hi][150:220, 90:170] - images[lo][150:220, 90:170]).mean() > 2.0


def drive_harness(harness_args: list[str], on_line: Callable[[str], None], timeout_s: float = 75) -> str:
    """Runs a harness mode that needs the test to act mid-run: `on_line` sees every line it prints (e.g.
    READY_FOR_KILL) as it comes. Returns the output after checking every check passed."""
    proc = subprocess.Popen(["mono", *harness_args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            output.append(line)
            on_line(line)
        else:
            proc.kill()
            pytest.fail(f"harness {harness_args[1]} did not finish in time:\n" + "".join(output))
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(output)
    assert_all_passed(text)
    return text


def drive_restart(harness_args: list[str], start_server: Callable[[], Sidecar]) -> str:
    """Runs a harness restart mode against a sidecar from `start_server`: kills it (SIGKILL: a crash, not a clean
    shutdown) when the harness says READY_FOR_KILL, starts a new one on the same ports at WAITING_FOR_RESTART."""
    servers = [start_server()]

    def on_line(line: str) -> None:
        if line.startswith("READY_FOR_KILL"):
            servers[-1].kill()
        elif line.startswith("WAITING_FOR_RESTART"):
            servers.append(start_server())  # same ports, new instance

    try:
        return drive_harness(harness_args, on_line)
    finally:
        servers[-1].kill()


def test_csharp_client_reports_a_sidecar_restart_and_reconnects(harness, spoken_line):
    ports = tuple(free_ports(2))
    text = drive_restart([str(harness), "restart", str(ports[0]), str(ports[1]), str(spoken_line)],
                         lambda: Sidecar(*ports))
    assert "PASS a ServerRestarted event is raised" in text
    assert "PASS after restart: received every frame" in text


# ---- a fake server that sends garbage --------------------------------------------------------------------------
def _motion(seq: int, n: int, *, channels: int = 60, dtype: str = "f32", frames: bytes | None = None,
            session: str = SESSION, **extra) -> dict:
    if frames is None:
        values = np.zeros((n, channels), dtype="<f4")
        values[:, 17] = (np.arange(seq, seq + n) / 10).astype("<f4")  # jawOpen = seq / 10: the harness checks it
        frames = values.astype("<f2").tobytes() if dtype == "f16" else values.tobytes()
    msg = {"type": "motion", "session": session, "seq": seq, "n": n, "pts_ms": seq * 40.0, "channels": channels,
           "dtype": dtype, "frames": frames, "synthetic": True}
    msg.update(extra)
    return msg


def _garbage_then_valid() -> tuple[list[list[bytes]], int]:
    """Stream messages (frames after the topic) and how many of them are malformed."""
    pack = msgpack.packb
    good = pack(_motion(0, 5))
    nan_frames = np.zeros((1, 60), "<f4")
    nan_frames[0, 3] = np.nan
    deep = b"\x82\xa4type\xa9heartbeat\xa1x" + b"\x91" * 5000 + b"\xc0"
    malformed = [
        [],                                                    # topic only
        [b"\xc1"],                                             # reserved msgpack byte
        [pack([1, 2, 3])],                                     # not a map
        [pack(_motion(0, 1, channels=59))],                    # channel count differs from open_ok
        [pack(_motion(0, 2, frames=b"\0" * 100))],             # frames length != n x channels x 4
        [pack(_motion(0, 1, dtype="f64", frames=b"\0" * 480))],  # unknown dtype
        [pack(_motion(0, 1, frames=nan_frames.tobytes()))],    # NaN in a frame
        [pack(_motion(0, 1, dtype="f16", frames=np.full((1, 60), np.inf, "<f2").tobytes()))],  # inf as half
        [good, b"unexpected trailing frame"],                  # motion has no payload frames
        [good[:-10]],                                          # truncated map
        [pack(_motion(0, 0, frames=b""))],                     # n = 0
        [b"\xd4\x01\x02"],                                     # msgpack ext type
        [b"\x81\x01\x02"],                                     # integer map key
        [deep],                                                # nested 5000 deep
        [b"\x81\xa4type\xdb\xff\xff\xff\xff"],                 # str claiming 4 GiB
        [pack({**_motion(0, 1), "type": 7})],                  # type is not a string
        [pack(_motion(0, 1, session="ffffffffffffffff"))],     # another session's message under our topic
        [pack({**_motion(0, 1), "pts_ms": "soon"})],           # pts is not a number
    ]
    valid = [
        [good],                                                # frames 0..4
        [good],                                                # duplicate: seq goes backwards -> malformed
        [pack({"type": "future_thing", "session": SESSION})],  # unknown type: ignored (§3), not malformed
        [pack(_motion(5, 3, dtype="f16"))],                    # frames 5..7 as half floats
        [pack({"type": "heartbeat", "session": SESSION, "next_seq": 8, "received_ms": 320.0,
               "server_time_ms": 1.0})],
        [pack({"type": "end", "session": SESSION, "reason": "end_of_audio", "frames_total": 8,
               "duration_ms": 320.0})],
    ]
    return malformed + valid, len(malformed) + 1


def _fake_server(request_port: int, stream_port: int, stop: threading.Event, sent: dict) -> None:
    import zmq

    vector = {name: msgpack.unpackb((VECTORS / f"{name}.msgpack").read_bytes())
              for name in ("hello_ok", "open_ok", "controls_ok")}
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    xpub = ctx.socket(zmq.XPUB)
    for sock in (router, xpub):
        # ZMTP heartbeats: libzmq PINGs every 200 ms and drops a peer that stays silent for 600 ms, so the
        # client must answer PONG (its SUB socket sends nothing else after subscribing).
        sock.setsockopt(zmq.HEARTBEAT_IVL, 200)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 600)
    xpub.setsockopt(zmq.SNDHWM, 100_000)  # the flood below must not be dropped by the publisher
    router.bind(f"tcp://127.0.0.1:{request_port}")
    xpub.bind(f"tcp://127.0.0.1:{stream_port}")
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    poller.register(xpub, zmq.POLLIN)
    try:
        while not stop.is_set():
            for sock, _ in poller.poll(100):
                if sock is xpub:
                    sub = xpub.recv()
                    if sub != b"\x01" + SESSION.encode():
                        continue
                    sent["subscriptions"] = sent.get("subscriptions", 0) + 1
                    if sent["subscriptions"] == 1:    # first session: garbage between valid frames
                        messages, sent["malformed"] = _garbage_then_valid()
                        sent["stream"] = True
                    elif sent["subscriptions"] == 2:  # second: a flood of one-frame batches (allocation check)
                        messages = [[msgpack.packb(_motion(k, 1))] for k in range(FLOOD_FRAMES)]
                        messages.append([msgpack.packb({"type": "end", "session": SESSION, "reason": "end_of_audio",
                                                        "frames_total": FLOOD_FRAMES, "duration_ms": 0.0})])
                    else:                             # later ones: silence (heartbeat timeout check)
                        messages = []
                    for frames in messages:
                        xpub.send_multipart([SESSION.encode(), *frames])
                    continue
                ident, *frames = router.recv_multipart()
                req = msgpack.unpackb(frames[0])
                kind = req["type"]
                if kind == "status":  # garbage instead of a reply
                    router.send_multipart([ident, b"\xc1 this is not msgpack"])
                    continue
                sent["hellos"] = sent.get("hellos", 0) + (kind == "hello")
                if kind == "controls" and not sent.get("forgot"):  # as if the client had been dropped (§8.2)
                    sent["forgot"] = True
                    router.send_multipart([ident, msgpack.packb(
                        {"type": "error", "id": req["id"], "code": "hello_required", "message": "say hello first"})])
                    continue
                reply = dict(vector[f"{kind}_ok"], id=req["id"])
                if kind == "controls":
                    reply["controls"] = dict(reply["controls"], **req["controls"])
                router.send_multipart([ident, msgpack.packb(reply)])
    finally:
        router.close(linger=0)
        xpub.close(linger=0)
        ctx.term()


def _not_zeromq_server(port_holder: list, stop: threading.Event) -> None:
    """Answers every TCP connection with an HTTP error (64+ bytes) and hangs up."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        srv.settimeout(0.1)
        port_holder.append(srv.getsockname()[1])
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with conn:
                # Read the client's greeting first: closing with unread data would send a reset instead of our reply.
                conn.settimeout(2)
                try:
                    conn.recv(64)
                except TimeoutError:
                    pass
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" + b" " * 64)


def test_csharp_client_survives_malformed_frames_from_a_fake_server(harness):
    ports = tuple(free_ports(2))
    stop = threading.Event()
    sent: dict = {}
    garbage_port: list = []
    threads = [threading.Thread(target=_fake_server, args=(*ports, stop, sent), daemon=True),
               threading.Thread(target=_not_zeromq_server, args=(garbage_port, stop), daemon=True)]
    for t in threads:
        t.start()
    while not garbage_port:
        time.sleep(0.01)
    try:
        out = run_harness(harness, "fake", str(ports[0]), str(ports[1]), str(garbage_port[0]))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
    assert sent.get("stream"), "the fake server never saw the client's subscription"
    assert sent["forgot"] and sent["hellos"] == 2, "after hello_required the client says hello again, once"
    malformed = int(next(line.split()[1] for line in out.splitlines() if line.startswith("MALFORMED")))
    assert malformed == sent["malformed"]


# ---- the demo head ---------------------------------------------------------------------------------------------
def test_csharp_loads_the_sample_head_mesh_json_like_python(harness):
    from vasa_bridge.avatar.gltf import read_mesh_json

    out = run_harness(harness, "mesh", str(SAMPLE_MESH))
    rows = {}
    for line in out.splitlines():
        if line.startswith("MESH "):
            name, *fields = line.split()[1:]
            rows[name] = dict(f.split("=", 1) for f in fields)
    python = {m.name: m for m in read_mesh_json(SAMPLE_MESH)}
    assert set(rows) == set(python) and "head" in rows
    for name, m in python.items():
        row = rows[name]
        assert int(row["vertices"]) == len(m.vertices)
        assert int(row["triangles"]) == len(m.triangles)
        assert row["shape_names"].split("|") == list(m.blendshapes)
        first = [float(x) for x in row["first_vertex"].split(",")]
        assert np.array_equal(np.float32(first), m.vertices[0])


def test_sample_head_mesh_json_is_what_avatar_export_writes():
    """The committed sample asset is our generator's output, not a hand-edited file."""
    from vasa_bridge.avatar import build_avatar
    from vasa_bridge.avatar.gltf import mesh_json_document

    committed = json.loads(SAMPLE_MESH.read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(mesh_json_document(build_avatar()))), \
        "the Unity sample's head is stale: run `make unity-assets` and commit the JSON"


def test_every_importable_package_file_has_a_stable_unity_meta():
    """Unity cannot write .meta files into an immutable package: each asset outside the `~` folders needs one,
    with the GUID make_meta.py derives from its path (so regenerating them changes nothing)."""
    import hashlib

    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if path.suffix == ".meta" or any(p.endswith("~") for p in rel.parts):
            continue
        meta = path.with_name(path.name + ".meta")
        assert meta.is_file(), f"{rel} has no .meta: run python unity_sample/make_meta.py"
        guid = hashlib.md5(f"com.vasabridge.client/{rel.as_posix()}".encode()).hexdigest()
        assert f"guid: {guid}\n" in meta.read_text(encoding="utf-8"), meta
