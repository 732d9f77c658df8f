"""Portrait renderer: one photo + motion frames → talking-face frames (see docs/renderer.md).

Heavy modules (torch, LiteRT, PIL) load on first use of these names, so importing the package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vasa_bridge.render.portrait import Portrait
    from vasa_bridge.render.renderer import Renderer, RenderOptions
    from vasa_bridge.render.video import animate_to_files, encode_jpeg, encode_rgba

__all__ = ["Portrait", "Renderer", "RenderOptions", "encode_jpeg", "encode_rgba", "animate_to_files"]

_WHERE = {"Portrait": "portrait", "Renderer": "renderer", "RenderOptions": "renderer", "encode_jpeg": "video",
          "encode_rgba": "video", "animate_to_files": "video"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(f"vasa_bridge.render.{_WHERE[name]}"), name)
    raise AttributeError(name)
