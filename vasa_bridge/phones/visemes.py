"""One phone → viseme table for every phone source we use: ARPAbet (pocketsphinx, CMUdict), espeak-ng phoneme
mnemonics (any of its languages we speak), and IPA (what the neural voices read).

Visemes are the Oculus 15 (types.VISEMES). A phone maps by what the lips, teeth and jaw do while it sounds:
  PP  lips closed          p b m, bilabial fricatives ɸ β
  FF  lip on teeth         f v ʋ ɱ
  TH  tongue between teeth θ ð
  DD  tongue tip up        t d, taps, retroflex stops
  kk  tongue back / throat k g x ɣ χ q, h, glottal stop
  CH  lips forward, teeth  ʃ ʒ tʃ dʒ ɕ ʑ ʂ ç
  SS  teeth together       s z ts dz
  nn  tongue up, jaw half  n ɲ ŋ l ʎ
  RR  lips slightly round  r ɹ ɾ ʁ, r-coloured vowels
  aa  jaw open             a ɑ æ ɐ ʌ (and diphthongs starting there)
  E   mid, lips spread     e ɛ ə ɜ
  I   close, spread        i ɪ ɨ j
  O   mid/open, rounded    o ɔ ɒ ø œ
  U   close, rounded       u ʊ y ʏ ɯ w ɥ
A diphthong takes the viseme of its first part; the coarticulation model blends towards the next.

Unknown symbols raise PhoneTimingError: a phone we cannot place must be added here, never guessed silently.
"""

from __future__ import annotations

import re
import unicodedata

from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.types import VISEMES

SOURCES = ("arpabet", "espeak", "ipa")

# espeak-ng voices whose every phoneme this table is proven to cover (tests/test_phones.py synthesizes text in
# each and checks every emitted mnemonic, and reads their phoneme tables from espeak-ng-data/phontab).
TEST_VOICES: tuple[str, ...] = (
    "en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    "de", "fr", "es", "es-419", "it", "pt", "pt-br", "ja", "hi",
)

# ---- ARPAbet (CMUdict / pocketsphinx en-us), stress digits stripped before lookup -----------------------------
ARPABET_VISEMES: dict[str, str] = {
    "AA": "aa", "AE": "aa", "AH": "aa", "AW": "aa", "AY": "aa",
    "EH": "E", "EY": "E",
    "IH": "I", "IY": "I", "Y": "I",
    "AO": "O", "OW": "O", "OY": "O",
    "UH": "U", "UW": "U", "W": "U",
    "ER": "RR", "R": "RR",
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD", "DX": "DD",
    "K": "kk", "G": "kk", "HH": "kk",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH",
    "S": "SS", "Z": "SS",
    "N": "nn", "NG": "nn", "L": "nn", "EL": "nn", "EN": "nn",
    "AX": "E", "AXR": "RR",                    # flite's CMU phoneset: schwa and r-coloured schwa
    # silences and fillers in pocketsphinx's en-us model (and flite's pause)
    "PAU": "sil",
    "SIL": "sil", "SP": "sil", "+NSN+": "sil", "+SPN+": "sil", "+BREATH+": "sil", "+COUGH+": "sil",
    "+NOISE+": "sil", "+SMACK+": "sil", "+UH+": "aa", "+UM+": "PP",
}

# ---- espeak-ng phoneme mnemonics ------------------------------------------------------------------------------
# Every mnemonic in the phoneme tables of en (all variants: en-us, rp, sc, n, wi, wm, us-nyc), de, fr, es, es-la,
# it, pt, pt-pt, ja and hi (read from espeak-ng-data/phontab), plus those the synthesizer emits for them.
# espeak names are Kirshenbaum-like ASCII: a trailing digit or '#' is a variant, '~' nasal, ':' long, '.'
# retroflex, '[' dental, '^' palatal, '\\' an alternative, '/' a context-dependent choice, '-' syllabic/short.
_ESPEAK_GROUPS: dict[str, str] = {
    "sil": "_ _: _! _| _:: _^_ _;_ _X1 ||",
    "PP": "p p2 p- p# p: ph b b# b: m m- p\\ B pF",
    "FF": "f v v#",
    "TH": "T D",
    "DD": "t t2 t3 t- t# t[ t: th t. t.# d d# d[ d: d. d.# dH t; d; r` s[",
    "kk": "k k- k# k: kh k~ c c2 c# g g# g: g~ gH q G x X Q Q~ J J# ? h H #X1 #X2",
    "CH": "S S~ Z tS tS# tS~ dZ dZ~ t_s\\ d_z\\ s\\ z\\ s. z. C J^ s# s2",
    "SS": "s z z# z/2 z2 z3 ts ts# ts2 t_s tz dz ss",
    "nn": "n n2 n- n. n^ N N\\ l l2 l/ l/2 l# l^ L @L nr",
    "RR": "r r- r/ r/2 r2 R R2 * ** IR VR r-I",
    "aa": "a a# a#2 a- a/ a2 a: aa a~ A A: A# A~ A@ & &/ &: &~ &U~ V V~ aI aI2 aI3 aI@ aU aU@ ai au",
    "E": "e e# e- e/ e: e~ e~: eI e@ eU ei E E# E2 E- E: E~ EI EU @ @- @# @2 @3 @5 3 3:",
    "I": "i i# i/ i2 i: i~ i@ i@3 iR iU ie iu I I# I2 I2# I: I~ j j/ j. _j ;",
    "O": "o o/ o: o~ o@ oI oI~ oU oU# oi O O2 O: O@ O~ OI OY 0 0# 02 Y Y: W W2 W~",
    "U": "u u: u~ uI ui uo U U@ U~ UR y y: y- w w# w/ w2",
}
ESPEAK_VISEMES: dict[str, str] = {
    mnemonic: viseme for viseme, names in _ESPEAK_GROUPS.items() for mnemonic in names.split()
}
# The same mnemonic can sound differently per language; only where the lips differ do we override.
ESPEAK_LANGUAGE_OVERRIDES: dict[str, dict[str, str]] = {
    # American English: '0' is the unrounded ɑ of "lot", and '3' / '3:' are the r-coloured ɚ / ɝ (elsewhere the
    # plain ə / ɜː of non-rhotic English, or German's vocalised r).
    "en-us": {"0": "aa", "3": "RR", "3:": "RR"},
    # Portuguese 'y' is the unrounded ɨ, not the rounded y of French and German.
    "pt": {"y": "I"},
    # Dutch '8' is the rounded ɵ of "bus"; '!' is the glottal closure espeak writes for an elided final stop
    # ("met de" → mE! t@) and before vowel onsets.
    "nl": {"8": "O", "!": "kk"},
    # Hindi 'r.' is the retroflex flap ɽ of "पढ़ना": a tongue-tip tap.
    "hi": {"r.": "DD"},
}

# ---- IPA ------------------------------------------------------------------------------------------------------
_IPA_GROUPS: dict[str, str] = {
    "PP": "pbmɓʙɸβ",
    "FF": "fvʋɱ",
    "TH": "θð",
    "DD": "tdʈɖɗɾɽ",
    "kk": "kgɡqɢxɣχħʕhɦʔcɟʡʜʢ",
    "CH": "ʃʒɕʑʂʐçʝ",
    "SS": "sz",
    "nn": "nɳɲŋɴlɭʎʟɫɬɮɺ",
    "RR": "rɹɻʀʁɚɝ",
    "aa": "aɑɐæʌɶä",
    "E": "eɛəɜɘɞ",
    "I": "iɪɨjᵻ",
    "O": "oɔɒøœɵɤ",
    "U": "uʊyʏɯʉwɥʍ",
}
IPA_VISEMES: dict[str, str] = {char: viseme for viseme, chars in _IPA_GROUPS.items() for char in chars}
# Marks that change length, stress, tone or secondary articulation but not the viseme class.
_IPA_IGNORED = set("ˈˌːˑ‿͜͡|‖.-ʰʲʷˠˤⁿˡᵝʼ˞")
# An affricate looks like its fricative release (t+ʃ is CH, t+s is SS), so the second letter decides.
_AFFRICATE_RELEASES = set("sʃɕʂzʒʑʐ")


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise PhoneTimingError(f"unknown phone source {source!r}; use one of {SOURCES}")


def _unknown(symbol: str, source: str) -> PhoneTimingError:
    return PhoneTimingError(f"no viseme for {source} phone {symbol!r}: add it to vasa_bridge/phones/visemes.py")


def _espeak_viseme(symbol: str, language: str | None) -> str | None:
    if language:
        for prefix, table in ESPEAK_LANGUAGE_OVERRIDES.items():
            if language.lower().startswith(prefix) and symbol in table:
                return table[symbol]
    if symbol in ESPEAK_VISEMES:
        return ESPEAK_VISEMES[symbol]
    if symbol.startswith("_"):
        return "sil"                            # every espeak pause or boundary phoneme starts with '_'
    # Modifiers that keep the articulation: stress marks in front, length / syllabic / nasal marks behind.
    stripped = symbol.lstrip("'\",%=")
    stripped = re.sub(r"[:;\-~]+$", "", stripped)
    if stripped and stripped != symbol:
        return _espeak_viseme(stripped, language)
    return None


def _ipa_viseme(symbol: str) -> str | None:
    letters = []
    for char in unicodedata.normalize("NFC", symbol):
        if char not in IPA_VISEMES:     # a precomposed letter we do not list (ẽ, ɔ̃): its base letter decides
            char = unicodedata.normalize("NFD", char)[0]
        if not unicodedata.combining(char) and char not in _IPA_IGNORED and not char.isspace():
            letters.append(char)
    if not letters:
        return "sil"                            # stress / length marks alone, or a pause
    first = letters[0]
    if first in "td" and len(letters) > 1 and letters[1] in _AFFRICATE_RELEASES:
        first = letters[1]
    return IPA_VISEMES.get(first)


def viseme_of(symbol: str, source: str, language: str | None = None) -> str:
    """The viseme (one of VISEMES) of a phone named by `source` ("arpabet", "espeak" or "ipa").

    `language` (an espeak voice such as "en-us") picks per-language readings of espeak mnemonics."""
    _check_source(source)
    if source == "arpabet":
        viseme = ARPABET_VISEMES.get(symbol.upper().rstrip("012"))
    elif source == "espeak":
        viseme = _espeak_viseme(symbol, language)
    else:
        viseme = _ipa_viseme(symbol)
    if viseme is None:
        raise _unknown(symbol, source)
    assert viseme in VISEMES, viseme  # the tables above only name visemes from the set
    return viseme
