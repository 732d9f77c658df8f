"""flite's real-speaker voices with the phone timings flite reports: training speech (never used at run time).

`awb` (Scottish English, male) and `rms` (US English, male) are statistical voices built from CMU ARCTIC
recordings of real speakers, so they carry those speakers' timbre and timing, unlike espeak-ng's formant voices.
flite's `-psdur` prints each segment with its end time on the waveform's clock, which makes the phone timings exact
for the audio it writes. flite's other voices (kal, kal16, slt) are reserved for independent evaluation and are
refused here.
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

FLITE_VOICES = ("awb", "rms")
RESERVED_VOICES = ("kal", "kal16", "slt")       # independent evaluation only


def synthesize_flite(text: str, voice: str = "rms", duration_stretch: float = 1.0) -> SpeechWithPhones:
    """Speak English `text` with a flite voice; phones contiguous from 0 to the end of the audio."""
    from scipy.io import wavfile

    check_request("flite", voice, FLITE_VOICES, RESERVED_VOICES, text, duration_stretch)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        result = subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={duration_stretch:.3f}",
                                 "-t", text, "-o", str(wav), "-psdur"], capture_output=True, timeout=60)
        if result.returncode != 0 or not wav.exists():
            raise PhoneTimingError(f"flite failed: {result.stderr.decode(errors='replace')[:300]}")
        rate, samples = wavfile.read(wav)
    audio = samples.astype(np.float32) / 32768.0
    phones = parse_segments(result.stdout.decode(), len(audio) / rate)
    return SpeechWithPhones(audio, int(rate), phones, text, f"flite-{voice}")


def parse_segments(printed: str, duration_s: float) -> tuple[Phone, ...]:
    """flite's `-psdur` line ("pau:0.254 hh:0.296 ...", each segment's end time) → contiguous phones; the last
    end is clipped to the audio (flite rounds it up by a few ms)."""
    return phones_from_segment_ends(_segments(printed), duration_s, "flite", end_tolerance_s=0.05)


def _segments(printed: str):
    for token in printed.split():
        symbol, _, end_text = token.rpartition(":")
        try:
            end = float(end_text)
        except ValueError:
            raise PhoneTimingError(f"flite printed an unreadable segment {token!r}") from None
        if not symbol:
            raise PhoneTimingError(f"flite printed a segment without a phone: {token!r}")
        yield symbol, end


__all__ = ["FLITE_VOICES", "synthesize_flite", "parse_segments"]
