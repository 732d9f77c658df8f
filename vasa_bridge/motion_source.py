"""Where a clip's motion comes from for offline tools (bake, animate, demo).

With a transcript: phone timings (forced alignment) → the phonetic teacher. The audio-only path (the diffusion
model) plugs in here too, so every tool shares one way to turn speech into motion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.motion.controls import Controls
from vasa_bridge.phones.types import Phone
from vasa_bridge.runtime.backend import DEFAULT_GUIDANCE_SCALE

SILENCE_PEAK = 1e-3  # below this peak amplitude the file is silence: an idle face, not an alignment error


@dataclass(frozen=True)
class Performance:
    clip: MotionClip
    phones: tuple[Phone, ...]


def is_silence(audio_16k: np.ndarray) -> bool:
    return len(audio_16k) == 0 or float(np.max(np.abs(audio_16k))) < SILENCE_PEAK


def teacher_performance(audio_16k: np.ndarray, text: str, controls: Controls = Controls(), seed: int = 0,
                        source_name: str = "audio") -> Performance:
    """Align `text` to the audio, then perform it. Silence needs no transcript: it gives a calm idle face."""
    from vasa_bridge.teacher import perform

    if is_silence(audio_16k):
        phones: tuple[Phone, ...] = ()
    else:
        from vasa_bridge.errors import PhoneTimingError
        from vasa_bridge.phones.align import align

        try:
            phones = tuple(align(audio_16k, text))
        except PhoneTimingError as e:
            raise PhoneTimingError(f"{source_name}: {e}") from None
    clip = perform(phones, audio_16k, controls, seed)
    clip.metadata.update(text=text, sample_rate_hz=MODEL_SAMPLE_RATE_HZ)
    return Performance(clip, phones)


def model_performance(audio_16k: "np.ndarray | Iterable[np.ndarray]", controls: Controls = Controls(), seed: int = 0,
                      guidance_scale: float = DEFAULT_GUIDANCE_SCALE, weights: str | None = None,
                      engine: str = "onnxruntime", whisper_ear: bool = False) -> Performance:
    """Audio only (no transcript, any language): the diffusion motion model, generated as a stream would be.

    `audio_16k` is the whole signal or an iterable of consecutive blocks of it (e.g. `AudioFile.blocks()`); either
    way memory is bounded by a block plus the motion frames (60 float32 per frame), not by the audio's duration.
    `whisper_ear`: the lips close where Whisper's encoder hears them closed (model/whisper_ear.py; the `whisper`
    extra); it hears the whole clip, so the blocks are joined (230 MB of RAM per hour of audio)."""
    from vasa_bridge.runtime.diffusion import DiffusionBackend, generate_clip
    from vasa_bridge.runtime.offline import generate_clip_from_blocks

    backend = DiffusionBackend(engine, weights=weights)
    if whisper_ear:
        from vasa_bridge.model.whisper_ear import ear_beside

        ear = ear_beside(weights)
        if not isinstance(audio_16k, np.ndarray):
            audio_16k = np.concatenate([np.zeros(0, np.float32), *audio_16k])
        clip = generate_clip(backend, audio_16k, controls, seed, guidance_scale, ear)
    else:
        blocks = [audio_16k] if isinstance(audio_16k, np.ndarray) else audio_16k
        clip = generate_clip_from_blocks(backend, blocks, controls, seed, guidance_scale)
    clip.metadata.update(sample_rate_hz=MODEL_SAMPLE_RATE_HZ, guidance_scale=guidance_scale)
    return Performance(clip, ())
