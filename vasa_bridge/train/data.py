"""Training pairs: speech audio → features, and the phonetic teacher's performance of it → latent frames.

Two sources give the same `PairSet`: a built corpus (`vasa_bridge.datagen.Corpus`, `make data`) or pairs
synthesised here with espeak-ng + the teacher (seconds per minute of audio; what tests and quick runs use).
Held out from the synthesised training voices: the espeak voice `en-us+f4` and the German language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vasa_bridge.audio.constants import FEATURES_PER_MOTION_FRAME, MODEL_SAMPLE_RATE_HZ
from vasa_bridge.model.conditioning import SPAN_BACK_FEATURES, SPAN_FEATURES, controls_vector
from vasa_bridge.motion.controls import EMOTIONS, Controls

if TYPE_CHECKING:
    from vasa_bridge.audio.frontend import SpeechFrontEnd

HELD_OUT_VOICES = ("en-us+f4",)
HELD_OUT_LANGUAGES = ("de",)
TRAIN_ENGLISH_VOICES = ("en-us", "en-gb", "en-us+m1", "en-us+m3", "en-us+m5", "en-us+m7", "en-us+f1", "en-us+f2",
                        "en-gb+f3", "en-gb+m2", "en-us+f5", "en-gb-scotland", "en-us+max", "en-gb+m6", "en-us+rob")
TRAIN_OTHER_LANGUAGES = ("fr", "es", "it", "pt-br", "nl", "pl", "hi")
OTHER_LANGUAGE_SHARE = 0.3
# Real speakers' diphones (MBROLA, via espeak-ng: exact phone events): voice → the language of its text. No German
# voice: German stays a held-out language. Left out: the Spanish (es1, es2, mx2) and Italian (it3, it4) voices lack
# diphones for a quarter (Spanish) or 6 % (Italian) of what espeak-ng asks of them, which MBROLA replaces with
# silence under a teacher that is still talking.
TRAIN_MBROLA_VOICES = {"mb-us1": "en", "mb-us2": "en", "mb-us3": "en", "mb-en1": "en", "mb-fr1": "fr",
                       "mb-fr4": "fr", "mb-nl2": "nl", "mb-br1": "pt-br", "mb-br3": "pt-br", "mb-pl1": "pl"}
MBROLA_SHARE = 0.5              # of the synthesised lines
# Real speakers' statistical voices (flite, CMU ARCTIC recordings, English; phone end times from flite itself).
# flite's kal, kal16 and slt are reserved for independent evaluation.
TRAIN_FLITE_VOICES = ("flite-awb", "flite-rms")
FLITE_SHARE = 0.15              # of the synthesised lines
# Real speakers' diphone voices (Festival, English; segment end times from Festival itself). Festival's kallpc16k
# and us-slt-hts are reserved for independent evaluation.
TRAIN_FESTIVAL_VOICES = ("festival-rab", "festival-ked", "festival-don")
FESTIVAL_SHARE = 0.1            # of the synthesised lines; the rest (0.25) are espeak-ng's formant voices
NON_SPEECH_SHARE = 0.06         # items of noise or music with an idle face: sound alone must not move the lips
REAL_VOICE_PREFIX = "real:"       # Pair.voice of a real recording with pseudo-labelled phones (`real_pairs`)
LEVEL_DBFS_RANGE = (-40.0, -3.0)   # peak level of what the model hears
CHAIN_REVISION = 2                 # of `_corrupt` (2: microphone colouring); cached training lines record it

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
    clean_16k: np.ndarray | None = None   # the same audio before the channel (the front end's distillation target)


def random_controls(rng: np.random.Generator) -> Controls:
    emotion = "neutral" if rng.random() < 0.4 else str(rng.choice(EMOTIONS[1:]))
    fixed_gaze = rng.random() < 0.4
    return Controls(emotion=emotion, emotion_intensity=float(rng.uniform(0.3, 1.0)),
                    gaze_yaw_rad=float(rng.uniform(-0.4, 0.4)) if fixed_gaze else None,
                    gaze_pitch_rad=float(rng.uniform(-0.25, 0.25)) if fixed_gaze else None,
                    head_distance_m=float(rng.uniform(0.4, 1.2)))


def _corrupt(audio: np.ndarray, rng: np.random.Generator, babble: list[np.ndarray] | None = None) -> np.ndarray:
    """What the model hears: the recording chain users' audio goes through — a real room (impulse response),
    noise at a realistic SNR, a telephone band, a codec — at a peak level between −40 and −3 dBFS, sometimes
    clipped. The teacher performed the clean audio."""
    from dataclasses import replace as with_

    from vasa_bridge.datagen.augment import apply_after_speed, sample_augmentation

    aug = with_(sample_augmentation(rng), speed=1.0, gain_db=0.0)
    if aug.noise == "babble" and not babble:
        aug = with_(aug, noise="pink")
    level = rng.uniform(*LEVEL_DBFS_RANGE)
    heard = apply_after_speed(audio, aug, rng, babble)
    peak = float(np.max(np.abs(heard))) or 1.0
    out = heard * np.float32(10 ** (level / 20) / peak)
    if rng.random() < 0.05:                      # an overdriven input: clipped at a quarter of the peak
        out = np.clip(out, -0.25 * np.abs(out).max(), 0.25 * np.abs(out).max()) * 4
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def synth_pair(text: str, voice: str, language: str, rng: np.random.Generator, controls: Controls | None = None,
               corrupt: bool = True, babble: list[np.ndarray] | None = None) -> Pair:
    """espeak-ng (or an MBROLA voice through it, or a flite or Festival voice) speaks `text` at a random rate
    (and pitch), sometimes sped up or slowed like a tape (another vocal-tract length); the teacher performs it;
    silence of random length before and after; then the recording chain (`_corrupt`)."""
    from vasa_bridge.audio import resample
    from vasa_bridge.phones.espeak import synthesize

    if voice.startswith("flite-"):
        from vasa_bridge.phones.flite import synthesize_flite

        speech = synthesize_flite(text, voice.removeprefix("flite-"), float(rng.uniform(0.8, 1.3)))
    elif voice.startswith("festival-"):
        from vasa_bridge.phones.festival import synthesize_festival

        speech = synthesize_festival(text, voice.removeprefix("festival-"), float(rng.uniform(0.8, 1.3)))
    else:
        speech = synthesize(text, voice=voice, rate_wpm=int(rng.integers(120, 230)),
                            pitch=int(rng.integers(25, 80)))
    audio = resample(speech.audio, speech.sample_rate_hz, MODEL_SAMPLE_RATE_HZ).astype(np.float32)
    return performed_pair(audio, speech.phones, voice, language, rng, controls, corrupt, babble)


def performed_pair(audio: np.ndarray, phones: tuple, voice: str, language: str, rng: np.random.Generator,
                   controls: Controls | None = None, corrupt: bool = True,
                   babble: list[np.ndarray] | None = None) -> Pair:
    """Speech at 16 kHz with its phones → a training pair: sometimes sped up or slowed like a tape, silence of
    random length before and after, performed by the teacher, then heard through the recording chain."""
    from vasa_bridge.datagen.augment import SPEED_CHOICES, change_speed
    from vasa_bridge.teacher import perform

    if corrupt and rng.random() < 0.4:
        audio, phones = change_speed(audio, phones, float(rng.choice(SPEED_CHOICES)))
    lead_s, tail_s = rng.uniform(0.05, 0.6), rng.uniform(0.1, 0.6)
    lead = np.zeros(int(lead_s * MODEL_SAMPLE_RATE_HZ), np.float32)
    audio = np.concatenate([lead, audio, np.zeros(int(tail_s * MODEL_SAMPLE_RATE_HZ), np.float32)])
    shift_s = len(lead) / MODEL_SAMPLE_RATE_HZ
    phones = tuple(replace(p, start_s=p.start_s + shift_s, end_s=p.end_s + shift_s) for p in phones)
    controls = controls or random_controls(rng)
    clip = perform(phones, audio, controls, seed=int(rng.integers(1 << 31)))
    heard = _corrupt(audio, rng, babble) if corrupt else audio
    return Pair(heard, clip.frames, controls, voice, language, phones, audio)


def real_pairs(clips: list, passes: int, seed: int) -> list[Pair]:
    """Real recordings with pseudo-labelled phones (train/pseudo_labels.py), each `passes` times: every pass
    another tape speed, silence, controls and recording chain."""
    rng = np.random.default_rng(seed)
    return [performed_pair(c.audio_16k, c.phones, f"{REAL_VOICE_PREFIX}{c.name}", "en", rng)
            for _ in range(passes) for c in clips]


def non_speech_pair(rng: np.random.Generator, controls: Controls | None = None) -> Pair:
    """A few seconds of noise or music (no voice) with the teacher's idle performance: the face stays calm."""
    from vasa_bridge.audio.synthetic import music_like, noise_like
    from vasa_bridge.phones.types import Phone
    from vasa_bridge.teacher import perform

    seconds = float(rng.uniform(1.5, 5.0))
    audio = (music_like if rng.random() < 0.5 else noise_like)(seconds, rng)
    audio = (audio * 10 ** (rng.uniform(*LEVEL_DBFS_RANGE) / 20) / max(1e-6, np.abs(audio).max())).astype(np.float32)
    phones = (Phone(symbol="_", start_s=0.0, end_s=len(audio) / MODEL_SAMPLE_RATE_HZ, viseme="sil"),)
    controls = controls or random_controls(rng)
    clip = perform(phones, np.zeros_like(audio), controls, seed=int(rng.integers(1 << 31)))
    return Pair(audio, clip.frames, controls, "non-speech", "-", phones, np.zeros_like(audio))


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
        if voices == "train" and rng.random() < NON_SPEECH_SHARE:
            pairs.append(non_speech_pair(rng, controls))
            continue
        if voices == "heldout-voice":
            voice, language = HELD_OUT_VOICES[0], "en"
        elif voices == "heldout-language":
            voice, language = HELD_OUT_LANGUAGES[0], "de"
        elif voices == "train" and (draw := rng.random()) < MBROLA_SHARE + FLITE_SHARE + FESTIVAL_SHARE:
            if draw < MBROLA_SHARE:
                voice = str(rng.choice(list(TRAIN_MBROLA_VOICES)))
                language = TRAIN_MBROLA_VOICES[voice]
            elif draw < MBROLA_SHARE + FLITE_SHARE:
                voice, language = str(rng.choice(TRAIN_FLITE_VOICES)), "en"
            else:
                voice, language = str(rng.choice(TRAIN_FESTIVAL_VOICES)), "en"
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
            babble = [p.clean_16k for p in pairs[-6:] if p.clean_16k is not None and p.voice != "non-speech"]
            pairs.append(synth_pair(text, voice, language, rng, controls, corrupt, babble))
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
    def pack(pairs: list[Pair], frontend: "SpeechFrontEnd", progress: bool = False) -> "PairSet":
        """Each pair's audio through the speech front end, padded with its silence rows."""
        from tqdm import tqdm

        feats, frames, f_start, m_start, n_frames, ctl = [], [], [], [], [], []
        row = frame_row = 0
        silence = frontend.silence_row[None, :]
        for p in tqdm(pairs, desc="front-end features", unit="line", disable=not progress):
            f = frontend.features(p.audio_16k)
            feats += [np.repeat(silence, PAD_BEFORE_FEATURES, 0), f, np.repeat(silence, PAD_AFTER_FEATURES, 0)]
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
