"""Renderer speed: frames per second on this machine, batched, on the astronaut portrait."""

from __future__ import annotations

import time

import numpy as np


def render_fps(size: int = 512, batch: int = 16, device: str = "cpu", repeats: int = 3, threads: int | None = 1
               ) -> dict[str, float]:
    """Best-of-`repeats` throughput of `Renderer.render` (uint8 frames out) on a speech-like batch: jaw, blinks,
    gaze and head motion all active. Prep (detection, mesh, rig) is timed separately, once.

    One torch thread by default: on a small shared CPU, intra-op threads spin-wait on each other and a 2-thread
    render measured 10x slower under load than a 1-thread one; scale across cores with one renderer per worker
    (sessions) instead. `threads=None` keeps torch's setting."""
    import skimage.data
    import torch

    from vasa_bridge.motion import layout
    from vasa_bridge.render.portrait import Portrait, _cache
    from vasa_bridge.render.renderer import Renderer

    if threads is not None:
        torch.set_num_threads(threads)
    _cache.clear()
    t0 = time.perf_counter()
    portrait = Portrait.prepare(skimage.data.astronaut(), size)
    renderer = Renderer(portrait, device)
    prep_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    frames = np.zeros((batch, layout.N_CHANNELS), np.float32)
    frames[:, layout.channel("headZ")] = layout.DEFAULT_HEAD_DISTANCE_M
    frames[:, layout.channel("jawOpen")] = rng.uniform(0.0, 0.7, batch)
    frames[:, layout.channel("mouthClose")] = rng.uniform(0.0, 0.1, batch)
    frames[:, layout.channel("eyeBlinkLeft")] = frames[:, layout.channel("eyeBlinkRight")] = rng.uniform(0, 1, batch) ** 6
    frames[:, layout.channel("gazeYaw")] = rng.uniform(-0.2, 0.2, batch)
    frames[:, layout.channel("headYaw")] = rng.uniform(-0.1, 0.1, batch)
    frames[:, layout.channel("headPitch")] = rng.uniform(-0.08, 0.08, batch)
    renderer.render(frames)          # warm-up: allocator, thread pool
    best = best_cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        renderer.render(frames)
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    # Wall-clock fps is the figure; CPU seconds per frame says what it would be on idle cores when the machine
    # is shared (wall fps ~= threads / cpu_ms_per_frame * 1000 with perfect scaling).
    return {f"render_fps_{size}": batch / best, f"render_cpu_ms_per_frame_{size}": 1000.0 * best_cpu / batch,
            "batch": float(batch), "size": float(size), "threads": float(torch.get_num_threads()),
            "prep_s": prep_s}


if __name__ == "__main__":
    import json
    import sys
    sizes = [int(s) for s in sys.argv[1:]] or [256, 512]
    print(json.dumps({s: render_fps(s) for s in sizes}, indent=2))
