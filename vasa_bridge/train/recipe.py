"""The shipped recipe, stage by stage, each cached in the output folder so a rerun resumes where it stopped:

1. training lines: espeak-ng formant voices + MBROLA real-speaker diphones (exact phone events) + flite real-speaker
   voices (awb, rms) + Festival real-speaker diphones (rab, ked, don) performed by the teacher, heard through the
   recording chain (train/data.py) — `lines.pkl`; and real actors' shouted lines, their phones pseudo-labelled by
   Whisper + pocketsphinx (train/pseudo_labels.py) — `real_labels.pkl`, `real_lines.pkl`;
2. the speech front end, distilled from Whisper's encoder on those lines and on unlabelled real speech (Dutch
   dialogue, shouted game exclamations, strategy-game unit voices) (train/frontend.py) — `distill.npz`,
   `speech_frontend.npz`;
3. the lines through the front end, packed for window sampling — `pairs.npz`;
4. the motion denoiser (train/loop.py) — `motion_dit.pt`;
5. the articulation head on the same packed lines (train/articulation.py) — `articulation_head.npz`.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vasa_bridge.train.data import REAL_VOICE_PREFIX, Pair, PairSet, synth_pairs

if TYPE_CHECKING:
    from vasa_bridge.audio.frontend import SpeechFrontEnd

REAL_DUTCH_MINUTES = 90.0        # unlabelled real speech in the distillation set (fillets-ng has ~96 min)
# Shouted exclamations are where the student matched Whisper worst; the ~5 min of unused hedgewars packs go through
# the recording chain this many times (each pass another room, microphone, noise and level).
HEDGEWARS_DISTILL_PASSES = 6
# MegaGlest's unit voices (~14 min of acted acknowledgements, war cries and pain, many actors) likewise.
MEGAGLEST_DISTILL_PASSES = 3
# ...and, where Whisper and the aligner agree on their words (train/pseudo_labels.py), as performed training lines
# this many times: real shouting voices with phone timings (304 clips, 4.5 min). Warzone 2100's voices (432 clips,
# 13 min of narration and radio messages, ×2) on top changed nothing on the dev sets (read 0.807 → 0.800, hedgewars
# dev 0.607 → 0.606, klettres 0.726 → 0.716) and were left out.
MEGAGLEST_LINE_PASSES = 6


@dataclass(frozen=True)
class Recipe:
    items: int = 2400            # synthesised lines
    seed: int = 0
    real_speech: bool = True     # distil on real Dutch dialogue and exclamations too (scripts/fetch_real_speech.sh)


def lines_key(recipe: Recipe) -> str:
    from vasa_bridge.train import data

    return (f"lines:{recipe.items}:{recipe.seed}:{sorted(data.TRAIN_MBROLA_VOICES)}:{sorted(data.TRAIN_FLITE_VOICES)}"
            f":{sorted(data.TRAIN_FESTIVAL_VOICES)}:chain-r{data.CHAIN_REVISION}")


def training_lines(out: Path, recipe: Recipe) -> list[Pair]:
    return cached(out / "lines.pkl", lines_key(recipe),
                  lambda: synth_pairs(recipe.items, recipe.seed, progress=True))


def real_lines(out: Path, recipe: Recipe) -> list[Pair]:
    """MegaGlest's unit voices with pseudo-labelled phones, performed, MEGAGLEST_LINE_PASSES times. Not part of
    the distillation set: the front end hears these recordings there already. The labels (the slow part, ~5 min:
    Whisper + pocketsphinx) are cached in `real_labels.pkl`, the pairs in `real_lines.pkl`."""
    from vasa_bridge.train.pseudo_labels import MIN_TOKEN_LOGPROB, megaglest_labelled
    from vasa_bridge.train.data import real_pairs

    if not recipe.real_speech:
        return []
    clips = cached(out / "real_labels.pkl", f"megaglest-labels:{MIN_TOKEN_LOGPROB}", lambda: megaglest_labelled()[0])
    return cached(out / "real_lines.pkl", real_lines_key(recipe),
                  lambda: real_pairs(clips, MEGAGLEST_LINE_PASSES, recipe.seed + 2))


def real_lines_key(recipe: Recipe) -> str:
    from vasa_bridge.train.pseudo_labels import MIN_TOKEN_LOGPROB
    from vasa_bridge.train import data

    if not recipe.real_speech:
        return "no-real-lines"
    return (f"megaglest-labels:{MIN_TOKEN_LOGPROB}:x{MEGAGLEST_LINE_PASSES}:{recipe.seed}"
            f":chain-r{data.CHAIN_REVISION}")


def cached(path: Path, key: str, build):
    """`build()`, pickled at `path` under `key`: a later call with the same key reads it back."""
    if path.exists():
        with path.open("rb") as f:
            stored_key, value = pickle.load(f)
        if stored_key == key:
            return value
    value = build()
    with path.with_suffix(".tmp").open("wb") as f:
        pickle.dump((key, value), f, protocol=pickle.HIGHEST_PROTOCOL)
    path.with_suffix(".tmp").replace(path)
    return value


def distillation_items(pairs: list[Pair], recipe: Recipe) -> list[tuple[np.ndarray, np.ndarray]]:
    """(heard, clean) audio: every training line, and real Dutch dialogue, game exclamations and unit voices
    through a random recording chain."""
    from vasa_bridge.datagen.real_speech import dutch_dialogue, hedgewars_unlabelled, megaglest_unlabelled
    from vasa_bridge.train.data import _corrupt

    items = [(p.audio_16k, p.clean_16k) for p in pairs if p.clean_16k is not None]
    if recipe.real_speech:
        rng = np.random.default_rng(recipe.seed + 1)
        for clean in dutch_dialogue(REAL_DUTCH_MINUTES, recipe.seed):
            items.append((_corrupt(clean, rng), clean))
        for clips, passes in ((hedgewars_unlabelled(), HEDGEWARS_DISTILL_PASSES),
                              (megaglest_unlabelled(), MEGAGLEST_DISTILL_PASSES)):
            for _ in range(passes):
                items.extend((_corrupt(clean, rng), clean) for clean in clips)
    return items


def distillation_set(out: Path, pairs: list[Pair], recipe: Recipe):
    from vasa_bridge.train.frontend import DistillSet, build_distill_set

    cache, source = out / "distill.npz", out / "distill.source"
    real = (f"dutch-{REAL_DUTCH_MINUTES}:hedgewars-x{HEDGEWARS_DISTILL_PASSES}:megaglest-x{MEGAGLEST_DISTILL_PASSES}"
            if recipe.real_speech else "no-real")
    key = f"{lines_key(recipe)}:{real}"
    if cache.exists() and source.exists() and source.read_text() == key:
        return DistillSet.load(cache)
    data = build_distill_set(distillation_items(pairs, recipe))
    data.save(cache)
    source.write_text(key)
    return data


def speech_frontend(out: Path, pairs: list[Pair], recipe: Recipe, steps: int | None = None) -> Path:
    import dataclasses

    from vasa_bridge.train.frontend import FrontEndTrainConfig, train_frontend

    data = distillation_set(out, pairs, recipe)
    cfg = FrontEndTrainConfig() if steps is None else dataclasses.replace(FrontEndTrainConfig(), steps=steps)
    print(f"front-end distillation: {len(data.lengths)} items, {len(data.inputs) / 100 / 3600:.2f} h")
    return train_frontend(data, out, cfg=cfg)


def packed_pairs(out: Path, pairs: list[Pair], frontend: SpeechFrontEnd, lines_id: str) -> PairSet:
    """`pairs` through the front end, packed for window sampling; `lines_id` names where the pairs came from (the
    cache is rebuilt when it or the front end changes)."""
    from vasa_bridge.audio.frontend import FEATURES_REVISION

    cache, source = out / "pairs.npz", out / "pairs.source"
    key = f"{frontend.sha256}:features-r{FEATURES_REVISION}:{lines_id}"
    if cache.exists() and source.exists() and source.read_text() == key:
        return PairSet.load(cache)
    packed = PairSet.pack(pairs, frontend, progress=True)
    packed.save(cache)
    source.write_text(key)
    return packed


def closure_weights(pairs: list[Pair]) -> np.ndarray:
    """(lines,) weight of each line's lip closures in the head's loss: 0 for the pseudo-labelled real voices (their
    closure times come from an aligner on shouts; train/articulation.py), 1 for the rest."""
    return np.array([0.0 if p.voice.startswith(REAL_VOICE_PREFIX) else 1.0 for p in pairs], np.float32)


def articulation_head(out: Path, packed: PairSet, frontend: SpeechFrontEnd, closures: np.ndarray) -> Path:
    """The head trained on `packed` (out/pairs.npz), each line's closures weighted by `closures`; kept when it is
    newer than those packed lines and was trained on this front end with these weights (`articulation.source`)."""
    import hashlib

    from vasa_bridge.model.articulation import ARTICULATION_FILE_NAME, load_articulation
    from vasa_bridge.train.articulation import train_articulation

    path, pairs_file, source = out / ARTICULATION_FILE_NAME, out / "pairs.npz", out / "articulation.source"
    key = f"closures-{hashlib.sha256(np.ascontiguousarray(closures, np.float32).tobytes()).hexdigest()}"
    fresh = path.exists() and (not pairs_file.exists() or path.stat().st_mtime >= pairs_file.stat().st_mtime)
    if (fresh and source.exists() and source.read_text() == key
            and load_articulation(path).frontend_sha256 == frontend.sha256):
        return path
    train_articulation(packed, frontend, path, closure_weights=closures)
    source.write_text(key)
    return path


def whisper_ear(out: Path, lines: list[Pair], recipe: Recipe) -> Path:
    """The Whisper ear (train/whisper_ear.py) from the distillation set's Whisper rows of the synthesised `lines`
    and their teacher lips; kept while the distillation set it read is the same (`whisper_ear.source`)."""
    from vasa_bridge.model.whisper_ear import EAR_FILE_NAME
    from vasa_bridge.train.whisper_ear import train_whisper_ear

    path, source = out / EAR_FILE_NAME, out / "whisper_ear.source"
    distill = out / "distill.source"
    if path.exists() and source.exists() and distill.exists() and source.read_text() == distill.read_text():
        return path
    data = distillation_set(out, lines, recipe)
    train_whisper_ear(data, [line for line in lines if line.clean_16k is not None], path)
    source.write_text(distill.read_text())
    return path
