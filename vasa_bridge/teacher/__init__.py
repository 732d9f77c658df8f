"""Phonetic teacher: phones + audio → ARKit performance (lips, eyes, head, brows, emotion)."""

from vasa_bridge.teacher.perform import perform

__all__ = ["perform"]
