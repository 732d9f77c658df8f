"""Load a whole speech file as mono float32 at the model sample rate, with clear errors for bad input.

For short inputs (a line, a clip, a test). Files of any length go through `vasa_bridge.audio.blocks`, which this
is built on: the same decoding, downmix and resampling, block by block, concatenated here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vasa_bridge.audio.blocks import AudioFile
from vasa_bridge.audio.constants import MAX_AUDIO_S, MODEL_SAMPLE_RATE_HZ
from vasa_bridge.errors import AudioError


def load_audio(path: str | Path, sample_rate_hz: int = MODEL_SAMPLE_RATE_HZ) -> np.ndarray:
    """Mono float32 in [-1, 1] at `sample_rate_hz`. Any rate, channel count, bit depth; wav/flac/ogg/mp3/m4a."""
    audio = AudioFile(path)
    too_long = f"{audio.path} is longer than {MAX_AUDIO_S // 3600} h to hold in memory; read it with " \
               f"vasa_bridge.audio.blocks.AudioFile(...).blocks() (bake and animate do)"
    if audio.duration_s is not None and audio.duration_s > MAX_AUDIO_S:
        raise AudioError(too_long)
    parts: list[np.ndarray] = []
    n = 0
    for block in audio.blocks(sample_rate_hz):
        n += len(block)
        if n > MAX_AUDIO_S * sample_rate_hz + sample_rate_hz:   # headers can lie about duration (or not say it)
            raise AudioError(too_long)
        parts.append(block)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
