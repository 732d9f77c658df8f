"""Offline generation from audio that arrives in blocks (a file decoded block by block): the clip
`runtime.diffusion.generate_clip` would make of the whole signal, with memory bounded by a block plus the frames.

It drives the diffusion backend as the streaming scheduler it is (push, step, flush), reading only the backend's
and stream's public attributes (`max_new_frames`, `next_frame`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np

from vasa_bridge.audio.constants import HOP_LENGTH_SAMPLES
from vasa_bridge.model.conditioning import samples_needed
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.motion.controls import Controls
from vasa_bridge.runtime.backend import DEFAULT_GUIDANCE_SCALE, SessionControls

if TYPE_CHECKING:
    from vasa_bridge.runtime.diffusion import DiffusionBackend

# Windows generated per step: ~10 s of audio. Features computed for a single window at a time cost 10x more per
# frame on a busy CPU (small FFT/BLAS calls), and 10 s of 16 kHz audio is still only 640 kB of RAM.
WINDOWS_PER_STEP = 32


def generate_clip_from_blocks(backend: "DiffusionBackend", blocks: Iterable[np.ndarray],
                              controls: Controls = Controls(), seed: int = 0,
                              guidance_scale: float = DEFAULT_GUIDANCE_SCALE) -> MotionClip:
    """What `generate_clip` computes for the concatenated blocks, without holding them all.

    Offline generation pushes everything, then samples windows of max_new_frames new frames from frame 0 on. To
    give the same frames (the same windows see the same audio and draw the same noise), audio goes into the
    stream exactly up to where the next WINDOWS_PER_STEP full windows become ready, then the stream steps; what
    is left at the end goes to the flush, as offline."""
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
