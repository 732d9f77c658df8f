"""Training pairs: speech audio → features, and the phonetic teacher's performance of it → latent frames.

Two sources give the same `PairSet`: a built corpus (`vasa_bridge.datagen.Corpus`, `make data`) or pairs
synthesised here with espeak-ng + the teacher (seconds per minute of audio; what tests and quick runs use).
Held out from the synthesised training voices: the espeak voice `en-us+f4` and the German language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vasa_bridge.audio.constants import FEATURES_PER_MOTION_FRAME, MODEL_SAMPLE_RATE_HZ
from vasa_bridge.audio.features import audio_features
from vasa_bridge.model.conditioning import SPAN_BACK_FEATURES, SPAN_FEATURES, controls_vector, silence_features
from vasa_bridge.motion.controls import EMOTIONS, Controls

HELD_OUT_VOICES = ("en-us+f4",)
HELD_OUT_LANGUAGES = ("de",)
TRAIN_ENGLISH_VOICES = ("en-us", "en-gb", "en-us+m1", "en-us+m3", "en-us+m5", "en-us+m7", "en-us+f1", "en-us+f2",
                        "en-gb+f3", "en-gb+m2", "en-us+f5", "en-gb-scotland", "en-us+max", "en-gb+m6", "en-us+rob")
TRAIN_OTHER_LANGUAGES = ("fr", "es", "it", "pt-br", "nl", "pl", "hi")
OTHER_LANGUAGE_SHARE = 0.3

# Windows read features from before an item's first frame (pad tokens); this much silence separates items.
PAD_BEFORE_FEATURES = 16 * FEATURES_PER_MOTION_FRAME + SPAN_BACK_FEATURES
PAD_AFTER_FEATURES = SPAN_FEATURES


@dataclass(frozen=True)
class Pair:
    audio_16k: np.ndarray     # (N,) what the model hears
    frames: np.ndarray        # (T, 60) teacher performance
    controls: Controls
    voice: str
    language: str
    phones: tuple = ()        # on the audio's clock (for bilabial hits and re-running the teacher)


def random_controls(rng: np.random.Generator) -> Controls:
    emotion = "neutral" if rng.random() < 0.4 else str(rng.choice(EMOTIONS[1:]))
    fixed_gaze = rng.random() < 0.4
    return Controls(emotion=emotion, emotion_intensity=float(rng.uniform(0.3, 1.0)),
                    gaze_yaw_rad=float(rng.uniform(-0.4, 0.4)) if fixed_gaze else None,
                    gaze_pitch_rad=float(rng.uniform(-0.25, 0.25)) if fixed_gaze else None,
                    head_distance_m=float(rng.uniform(0.4, 1.2)))


def _corrupt(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What the model hears: another gain, sometimes noise, sometimes clipping — the teacher heard it clean."""
    gain_db = rng.uniform(-20.0, 6.0)
    out = audio * np.float32(10 ** (gain_db / 20))
    if rng.random() < 0.3:
        rms = float(np.sqrt(np.mean(out ** 2)) + 1e-9)
        out = out + rng.normal(0, rms * 10 ** (-rng.uniform(10, 35) / 20), len(out)).astype(np.float32)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def synth_pair(text: str, voice: str, language: str, rng: np.random.Generator, controls: Controls | None = None,
               corrupt: bool = True) -> Pair:
    """espeak-ng speaks `text`, the teacher performs it; silence of random length before and after."""
    from vasa_bridge.audio import resample
    from vasa_bridge.phones.espeak import synthesize
    from vasa_bridge.teacher import perform

    speech = synthesize(text, voice=voice, rate_wpm=int(rng.integers(120, 230)), pitch=int(rng.integers(25, 80)))
    audio = resample(speech.audio, speech.sample_rate_hz, MODEL_SAMPLE_RATE_HZ).astype(np.float32)
    lead_s, tail_s = rng.uniform(0.05, 0.6), rng.uniform(0.1, 0.6)
    lead = np.zeros(int(lead_s * MODEL_SAMPLE_RATE_HZ), np.float32)
    audio = np.concatenate([lead, audio, np.zeros(int(tail_s * MODEL_SAMPLE_RATE_HZ), np.float32)])
    shift_s = len(lead) / MODEL_SAMPLE_RATE_HZ
    phones = tuple(replace(p, start_s=p.start_s + shift_s, end_s=p.end_s + shift_s) for p in speech.phones)
    controls = controls or random_controls(rng)
    clip = perform(phones, audio, controls, seed=int(rng.integers(1 << 31)))
    heard = _corrupt(audio, rng) if corrupt else audio
    return Pair(heard, clip.frames, controls, voice, language, phones)


def synth_pairs(n_items: int, seed: int, voices: str = "train", progress: bool = False,
                controls: Controls | None = None, corrupt: bool = True) -> list[Pair]:
    """`voices`: "train" (the training voices and languages), "heldout-voice" (en-us+f4, English) or
    "heldout-language" (German)."""
    from vasa_bridge.datagen.text import english_sentences, other_language_sentences

    from vasa_bridge.errors import PhoneTimingError

    rng = np.random.default_rng(seed)
    english = english_sentences()
    pairs, skipped = [], 0
    iterator = range(n_items)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"synthesising {voices} pairs", unit="line")
    for _ in iterator:
        if voices == "heldout-voice":
            voice, language = HELD_OUT_VOICES[0], "en"
        elif voices == "heldout-language":
            voice, language = HELD_OUT_LANGUAGES[0], "de"
        elif rng.random() < OTHER_LANGUAGE_SHARE:
            language = str(rng.choice(TRAIN_OTHER_LANGUAGES))
            voice = language + ("" if rng.random() < 0.5 else f"+{rng.choice(['m2', 'f2', 'm4', 'f3'])}")
        else:
            voice, language = str(rng.choice(TRAIN_ENGLISH_VOICES)), "en"
        if language == "en":
            text = " ".join(str(english[int(rng.integers(len(english)))]) for _ in range(int(rng.integers(1, 3))))
        else:
            pool = other_language_sentences(language)
            text = " ".join(str(pool[int(rng.integers(len(pool)))]) for _ in range(int(rng.integers(1, 3))))
        try:
            pairs.append(synth_pair(text, voice, language, rng, controls, corrupt))
        except PhoneTimingError:   # a phone the viseme table lacks (rare, some languages): skip the line
            skipped += 1
    if skipped > n_items // 10:
        raise PhoneTimingError(f"{skipped} of {n_items} lines had phones without a viseme")
    return pairs


def corpus_pairs(root: str | Path, split: str, max_items: int | None = None) -> list[Pair]:
    """Pairs from a built corpus (`vasa-bridge datagen`); the corpus' held-out voices are its "test" split."""
    from vasa_bridge.datagen.corpus import Corpus

    pairs = []
    for item in Corpus(root).iter_items(split):
        c = item.metadata.get("controls", {})
        controls = Controls(**c) if c else Controls()
        pairs.append(Pair(item.audio_16k, item.motion, controls, item.metadata.get("voice", "?"),
                          item.metadata.get("language", "?"), item.phones))
        if max_items is not None and len(pairs) >= max_items:
            break
    return pairs


@dataclass
class PairSet:
    """Pairs packed for fast window sampling: features and frames concatenated, silence between items."""
    features: np.ndarray      # (total_feature_rows, F) float16
    frames: np.ndarray        # (total_frames, 60) float32
    feature_start: np.ndarray  # (items,) row of each item's feature frame 0
    frame_start: np.ndarray   # (items,) row of each item's motion frame 0
    n_frames: np.ndarray      # (items,)
    controls: np.ndarray      # (items, N_CONTROLS)

    @staticmethod
    def pack(pairs: list[Pair]) -> "PairSet":
        feats, frames, f_start, m_start, n_frames, ctl = [], [], [], [], [], []
        row = frame_row = 0
        for p in pairs:
            f = audio_features(p.audio_16k)
            feats += [silence_features(PAD_BEFORE_FEATURES), f, silence_features(PAD_AFTER_FEATURES)]
            f_start.append(row + PAD_BEFORE_FEATURES)
            row += PAD_BEFORE_FEATURES + len(f) + PAD_AFTER_FEATURES
            frames.append(p.frames)
            m_start.append(frame_row)
            n_frames.append(len(p.frames))
            frame_row += len(p.frames)
            ctl.append(controls_vector(p.controls))
        return PairSet(np.concatenate(feats).astype(np.float16), np.concatenate(frames).astype(np.float32),
                       np.array(f_start), np.array(m_start), np.array(n_frames), np.stack(ctl))

    def save(self, path: str | Path) -> None:
        np.savez(path, **self.__dict__)

    @staticmethod
    def load(path: str | Path) -> "PairSet":
        with np.load(path) as z:
            return PairSet(**{k: z[k] for k in z.files})

    @property
    def hours(self) -> float:
        return float(self.n_frames.sum()) / 25 / 3600
