"""Motion runtime: the interface that turns many sessions' audio into motion frames in batched steps."""

from vasa_bridge.runtime.backend import (AmplitudeBackend, MotionBackend, MotionChunk, MotionStream,
                                         SessionControls, default_backend)

__all__ = ["AmplitudeBackend", "MotionBackend", "MotionChunk", "MotionStream", "SessionControls",
           "default_backend"]
