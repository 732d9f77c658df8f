"""Helpers shared by the sidecar test modules."""

from vasa_bridge.client import Client
from vasa_bridge.transport.runner import BackgroundServer


def connect(server: BackgroundServer, binding: str, **kwargs) -> Client:
    """A sync client on `binding` ("zmq" or "ws") of a running test server."""
    e = server.endpoints
    if binding == "zmq":
        return Client(e.zmq_url, stream_url=e.zmq_stream_url, **kwargs)
    return Client(e.ws_url, **kwargs)
