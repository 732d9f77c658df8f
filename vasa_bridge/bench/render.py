"""Render group: portrait renderer frames per second on this machine, batched, on the astronaut portrait; and
rendered frames streamed by the sidecar."""

from __future__ import annotations

import time

import numpy as np

from vasa_bridge.bench.timing import Rows


def measure_render_fps(size: int = 512, batch: int = 16, device: str = "cpu", repeats: int = 3,
                       threads: int | None = 1) -> dict[str, float]:
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
    blink = rng.uniform(0, 1, batch) ** 6
    frames[:, layout.channel("eyeBlinkLeft")] = frames[:, layout.channel("eyeBlinkRight")] = blink
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


def bench_render(quick: bool = False) -> tuple[dict[str, float], Rows]:
    """Batched portrait rendering on the astronaut, one torch thread (see `measure_render_fps` for why), and
    rendered frames streamed by the sidecar."""
    from vasa_bridge.bench.sidecar import REALTIME_P95_LIMIT_MS, measure_render_stream

    figures: dict[str, float] = {}
    rows: Rows = []
    for size in (256, 512):
        r = measure_render_fps(size=size, batch=8 if quick else 16, repeats=2 if quick else 3)
        figures[f"render_fps_{size}"] = r[f"render_fps_{size}"]
        figures[f"render_cpu_ms_per_frame_{size}"] = r[f"render_cpu_ms_per_frame_{size}"]
        rows.append((f"render {size}×{size}", f"{r[f'render_fps_{size}']:.0f} fps",
                     f"batch {int(r['batch'])}, 1 thread, {r[f'render_cpu_ms_per_frame_{size}']:.1f} CPU ms/frame"
                     + ("; goal ≥ 60 fps" if size == 512 else "")))
    f = measure_render_stream(quick=quick, log=lambda *_: None)
    figures.update(f)
    for size in (256, 512):
        kb = f[f"render_stream_bytes_per_image_{size}"] / 1000
        rows.append((f"rendered stream {size}², chunk→image p95",
                     f"{f[f'render_stream_latency_ms_p95_{size}']:.0f} ms",
                     f"one session, 40 ms chunks, JPEG q85 ≈ {kb:.0f} kB; "
                     f"its motion p95 {f[f'render_stream_motion_latency_ms_p95_{size}']:.0f} ms"))
    rows.append(("rendering sessions in real time (256², JPEG)", f"{f['render_sessions_realtime_256']}",
                 f"one sidecar on 2 cores, image p95 < {REALTIME_P95_LIMIT_MS:.0f} ms"))
    return figures, rows


if __name__ == "__main__":
    import json
    import sys
    sizes = [int(s) for s in sys.argv[1:]] or [256, 512]
    print(json.dumps({s: measure_render_fps(s) for s in sizes}, indent=2))
