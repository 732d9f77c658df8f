"""The Python client: the docs example, stream_file (== the offline bake), the stream command, asyncio use."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import math
import re
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vasa_bridge.audio import load_audio
from vasa_bridge.baselines import amplitude_baseline
from vasa_bridge.client import AsyncClient, Client, ConnectionLost
from vasa_bridge.private_sidecar import stream_file_private
from vasa_bridge.motion import clip_io
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.transport.runner import BackgroundServer

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/install_system.sh installs it)")
    path = tmp_path_factory.mktemp("speech") / "line.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Hello there, traveller. The bridge is closed tonight."],
                   check=True)
    return path


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=0)) as s:
        yield s


def test_docs_example_runs_against_a_live_sidecar(server, speech_wav):
    doc = (REPO / "docs" / "sidecar.md").read_text()
    code = re.search(r"## Python client \(20 lines\)\n\n```python\n(.*?)```", doc, re.S).group(1)
    assert len(code.strip().splitlines()) <= 20
    code = code.replace('"tcp://127.0.0.1:5570"', repr(server.endpoints.ws_url)).replace(
        '"speech.wav"', repr(str(speech_wav)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/sidecar.md", "exec"), {})
    lines = out.getvalue().splitlines()
    n_frames = math.ceil(len(load_audio(speech_wav)) / 640)
    assert lines[0].startswith("server: vasa_bridge") and lines[0].endswith("synthetic: True")
    assert len([line for line in lines if "jawOpen" in line]) == n_frames
    assert lines[-1] == f"end: end_of_audio {n_frames} frames"


@pytest.mark.parametrize("ws", [False, True])
def test_stream_file_gives_the_same_motion_as_the_offline_bake(speech_wav, ws):
    clip = stream_file_private(speech_wav, ws=ws, speed=0).clip  # a private sidecar on free ports
    offline = amplitude_baseline(load_audio(speech_wav))
    assert clip.metadata["synthetic"] is True and clip.metadata["binding"] == ("ws" if ws else "zmq")
    assert len(clip) == len(offline)
    np.testing.assert_allclose(clip.frames, offline.frames, atol=1e-4)
    assert clip["jawOpen"].max() > 0.3
    assert 0 < clip.metadata["bytes_per_frame"] <= 400


def test_stream_command_writes_a_live_link_csv(server, speech_wav, tmp_path, capsys):
    from vasa_bridge.commands import stream

    parser = argparse.ArgumentParser()
    stream.add_arguments(parser)
    out = tmp_path / "clip.csv"
    args = parser.parse_args([str(speech_wav), "--url", server.endpoints.ws_url, "--speed", "4", "--out", str(out)])
    assert stream.run(args) == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("Timecode,BlendShapeCount,EyeBlinkLeft")
    n_frames = math.ceil(len(load_audio(speech_wav)) / 640)
    assert len(rows) - 1 == math.ceil(n_frames * 60 / 25)  # 60-fps rows, as the Live Link Face app writes them
    back = clip_io.read_clip(out)
    assert len(back) == n_frames and back.metadata["source_fps"] == 60
    assert "over ws" in capsys.readouterr().out


def test_async_client_runs_concurrent_sessions(server):
    rng = np.random.default_rng(0)
    lengths_s = [0.3, 0.5, 0.77, 1.0, 1.2, 0.04, 2.0, 0.61]

    async def one(client: AsyncClient, seconds: float) -> int:
        session = await client.open(sample_rate_hz=24000, audio_format="f32")
        audio = (rng.standard_normal(int(seconds * 24000)) * 0.1).astype(np.float32)
        for start in range(0, len(audio), 2400):
            await session.push(audio[start:start + 2400])
        await session.end_audio()
        seqs = [b.seq + i async for b in session.batches() for i in range(len(b.frames))]
        assert seqs == list(range(len(seqs)))
        await session.close()
        return len(seqs)

    async def main() -> list[int]:
        e = server.endpoints
        async with await AsyncClient.connect(e.zmq_url, stream_url=e.zmq_stream_url) as client:
            return await asyncio.gather(*[one(client, s) for s in lengths_s])

    assert asyncio.run(main()) == [math.ceil(s * 25 - 1e-9) for s in lengths_s]


def test_no_server_is_a_clear_error_not_a_hang():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionLost, match="is `vasa-bridge serve` running"):
        Client(f"tcp://127.0.0.1:{port}", timeout_s=0.5)
    with pytest.raises(ConnectionLost, match="cannot connect"):
        Client(f"ws://127.0.0.1:{port}/", timeout_s=0.5)
