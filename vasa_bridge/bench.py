"""Benchmarks: each group returns (figures for --json, table rows (name, value, note)).

Figures are measured, never assumed; ratios compare against baselines timed in the same run on the same input."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

Rows = list[tuple[str, str, str]]
Benchmark = Callable[..., tuple[dict[str, float], Rows]]


def _best_time_s(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_teacher(quick: bool = False) -> tuple[dict[str, float], Rows]:
    """Teacher vs the amplitude baseline on a spoken line, in × real time (audio seconds per compute second)."""
    from vasa_bridge.audio import resample
    from vasa_bridge.baselines import amplitude_baseline
    from vasa_bridge.commands.demo import DEMO_LINE
    from vasa_bridge.phones.espeak import synthesize
    from vasa_bridge.teacher import perform

    speech = synthesize(" ".join([DEMO_LINE] * (2 if quick else 6)))
    audio = resample(speech.audio, speech.sample_rate_hz, 16000)
    seconds = len(audio) / 16000
    repeats = 2 if quick else 5
    teacher_s = _best_time_s(lambda: perform(speech.phones, audio, seed=0), repeats)
    baseline_s = _best_time_s(lambda: amplitude_baseline(audio), repeats)
    espeak_s = _best_time_s(lambda: synthesize(DEMO_LINE), repeats)
    espeak_audio_s = len(synthesize(DEMO_LINE).audio) / speech.sample_rate_hz
    figures = {"teacher_rtf": seconds / teacher_s, "amplitude_baseline_rtf": seconds / baseline_s,
               "espeak_synthesis_rtf": espeak_audio_s / espeak_s}
    rows = [("teacher (phones+audio → motion)", f"{figures['teacher_rtf']:.0f}× real time",
             f"{seconds:.0f} s line; {teacher_s / baseline_s:.1f}× the amplitude baseline's time"),
            ("amplitude baseline", f"{figures['amplitude_baseline_rtf']:.0f}× real time", "same line"),
            ("espeak-ng synthesis + phoneme events", f"{figures['espeak_synthesis_rtf']:.0f}× real time", "")]
    return figures, rows


def bench_corpus(quick: bool = False) -> tuple[dict[str, float], Rows]:
    from vasa_bridge.datagen.throughput import bench_corpus as run

    return run(quick=quick)


def bench_sidecar(quick: bool = False) -> tuple[dict[str, float], Rows]:
    """Loopback latency per binding, bytes per frame, sessions served in real time (amplitude backend)."""
    from vasa_bridge.transport.bench import sidecar_bench

    f = sidecar_bench(quick=quick, log=lambda *_: None)
    rows = [("sidecar chunk→frames latency, ZeroMQ", f"p50 {f['stream_latency_ms_p50']:.1f} / "
             f"p95 {f['stream_latency_ms_p95']:.1f} ms", "loopback, 40 ms chunks"),
            ("sidecar chunk→frames latency, WebSocket", f"p50 {f['ws_stream_latency_ms_p50']:.1f} / "
             f"p95 {f['ws_stream_latency_ms_p95']:.1f} ms", "loopback, 40 ms chunks"),
            ("bytes per motion frame on the wire", f"{f['bytes_per_frame']:.0f} B",
             f"float32 frames (float16: {f['bytes_per_frame_f16']:.0f} B); goal ≤ 400")]
    if "sessions_realtime_2cores" in f:
        rows.append(("sessions served in real time", f"{f['sessions_realtime_2cores']}",
                     f"one sidecar on 2 cores, p95 < {f['sessions_realtime_limit_ms_p95']:.0f} ms"))
    return {k: v for k, v in f.items() if isinstance(v, (int, float))}, rows


def bench_render(quick: bool = False) -> tuple[dict[str, float], Rows]:
    """Batched portrait rendering on the astronaut, one torch thread (see render/bench.py for why), and rendered
    frames streamed by the sidecar."""
    from vasa_bridge.render.bench import render_fps
    from vasa_bridge.transport.bench import REALTIME_P95_LIMIT_MS

    figures: dict[str, float] = {}
    rows: Rows = []
    for size in (256, 512):
        r = render_fps(size=size, batch=8 if quick else 16, repeats=2 if quick else 3)
        figures[f"render_fps_{size}"] = r[f"render_fps_{size}"]
        figures[f"render_cpu_ms_per_frame_{size}"] = r[f"render_cpu_ms_per_frame_{size}"]
        rows.append((f"render {size}×{size}", f"{r[f'render_fps_{size}']:.0f} fps",
                     f"batch {int(r['batch'])}, 1 thread, {r[f'render_cpu_ms_per_frame_{size}']:.1f} CPU ms/frame"
                     + ("; goal ≥ 60 fps" if size == 512 else "")))
    from vasa_bridge.transport.bench import render_stream_bench

    f = render_stream_bench(quick=quick, log=lambda *_: None)
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


def bench_motion(quick: bool = False) -> tuple[dict[str, float], Rows]:
    from vasa_bridge.runtime.diffusion_bench import bench_motion as run

    return run(quick)


def bench_cluster(quick: bool = False) -> tuple[dict[str, float], Rows]:
    """Sessions sustained and p95 lateness through a local 2-replica Ray Serve cluster vs a plain sidecar."""
    from vasa_bridge.cluster.bench import P95_LIMIT_MS, cluster_bench

    f = cluster_bench(quick=quick, log=lambda *_: None)
    rows = [(f"real-time sessions, {name}", f"{f[key + '_sessions_sustained']:.0f}", f"p95 ≤ {P95_LIMIT_MS:.0f} ms")
            for name, key in (("plain sidecar", "plain"), ("cluster WebSocket", "cluster_ws"),
                              ("cluster ZeroMQ", "cluster_zmq"))]
    return f, rows


BENCHMARKS: dict[str, Benchmark] = {
    "teacher": bench_teacher,
    "sidecar": bench_sidecar,
    "render": bench_render,
    "corpus": bench_corpus,
    "motion": bench_motion,
    "cluster": bench_cluster,
}


def format_table(rows: Rows, title: str) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"== {title}"]
    lines += [f"  {a:<{widths[0]}}  {b:>{widths[1]}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
