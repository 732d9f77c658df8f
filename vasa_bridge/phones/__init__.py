"""Phone timings: espeak-ng phoneme events, pocketsphinx forced alignment, and the phone → viseme table."""

from vasa_bridge.phones.types import VISEMES, Phone

__all__ = ["VISEMES", "Phone"]
