"""vasa_bridge: speech audio → talking-face motion for game engines (ARKit-52 blendshapes, head pose, gaze)."""

__version__ = "0.1.0"
