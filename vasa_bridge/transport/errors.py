"""Errors of the sidecar server, as the CLI reports them (client-side errors live in vasa_bridge.protocol.errors)."""

from __future__ import annotations

from vasa_bridge.errors import VasaBridgeError


class SidecarConfigError(VasaBridgeError):
    """The server cannot start with these settings (e.g. a public interface without keys or token)."""
