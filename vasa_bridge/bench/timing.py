"""Timing helpers the benchmark groups share."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

Rows = list[tuple[str, str, str]]   # table rows: (what, value, note)


def best_time_s(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best



def median_time_s(job: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` runs: this shared VM's speed swings by 1.5× from one second to the next."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        job()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
