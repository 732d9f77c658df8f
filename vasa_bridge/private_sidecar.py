"""A sidecar started for one call: stream a file through it without a running `vasa-bridge serve`.

It sits above both `client/` and `transport/` (the client never imports server code): the demo, `vasa-bridge
stream --local` and the tests use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vasa_bridge.client.stream import StreamResult, stream_file_result


def stream_file_private(path: str | Path, *, ws: bool = False, **options: Any) -> StreamResult:
    """`client.stream_file_result` through a private sidecar on free loopback ports (amplitude backend), over
    WebSocket with `ws`, else ZeroMQ; it runs the renderer when `image_format` asks for rendered frames."""
    from vasa_bridge.transport.runner import BackgroundServer

    renderer = None
    if options.get("image_format"):
        from vasa_bridge.transport.rendering import RenderService

        renderer = RenderService()
    with BackgroundServer(renderer=renderer) as server:
        endpoints = server.endpoints
        if ws:
            return stream_file_result(path, endpoints.ws_url, **options)
        return stream_file_result(path, endpoints.zmq_url, stream_url=endpoints.zmq_stream_url, **options)
