"""The servers the in-engine tests talk to, all on 127.0.0.1:

- the real sidecar (`vasa-bridge serve`, WebSocket binding only) on a free port;
- a fake WebSocket server that misbehaves on purpose, one behaviour per URL path, so the addon's error handling
  can be checked: it must report an error signal, never hang;
- speech: a line synthesized with espeak-ng (raw pcm16 mono), packed into the engine's project and served at
  /speech for the browser demo.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Callable

import msgpack

REPO_DIR = Path(__file__).resolve().parents[2]
TEST_LINE = "Hello there! I am a talking head, streamed from the sidecar into Godot."
FAKE_PATHS = ("garbage", "truncated", "text", "not_map", "bad_motion", "silent", "refuse", "busy")
FAKE_SESSION = "00000000deadbeef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_command_code(name: str) -> str:
    """Python code running `vasa-bridge NAME ARGS...` (sys.argv[1:]) through the command's own module, so it
    works whatever other commands this checkout has."""
    return ("import argparse, sys\n"
            f"from vasa_bridge.commands import {name} as c\n"
            "p = argparse.ArgumentParser(); c.add_arguments(p)\n"
            "sys.exit(c.run(p.parse_args(sys.argv[1:])))\n")


def speak_pcm16(text: str, voice: str = "en-us") -> tuple[bytes, int]:
    """espeak-ng speech as (mono little-endian pcm16 bytes, sample rate Hz)."""
    if not text.strip():
        raise ValueError("nothing to say: the text is empty")
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "line.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav_path), text[:500]], check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with wave.open(str(wav_path)) as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise ValueError(f"espeak-ng wrote {w.getnchannels()} channels of {w.getsampwidth()} bytes")
            return w.readframes(w.getnframes()), w.getframerate()


def portrait_jpeg() -> bytes:
    """A real photo with a face the sidecar's detector finds: scikit-image's astronaut (512 px) as a JPEG."""
    import io  # noqa: PLC0415

    import skimage.data  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class Sidecar:
    """`vasa-bridge serve --no-zmq --ws-port PORT` as a subprocess; `render=True` adds `--render` (rendered
    frames of a portrait, protocol 1.1; it prepares its demo portrait before it listens: seconds more)."""

    def __init__(self, port: int | None = None, *, render: bool = False) -> None:
        self.port = port or free_port()
        env = dict(os.environ, PYTHONPATH=str(REPO_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", run_command_code("serve"), "--no-zmq", "--ws-port", str(self.port),
             "--log-level", os.environ.get("VASA_GODOT_SIDECAR_LOG", "warning"), *(["--render"] if render else [])],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + (90 if render else 30)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"vasa-bridge serve exited with {self.proc.returncode}: "
                                   f"{self.log.read().decode(errors='replace')[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError("vasa-bridge serve did not listen in time")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def warm_up(self, sample_rate_hz: int = 16000, timeout_s: float = 30.0) -> None:
        """Open one session at `sample_rate_hz` and push a little audio, so the backend's lazy start-up (imports,
        resampler set-up) is not timed as part of the engine's test."""
        from websockets.sync.client import connect  # noqa: PLC0415

        with connect(self.url, open_timeout=timeout_s, compression=None) as ws:
            for msg in ({"type": "hello", "id": 1, "protocol": "1.0", "client": "godot-test-warm-up"},
                        {"type": "open", "id": 2, "audio": {"format": "pcm16", "sample_rate_hz": sample_rate_hz}}):
                ws.send(msgpack.packb(msg))
                reply = msgpack.unpackb(ws.recv(timeout=timeout_s))
                if reply.get("type") != f"{msg['type']}_ok":
                    raise RuntimeError(f"sidecar warm-up: {msg['type']} got {reply}")
            session = reply["session"]
            ws.send(msgpack.packb({"type": "audio", "id": 3, "session": session, "audio": b"\0\0" * sample_rate_hz}))
            ws.send(msgpack.packb({"type": "end_audio", "id": 4, "session": session}))
            while msgpack.unpackb(ws.recv(timeout=timeout_s)).get("type") != "end":
                pass

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _busy_replies(msg: dict, ok: dict, accepted: list[bytes], refused: set[bytes]) -> list[dict]:
    """The "busy" fake: every chunk whose first byte is even is refused once with `busy` (SPEC §4.3), the rest
    taken; `end` reports the first bytes of the chunks taken, in order, so the test sees what the server's audio
    clock holds. `status` gets an error with id nil (SPEC §3: the client must fail its oldest request)."""
    mtype = msg.get("type")
    if mtype == "open":
        return [{**ok, "session": FAKE_SESSION, "fps": 25.0, "lookahead_ms": 0.0}]
    if mtype == "audio":
        chunk = bytes(msg.get("audio", b""))
        if chunk and chunk[0] % 2 == 0 and chunk not in refused:
            refused.add(chunk)
            return [{"type": "error", "id": msg.get("id"), "code": "busy", "session": FAKE_SESSION,
                     "message": "queue full; resend", "retry_after_ms": 30.0}]
        accepted.append(chunk)
        return [{**ok, "session": FAKE_SESSION, "received_ms": sum(len(c) for c in accepted) / 32.0}]
    if mtype == "end_audio":
        total_ms = sum(len(c) for c in accepted) / 32.0
        return [{**ok, "session": FAKE_SESSION, "received_ms": total_ms},
                {"type": "end", "session": FAKE_SESSION, "reason": "end_of_audio", "frames_total": 0,
                 "duration_ms": total_ms, "x_chunk_order": [c[0] for c in accepted if c]}]
    if mtype == "status":
        return [{"type": "error", "id": None, "code": "bad_message", "message": "could not read the id"}]
    return [ok]


class FakeServer:
    """A WebSocket server that breaks the protocol in one way per path (FAKE_PATHS)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake WebSocket server did not start")

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve  # noqa: PLC0415

        self._stop = self._loop.create_future()
        async with serve(self._handler, "127.0.0.1", self.port, compression=None):
            self._ready.set()
            await self._stop

    async def _handler(self, ws) -> None:  # noqa: ANN001 (websockets connection)
        behaviour = ws.request.path.strip("/")
        if behaviour == "refuse":
            await ws.close(1011, "refused by the fake server")
            return
        accepted: list[bytes] = []  # "busy": audio chunks taken, in order
        refused: set[bytes] = set()
        try:
            async for raw in ws:
                msg = msgpack.unpackb(raw) if isinstance(raw, bytes) else {}
                ok = {"type": f"{msg.get('type')}_ok", "id": msg.get("id")}
                if msg.get("type") == "hello":
                    ok.update(protocol="1.0", server="fake", instance="0123456789abcdef", synthetic=True,
                              motion_layout_version=1, fps=25.0, heartbeat_ms=1000.0)
                if behaviour == "garbage":
                    await ws.send(b"\xc1\x00\x01")
                elif behaviour == "truncated":
                    await ws.send(msgpack.packb(ok)[:-3])
                elif behaviour == "text":
                    await ws.send("this is text, the binding is binary")
                elif behaviour == "not_map":
                    await ws.send(msgpack.packb([1, 2, 3]))
                elif behaviour == "bad_motion":
                    if msg.get("type") == "open":
                        ok.update(session="00000000deadbeef", fps=25.0, lookahead_ms=40.0)
                    await ws.send(msgpack.packb(ok))
                    if msg.get("type") == "open":
                        frames = b"\x00" * (2 * 60 * 4 - 7)  # 2 frames minus 7 bytes: a truncated batch
                        await ws.send(msgpack.packb({
                            "type": "motion", "session": "00000000deadbeef", "seq": 0, "n": 2, "pts_ms": 0.0,
                            "channels": 60, "dtype": "f32", "frames": frames, "synthetic": True}))
                elif behaviour == "busy":
                    for reply in _busy_replies(msg, ok, accepted, refused):
                        await ws.send(msgpack.packb(reply))
                # "silent": read and never answer
        except Exception:  # noqa: BLE001 (a client going away mid-test is fine)
            pass

    def url(self, behaviour: str) -> str:
        return f"ws://127.0.0.1:{self.port}/{behaviour}"

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(timeout=5)


class LiveHarness:
    """Context manager: sidecar + fake server + the spoken test line; hands their addresses to the engine."""

    def __init__(self, out_dir: Path | None = None) -> None:
        self.out_dir = out_dir
        self.sidecar: Sidecar | None = None
        self.fake: FakeServer | None = None
        self.pcm, self.sample_rate_hz = b"", 0

    def __enter__(self) -> "LiveHarness":
        self.pcm, self.sample_rate_hz = speak_pcm16(TEST_LINE)
        self.fake = FakeServer()
        self.sidecar = Sidecar(render=True)  # test_live_render.gd asks it for JPEG frames of an uploaded portrait
        self.sidecar.warm_up(self.sample_rate_hz)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sidecar is not None:
            self.sidecar.close()
        if self.fake is not None:
            self.fake.close()

    def engine_args(self) -> list[str]:
        assert self.sidecar is not None and self.fake is not None
        return [f"--ws-port={self.sidecar.port}", f"--fake-port={self.fake.port}",
                f"--sample-rate-hz={self.sample_rate_hz}"]

    def data(self) -> dict[str, bytes]:
        return {"test_data/line.pcm": self.pcm, "test_data/portrait.jpg": portrait_jpeg()}

    def routes(self) -> dict[str, tuple[str, Callable[[dict[str, str]], bytes]]]:
        return {}
