"""Speech with sample-accurate phone timings from libespeak-ng, called through ctypes.

espeak-ng reports each phoneme it starts as an event carrying the index of the sample where the phoneme's
waveform begins, counted from the start of the same synthesis call. We collect the audio and those events in
one pass, so phone boundaries line up with the returned audio exactly, for any of espeak-ng's languages and
voice variants ("en-us", "en-us+f3", "en-gb-x-rp", "de", "ja", ...).

libespeak-ng keeps global state (current voice, parameters, one callback) and is not thread-safe: every call
into it happens under `_LOCK`, and the library is initialised once per process.
"""

from __future__ import annotations

import ctypes
import difflib
import functools
import re
import threading
from dataclasses import dataclass

import numpy as np

from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.types import Phone
from vasa_bridge.phones.visemes import viseme_of

ESPEAK_SAMPLE_RATE_HZ = 22050       # espeak-ng's native rate for its formant voices
# MBROLA voices ("mb-us1", "mb-de2", ...: diphones recorded from real speakers) run at their own rate (16 kHz for
# all Debian ones), and espeak-ng reports their phoneme events this many samples late (its `mbrola_delay`):
# subtracted, every boundary matches `espeak-ng --pho` to the sample.
MBROLA_EVENT_DELAY_SAMPLES = 1000
MBROLA_PREFIX = "mb-"
RATE_WPM_RANGE = (80, 450)          # what espeak-ng accepts for espeakRATE
PITCH_RANGE = (0, 100)              # espeakPITCH, 50 = the voice's own pitch

_LIBRARY_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so")
_VOICE_HINT = ("see the available voices with `espeak-ng --voices` (variants: `espeak-ng --voices=variant`, "
               "used as e.g. 'en-us+f3') or vasa_bridge.phones.espeak.list_voices()")

# Constants from espeak-ng's speak_lib.h (the Debian package ships no header; the ABI has been stable since 1.49).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_PHONEMES_IPA = 0x02
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0
# Separator between phoneme names in espeak_TextToPhonemes output: a character no mnemonic uses.
_PHONEME_SEPARATOR = "\u00a6"
_CLAUSE_PUNCTUATION = ".,;:!?"
_LANGUAGE_SWITCH = re.compile(r"\(([A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*)\)")


class _EspeakEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),   # ms, rounded: we use `sample` instead
        ("sample", ctypes.c_int),           # sample index from the start of this synthesis call
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),          # union; for phoneme events the mnemonic, NUL-terminated unless 8 long
    ]


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),     # (priority byte, NUL-terminated language)*, then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SYNTH_CALLBACK_TYPE = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent))


@dataclass(frozen=True)
class SpeechWithPhones:
    audio: np.ndarray                   # (N,) float32 mono in [-1, 1]
    sample_rate_hz: int
    phones: tuple[Phone, ...]           # contiguous, covering [0, N / sample_rate_hz]; pauses have viseme 'sil'
    text: str
    voice: str

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate_hz


@dataclass(frozen=True)
class EspeakVoiceInfo:
    language: str       # its main language code; `synthesize(voice=...)` accepts it, e.g. "en-gb-x-rp"
    name: str           # espeak-ng's display name, e.g. "English_(Received_Pronunciation)"
    identifier: str     # file under espeak-ng-data/voices, e.g. "gmw/en-GB-x-rp"
    languages: tuple[str, ...] = ()  # every language code it answers to, main one first


class _Collector:
    """Receives audio chunks and phoneme events from the synth callback during one call."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, str]] = []     # (sample index, mnemonic)

    def on_synth(self, wav, n_samples: int, events) -> int:
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self.events.append((int(event.sample), event.id.decode("utf-8", errors="replace")))
            i += 1
        if wav and n_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0  # 0 = keep synthesizing


_LOCK = threading.RLock()
_lib: ctypes.CDLL | None = None
_collector: _Collector | None = None


def _dispatch(wav, n_samples, events) -> int:
    # One C callback for the whole process (espeak holds a single pointer); it forwards to the current call.
    if _collector is None:
        return 0
    return _collector.on_synth(wav, n_samples, events)


_C_CALLBACK = _SYNTH_CALLBACK_TYPE(_dispatch)   # module-level so it is never garbage-collected


def _library() -> ctypes.CDLL:
    """Load and initialise libespeak-ng once; callers hold _LOCK."""
    global _lib
    if _lib is not None:
        return _lib
    lib = None
    for name in _LIBRARY_NAMES:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        raise PhoneTimingError("libespeak-ng is not installed: run `apt-get install -y libespeak-ng1 espeak-ng` "
                               "(scripts/install_system.sh does this)")
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK_TYPE]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_GetCurrentVoice.argtypes = []
    lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_EspeakVoice)
    lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_EspeakVoice)]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
    lib.espeak_ng_GetSampleRate.argtypes = []
    lib.espeak_ng_GetSampleRate.restype = ctypes.c_int
    sample_rate_hz = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT)
    if sample_rate_hz != ESPEAK_SAMPLE_RATE_HZ:
        raise PhoneTimingError(f"libespeak-ng failed to initialise (returned {sample_rate_hz}); check that its "
                               "data is installed: `espeak-ng --version` should print a data path")
    lib.espeak_SetSynthCallback(_C_CALLBACK)
    _lib = lib
    return lib


def _set_voice(lib: ctypes.CDLL, voice: str) -> str:
    """Select a voice by file name ("en-us", "gmw/en") or by any language code a voice lists ("en-gb", "fr-fr"),
    optionally with a variant ("en-gb+f3"), as the espeak-ng command line does; caller holds _LOCK.
    Returns the selected voice's main language code."""
    if not voice or not voice.strip():
        raise PhoneTimingError(f"empty espeak-ng voice name; {_VOICE_HINT}")
    language, plus, variant = voice.partition("+")
    # espeak-ng silently ignores a variant it does not have; a corpus built on that would lose its voice variety.
    if plus and variant not in list_variants():
        raise PhoneTimingError(f"espeak-ng has no voice variant {variant!r} (in {voice!r}); {_VOICE_HINT}")
    if lib.espeak_SetVoiceByName(voice.encode("utf-8")) == _EE_OK:
        return _current_language(lib, language)
    for candidate in _list(None):
        if language.lower() in (code.lower() for code in candidate.languages) or language == candidate.name:
            if lib.espeak_SetVoiceByName(f"{candidate.identifier}{plus}{variant}".encode("utf-8")) == _EE_OK:
                return _current_language(lib, language)
    raise PhoneTimingError(f"espeak-ng has no voice or language {voice!r}; {_VOICE_HINT}")


def _current_language(lib: ctypes.CDLL, fallback: str) -> str:
    current = lib.espeak_GetCurrentVoice()
    languages = _language_codes(current.contents.languages) if current else ()
    return languages[0] if languages else fallback


def _check_text(text: str) -> bytes:
    if not text or not text.strip():
        raise PhoneTimingError("no text to speak: give a non-empty line")
    return text.encode("utf-8")


def synthesize(text: str, voice: str = "en-us", rate_wpm: int = 165, pitch: int = 50) -> SpeechWithPhones:
    """Speak `text` with espeak-ng and return the audio with the phones it was made of, sample-accurate."""
    encoded = _check_text(text)
    if not RATE_WPM_RANGE[0] <= rate_wpm <= RATE_WPM_RANGE[1]:
        raise PhoneTimingError(f"rate_wpm={rate_wpm} is outside espeak-ng's range {RATE_WPM_RANGE}")
    if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        raise PhoneTimingError(f"pitch={pitch} is outside espeak-ng's range {PITCH_RANGE} (50 = the voice's own)")
    global _collector
    with _LOCK:
        lib = _library()
        language = _set_voice(lib, voice)  # before the parameters: choosing a voice resets them
        lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        collector = _Collector()
        _collector = collector
        try:
            buffer = ctypes.create_string_buffer(encoded)
            status = lib.espeak_Synth(buffer, len(encoded) + 1, 0, _POS_CHARACTER, 0,
                                      _CHARS_UTF8 | _ENDPAUSE, None, None)
        finally:
            _collector = None
        if status != _EE_OK:
            raise PhoneTimingError(f"espeak-ng failed to speak {text[:60]!r} with voice {voice!r} (status {status})")
        stressed_tokens = _phoneme_tokens(lib, encoded)
        sample_rate_hz = int(lib.espeak_ng_GetSampleRate())   # 16 kHz for MBROLA voices, 22 050 otherwise
    events = collector.events
    if voice.startswith(MBROLA_PREFIX):
        events = [(sample - MBROLA_EVENT_DELAY_SAMPLES, name) for sample, name in events]
    audio_int16 = np.concatenate(collector.chunks) if collector.chunks else np.zeros(0, np.int16)
    audio = audio_int16.astype(np.float32) / 32768.0
    if len(audio) == 0:
        raise PhoneTimingError(f"espeak-ng produced no audio for {text[:60]!r} with voice {voice!r}")
    phones = _phones_from_events(events, len(audio), sample_rate_hz, stressed_tokens, language)
    return SpeechWithPhones(audio=audio, sample_rate_hz=sample_rate_hz, phones=phones, text=text,
                            voice=voice)


def _phones_from_events(events: list[tuple[int, str]], n_samples: int, sample_rate_hz: int,
                        stressed_tokens: list[tuple[str, bool]], language: str) -> tuple[Phone, ...]:
    """Turn (sample, mnemonic) events into contiguous phones covering [0, n_samples)."""
    # espeak announces a switch of language (a foreign word) with an event named like "(en)": it is no
    # phoneme, but it tells which language's table the following mnemonics come from.
    tagged: list[tuple[int, str, str]] = []    # (sample, mnemonic, language)
    for sample, name in sorted(events, key=lambda event: event[0]):
        switch = _LANGUAGE_SWITCH.fullmatch(name)
        if switch:
            language = switch.group(1)
        else:
            tagged.append((min(max(sample, 0), n_samples), name, language))
    if not tagged or tagged[0][0] > 0:
        tagged.insert(0, (0, "_", language))   # the lead-in before espeak's first phoneme is silence
    boundaries = [sample for sample, _, _ in tagged[1:]] + [n_samples]
    intervals = [(name, lang, start, end) for (start, name, lang), end in zip(tagged, boundaries) if end > start]
    stress = _stress_marks([name for name, _, _, _ in intervals], stressed_tokens)
    return tuple(
        Phone(symbol=name, start_s=start / sample_rate_hz, end_s=end / sample_rate_hz,
              viseme=viseme_of(name, "espeak", lang), stressed=is_stressed)
        for (name, lang, start, end), is_stressed in zip(intervals, stress))


def _stress_marks(event_names: list[str], tokens: list[tuple[str, bool]]) -> list[bool]:
    """Carry primary stress from espeak's phoneme transcription onto the event sequence.

    Phoneme events carry no stress, but espeak_TextToPhonemes marks it; the two sequences are the same
    phonemes up to pauses and a few linking sounds, so a sequence match transfers the marks."""
    stressed = [False] * len(event_names)
    matcher = difflib.SequenceMatcher(a=event_names, b=[name for name, _ in tokens], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            stressed[block.a + k] = tokens[block.b + k][1]
    return stressed


def _phoneme_words(lib: ctypes.CDLL, encoded: bytes) -> list[list[tuple[str, bool]]]:
    """espeak's mnemonic transcription of the text, word by word, as (phoneme, has primary stress);
    caller holds _LOCK."""
    words: list[list[tuple[str, bool]]] = []
    pending_stress = False
    for clause, _ in _clauses(lib, encoded, phoneme_mode=ord(_PHONEME_SEPARATOR) << 8):
        for word in clause.split():
            tokens: list[tuple[str, bool]] = []
            for token in word.split(_PHONEME_SEPARATOR):
                if _LANGUAGE_SWITCH.fullmatch(token):
                    continue
                # A pause can come glued to the next phoneme ("_:'A:"); it is matched as a pause of its own.
                pause = re.match(r"(?:_[:!|]?)+", token)
                if pause and pause.end() < len(token):
                    tokens.append(("_", False))
                    token = token[pause.end():]
                name = token.lstrip("',")
                primary = "'" in token[: len(token) - len(name)] or pending_stress
                if not name:            # a stress mark standing alone applies to the next phoneme
                    pending_stress = primary
                    continue
                pending_stress = False
                tokens.append((name, primary))
            if tokens:
                words.append(tokens)
    return words


def _phoneme_tokens(lib: ctypes.CDLL, encoded: bytes) -> list[tuple[str, bool]]:
    return [token for word in _phoneme_words(lib, encoded) for token in word]


def phoneme_words(text: str, voice: str = "en-us", keep_stress: bool = False) -> tuple[tuple[str, ...], ...]:
    """espeak-ng's phoneme mnemonics for the text, one tuple per spoken word, without pauses; with
    `keep_stress`, a primary-stressed phoneme is prefixed with "'" (the forced aligner uses these as its
    letter-to-sound rule and to mark stressed vowels)."""
    encoded = _check_text(text)
    with _LOCK:
        lib = _library()
        _set_voice(lib, voice)
        words = _phoneme_words(lib, encoded)
    return tuple(tuple(("'" + name) if keep_stress and stressed else name
                       for name, stressed in word if not name.startswith("_")) for word in words)


def _clauses(lib: ctypes.CDLL, encoded: bytes, phoneme_mode: int) -> list[tuple[str, str]]:
    """espeak_TextToPhonemes clause by clause: (phonemes, the punctuation that ended the clause or '')."""
    buffer = ctypes.create_string_buffer(encoded)
    start = ctypes.addressof(buffer)
    pointer = ctypes.c_void_p(start)
    clauses = []
    while pointer.value:
        before = pointer.value
        result = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, phoneme_mode)
        after = pointer.value if pointer.value else start + len(encoded)
        consumed = encoded[before - start: after - start].decode("utf-8", errors="ignore").rstrip()
        if consumed and consumed[-1] not in _CLAUSE_PUNCTUATION and after != start + len(encoded):
            consumed = consumed[:-1].rstrip()  # espeak's pointer runs one character past the clause
        ending = consumed[-1] if consumed and consumed[-1] in _CLAUSE_PUNCTUATION else ""
        clauses.append(((result or b"").decode("utf-8", errors="replace"), ending))
    return clauses


def ipa(text: str, voice: str = "en-us") -> str:
    """The text as IPA phonemes (with stress marks), as `espeak-ng -q --ipa` gives it, keeping each clause's
    ending punctuation so neural voices that read IPA can phrase it."""
    encoded = _check_text(text)
    with _LOCK:
        lib = _library()
        _set_voice(lib, voice)
        clauses = _clauses(lib, encoded, phoneme_mode=_PHONEMES_IPA)
    # Drop espeak's language-switch marks such as "(en)": they are not phonemes.
    text_ipa = " ".join(phonemes.strip() + ending for phonemes, ending in clauses if phonemes.strip())
    result = _LANGUAGE_SWITCH.sub("", text_ipa).strip()
    if not result:
        raise PhoneTimingError(f"espeak-ng found nothing to pronounce in {text[:60]!r} with voice {voice!r}")
    return result


@functools.lru_cache(maxsize=4)   # espeak rescans its voice files on every call; they do not change under us
def _list(spec_language: str | None) -> tuple[EspeakVoiceInfo, ...]:
    with _LOCK:
        lib = _library()
        spec = None
        language_buffer = ctypes.create_string_buffer((spec_language or "").encode())  # outlives the call
        if spec_language is not None:
            spec = _EspeakVoice()
            spec.languages = ctypes.addressof(language_buffer)
        array = lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        voices = []
        i = 0
        while array[i]:
            entry = array[i].contents
            languages = _language_codes(entry.languages)
            voices.append(EspeakVoiceInfo(language=languages[0] if languages else "",
                                      name=(entry.name or b"").decode(errors="replace"),
                                      identifier=(entry.identifier or b"").decode(errors="replace"),
                                      languages=languages))
            i += 1
    return tuple(voices)


def _language_codes(address: int | None) -> tuple[str, ...]:
    """Decode espeak's `languages` field: (priority byte, NUL-terminated code) pairs ended by a zero byte."""
    codes = []
    while address and ctypes.string_at(address, 1) != b"\0":
        code = ctypes.string_at(address + 1)
        codes.append(code.decode("utf-8", errors="replace"))
        address += 1 + len(code) + 1
    return tuple(codes)


def list_voices() -> tuple[EspeakVoiceInfo, ...]:
    """Every espeak-ng language voice; `synthesize(voice=v.language)` accepts each."""
    return _list(None)


def list_variants() -> tuple[str, ...]:
    """Voice variant names, used as a suffix: synthesize(voice="en-us+" + name)."""
    return tuple(v.identifier.rsplit("/", 1)[-1] for v in _list("variant"))
