"""Corpus build throughput per voice family, for `make bench`: a few real items each, in this process.

Wall-clock figures suffer when other jobs share the machine; CPU-time figures (this process and its flite/sox
children) do not, and give what an idle machine would do. Both are reported."""

from __future__ import annotations

import os
import time

from vasa_bridge.bench.timing import Rows
from vasa_bridge.datagen.voices import FAMILIES


def measure_corpus_throughput(items_per_family: int = 4, seed: int = 0, families: tuple[str, ...] = FAMILIES) -> dict:
    """Per family: × real time by wall clock and by CPU time (one worker, one onnxruntime thread), and hours of
    audio per wall minute; `all` uses the corpus's family mix. Each item goes through the whole pipeline
    (synthesis, phone timing, teacher, augmentation)."""
    from vasa_bridge.datagen.build import _cpu_s, make_item
    from vasa_bridge.datagen.plan import FAMILY_SHARES, plan_corpus

    os.environ.setdefault("VASA_VOICE_THREADS", "1")
    plan = plan_corpus(0.5, seed, families)
    out: dict[str, dict[str, float]] = {}
    for family in families:
        chosen = [p for p in plan if p.family == family][:items_per_family]
        make_item(chosen[0])                    # load models and caches outside the timing
        audio_s = 0.0
        t0, cpu0 = time.perf_counter(), _cpu_s()
        for item in chosen:
            audio_s += make_item(item)["meta"]["duration_s"]
        wall_s, cpu_s = time.perf_counter() - t0, _cpu_s() - cpu0
        out[family] = {"realtime_factor": audio_s / wall_s, "realtime_factor_cpu": audio_s / cpu_s,
                       "audio_hours_per_wall_minute": audio_s / wall_s / 60, "items": len(chosen),
                       "audio_s": audio_s}
    # Mix: time per audio hour is the share-weighted sum of each family's time per hour.
    shares = {f: FAMILY_SHARES[f] / sum(FAMILY_SHARES[g] for g in families) for f in families}
    wall_per_audio = sum(shares[f] / out[f]["realtime_factor"] for f in families)
    cpu_per_audio = sum(shares[f] / out[f]["realtime_factor_cpu"] for f in families)
    out["all"] = {"realtime_factor": 1.0 / wall_per_audio, "realtime_factor_cpu": 1.0 / cpu_per_audio,
                  "audio_hours_per_wall_minute": 1.0 / wall_per_audio / 60}
    return out


def bench_corpus(quick: bool = False) -> tuple[dict[str, float], Rows]:
    """Corpus build throughput per voice family."""
    figures = measure_corpus_throughput(items_per_family=2 if quick else 4)
    flat: dict[str, float] = {}
    rows = []
    for family, v in figures.items():
        flat[f"corpus_{family}_rtf_wall"] = round(v["realtime_factor"], 2)
        flat[f"corpus_{family}_rtf_cpu"] = round(v["realtime_factor_cpu"], 2)
        note = "share-weighted mix" if family == "all" else f"{int(v['items'])} items"
        rows.append((f"corpus build: {family}", f"{v['realtime_factor']:.1f}× real time",
                     f"by CPU time {v['realtime_factor_cpu']:.1f}×; 1 worker, 1 thread; {note}"))
    # 3 h of audio with two workers on two cores: measured now, and on idle cores (CPU time).
    flat["corpus_3h_two_workers_min"] = round(180.0 / (2 * figures["all"]["realtime_factor"]), 1)
    flat["corpus_3h_two_idle_cores_min"] = round(180.0 / (2 * figures["all"]["realtime_factor_cpu"]), 1)
    rows.append(("corpus build: 3 h, 2 workers", f"≈ {flat['corpus_3h_two_workers_min']:.0f} min",
                 f"{flat['corpus_3h_two_idle_cores_min']:.0f} min on two idle cores (from CPU time)"))
    return flat, rows
