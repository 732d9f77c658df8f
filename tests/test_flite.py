"""flite's real-speaker voices as training speech: phone timings that match the audio, reserved voices refused."""

from __future__ import annotations

import numpy as np
import pytest

from phone_levels import phone_levels_db
from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.flite import FLITE_VOICES, parse_segments, synthesize_flite


def test_segments_become_contiguous_phones_clipped_to_the_audio():
    phones = parse_segments("pau:0.254 hh:0.296 ax:0.341 m:0.414 pau:0.502\n", 0.5)
    assert [p.symbol for p in phones] == ["pau", "hh", "ax", "m", "pau"]
    assert [p.viseme for p in phones] == ["sil", "kk", "E", "PP", "sil"]
    assert phones[0].start_s == 0.0 and phones[-1].end_s == 0.5
    assert all(a.end_s == b.start_s for a, b in zip(phones, phones[1:]))
    with pytest.raises(PhoneTimingError, match="end at"):
        parse_segments("pau:0.1 m:0.2", 0.5)                     # the audio runs on past the last segment
    with pytest.raises(PhoneTimingError, match="out of order"):
        parse_segments("pau:0.3 m:0.2", 0.5)


@pytest.mark.parametrize("voice", FLITE_VOICES)
def test_bilabial_closures_are_quiet_and_pauses_silent_where_flite_says(voice):
    speech = synthesize_flite("Bob paid my mum a big tip. Pop music is pretty bad.", voice, 1.1)
    rate = speech.sample_rate_hz
    assert rate == 16000 and speech.phones[-1].end_s == pytest.approx(len(speech.audio) / rate)

    vowels, stops, pauses = phone_levels_db(speech, ("p", "b"))
    assert np.median(stops) < np.median(vowels) - 6            # lips closed: quieter than the vowels around
    assert max(pauses) < np.median(vowels) - 20                # (awb breathes: -45 dB against -18)


def test_reserved_voices_are_refused():
    for voice in ("kal", "kal16", "slt"):
        with pytest.raises(PhoneTimingError, match="reserved"):
            synthesize_flite("hello", voice)
