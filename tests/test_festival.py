"""Festival's real-speaker diphone voices as training speech: phone timings that match the audio (both phone sets),
reserved voices refused."""

from __future__ import annotations

import numpy as np
import pytest

from phone_levels import phone_levels_db
from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.festival import FESTIVAL_VOICES, parse_segments, synthesize_festival

SEGS_MRPA = "#\n0.2400 100 #\n0.3242 100 h\n0.3708 100 @\n0.4499 100 m\n0.6432 100 ou\n0.7000 100 #\n"


def test_segments_of_both_phone_sets_become_contiguous_arpabet_phones():
    phones = parse_segments(SEGS_MRPA, 0.71, "mrpa")
    assert [p.symbol for p in phones] == ["PAU", "HH", "AX", "M", "OW", "PAU"]
    assert [p.viseme for p in phones] == ["sil", "kk", "E", "PP", "O", "sil"]
    assert phones[0].start_s == 0.0 and phones[-1].end_s == 0.71       # the wave runs a few ms past the last end
    assert all(a.end_s == b.start_s for a, b in zip(phones, phones[1:]))
    radio = parse_segments("#\n0.2 100 pau\n0.3 100 b\n0.5 100 aa\n", 0.5, "radio")
    assert [(p.symbol, p.viseme) for p in radio] == [("PAU", "sil"), ("B", "PP"), ("AA", "aa")]
    with pytest.raises(PhoneTimingError, match="not in the MRPA"):
        parse_segments("#\n0.2 100 xx\n", 0.2, "mrpa")
    with pytest.raises(PhoneTimingError, match="end at"):
        parse_segments("#\n0.2 100 #\n", 0.5, "mrpa")                  # the audio runs on past the last segment
    with pytest.raises(PhoneTimingError, match="out of order"):
        parse_segments("#\n0.3 100 #\n0.2 100 m\n", 0.3, "mrpa")


@pytest.mark.parametrize("voice", sorted(FESTIVAL_VOICES))
def test_bilabial_closures_are_quiet_and_pauses_silent_where_festival_says(voice):
    speech = synthesize_festival("Bob paid my mum a big tip. Pop music is pretty bad.", voice, 1.1)
    rate = speech.sample_rate_hz
    assert speech.phones[-1].end_s == pytest.approx(len(speech.audio) / rate)

    vowels, stops, pauses = phone_levels_db(speech, ("P", "B"))
    assert len(stops) >= 6
    assert np.median(stops) < np.median(vowels) - 6            # lips closed: quieter than the vowels around
    assert max(pauses) < np.median(vowels) - 20


def test_reserved_voices_are_refused():
    for voice in ("kal", "kallpc16k", "slt", "us_slt_hts"):
        with pytest.raises(PhoneTimingError, match="reserved"):
            synthesize_festival("hello", voice)
