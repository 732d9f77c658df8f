"""The diffusion backend behind the real sidecar: a client streams a spoken line over ZeroMQ (loopback) and gets
every frame back, produced by the model (not the amplitude baseline)."""

import numpy as np
import pytest

from vasa_bridge.model.weights import DEFAULT_WEIGHTS
from vasa_bridge.motion import layout
from vasa_bridge.runtime.diffusion import SAMPLES_PER_FRAME, DiffusionBackend


@pytest.mark.skipif(not DEFAULT_WEIGHTS.with_suffix(".onnx").exists(), reason="no shipped ONNX model")
@pytest.mark.timeout(60)
def test_sidecar_streams_model_motion_for_a_spoken_line():
    import asyncio

    from vasa_bridge.client.core import AsyncClient
    from vasa_bridge.client.stream import stream_audio
    from vasa_bridge.train.data import synth_pairs
    from vasa_bridge.transport.runner import BackgroundServer

    pair = synth_pairs(1, seed=21, voices="heldout-voice", corrupt=False)[0]

    async def run(endpoints):
        client = await AsyncClient.connect(endpoints.zmq_url, stream_url=endpoints.zmq_stream_url, timeout_s=10)
        try:
            return await stream_audio(client, pair.audio_16k, 16000, speed=0, controls={"guidance_scale": 2.0},
                                      timeout_s=20)
        finally:
            await client.close()

    with BackgroundServer(backend=DiffusionBackend("onnxruntime")) as server:
        result = asyncio.run(run(server.endpoints))
    frames = result.clip.frames
    assert len(frames) == -(-len(pair.audio_16k) // SAMPLES_PER_FRAME)
    assert np.isfinite(frames).all()
    # The amplitude baseline moves only jawOpen; the model also moves lips, brows and the head.
    moving = np.flatnonzero(frames.std(axis=0) > 1e-3)
    assert {layout.channel("mouthClose"), layout.channel("headYaw")} <= set(moving.tolist())
