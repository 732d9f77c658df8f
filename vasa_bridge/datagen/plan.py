"""The corpus plan: every item's voice, text, prosody seed, controls, augmentation and split, from one seed.

Planning is pure and cheap, so a resumed build re-plans and gets the same items; the shards only hold results.
Item counts come from estimated durations (characters per second); the manifest reports the real hours.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from vasa_bridge.datagen.augment import Augmentation, sample_augmentation
from vasa_bridge.datagen.voices import FAMILIES, Voice, all_voices
from vasa_bridge.motion.controls import EMOTIONS, GAZE_LIMIT_RAD, Controls

# Share of the corpus hours per family. The neural voices (piper + kokoro) are the nearest thing to human
# speech we can make, so they get over a third although they are the slowest to synthesise; Kokoro (~1× real
# time per core) gets less than Piper (~4×) so 3 h still build within the hour on two shared cores.
FAMILY_SHARES: dict[str, float] = {"espeak": 0.40, "flite": 0.24, "piper": 0.21, "kokoro": 0.15}
SUNG_SHARE_OF_ESPEAK = 0.10
OTHER_LANGUAGE_SHARE_OF_ESPEAK = 0.35

# Kept out of training and validation: at least one voice of each family, for held-out evaluation. Piper's joe
# is one speaker; his held-out voice is a prosody region (slow, varied) training never sees.
HELD_OUT_VOICES: frozenset[str] = frozenset({
    "espeak/en-us+f4", "espeak/pl", "espeak-sung/en-us+m6", "flite/rms", "piper/joe-slow", "kokoro/jf_tebukuro"})
VALIDATION_FRACTION = 0.05
# Held-out voices get at most this share of their group's time, so holding out one of Piper's two "voices"
# does not cost training half of Piper.
MAX_HELD_OUT_SHARE = 0.12
SPLITS: tuple[str, ...] = ("train", "val", "test")

# Speaking rates in characters of text per second of audio, for planning only (measured on a 3 h build of
# this corpus, prosody jitter included; Kokoro's Japanese speakers read English slowly; sung lines are
# stretched). PLAN_MARGIN makes `hours` a floor rather than an estimate.
CHARS_PER_S: dict[str, float] = {"espeak": 17.8, "flite": 17.8, "piper": 19.0, "kokoro": 13.9}
SUNG_CHARS_PER_S = 2.6
LEAD_S = 0.3
PLAN_MARGIN = 1.04


@dataclass(frozen=True)
class PlannedItem:
    index: int
    voice: str                # Voice.name
    family: str
    language: str
    kind: str                 # "speech" or "sung"
    text: str
    seed: int                 # drives prosody jitter, the teacher's performance and the augmentation noise
    controls: Controls
    augmentation: Augmentation
    split: str                # "train", "val" or "test"

    def to_json(self) -> dict:
        out = asdict(self)
        out["controls"] = asdict(self.controls)
        out["augmentation"] = self.augmentation.to_json()
        return out

    @staticmethod
    def from_json(d: dict) -> "PlannedItem":
        return PlannedItem(**{**d, "controls": Controls(**d["controls"]),
                              "augmentation": Augmentation(**d["augmentation"])})


def estimated_duration_s(text: str, family: str, kind: str) -> float:
    return LEAD_S + len(text) / (SUNG_CHARS_PER_S if kind == "sung" else CHARS_PER_S[family])


def split_of(voice: str, index: int, seed: int) -> str:
    if voice in HELD_OUT_VOICES:
        return "test"
    # A hash rather than the planning rng, so changing the validation fraction does not reshuffle anything else.
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return "val" if int.from_bytes(digest[:4], "little") / 2**32 < VALIDATION_FRACTION else "train"


def sample_controls(rng: np.random.Generator) -> Controls:
    gaze_free = rng.random() < 0.5                   # half the items let the performer look around on its own
    limit = 0.7 * GAZE_LIMIT_RAD
    return Controls(
        emotion=EMOTIONS[int(rng.integers(len(EMOTIONS)))] if rng.random() < 0.6 else "neutral",
        emotion_intensity=float(rng.uniform(0.3, 1.0)),
        gaze_yaw_rad=None if gaze_free else float(rng.uniform(-limit, limit)),
        gaze_pitch_rad=None if gaze_free else float(rng.uniform(-limit / 2, limit / 2)),
        head_distance_m=float(rng.uniform(0.35, 1.2)))


def _voice_groups(voices: tuple[Voice, ...]) -> dict[str, list[Voice]]:
    """Voices per planning group: a family, with espeak cut into English, other languages and sung."""
    groups: dict[str, list[Voice]] = {}
    for v in voices:
        if v.family == "espeak":
            group = "espeak-sung" if v.kind == "sung" else ("espeak-en" if v.language == "en" else "espeak-other")
        else:
            group = v.family
        groups.setdefault(group, []).append(v)
    return groups


def group_targets_s(total_s: float) -> dict[str, float]:
    espeak_s = total_s * FAMILY_SHARES["espeak"]
    sung_s = espeak_s * SUNG_SHARE_OF_ESPEAK
    other_s = espeak_s * OTHER_LANGUAGE_SHARE_OF_ESPEAK
    targets = {"espeak-en": espeak_s - sung_s - other_s, "espeak-other": other_s, "espeak-sung": sung_s}
    targets.update({f: total_s * FAMILY_SHARES[f] for f in FAMILIES if f != "espeak"})
    return targets


def _pick_text(voice: Voice, rng: np.random.Generator, english: tuple[str, ...]) -> str:
    from vasa_bridge.datagen import text

    if voice.kind == "sung":
        return text.SUNG_LINES[int(rng.integers(len(text.SUNG_LINES)))]
    if voice.language == "en":
        return english[int(rng.integers(len(english)))]
    pool = text.other_language_sentences(voice.language)
    return pool[int(rng.integers(len(pool)))]


def plan_corpus(hours: float, seed: int = 0, families: tuple[str, ...] = FAMILIES) -> list[PlannedItem]:
    """Items whose estimated durations fill each group's share of `hours`, interleaved in a fixed order."""
    from vasa_bridge.datagen.text import english_sentences

    if hours <= 0:
        raise ValueError(f"hours must be positive, got {hours}")
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown voice families {sorted(unknown)}; choose from {FAMILIES}")
    rng = np.random.default_rng(seed)
    english = english_sentences(seed)
    targets = group_targets_s(hours * 3600.0)
    drafts: list[tuple[Voice, str]] = []
    for group, voices in sorted(_voice_groups(all_voices()).items()):
        if voices[0].family not in families:
            continue
        # Scale the share up when some families are left out, so `hours` still means the whole corpus.
        share = sum(FAMILY_SHARES[f] for f in families)
        held = [v for v in voices if v.name in HELD_OUT_VOICES]
        kept = [v for v in voices if v.name not in HELD_OUT_VOICES]
        held_share = min(len(held) / len(voices), MAX_HELD_OUT_SHARE)
        planned_s, k, j = 0.0, int(rng.integers(len(voices))), 0
        while planned_s < targets[group] * PLAN_MARGIN / share:
            # Round-robin within training and within held-out voices: each gets about the same time.
            if held and rng.random() < held_share:
                voice, j = held[j % len(held)], j + 1
            else:
                voice, k = kept[k % len(kept)], k + 1
            line = _pick_text(voice, rng, english)
            drafts.append((voice, line))
            planned_s += estimated_duration_s(line, voice.family, voice.kind)
    order = rng.permutation(len(drafts))              # mix families so every shard holds all of them
    items = []
    for index, d in enumerate(order):
        voice, line = drafts[int(d)]
        item_seed = int(rng.integers(2**31))
        items.append(PlannedItem(index=index, voice=voice.name, family=voice.family, language=voice.language,
                                 kind=voice.kind, text=line, seed=item_seed, controls=sample_controls(rng),
                                 augmentation=sample_augmentation(rng), split=split_of(voice.name, index, seed)))
    return items
