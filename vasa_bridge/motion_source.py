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
# Motion-model windows generated per step when audio arrives in blocks: ~10 s of audio. Features computed for a
# single window at a time cost 10x more per frame on a busy CPU (small FFT/BLAS calls), and 10 s of 16 kHz audio
# is still only 640 kB of RAM.
WINDOWS_PER_STEP = 32


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
                      engine: str = "onnxruntime") -> Performance:
    """Audio only (no transcript, any language): the diffusion motion model, generated as a stream would be.

    `audio_16k` is the whole signal or an iterable of consecutive blocks of it (e.g. `AudioFile.blocks()`); either
    way memory is bounded by a block plus the motion frames (60 float32 per frame), not by the audio's duration."""
    from vasa_bridge.runtime.diffusion import DiffusionBackend

    backend = DiffusionBackend(engine, weights=weights)
    blocks = [audio_16k] if isinstance(audio_16k, np.ndarray) else audio_16k
    clip = _generate_from_blocks(backend, blocks, controls, seed, guidance_scale)
    clip.metadata.update(sample_rate_hz=MODEL_SAMPLE_RATE_HZ, guidance_scale=guidance_scale)
    return Performance(clip, ())


def _generate_from_blocks(backend: "object", blocks: Iterable[np.ndarray], controls: Controls, seed: int,
                          guidance_scale: float) -> MotionClip:
    """What `runtime.diffusion.generate_clip` computes for the concatenated blocks, without holding them all.

    Offline generation pushes everything, then samples windows of max_new_frames new frames from frame 0 on. To
    give the same frames (the same windows see the same audio and draw the same noise), audio goes into the
    stream exactly up to where the next WINDOWS_PER_STEP full windows become ready, then the stream steps; what
    is left at the end goes to the flush, as offline."""
    from vasa_bridge.audio.constants import HOP_LENGTH_SAMPLES
    from vasa_bridge.model.conditioning import samples_needed
    from vasa_bridge.runtime.backend import SessionControls

    stream = backend.new_stream(SessionControls(controls, guidance_scale), seed)
    frames_per_step = backend.max_new_frames * WINDOWS_PER_STEP
    out: list[np.ndarray] = []
    pushed = 0                                           # samples pushed into the stream
    pending = np.zeros(0, np.float32)                    # samples received but not yet pushed
    for block in blocks:
        pending = np.concatenate([pending, np.asarray(block, np.float32).reshape(-1)])
        start = 0
        while True:
            # the sample count at which frames next_frame .. next_frame + frames_per_step - 1 are all ready
            ready_at = samples_needed(stream.next_frame + frames_per_step - 1, HOP_LENGTH_SAMPLES)
            if pushed + len(pending) - start < ready_at:
                break
            take = ready_at - pushed
            stream.push(pending[start:start + take])
            pushed += take
            start += take
            out.append(backend.step([stream])[stream].frames)
        pending = pending[start:]
    stream.push(pending)
    stream.flush()
    out.append(backend.step([stream])[stream].frames)
    frames = np.concatenate(out)                         # (T, N_CHANNELS)
    return MotionClip(frames, metadata={"source": "motion-diffusion", "seed": int(seed)})
