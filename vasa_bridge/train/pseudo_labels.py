"""Real voices with phone timings we derive ourselves (pseudo-labels), for training.

MegaGlest's unit voices (datagen/real_speech.py) are ~200 actors shouting short English lines ("yes, my lord",
war cries) — the kind of voice the model read worst — but come without transcripts. Whisper tiny.en (the
`frontend-train` extra; training only) transcribes each clip, pocketsphinx force-aligns that transcript
(phones/align.py, whose checks reject phones that do not explain the audio), and the teacher then performs the
phones on the real audio like any training line. A clip is kept only when Whisper is confident and the alignment
passes. The evaluation's English references are made the same way, from known transcripts, on other recordings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from vasa_bridge.errors import PhoneTimingError

# Whisper's mean log-probability per token: on MegaGlest clips, real words scored above -1 and its guesses at grunts
# and foreign-accented lines below ("Pfft" -2.2, "Ahh!" -2.3).
MIN_TOKEN_LOGPROB = -1.0

Transcriber = Callable[[np.ndarray], tuple[str, float]]     # audio → (text, mean token log-probability)


@dataclass(frozen=True)
class LabelledClip:
    audio_16k: np.ndarray
    transcript: str
    phones: tuple
    token_logprob: float
    name: str


def whisper_transcriber(threads: int = 2) -> Transcriber:
    from vasa_bridge.audio.whisper import WhisperEncoder

    return WhisperEncoder(threads=threads).transcribe


def label_clips(clips: Iterable[tuple[str, np.ndarray]], transcribe: Transcriber,
                progress: bool = False) -> tuple[list[LabelledClip], Counter]:
    """(kept clips, why the others were dropped: "unsure" / "no words" / "alignment")."""
    from vasa_bridge.phones.align import align, transcript_words

    clips = list(clips)
    if progress:
        from tqdm import tqdm

        clips = tqdm(clips, desc="transcribing + aligning real voices", unit="clip")
    kept, dropped = [], Counter()
    for name, audio in clips:
        text, logprob = transcribe(audio)
        if logprob < MIN_TOKEN_LOGPROB:
            dropped["unsure"] += 1
            continue
        if not transcript_words(text) or not text.isascii():
            dropped["no words"] += 1
            continue
        try:
            phones = align(audio, text)
        except PhoneTimingError:
            dropped["alignment"] += 1
            continue
        kept.append(LabelledClip(audio, text, phones, logprob, name))
    return kept, dropped


def megaglest_labelled(progress: bool = True) -> tuple[list[LabelledClip], Counter]:
    from vasa_bridge.datagen.real_speech import load_16k, megaglest_voice_files

    files = megaglest_voice_files()
    named = ((f"{p.parent.parent.name}/{p.stem}", load_16k(p)) for p in files)
    return label_clips(named, whisper_transcriber(), progress)


def warzone_labelled(progress: bool = True) -> tuple[list[LabelledClip], Counter]:
    """Warzone 2100's voices, labelled the same way: a development set for p/b/m (`vasa-bridge eval --real dev`)
    that no training uses."""
    from vasa_bridge.datagen.real_speech import warzone_voices

    return label_clips(warzone_voices(), whisper_transcriber(), progress)
