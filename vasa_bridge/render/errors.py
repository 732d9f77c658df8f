"""Renderer errors: each says what went wrong with the portrait or models and what to do."""

from vasa_bridge.errors import VasaBridgeError


class PortraitError(VasaBridgeError):
    """A portrait image we cannot use (unreadable, too small, no face, bad landmarks file)."""


class FaceModelError(VasaBridgeError):
    """The MediaPipe face models are missing or failed to run."""


class RenderOutputError(VasaBridgeError):
    """An output (mp4, strip, JPEG) could not be written."""
