"""Helpers shared by the test modules that run a sidecar."""

import socket
from contextlib import contextmanager

from vasa_bridge.client import Client
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.transport.runner import BackgroundServer, SubprocessServer


@contextmanager
def sidecar_process(**overrides):
    """For timing: the server in its own process, so the clients in this one do not share its GIL."""
    config = ServerConfig(**{"zmq_port": 0, "zmq_stream_port": 0, "ws_port": 0, **overrides})
    server = SubprocessServer(config).start()
    try:
        yield server
    finally:
        assert server.stop() == 0, "the sidecar did not exit cleanly"


def connect(server: BackgroundServer, binding: str, **kwargs) -> Client:
    """A sync client on `binding` ("zmq" or "ws") of a running test server."""
    e = server.endpoints
    if binding == "zmq":
        return Client(e.zmq_url, stream_url=e.zmq_stream_url, **kwargs)
    return Client(e.ws_url, **kwargs)


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback TCP ports (all bound at once, so no two are the same)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports
