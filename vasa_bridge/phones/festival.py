"""Festival's real-speaker diphone voices with the phone timings Festival reports: training speech (never used at
run time; Festival is a Debian package installed by scripts/install_training.sh).

`rab` (British English, male, 16 kHz), `ked` (US English, male, 16 kHz) and `don` (British English, male, 10 kHz)
concatenate diphones recorded from real speakers. A Scheme script synthesises the line and saves the wave and the
segments (`utt.save.segs`: each segment's end time on the wave's clock), so the timings are exact for the audio.
Festival's kallpc16k and us-slt-hts voices (and their flite twins) are reserved for independent evaluation and
are refused here.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.espeak import SpeechWithPhones
from vasa_bridge.phones.types import Phone
from vasa_bridge.phones.segments import check_request, phones_from_segment_ends

FESTIVAL_VOICES = {"rab": "mrpa", "ked": "radio", "don": "mrpa"}     # voice → its phone set
RESERVED_VOICES = ("kal", "kallpc16k", "slt", "us_slt_hts", "cmu_us_slt_arctic_hts")
# Festival's British phone set (MRPA) in ARPAbet, whose viseme table we have; "radio" (ked) is ARPAbet already.
MRPA_TO_ARPABET = {
    "#": "PAU", "uh": "AH", "e": "EH", "a": "AE", "o": "AA", "i": "IH", "u": "UH", "ii": "IY", "uu": "UW",
    "oo": "AO", "aa": "AA", "@@": "ER", "ai": "AY", "ei": "EY", "oi": "OY", "au": "AW", "ou": "OW", "e@": "EH",
    "i@": "IH", "u@": "UH", "@": "AX", "p": "P", "t": "T", "k": "K", "b": "B", "d": "D", "g": "G", "s": "S",
    "z": "Z", "sh": "SH", "zh": "ZH", "f": "F", "v": "V", "th": "TH", "dh": "DH", "ch": "CH", "jh": "JH", "h": "HH",
    "m": "M", "n": "N", "ng": "NG", "l": "L", "r": "R", "y": "Y", "w": "W",
}


def synthesize_festival(text: str, voice: str = "rab", duration_stretch: float = 1.0) -> SpeechWithPhones:
    """Speak English `text` with a Festival diphone voice; phones contiguous from 0 to the end of the audio."""
    from scipy.io import wavfile

    check_request("Festival", voice, FESTIVAL_VOICES, RESERVED_VOICES, text, duration_stretch)
    with tempfile.TemporaryDirectory() as tmp:
        wav, segs, script = Path(tmp) / "line.wav", Path(tmp) / "line.segs", Path(tmp) / "line.scm"
        script.write_text(_script(text, voice, duration_stretch, wav, segs))
        try:
            result = subprocess.run(["festival", "-b", str(script)], capture_output=True, timeout=120)
        except FileNotFoundError:
            raise PhoneTimingError("Festival is not installed: bash scripts/install_training.sh") from None
        if result.returncode != 0 or not wav.exists() or not segs.exists():
            raise PhoneTimingError(f"Festival failed: {result.stderr.decode(errors='replace')[:300]}")
        rate, samples = wavfile.read(wav)
        printed = segs.read_text()
    audio = samples.astype(np.float32) / 32768.0
    phones = parse_segments(printed, len(audio) / rate, FESTIVAL_VOICES[voice])
    return SpeechWithPhones(audio, int(rate), phones, text, f"festival-{voice}")


def _script(text: str, voice: str, duration_stretch: float, wav: Path, segs: Path) -> str:
    quoted = text.replace("\\", " ").replace('"', " ")            # a Scheme string: no escapes needed then
    return (f"(voice_{voice}_diphone)\n(Parameter.set 'Duration_Stretch {duration_stretch:.3f})\n"
            f'(set! u (Utterance Text "{quoted}"))\n(utt.synth u)\n'
            f"(utt.save.wave u \"{wav}\" 'riff)\n(utt.save.segs u \"{segs}\")\n")


def parse_segments(printed: str, duration_s: float, phone_set: str) -> tuple[Phone, ...]:
    """`utt.save.segs` output ("#" header, then "<end time> <colour> <segment>" per line) → contiguous phones;
    the last end is moved to the end of the audio (Festival's wave runs a few ms past it)."""
    return phones_from_segment_ends(_segments(printed, phone_set), duration_s, "Festival", end_tolerance_s=0.1)


def _segments(printed: str, phone_set: str):
    for line in printed.splitlines():
        fields = line.split()
        if len(fields) != 3:
            continue                                                  # the "#" header
        try:
            end = float(fields[0])
        except ValueError:
            raise PhoneTimingError(f"Festival wrote an unreadable segment {line!r}") from None
        symbol = fields[2].upper() if phone_set == "radio" else MRPA_TO_ARPABET.get(fields[2])
        if symbol is None:
            raise PhoneTimingError(f"Festival segment {fields[2]!r} is not in the MRPA phone set")
        yield symbol, end


__all__ = ["FESTIVAL_VOICES", "synthesize_festival", "parse_segments"]
