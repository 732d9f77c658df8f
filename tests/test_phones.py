"""espeak-ng phones (sample-accurate, any language) and the phone → viseme table."""

from __future__ import annotations

import random
import re
import struct
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones import VISEMES
from vasa_bridge.phones import espeak
from vasa_bridge.phones.visemes import ARPABET_VISEMES, ESPEAK_VISEMES, TEST_VOICES, viseme_of

LINE = "Maybe Bob bought a map of the bumpy path, before the movie began."

# A few real sentences per language plus seeded pseudo-words from its alphabet: the letter-to-sound rules then
# reach phonemes that a handful of sentences would not.
SENTENCES = {
    "en": ["The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore.",
           "Please call Stella and ask her to bring these things with her from the store.",
           "Why would a vision of the azure hour measure your pleasure in church or judge a thing?",
           "Our boy, Yvonne, ate the cold oatmeal; the cute mule's few hues were pure."],
    "de": ["Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
           "Ich möchte gern ein Stück Kuchen und eine Tasse Kaffee, bitte."],
    "fr": ["Portez ce vieux whisky au juge blond qui fume.", "Le cœur a ses raisons que la raison ne connaît point."],
    "es": ["El veloz murciélago hindú comía feliz cardillo y kiwi.", "La cigüeña tocaba el saxofón detrás del palenque."],
    "it": ["Quel vituperabile xenofobo zelante assaggia il whisky ed esclama alleluja.",
           "Gli gnomi sciocchi cercano le chiavi nella cucina."],
    "pt": ["Um pequeno jabuti xereta viu dez cegonhas felizes.", "Não há pão nem vinho na mão do irmão."],
    "ja": ["いろはにほへと ちりぬるを わかよたれそ つねならむ", "きょうは ちょっと さむいですね。 にほんご を はなします。"],
    "hi": ["नमस्ते, आप कैसे हैं?", "मैं हिंदी बोलता हूँ और मुझे चाय पसंद है।"],
}
ALPHABETS = {
    "en": "abcdefghijklmnopqrstuvwxyz", "de": "abcdefghijklmnopqrstuvwxyzäöüß",
    "fr": "abcdefghijklmnopqrstuvwxyzéèêàâçôîûùëïœ", "es": "abcdefghijklmnopqrstuvwxyzñáéíóúü",
    "it": "abcdefghijklmnopqrstuvzàèéìòù", "pt": "abcdefghijklmnopqrstuvwxyzãõáéíóúâêôçà",
    "ja": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんがぎぐげござじずぜぞだぢづでどばびぶべぼぱぴぷぺぽゃゅょっー",
    "hi": "अआइईउऊऋएऐओऔकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसहािीुूृेैोौंँः्",
}


def _language(voice: str) -> str:
    return voice.split("-")[0].split("+")[0]


def _sample_text(voice: str, n_lines: int = 40) -> list[str]:
    language = _language(voice)
    rng = random.Random(language)
    alphabet = ALPHABETS[language]
    pseudo = [" ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(2, 8))) for _ in range(8))
              for _ in range(n_lines)]
    return SENTENCES[language] + pseudo


def _rms_db(audio: np.ndarray, start_s: float, end_s: float, sample_rate_hz: int) -> float:
    segment = audio[int(start_s * sample_rate_hz): max(int(end_s * sample_rate_hz), int(start_s * sample_rate_hz) + 1)]
    return float(10 * np.log10(np.mean(segment.astype(np.float64) ** 2) + 1e-12))


# ---- espeak-ng synthesis --------------------------------------------------------------------------------------

@pytest.mark.parametrize("voice", ["en-us", "en-us+f3", "en-gb-x-rp", "de", "fr", "es", "it", "ja", "hi", "pt-br"])
def test_espeak_phones_are_contiguous_and_cover_the_audio(voice: str) -> None:
    speech = espeak.synthesize(LINE if voice.startswith("en") else SENTENCES[_language(voice)][0], voice)
    assert speech.sample_rate_hz == 22050 and speech.audio.dtype == np.float32 and speech.audio.ndim == 1
    assert np.max(np.abs(speech.audio)) > 0.05
    phones = speech.phones
    assert phones[0].start_s == 0.0
    assert phones[-1].end_s == pytest.approx(len(speech.audio) / speech.sample_rate_hz, abs=1e-9)
    for before, after in zip(phones, phones[1:]):
        assert before.end_s == after.start_s       # contiguous, no gaps or overlaps
    assert all(p.end_s > p.start_s for p in phones)
    assert all(p.viseme in VISEMES for p in phones)
    assert sum(p.viseme != "sil" for p in phones) >= 15
    assert all(p.viseme == "sil" for p in phones if p.symbol.startswith("_"))


def _bilabial_closure_hits(speech: espeak.SpeechWithPhones, shift_s: float = 0.0) -> tuple[int, int]:
    """Count stops p/b between two vowels whose quietest 10 ms lies >10 dB below both vowels' loudness."""
    phones, sr = speech.phones, speech.sample_rate_hz
    vowel_visemes = {"aa", "E", "I", "O", "U"}
    hits = total = 0
    for before, stop, after in zip(phones, phones[1:], phones[2:]):
        if stop.symbol not in ("p", "b") or before.viseme not in vowel_visemes or after.viseme not in vowel_visemes:
            continue
        total += 1
        start, end = stop.start_s + shift_s, stop.end_s + shift_s
        window_db = [_rms_db(speech.audio, t, t + 0.01, sr) for t in np.arange(start, max(end - 0.01, start + 1e-3), 0.005)]
        vowels_db = min(_rms_db(speech.audio, before.start_s + shift_s, before.end_s + shift_s, sr),
                        _rms_db(speech.audio, after.start_s + shift_s, after.end_s + shift_s, sr))
        hits += min(window_db) < vowels_db - 10.0
    return hits, total


def test_espeak_bilabial_stops_land_on_the_closures_in_the_audio() -> None:
    speech = espeak.synthesize("A baby bobby pops a happy puppy. Abba ape. Obey a pipe, Ebby; Ubu, upper, hobo.",
                               "en-us")
    hits, total = _bilabial_closure_hits(speech)
    assert total >= 8
    assert hits / total >= 0.9, (hits, total)
    # The same check on timings shifted by 70 ms mostly fails: the test really measures alignment to the audio.
    shifted_hits, _ = _bilabial_closure_hits(speech, shift_s=0.07)
    assert shifted_hits / total <= 0.5, (shifted_hits, total)


def test_espeak_nasal_m_is_quieter_than_its_neighbouring_vowels() -> None:
    speech = espeak.synthesize("A mama, Emma, a memo, Amy, moo, my mummy.", "en-us+f3")
    sr, phones = speech.sample_rate_hz, speech.phones
    quieter = total = 0
    for before, m, after in zip(phones, phones[1:], phones[2:]):
        if m.symbol == "m" and before.viseme not in ("sil", "PP") and after.viseme not in ("sil", "PP"):
            total += 1
            m_db = _rms_db(speech.audio, m.start_s, m.end_s, sr)
            quieter += m_db < min(_rms_db(speech.audio, before.start_s, before.end_s, sr),
                                  _rms_db(speech.audio, after.start_s, after.end_s, sr))
    assert total >= 5 and quieter / total >= 0.8, (quieter, total)


def test_espeak_rate_and_pitch_change_the_speech() -> None:
    slow = espeak.synthesize(LINE, "en-us", rate_wpm=120)
    fast = espeak.synthesize(LINE, "en-us", rate_wpm=300)
    assert fast.duration_s < 0.6 * slow.duration_s
    assert [p.symbol for p in fast.phones if p.viseme != "sil"] == [p.symbol for p in slow.phones if p.viseme != "sil"]
    low = espeak.synthesize(LINE, "en-us", pitch=10)
    high = espeak.synthesize(LINE, "en-us", pitch=90)

    def zero_crossings_per_s(audio: np.ndarray, sr: int) -> float:
        return float(np.sum(np.diff(np.signbit(audio).astype(np.int8)) != 0) / (len(audio) / sr))

    assert zero_crossings_per_s(high.audio, 22050) > zero_crossings_per_s(low.audio, 22050)


def test_espeak_marks_primary_stress_on_content_word_vowels() -> None:
    speech = espeak.synthesize("Bob bought a map.", "en-us")
    stressed = [p.symbol for p in speech.phones if p.stressed]
    assert stressed == ["0", "O:", "a"]        # b'0b b'O:t a# m'ap: the vowels of Bob, bought, map; not 'a'
    assert not any(p.stressed for p in speech.phones if p.viseme == "sil")


def test_espeak_accepts_language_codes_and_variants() -> None:
    for voice in ("en-gb", "fr-fr", "en-gb+f3", "en-gb-x-rp+m3", "es-419"):
        assert len(espeak.synthesize("Hello there.", voice).phones) > 3
    variants = espeak.list_variants()
    assert "f3" in variants and "m3" in variants
    languages = {code for voice in espeak.list_voices() for code in voice.languages}
    assert {"en-us", "en-gb-x-rp", "de", "fr-fr", "ja", "hi", "pt-br"} <= languages


@pytest.mark.parametrize("voice", ["xx-nonexistent", "en-us+nosuchvariant-zz", ""])
def test_espeak_unknown_voice_is_a_clear_error(voice: str) -> None:
    with pytest.raises(PhoneTimingError, match="espeak-ng --voices"):
        espeak.synthesize("Hello.", voice)


def test_espeak_bad_text_or_parameters_are_clear_errors() -> None:
    with pytest.raises(PhoneTimingError, match="no text"):
        espeak.synthesize("   ", "en-us")
    with pytest.raises(PhoneTimingError, match="rate_wpm"):
        espeak.synthesize("Hello.", "en-us", rate_wpm=5)
    with pytest.raises(PhoneTimingError, match="pitch"):
        espeak.synthesize("Hello.", "en-us", pitch=200)


def test_espeak_is_safe_to_call_from_several_threads() -> None:
    texts = [LINE, "The quick brown fox jumps over the lazy dog.", "Zwölf Boxkämpfer jagen Viktor.", "こんにちは"]
    voices = ["en-us", "en-gb-x-rp", "de", "ja"]
    serial = [[p.symbol for p in espeak.synthesize(t, v).phones] for t, v in zip(texts, voices)]
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(5):
                speech = espeak.synthesize(texts[i], voices[i])
                results[i] = [p.symbol for p in speech.phones]
                assert speech.phones[-1].end_s == pytest.approx(speech.duration_s)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert [results[i] for i in range(4)] == serial


@pytest.mark.parametrize("voice,text", [("en-us", LINE), ("de", SENTENCES["de"][0]), ("fr", SENTENCES["fr"][0]),
                                        ("es", SENTENCES["es"][0]), ("it", SENTENCES["it"][0]),
                                        ("pt-br", SENTENCES["pt"][0]), ("ja", SENTENCES["ja"][0]),
                                        ("hi", SENTENCES["hi"][0])])
def test_ipa_is_non_empty_ipa_for_each_language(voice: str, text: str) -> None:
    result = espeak.ipa(text, voice)
    assert len(result.replace(" ", "")) >= 10
    assert "ˈ" in result                         # IPA stress marks, not espeak's ASCII "'"
    assert "(" not in result                     # no language-switch marks such as "(en)"
    letters = [c for c in result if c.isalpha() or ord(c) > 0x250]
    for char in letters:                         # every IPA letter has a viseme
        assert viseme_of(char, "ipa") in VISEMES, char


def test_ipa_keeps_clause_punctuation_for_phrasing() -> None:
    assert espeak.ipa("Hello, Bob. Okay?", "en-us") == "həlˈoʊ, bˈɑːb. oʊkˈeɪ?"


# ---- the viseme table -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("voice", TEST_VOICES)
def test_every_phoneme_emitted_by_the_test_voices_maps_to_a_viseme(voice: str) -> None:
    emitted: set[str] = set()
    for text in _sample_text(voice):
        for phone in espeak.synthesize(text, voice).phones:   # viseme_of raises on any unknown mnemonic
            assert phone.viseme in VISEMES
            emitted.add(phone.symbol)
    assert len(emitted - {"_", "_:", "_!", "_|"}) >= 25, sorted(emitted)
    # Not only through the generic pause/modifier rules: every non-pause mnemonic is in the table itself.
    missing = {s for s in emitted if not s.startswith("_") and s not in ESPEAK_VISEMES}
    assert not missing, missing


def _espeak_data_dir() -> Path:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    return Path(re.search(r"Data at:\s*(\S+)", out).group(1))


def _phontab_inventory() -> dict[str, tuple[int, dict[str, int]]]:
    """espeak-ng-data/phontab: per table, (index of the table it includes, {mnemonic: phoneme type})."""
    data = (_espeak_data_dir() / "phontab").read_bytes()
    (n_tables,) = struct.unpack_from("<i", data, 0)
    offset, tables = 4, {}
    for _ in range(n_tables):
        n_phonemes, includes = data[offset], data[offset + 1]
        name = data[offset + 4: offset + 36].split(b"\0")[0].decode()
        offset += 36
        phonemes = {}
        for _ in range(n_phonemes):
            mnemonic, _flags, _program, _code, kind = struct.unpack_from("<IIHBB", data, offset)
            offset += 16
            phonemes[struct.pack("<I", mnemonic).split(b"\0")[0].decode("latin-1")] = kind
        tables[name] = (includes, phonemes)
    return tables


def _voice_table(voice: str) -> str:
    identifier = next(v.identifier for v in espeak.list_voices() if voice in v.languages)
    text = (_espeak_data_dir() / "lang" / identifier).read_text()
    match = re.search(r"^phonemes\s+(\S+)", text, re.MULTILINE)
    return match.group(1) if match else voice.split("-")[0]


def test_every_phoneme_in_the_test_voices_phoneme_tables_maps_to_a_viseme() -> None:
    tables = _phontab_inventory()
    names = list(tables)
    virtual, stress = 9, 1   # phoneme types that are never sounded
    unmapped = {}
    for voice in TEST_VOICES:
        table = _voice_table(voice)
        chain = [table]
        while names[tables[chain[-1]][0]] != chain[-1]:
            chain.append(names[tables[chain[-1]][0]])
        for name in chain:
            for mnemonic, kind in tables[name][1].items():
                if mnemonic and kind not in (virtual, stress) and mnemonic[0] not in "#_" and mnemonic.isprintable():
                    try:
                        viseme_of(mnemonic, "espeak", voice)
                    except PhoneTimingError:
                        unmapped.setdefault(mnemonic, set()).add(voice)
    assert len(chain) >= 2
    assert not unmapped, unmapped


def test_every_phone_of_the_aligner_dictionary_maps_to_a_viseme() -> None:
    import pocketsphinx

    model_dir = Path(pocketsphinx.get_model_path("en-us"))
    phones = set()
    for line in (model_dir / "cmudict-en-us.dict").read_text(errors="replace").splitlines():
        phones.update(line.split()[1:])
    for line in (model_dir / "en-us" / "noisedict").read_text().splitlines():
        phones.update(line.split()[1:])
    assert len(phones) >= 39
    assert all(viseme_of(p, "arpabet") in VISEMES for p in phones)


@pytest.mark.parametrize("source,symbol,viseme", [
    ("arpabet", "P", "PP"), ("arpabet", "M", "PP"), ("arpabet", "AA1", "aa"), ("arpabet", "IY0", "I"),
    ("arpabet", "UW2", "U"), ("arpabet", "F", "FF"), ("arpabet", "DH", "TH"), ("arpabet", "SH", "CH"),
    ("arpabet", "SIL", "sil"),
    ("espeak", "b", "PP"), ("espeak", "m", "PP"), ("espeak", "f", "FF"), ("espeak", "T", "TH"),
    ("espeak", "tS", "CH"), ("espeak", "s", "SS"), ("espeak", "N", "nn"), ("espeak", "u:", "U"),
    ("espeak", "'oU", "O"), ("espeak", "i::", "I"), ("espeak", "_:", "sil"),
    ("ipa", "p", "PP"), ("ipa", "ˈaɪ", "aa"), ("ipa", "tʃ", "CH"), ("ipa", "ts", "SS"), ("ipa", "ç", "CH"),
    ("ipa", "ɔ̃", "O"), ("ipa", "ɯᵝ", "U"), ("ipa", "ɾ", "DD"),
])
def test_phones_map_by_articulation(source: str, symbol: str, viseme: str) -> None:
    assert viseme_of(symbol, source) == viseme


def test_espeak_mnemonics_read_per_language_where_the_lips_differ() -> None:
    # '0' is rounded ɒ in British English but unrounded ɑ in American English ("lot").
    assert viseme_of("0", "espeak", "en-gb") == "O"
    assert viseme_of("0", "espeak", "en-us") == "aa"
    assert viseme_of("3:", "espeak", "en-us") == "RR" and viseme_of("3:", "espeak", "en-gb-x-rp") == "E"
    assert viseme_of("y", "espeak", "fr") == "U" and viseme_of("y", "espeak", "pt-br") == "I"
    bob = [p for p in espeak.synthesize("Bob", "en-us").phones if p.symbol == "0"]
    assert bob and bob[0].viseme == "aa"


@pytest.mark.parametrize("source,symbol", [("arpabet", "QX"), ("espeak", "Q%Q"), ("ipa", "Ж"), ("klingon", "a")])
def test_unknown_symbols_are_errors_not_guesses(source: str, symbol: str) -> None:
    with pytest.raises(PhoneTimingError):
        viseme_of(symbol, source)


def test_tables_name_only_visemes_of_the_set() -> None:
    assert set(ARPABET_VISEMES.values()) <= set(VISEMES)
    assert set(ESPEAK_VISEMES.values()) == set(VISEMES)


def test_corpus_sentences_of_every_other_language_map_to_visemes():
    """Every line the corpus speaks in another language yields phones with visemes (nl '8' and '!' and hi 'r.'
    once failed corpus items)."""
    from vasa_bridge.datagen.text import OTHER_LANGUAGE_SENTENCES
    from vasa_bridge.phones.espeak import synthesize
    from vasa_bridge.phones.visemes import viseme_of

    assert (viseme_of("8", "espeak", "nl"), viseme_of("!", "espeak", "nl"), viseme_of("r.", "espeak", "hi")) == (
        "O", "kk", "DD")
    for language, sentences in OTHER_LANGUAGE_SENTENCES.items():
        for sentence in sentences:
            phones = synthesize(sentence, voice=language).phones
            assert phones and all(p.viseme for p in phones), (language, sentence)


@pytest.mark.skipif(not __import__("os").path.exists("/usr/share/mbrola/us1"),
                    reason="MBROLA voice us1 not installed (scripts/install_training.sh installs it)")
def test_mbrola_voice_phones_match_espeak_pho_durations_at_16_khz():
    """MBROLA voices (real speakers' diphones) run at 16 kHz and espeak-ng reports their events 1000 samples late;
    corrected, the boundaries equal `espeak-ng --pho`'s durations."""
    import subprocess

    text = "Maybe Bob bought a map of the bumpy path."
    speech = espeak.synthesize(text, voice="mb-us1", rate_wpm=175, pitch=50)
    assert speech.sample_rate_hz == 16000
    pho = subprocess.run(["espeak-ng", "-v", "mb-us1", "-s", "175", "-q", "--pho", text], capture_output=True,
                         text=True, check=True).stdout
    durations_ms = [int(line.split()[1]) for line in pho.splitlines() if line.strip() and not line.startswith(";")]
    expected_starts_s = np.cumsum([0] + durations_ms[:-1])[:10] / 1000.0
    starts_s = np.array([p.start_s for p in speech.phones[:10]])
    np.testing.assert_allclose(starts_s, expected_starts_s, atol=0.002)
