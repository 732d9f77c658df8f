"""Build the corpus: synthesise each planned item, time its phones, perform it with the teacher, augment it,
and write shards of `ITEMS_PER_SHARD` items.

Layout of `out/`:
  plan.json                 the planned items (voice, text, seed, controls, augmentation, split)
  shard-00000.npz ...       written atomically (tmp + rename): a shard either exists whole or not at all, so
                            an interrupted build resumes by skipping the shards it finds
  manifest.json             hours per family / voice / language / split, held-out voices, shard list; it
                            depends only on the shards' contents, so a resumed build writes the same manifest
  build_stats.json          wall time and throughput of the last run (not part of the manifest for that reason)

A shard holds, for its n items (concatenated, with (n+1) offsets):
  audio int16 at 16 kHz (augmented), motion float16 (T, 60) at 25 fps, phones as arrays (symbol, start_s,
  end_s, viseme index into VISEMES, stressed), and `metadata`: one JSON string with a dict per item.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vasa_bridge.datagen.plan import HELD_OUT_VOICES, PlannedItem, plan_corpus
from vasa_bridge.datagen.voices import FAMILIES, NEURAL_FAMILIES
from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.phones.types import VISEMES, Phone

ITEMS_PER_SHARD = 200
MANIFEST_VERSION = 1
SHARD_PATTERN = "shard-{:05d}.npz"
MIN_AUDIO_S = 0.3


@dataclass(frozen=True)
class BuildConfig:
    out_dir: Path
    hours: float = 3.0
    seed: int = 0
    workers: int = 2
    items_per_shard: int = ITEMS_PER_SHARD
    families: tuple[str, ...] = FAMILIES
    progress: bool = True


class ItemFailed(VasaBridgeError):
    """One item could not be made (e.g. the aligner rejected the audio); the build records it and goes on."""


# --- one item --------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def babble_sources() -> list[np.ndarray]:
    """Six espeak-ng talkers at 16 kHz, the same in every worker, for babble noise."""
    from vasa_bridge.audio import resample
    from vasa_bridge.datagen.text import generated_sentences
    from vasa_bridge.phones import espeak

    voices = ("en-us+m2", "en-us+f1", "en-gb+m5", "de", "fr+f2", "en-029")
    lines = generated_sentences(len(voices), seed=12345)
    out = []
    for voice, line in zip(voices, lines):
        speech = espeak.synthesize(line, voice=voice)
        out.append(resample(speech.audio, speech.sample_rate_hz, 16_000).astype(np.float32))
    return out


@lru_cache(maxsize=64)
def _voice(name: str):
    from vasa_bridge.datagen.voices import voice_by_name

    return voice_by_name(name)


def clamp_phones(phones: tuple[Phone, ...], duration_s: float) -> tuple[Phone, ...]:
    """Phones sorted and inside [0, duration_s]; zero-length leftovers dropped."""
    out = []
    for p in sorted(phones, key=lambda p: p.start_s):
        start, end = max(0.0, p.start_s), min(duration_s, p.end_s)
        if end > start:
            out.append(Phone(p.symbol, start, end, p.viseme, p.stressed))
    return tuple(out)


def make_item(item: PlannedItem) -> dict:
    """Synthesise, time, perform and augment one planned item. Returns arrays + metadata, or raises ItemFailed."""
    from vasa_bridge.audio import resample
    from vasa_bridge.datagen.augment import apply_after_speed, change_speed
    from vasa_bridge.teacher import perform

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        synthesis = _voice(item.voice).synthesize(item.text, seed=item.seed)
    except VasaBridgeError as e:
        raise ItemFailed(f"{item.voice} could not speak item {item.index}: {e}") from e
    audio = resample(synthesis.audio, synthesis.sample_rate_hz, 16_000).astype(np.float32)
    if len(audio) < MIN_AUDIO_S * 16_000:
        raise ItemFailed(f"{item.voice} produced only {len(audio)} samples for item {item.index}")
    t1 = time.perf_counter()
    timings["synthesis_s"] = t1 - t0
    phones = synthesis.phones
    if phones is None:
        from vasa_bridge.phones.align import align

        try:
            phones = tuple(align(audio, item.text))
        except VasaBridgeError as e:
            raise ItemFailed(f"forced alignment failed for item {item.index} ({item.voice}): {e}") from e
    t2 = time.perf_counter()
    timings["phones_s"] = t2 - t1
    phones = clamp_phones(tuple(phones), len(audio) / 16_000)
    audio, phones = change_speed(audio, phones, item.augmentation.speed)
    phones = clamp_phones(phones, len(audio) / 16_000)
    # The teacher hears the clean (speed-changed) speech: noise or reverb must not move the face.
    clip = perform(phones, audio, item.controls, seed=item.seed)
    t3 = time.perf_counter()
    timings["teacher_s"] = t3 - t2
    rng = np.random.default_rng(item.seed + 1)
    heard = apply_after_speed(audio, item.augmentation, rng,
                              babble_sources() if item.augmentation.noise == "babble" else None)
    timings["augment_s"] = time.perf_counter() - t3
    return {"audio": heard, "motion": clip.frames, "phones": phones,
            "meta": {**item.to_json(), "duration_s": len(heard) / 16_000, "n_frames": int(clip.frames.shape[0]),
                     "timings": timings}}


def _make_item_or_failure(item: PlannedItem) -> dict:
    try:
        return make_item(item)
    except ItemFailed as e:
        return {"failed": str(e), "meta": item.to_json()}


def _worker_init() -> None:
    os.environ.setdefault("VASA_VOICE_THREADS", "1")
    try:
        os.nice(5)   # the machine is shared: let interactive work go first
    except OSError:
        pass


# --- shards ----------------------------------------------------------------------------------------------------

def write_shard(path: Path, results: list[dict]) -> None:
    made = [r for r in results if "failed" not in r]
    audio_lengths = [len(r["audio"]) for r in made]
    motion_lengths = [r["motion"].shape[0] for r in made]
    phone_counts = [len(r["phones"]) for r in made]
    phones = [p for r in made for p in r["phones"]]
    audio = np.concatenate([r["audio"] for r in made]) if made else np.zeros(0, np.float32)
    motion = np.concatenate([r["motion"] for r in made]) if made else np.zeros((0, 60), np.float32)
    metadata = [r["meta"] for r in made]
    failed = [{**r["meta"], "error": r["failed"]} for r in results if "failed" in r]
    arrays = {
        "audio": np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16),
        "audio_offsets": np.concatenate([[0], np.cumsum(audio_lengths)]).astype(np.int64),
        "motion": motion.astype(np.float16),
        "motion_offsets": np.concatenate([[0], np.cumsum(motion_lengths)]).astype(np.int64),
        "phone_symbols": np.array([p.symbol for p in phones], dtype=np.str_),
        "phone_start_s": np.array([p.start_s for p in phones], np.float32),
        "phone_end_s": np.array([p.end_s for p in phones], np.float32),
        "phone_viseme": np.array([VISEMES.index(p.viseme) for p in phones], np.int8),
        "phone_stressed": np.array([p.stressed for p in phones], bool),
        "phone_offsets": np.concatenate([[0], np.cumsum(phone_counts)]).astype(np.int64),
        "metadata": np.array(json.dumps({"items": metadata, "failed": failed})),
    }
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)             # atomic: readers and resumed builds never see half a shard


def read_shard_metadata(path: Path) -> dict:
    with np.load(path) as shard:
        return json.loads(str(shard["metadata"]))


def _shard_is_complete(path: Path, expected_items: int) -> bool:
    if not path.exists():
        return False
    try:
        meta = read_shard_metadata(path)
    except (OSError, ValueError, KeyError):
        return False                  # unreadable: rebuild it
    return len(meta["items"]) + len(meta["failed"]) == expected_items


# --- manifest --------------------------------------------------------------------------------------------------

def _add(table: dict[str, float], key: str, hours: float) -> None:
    table[key] = table.get(key, 0.0) + hours


def build_manifest(out_dir: Path, plan: list[PlannedItem], config: BuildConfig, shard_names: list[str]) -> dict:
    by_family: dict[str, float] = {}
    by_voice: dict[str, float] = {}
    by_language: dict[str, float] = {}
    by_split: dict[str, float] = {}
    split_voices: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    items = failed = 0
    for name in shard_names:
        meta = read_shard_metadata(out_dir / name)
        failed += len(meta["failed"])
        for m in meta["items"]:
            hours = m["duration_s"] / 3600.0
            items += 1
            _add(by_family, m["family"], hours)
            _add(by_voice, m["voice"], hours)
            _add(by_language, m["language"], hours)
            _add(by_split, m["split"], hours)
            split_voices[m["split"]].add(m["voice"])
    total = sum(by_family.values())
    rounded = lambda d: {k: round(v, 6) for k, v in sorted(d.items())}   # noqa: E731 - stable JSON
    return {
        "version": MANIFEST_VERSION, "seed": config.seed, "hours_requested": config.hours,
        "families": list(config.families), "items_per_shard": config.items_per_shard,
        "sample_rate_hz": 16_000, "motion_fps": 25,
        "items": items, "failed_items": failed, "planned_items": len(plan),
        "hours_total": round(total, 6),
        "neural_share": round(sum(v for k, v in by_family.items() if k in NEURAL_FAMILIES) / total, 4) if total else 0.0,
        "hours_by_family": rounded(by_family), "hours_by_voice": rounded(by_voice),
        "hours_by_language": rounded(by_language), "hours_by_split": rounded(by_split),
        "held_out_voices": sorted(v for v in HELD_OUT_VOICES if v.split("/")[0].split("-")[0] in config.families),
        "voices_by_split": {k: sorted(v) for k, v in split_voices.items()},
        "shards": shard_names,
    }


# --- the build -------------------------------------------------------------------------------------------------

def build_corpus(config: BuildConfig, max_new_shards: int | None = None) -> dict:
    """Build (or resume) the corpus in `config.out_dir`. `max_new_shards` stops after writing that many new
    shards (an interruption, for tests and for building in slices). Returns build statistics."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_corpus(config.hours, config.seed, config.families)
    plan_json = json.dumps({"seed": config.seed, "hours": config.hours, "families": list(config.families),
                            "items": [p.to_json() for p in plan]})
    plan_path = out / "plan.json"
    if plan_path.exists() and plan_path.read_text(encoding="utf-8") != plan_json:
        raise VasaBridgeError(f"{out} holds a corpus planned with other settings (seed, hours or families); "
                              f"use another --out or delete it")
    if not plan_path.exists():
        tmp = plan_path.with_suffix(".tmp")
        tmp.write_text(plan_json, encoding="utf-8")
        os.replace(tmp, plan_path)

    shards = [plan[i: i + config.items_per_shard] for i in range(0, len(plan), config.items_per_shard)]
    names = [SHARD_PATTERN.format(k) for k in range(len(shards))]
    todo = [k for k, s in enumerate(shards) if not _shard_is_complete(out / names[k], len(s))]
    if max_new_shards is not None:
        todo = todo[:max_new_shards]
    items = [item for k in todo for item in shards[k]]

    started = time.perf_counter()
    audio_s_by_family: dict[str, float] = {}
    compute_s_by_family: dict[str, float] = {}
    written = []
    results_iter, pool = _run_items(items, config.workers)
    try:
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="item", desc="corpus", disable=not config.progress, smoothing=0.05)
        built_s = 0.0
        buffer: list[dict] = []
        pending = list(todo)
        for result in results_iter:
            buffer.append(result)
            if "failed" not in result:
                fam = result["meta"]["family"]
                built_s += result["meta"]["duration_s"]
                audio_s_by_family[fam] = audio_s_by_family.get(fam, 0.0) + result["meta"]["duration_s"]
                compute_s_by_family[fam] = compute_s_by_family.get(fam, 0.0) + sum(
                    result["meta"]["timings"].values())
            bar.update(1)
            bar.set_postfix(audio_h=f"{built_s / 3600:.2f}")
            if len(buffer) == len(shards[pending[0]]):
                write_shard(out / names[pending[0]], buffer)
                written.append(names[pending[0]])
                pending.pop(0)
                buffer = []
        bar.close()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    wall_s = time.perf_counter() - started

    finished = [n for k, n in enumerate(names) if _shard_is_complete(out / n, len(shards[k]))]
    complete = len(finished) == len(names)
    if complete:
        manifest = build_manifest(out, plan, config, names)
        tmp = out / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp, out / "manifest.json")
    audio_h = sum(audio_s_by_family.values()) / 3600
    stats = {"complete": complete, "shards_total": len(names), "shards_written": written,
             "items_built": len(items), "wall_s": round(wall_s, 2), "workers": config.workers,
             "audio_hours_built": round(audio_h, 4),
             "audio_hours_per_wall_minute": round(audio_h / (wall_s / 60), 4) if wall_s > 0 else 0.0,
             "realtime_factor_per_worker_by_family": {
                 f: round(audio_s_by_family[f] / compute_s_by_family[f], 2) for f in sorted(audio_s_by_family)}}
    (out / "build_stats.json").write_text(json.dumps(stats, indent=1), encoding="utf-8")
    return stats


def _run_items(items: list[PlannedItem], workers: int):
    """An ordered iterator of results, from a process pool (workers > 1) or in this process."""
    if workers <= 1 or len(items) <= 1:
        return map(_make_item_or_failure, items), None
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init)
    return pool.imap(_make_item_or_failure, items, chunksize=1), pool
