"""What a client of the protocol raises: an `error` reply, or no reply at all."""

from __future__ import annotations

from vasa_bridge.errors import VasaBridgeError


class ServerError(VasaBridgeError):
    """The server answered a request with an `error` message."""

    def __init__(self, code: str, message: str, reply: dict | None = None) -> None:
        super().__init__(f"server error {code}: {message}")
        self.code, self.server_message, self.reply = code, message, reply or {}


class ConnectionLost(VasaBridgeError):
    """No answer from the server in time, or the connection dropped (is `vasa-bridge serve` running?)."""
