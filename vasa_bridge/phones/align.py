"""Forced alignment of English speech to its transcript with pocketsphinx 5 (bundled en-us model and CMUdict):
ARPAbet phones at 10 ms resolution on the audio's clock.

Words CMUdict lacks get a pronunciation from espeak-ng's letter-to-sound rules (its en-us mnemonics mapped to
ARPAbet). A forced aligner always returns *something*, so we check that the result describes the audio:
  1. the search must reach the end of the transcript (pocketsphinx gives up when the words cannot fit);
  2. the aligned phones must explain the audio about as well as a free phone loop does: the mean per-frame
     acoustic score of the alignment, minus that of an unconstrained phone recognizer on the same audio, must
     stay above `AlignOptions.min_score_gap_per_frame` (measured on espeak and Piper English voices, with and
     without noise: matching transcripts -4…-38, wrong ones -43…-82);
  3. the transcript must cover the speech: loud frames the aligner had to call silence mean words are missing.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.types import Phone
from vasa_bridge.phones.visemes import viseme_of

ALIGN_SAMPLE_RATE_HZ = 16000    # the en-us acoustic model's rate
FRAMES_PER_S = 100              # pocketsphinx frame shift 10 ms: the alignment's resolution
_FRAME_SAMPLES = ALIGN_SAMPLE_RATE_HZ // FRAMES_PER_S
_LOG_BASE = 1.0001              # pocketsphinx scores are logarithms in this base
_PHONE_LOOP_SEARCH = "vasa_phone_loop"
_SILENCE_PHONES = {"SIL"}


@dataclass(frozen=True)
class AlignOptions:
    # Beams much wider than pocketsphinx's recognition defaults: with those, correct transcripts of fast or
    # synthetic speech regularly fell off the beam ("final result does not match the grammar").
    beam: float = 1e-200
    word_beam: float = 1e-180
    phone_beam: float = 1e-200
    min_score_gap_per_frame: float = -42.0      # alignment vs free phone loop, log-1.0001 units per 10 ms frame
    max_silenced_speech_fraction: float = 0.35  # loud frames aligned to silence, as a fraction of loud frames
    min_audio_s: float = 0.1
    # The phone-loop yardstick (check 2) takes over half the time; a caller whose transcripts are known to be
    # right (text it synthesized itself) may skip it. Checks 1 and 3 always run.
    check_score: bool = True


@dataclass(frozen=True)
class Alignment:
    phones: tuple[Phone, ...]            # contiguous ARPAbet phones (no stress digits) and 'SIL'
    words: tuple[tuple[str, float, float], ...]  # (word as aligned, start_s, end_s), silences left out
    score_gap_per_frame: float           # check 2 above; closer to 0 is better; NaN when not checked
    silenced_speech_fraction: float      # check 3 above
    audio_s: float
    elapsed_s: float                     # wall time of the alignment (both passes and the phone loop)

    @property
    def speed_x_realtime(self) -> float:
        return self.audio_s / self.elapsed_s if self.elapsed_s > 0 else math.inf


# espeak-ng en-us mnemonics → ARPAbet, for the letter-to-sound fallback. espeak's r-coloured vowels carry their
# r; CMUdict writes it as a separate R (or ER).
_ESPEAK_TO_ARPABET: dict[str, str] = {
    "@": "AH", "@2": "AH", "@5": "AH", "@-": "AH", "a#": "AH", "V": "AH", "@L": "AH L",
    "3": "ER", "3:": "ER", "VR": "ER", "IR": "IH R",
    "a": "AE", "aa": "AE", "a2": "AE", "&": "AE",
    "A:": "AA", "A@": "AA R", "0": "AA", "02": "AA", "A": "AA",
    "O": "AO", "O:": "AO", "O2": "AO", "O@": "AO R", "o@": "AO R",
    "E": "EH", "E2": "EH", "e@": "EH R", "eI": "EY", "e": "EY",
    "I": "IH", "I#": "IH", "I2": "IH", "i": "IY", "i:": "IY", "i@": "IY AH", "i@3": "IH R",
    "U": "UH", "U@": "UH R", "u:": "UW", "u": "UW",
    "aI": "AY", "aI@": "AY ER", "aI3": "AY ER", "aU": "AW", "aU@": "AW ER", "oU": "OW", "o:": "OW", "OI": "OY",
    "b": "B", "d": "D", "d#": "D", "f": "F", "g": "G", "h": "HH", "j": "Y", "k": "K", "l": "L", "m": "M",
    "n": "N", "n-": "N", "N": "NG", "p": "P", "r": "R", "r-": "R", "s": "S", "t": "T", "t#": "T", "t2": "T",
    "v": "V", "w": "W", "w#": "W", "z": "Z", "z#": "Z", "S": "SH", "Z": "ZH", "T": "TH", "D": "DH",
    "tS": "CH", "dZ": "JH", "?": "T", "x": "K", "l#": "L",
    ";": "",   # a linking mark with no sound of its own (espeak's IPA for it is empty)
}


def _espeak_pronunciation(word: str) -> str:
    from vasa_bridge.phones.espeak import phoneme_words

    arpabet = []
    for spoken_word in phoneme_words(word, "en-us"):   # "42" is spoken as two words: one pronunciation
        for mnemonic in spoken_word:
            if mnemonic not in _ESPEAK_TO_ARPABET:
                raise PhoneTimingError(
                    f"cannot pronounce {word!r} for alignment: espeak-ng gives phoneme {mnemonic!r}, which has no "
                    "ARPAbet equivalent in vasa_bridge/phones/align.py; spell the word out in the transcript")
            arpabet.extend(_ESPEAK_TO_ARPABET[mnemonic].split())
    if not arpabet:
        raise PhoneTimingError(f"cannot pronounce {word!r} for alignment; spell it out in the transcript")
    return " ".join(arpabet)


def transcript_words(transcript: str) -> list[str]:
    """Lower-case words as CMUdict spells them: letters, digits and inner apostrophes; the rest separates."""
    text = transcript.lower().replace("\u2019", "'").replace("\u2018", "'")
    words = [w.strip("'") for w in re.split(r"[^a-z0-9']+", text)]
    return [w for w in words if w]


_local = threading.local()   # a pocketsphinx decoder is not thread-safe: one per thread, reused across calls


def _decoder(options: AlignOptions):
    cached = getattr(_local, "decoders", None)
    if cached is None:
        cached = _local.decoders = {}
    if options not in cached:
        import pocketsphinx

        decoder = pocketsphinx.Decoder(samprate=ALIGN_SAMPLE_RATE_HZ, bestpath=False, loglevel="FATAL",
                                       beam=options.beam, wbeam=options.word_beam, pbeam=options.phone_beam)
        model_dir = pocketsphinx.get_model_path("en-us")
        decoder.add_allphone_file(_PHONE_LOOP_SEARCH, os.path.join(model_dir, "en-us-phone.lm.bin"))
        cached[options] = decoder
    return cached[options]


def _describe(transcript: str, source: str | None) -> str:
    short = transcript if len(transcript) <= 80 else transcript[:77] + "..."
    return f"{source + ': ' if source else ''}transcript {short!r}"


_MISMATCH_ADVICE = ("check that the transcript is exactly the words spoken in this audio (all of them, in order), "
                    "that the audio is English speech at 16 kHz, and that it is not mostly noise or music")


def _loud_frames(audio_16k: np.ndarray, n_frames: int) -> np.ndarray:
    """Frames that clearly hold sound (speech, if the file is speech): well above the noise floor."""
    n = min(n_frames, len(audio_16k) // _FRAME_SAMPLES)
    frames = audio_16k[: n * _FRAME_SAMPLES].reshape(n, _FRAME_SAMPLES)   # (n, 160)
    energy_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    floor_db, peak_db = np.percentile(energy_db, 10), np.percentile(energy_db, 99)
    return energy_db > max(floor_db + 15.0, peak_db - 35.0)


def align_with_report(audio_16k: np.ndarray, transcript: str, options: AlignOptions = AlignOptions(),
                      source: str | None = None) -> Alignment:
    """Align and return phones, words and the quality measures; `source` (a file name) goes into errors."""
    audio = np.asarray(audio_16k)
    if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
        raise PhoneTimingError(f"{source or 'audio'}: need mono float samples at {ALIGN_SAMPLE_RATE_HZ} Hz "
                               f"(got shape {audio.shape}, dtype {audio.dtype}); load files with align_file()")
    audio_s = audio.size / ALIGN_SAMPLE_RATE_HZ
    if audio_s < options.min_audio_s:
        raise PhoneTimingError(f"{source or 'audio'}: only {audio_s * 1000:.0f} ms of audio; nothing to align")
    if not np.all(np.isfinite(audio)) or np.max(np.abs(audio)) < 1e-4:
        raise PhoneTimingError(f"{source or 'audio'}: the audio is silent or not finite; nothing to align")
    words = transcript_words(transcript)
    if not words:
        raise PhoneTimingError(f"{_describe(transcript, source)} has no words to align")

    started = time.perf_counter()
    decoder = _decoder(options)
    for word in set(words):
        if decoder.lookup_word(word) is None:
            decoder.add_word(word, _espeak_pronunciation(word), True)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()

    # Pass 1 finds word boundaries; pass 2, constrained by them, finds phones (pocketsphinx's recipe).
    decoder.set_align_text(" ".join(words))
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    if decoder.hyp() is None:
        raise PhoneTimingError(f"{_describe(transcript, source)} could not be aligned to the audio: "
                               f"{_MISMATCH_ADVICE}")
    decoder.set_alignment()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    alignment = decoder.get_alignment()
    aligned = [(p.name, int(p.start), int(p.duration), int(p.score)) for p in alignment.phones()]
    aligned_words = [(w.name, int(w.start), int(w.duration)) for w in alignment.words()]
    n_frames = int(decoder.n_frames())
    if not aligned or n_frames == 0:
        raise PhoneTimingError(f"{_describe(transcript, source)} could not be aligned to the audio: "
                               f"{_MISMATCH_ADVICE}")

    # Check 2: the free phone loop on the same audio is the yardstick for "explains the audio".
    score_gap = math.nan
    if options.check_score:
        decoder.activate_search(_PHONE_LOOP_SEARCH)
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        loop_score = sum(math.log(max(seg.ascore, 1e-300)) / math.log(_LOG_BASE) for seg in decoder.seg())
        score_gap = (sum(score for _, _, _, score in aligned) - loop_score) / n_frames
    elapsed_s = time.perf_counter() - started

    # Check 3: loud frames the alignment calls silence.
    loud = _loud_frames(audio.astype(np.float32), n_frames)
    silent = np.zeros(len(loud), dtype=bool)
    for name, start, duration, _ in aligned:
        if name in _SILENCE_PHONES:
            silent[start: start + duration] = True
    silenced_fraction = float(np.sum(loud & silent) / max(1, np.sum(loud)))

    if score_gap < options.min_score_gap_per_frame:
        raise PhoneTimingError(
            f"{_describe(transcript, source)} does not match the audio (alignment scores {score_gap:.0f} per "
            f"frame against a free phone recognizer; matching transcripts score above "
            f"{options.min_score_gap_per_frame:.0f}): {_MISMATCH_ADVICE}")
    if silenced_fraction > options.max_silenced_speech_fraction:
        raise PhoneTimingError(
            f"{_describe(transcript, source)} covers only {100 * (1 - silenced_fraction):.0f}% of the speech in "
            f"the audio (the rest aligned to silence): the transcript is missing words; {_MISMATCH_ADVICE}")

    phones = _mark_stress(_phones(aligned, n_frames, audio_s), aligned_words)
    return Alignment(
        phones=phones,
        words=tuple((re.sub(r"\(\d+\)$", "", name), start / FRAMES_PER_S, (start + duration) / FRAMES_PER_S)
                    for name, start, duration in aligned_words if not name.startswith(("<", "[", "+"))),
        score_gap_per_frame=float(score_gap), silenced_speech_fraction=silenced_fraction, audio_s=audio_s,
        elapsed_s=elapsed_s)


def _phones(aligned: list[tuple[str, int, int, int]], n_frames: int, audio_s: float) -> tuple[Phone, ...]:
    """Contiguous phones: each ends where the next starts; the last ends with the audio."""
    phones = []
    for i, (name, start, duration, _) in enumerate(aligned):
        end_frame = aligned[i + 1][1] if i + 1 < len(aligned) else max(start + duration, n_frames)
        start_s, end_s = start / FRAMES_PER_S, min(end_frame / FRAMES_PER_S, audio_s)
        if end_s <= start_s:
            continue
        symbol = "sil" if name in _SILENCE_PHONES else name
        phones.append(Phone(symbol=symbol, start_s=start_s, end_s=end_s, viseme=viseme_of(name, "arpabet")))
    if phones and phones[-1].end_s < audio_s:  # the frames after the last full one
        last = phones[-1]
        phones[-1] = Phone(last.symbol, last.start_s, audio_s, last.viseme, last.stressed)
    return tuple(phones)


_ARPABET_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def _mark_stress(phones: tuple[Phone, ...], aligned_words: list[tuple[str, int, int]]) -> tuple[Phone, ...]:
    """Mark primary-stressed vowels. The bundled dictionary carries no stress, so it comes from espeak-ng's
    reading of the same sentence (function words then stay unstressed, as in speech): its vowels and ours are
    matched in order, and where a stretch differs but has as many vowels on both sides, by position."""
    import difflib

    from vasa_bridge.phones.espeak import phoneme_words

    words = [re.sub(r"\(\d+\)$", "", name) for name, _, _ in aligned_words if not name.startswith(("<", "[", "+"))]
    if not words:
        return phones
    reference: list[tuple[str, bool]] = []        # espeak's vowels as ARPAbet, with primary stress
    for spoken in phoneme_words(" ".join(words), "en-us", keep_stress=True):
        for mnemonic in spoken:
            arpabet = _ESPEAK_TO_ARPABET.get(mnemonic.lstrip("'"), "").split()
            reference += [(a, mnemonic.startswith("'") and k == 0) for k, a in enumerate(arpabet)
                          if a in _ARPABET_VOWELS]
    vowel_indices = [i for i, p in enumerate(phones) if p.symbol in _ARPABET_VOWELS]
    matcher = difflib.SequenceMatcher(a=[a for a, _ in reference], b=[phones[i].symbol for i in vowel_indices],
                                      autojunk=False)
    stressed: set[int] = set()
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and a1 - a0 == b1 - b0):
            stressed.update(vowel_indices[b] for a, b in zip(range(a0, a1), range(b0, b1)) if reference[a][1])
    return tuple(Phone(p.symbol, p.start_s, p.end_s, p.viseme, i in stressed) for i, p in enumerate(phones))


def align(audio_16k: np.ndarray, transcript: str, options: AlignOptions = AlignOptions()) -> tuple[Phone, ...]:
    """ARPAbet phones of `transcript` in mono 16 kHz float audio; pauses are 'sil' (viseme 'sil')."""
    return align_with_report(audio_16k, transcript, options).phones


def align_file(path: str | Path, transcript: str, options: AlignOptions = AlignOptions()) -> tuple[Phone, ...]:
    """Load any audio file (resampled to 16 kHz mono) and align it to `transcript`."""
    from vasa_bridge.audio import load_audio

    audio = load_audio(path, ALIGN_SAMPLE_RATE_HZ)
    return align_with_report(audio, transcript, options, source=str(path)).phones


def boundary_errors_s(reference: tuple[Phone, ...], aligned: tuple[Phone, ...]) -> np.ndarray:
    """|start difference| in seconds for each phone matched between espeak-ng phones (the reference, e.g. of
    speech we synthesized) and aligned ARPAbet phones; used to measure the aligner on speech with known timings.

    espeak mnemonics are mapped to their first ARPAbet phone and the two sequences (pauses left out) matched in
    order; unmatched phones (linking sounds, pronunciation variants) are not counted."""
    import difflib

    ref = [((_ESPEAK_TO_ARPABET.get(p.symbol) or "?").split()[0], p.start_s) for p in reference
           if p.viseme != "sil"]
    hyp = [(p.symbol, p.start_s) for p in aligned if p.symbol != "sil"]
    matcher = difflib.SequenceMatcher(a=[s for s, _ in ref], b=[s for s, _ in hyp], autojunk=False)
    errors = [abs(ref[block.a + k][1] - hyp[block.b + k][1])
              for block in matcher.get_matching_blocks() for k in range(block.size)]
    return np.asarray(errors, dtype=np.float64)
