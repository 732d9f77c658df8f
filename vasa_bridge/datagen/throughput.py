"""Corpus build throughput per voice family, for `make bench`: a few real items each, in this process."""

from __future__ import annotations

import os
import time

from vasa_bridge.datagen.voices import FAMILIES


def corpus_throughput(items_per_family: int = 4, seed: int = 0, families: tuple[str, ...] = FAMILIES) -> dict:
    """Per family: audio seconds built per compute second (× real time, one worker on one thread) and hours of
    audio per wall minute; `all` uses the corpus's family mix. Each item goes through the whole pipeline
    (synthesis, phone timing, teacher, augmentation)."""
    from vasa_bridge.datagen.build import make_item
    from vasa_bridge.datagen.plan import FAMILY_SHARES, plan_corpus

    os.environ.setdefault("VASA_VOICE_THREADS", "1")
    plan = plan_corpus(0.5, seed, families)
    out: dict[str, dict[str, float]] = {}
    for family in families:
        chosen = [p for p in plan if p.family == family][:items_per_family]
        make_item(chosen[0])                    # load models and caches outside the timing
        audio_s = 0.0
        t0 = time.perf_counter()
        for item in chosen:
            audio_s += make_item(item)["meta"]["duration_s"]
        wall_s = time.perf_counter() - t0
        out[family] = {"realtime_factor": audio_s / wall_s, "audio_hours_per_wall_minute": audio_s / wall_s / 60,
                       "items": len(chosen), "audio_s": audio_s}
    # Mix: time per audio hour is the share-weighted sum of each family's time per hour.
    shares = {f: FAMILY_SHARES[f] for f in families}
    total = sum(shares.values())
    minutes_per_hour = sum(shares[f] / total / out[f]["audio_hours_per_wall_minute"] for f in families)
    out["all"] = {"audio_hours_per_wall_minute": 1.0 / minutes_per_hour,
                  "realtime_factor": 60.0 / minutes_per_hour}
    return out
