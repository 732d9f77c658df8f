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


def bench_motion(quick: bool = False) -> tuple[dict[str, float], Rows]:
    from vasa_bridge.runtime.diffusion_bench import bench_motion as run

    return run(quick)


BENCHMARKS: dict[str, Benchmark] = {
    "teacher": bench_teacher,
    "motion": bench_motion,
}


def format_table(rows: Rows, title: str) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"== {title}"]
    lines += [f"  {a:<{widths[0]}}  {b:>{widths[1]}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
