"""Python client of the vasa_bridge sidecar (protocol/SPEC.md), sync and asyncio, over ZeroMQ or WebSocket.

    from vasa_bridge.client import Client
    with Client("tcp://127.0.0.1:5570") as client:          # or Client("ws://127.0.0.1:5572/")
        session = client.open(sample_rate_hz=16000)
        session.push(samples)                               # float32 in [-1, 1] or int16, mono
        session.end_audio()
        clip = session.collect()                            # MotionClip (T, 60) at 25 fps
"""

from vasa_bridge.client.core import (DEFAULT_WS_URL, DEFAULT_ZMQ_URL, AsyncClient, AsyncSession, MotionBatch,
                                     RenderBatch)
from vasa_bridge.client.failover import ReopenFailed, ReopeningSession
from vasa_bridge.client.stream import StreamResult, stream_audio, stream_file, stream_file_result
from vasa_bridge.client.sync import Client, Session
from vasa_bridge.protocol.errors import ConnectionLost, ServerError

__all__ = ["AsyncClient", "AsyncSession", "Client", "Session", "MotionBatch", "RenderBatch", "ReopeningSession",
           "ReopenFailed", "StreamResult",
           "stream_audio", "stream_file", "stream_file_result", "ConnectionLost", "ServerError", "DEFAULT_WS_URL",
           "DEFAULT_ZMQ_URL"]
