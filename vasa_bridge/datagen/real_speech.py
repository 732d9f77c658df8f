"""Real human speech from Debian packages (`scripts/fetch_real_speech.sh` unpacks them under data/real/root).

Who uses what, so no set is both learnt from and scored on:
- distillation of the speech front end (unlabelled): the Dutch dialogue of `fillets-ng-data-nl`, the
  hedgewars voice packs no evaluation uses (`HEDGEWARS_DISTILL_PACKS`: the Spanish, Polish, Russian and Ukrainian
  Default voices and Polish Russian), and the unit voices of `megaglest-data` (acknowledgements, war cries,
  pain; no evaluation uses them);
- training lines with pseudo-labelled phones (train/pseudo_labels.py): MegaGlest's unit voices;
- evaluation, English with transcripts (forced-alignment reference): `pocketsphinx-testdata` (LibriVox + cards:
  10 utterances, the set looked at while choosing recipes) and `hedgewars-data` voice packs (short exclamations;
  file name → transcript; the eight English packs never looked at before the final run, Robot and Russian the dev
  packs);
- development, English with pseudo-labelled phones: `warzone2100-data`'s voices (radio messages, narration,
  taunts; never trained on); with transcripts: `openarena-081-misc`'s announcer (shouted, processed);
- evaluation, other languages (speech/silence): `fillets-ng-data-cs` (Czech actors) and `klettres-data` (letters
  and syllables in many languages); development: the Dutch dialogue the distillation did not take, and
  `tuxpaint-stamps-default`'s spoken descriptions in four languages (`TUXPAINT_DEV_LANGUAGES`).
The data reserved for independent evaluation (../shared/notes/real-voices.md) is not touched here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.errors import VasaBridgeError

DEFAULT_ROOT = Path("data/real/root")


def real_speech_root() -> Path:
    root = Path(os.environ.get("VASA_REAL_SPEECH", DEFAULT_ROOT))
    if not (root / "usr" / "share").is_dir():
        raise VasaBridgeError(f"no real speech under {root}: run `bash scripts/fetch_real_speech.sh` (or set "
                              "VASA_REAL_SPEECH to the folder it unpacked)")
    return root


@dataclass(frozen=True)
class Utterance:
    audio_16k: np.ndarray
    transcript: str | None     # None: speech/silence only
    speaker: str
    language: str
    source: str


def load_16k(path: Path) -> np.ndarray:
    if path.suffix == ".raw":                    # pocketsphinx test data: headerless 16 kHz int16
        return (np.fromfile(path, np.int16).astype(np.float32) / 32768.0)
    return decode_16k(str(path))


def decode_16k(source) -> np.ndarray:
    """A sound file (a path or a file object soundfile can read), mixed to mono at 16 kHz."""
    import soundfile as sf

    from vasa_bridge.datagen.augment import resample_offline

    audio, rate = sf.read(source, dtype="float32", always_2d=True)
    return resample_offline(audio.mean(axis=1), rate, MODEL_SAMPLE_RATE_HZ)


FILLETS_SOUND = "usr/share/games/fillets-ng/sound"     # under real_speech_root(): <level>/<language>/<file>.ogg


def _fillets_files(language: str, seed: int) -> list[Path]:
    """fillets-ng's voice files in one language, in a fixed shuffled order."""
    files = sorted((real_speech_root() / FILLETS_SOUND).glob(f"*/{language}/*.ogg"))
    return [files[i] for i in np.random.default_rng(seed).permutation(len(files))]


def _distilled(files: list[Path], max_minutes: float) -> Iterator[tuple[int, np.ndarray]]:
    """(index, audio) of the files the distillation takes: every clip of at least 0.5 s, in order, until their
    total passes `max_minutes`."""
    total = 0.0
    for k, path in enumerate(files):
        audio = load_16k(path)
        if len(audio) < MODEL_SAMPLE_RATE_HZ // 2:
            continue
        yield k, audio
        total += len(audio) / MODEL_SAMPLE_RATE_HZ
        if total > 60 * max_minutes:
            return


def _dialogue_clips(files: list[Path], language: str, max_clips: int) -> list[Utterance]:
    """The clips of 1.5–12 s among `files`, in order, at most `max_clips`; speech/silence reference only."""
    out = []
    for path in files:
        audio = load_16k(path)
        if 1.5 * MODEL_SAMPLE_RATE_HZ <= len(audio) <= 12 * MODEL_SAMPLE_RATE_HZ:
            speaker = (path.stem.split("-") + ["?"])[1]      # file names are <level>-<speaker>-<line>
            out.append(Utterance(audio, None, speaker, language, f"fillets-ng-data-{language}"))
        if len(out) >= max_clips:
            break
    return out


def dutch_dialogue(max_minutes: float = 45.0, seed: int = 0) -> list[np.ndarray]:
    """Unlabelled real speech for the front end's distillation: fillets-ng's Dutch actors, shuffled."""
    return [audio for _, audio in _distilled(_fillets_files("nl", seed), max_minutes)]


def dutch_dialogue_unheard(distilled_minutes: float, max_clips: int = 60, seed: int = 0) -> list[Utterance]:
    """fillets-ng's Dutch clips of 1.5–12 s that `dutch_dialogue(distilled_minutes, seed)` did not take."""
    files = _fillets_files("nl", seed)
    taken = max((k for k, _ in _distilled(files, distilled_minutes)), default=-1)
    return _dialogue_clips(files[taken + 1:], "nl", max_clips)


def pocketsphinx_english() -> list[Utterance]:
    """10 read English utterances (LibriVox, cards) with their transcripts."""
    base = real_speech_root() / "usr/share/pocketsphinx/test/data"
    out = []
    for line in (base / "librivox" / "transcription").read_text().splitlines():
        m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line)
        if m:
            out.append(Utterance(load_16k(base / "librivox" / f"{m.group(2)}.wav"), m.group(1), "librivox", "en",
                                 "pocketsphinx-testdata"))
    ids = (base / "cards" / "cards.fileids").read_text().split()
    texts = [t.strip() for t in (base / "cards" / "cards.transcription").read_text().splitlines() if t.strip()]
    for file_id, text in zip(ids, texts):
        text = re.sub(r"\s*\(.*\)\s*$", "", text).replace("<s>", "").replace("</s>", "").strip()
        out.append(Utterance(load_16k(base / "cards" / f"{Path(file_id).name}.wav"), text, "cards", "en",
                             "pocketsphinx-testdata"))
    return out


# Hedgewars voice files whose name is a dictionary word or a phrase written together.
HEDGEWARS_TRANSCRIPTS = {
    "Amazing": "amazing", "Boring": "boring", "Brilliant": "brilliant", "Byebye": "bye bye",
    "Comeonthen": "come on then", "Coward": "coward", "Cutitout": "cut it out", "Enemydown": "enemy down",
    "Excellent": "excellent", "Fire": "fire", "Firstblood": "first blood", "Flawless": "flawless",
    "Flyaway": "fly away", "Gonnagetyou": "gonna get you", "Grenade": "grenade", "Hello": "hello",
    "Hurry": "hurry", "Illgetyou": "i'll get you", "Incoming": "incoming", "Justyouwait": "just you wait",
    "Kamikaze": "kamikaze", "Leavemealone": "leave me alone", "Melon": "melon", "Missed": "missed",
    "Nutter": "nutter", "Ohdear": "oh dear", "Oops": "oops", "Ouch": "ouch", "Revenge": "revenge",
    "Runaway": "run away", "Sameteam": "same team", "Stupid": "stupid", "Takecover": "take cover",
    "Thisoneismine": "this one is mine", "Traitor": "traitor", "Uh-oh": "uh oh", "Victory": "victory",
    "Watchit": "watch it", "Watchthis": "watch this", "Whatthe": "what the", "Whoopsee": "whoops",
    "Yessir": "yes sir", "Youllregretthat": "you'll regret that",
}
HEDGEWARS_ENGLISH_PACKS = ("Default", "British", "Classic", "HillBilly", "Mobster", "Pirate", "Singer", "Surfer")
HEDGEWARS_DEV_PACKS = ("Robot", "Russian")    # English words too; looked at while choosing
HEDGEWARS_VOICES = "usr/share/games/hedgewars/Data/Sounds/voices"     # under real_speech_root()


# Packs no evaluation uses: shouted game exclamations in other languages, heard by the front end's distillation only
# (unlabelled). The English packs are the untouched evaluation set; Robot and Russian were the dev packs.
HEDGEWARS_DISTILL_PACKS = ("Default_es", "Default_pl", "Default_ru", "Default_uk", "Russian_pl")


def hedgewars_unlabelled() -> list[np.ndarray]:
    """Every clip of HEDGEWARS_DISTILL_PACKS (~250 exclamations, ~5 min), in a fixed order."""
    base = real_speech_root() / HEDGEWARS_VOICES
    return [load_16k(path) for pack in HEDGEWARS_DISTILL_PACKS for path in sorted((base / pack).glob("*.ogg"))]


MEGAGLEST_FACTIONS = "usr/share/games/megaglest/techs/megapack/factions"    # under real_speech_root()
# A unit's sound files are named <unit>_<kind><n>.wav; these kinds are voices (lines, shouts, cries), the rest are
# footsteps, weapons and animals.
MEGAGLEST_VOICE_KINDS = ("ack", "select", "attack", "hit", "die")


def megaglest_voice_files() -> list[Path]:
    """MegaGlest's unit voice files (~200 actors' lines: "yes, my lord", war cries, pain; ~14 min), sorted."""
    pattern = re.compile(r"_(%s)\d*$" % "|".join(MEGAGLEST_VOICE_KINDS))
    return sorted(p for p in (real_speech_root() / MEGAGLEST_FACTIONS).glob("*/units/*/sounds/*.wav")
                  if pattern.search(p.stem))


def megaglest_unlabelled() -> list[np.ndarray]:
    return [load_16k(path) for path in megaglest_voice_files()]


def hedgewars_english(packs: tuple[str, ...] = HEDGEWARS_ENGLISH_PACKS) -> list[Utterance]:
    """Short English exclamations by several voice actors; the file name is the transcript."""
    base = real_speech_root() / HEDGEWARS_VOICES
    out = []
    for pack in packs:
        for stem, text in HEDGEWARS_TRANSCRIPTS.items():
            path = base / pack / f"{stem}.ogg"
            if path.exists():
                out.append(Utterance(load_16k(path), text, pack, "en", "hedgewars-data"))
    return out


WARZONE_ARCHIVE = "usr/share/games/warzone2100/base.wz"     # a zip, under real_speech_root()
WARZONE_NOT_VOICES = ("sfx", "radclick")                       # its audio/ folders of effects, not speech


def _fetched(relative: str, what: str, package: str) -> Path:
    """real_speech_root() / relative, or a clear error when the data was fetched before `package` joined
    scripts/fetch_real_speech.sh (Dec 2026)."""
    path = real_speech_root() / relative
    if not path.exists():
        raise VasaBridgeError(f"no {what} at {path}: run `bash scripts/fetch_real_speech.sh` again ({package} "
                              "joined it in Dec 2026)")
    return path


def warzone_voices() -> list[tuple[str, np.ndarray]]:
    """Warzone 2100's voice clips (radio messages, narration, taunts; 464 clips, 14 min) as (name, audio)."""
    import io
    import zipfile

    path = _fetched(WARZONE_ARCHIVE, "Warzone 2100 voices", "warzone2100-data")
    out = []
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            folder = name.split("/")[1] if name.count("/") > 1 else ""
            if not name.startswith("audio/") or folder in WARZONE_NOT_VOICES or not name.endswith(".ogg"):
                continue
            out.append((f"warzone2100/{name}", decode_16k(io.BytesIO(archive.read(name)))))
    return out


OPENARENA_ARCHIVE = "usr/share/games/openarena/baseoa/pak6-misc.pk3"     # a zip, under real_speech_root()
# OpenArena's announcer (sound/feedback, sound/teamplay): file → its words. Left out: copies of another file's audio
# (excellent_a, impressive_a, fight2, voc_youlose, voc_youwin) and "one", "two", which pocketsphinx cannot align to
# the one word (it leaves over a third of their speech unexplained).
OPENARENA_TRANSCRIPTS = {
    "1_frag": "one frag remaining", "2_frags": "two frags remaining", "3_frags": "three frags remaining",
    "1_minute": "one minute remaining", "5_minute": "five minutes remaining", "accuracy": "accuracy",
    "assist": "assist", "blueleads": "blue leads", "defense": "defense", "denied": "denied", "excellent": "excellent",
    "fight": "fight", "frags": "frags", "gauntlet": "gauntlet", "humiliation": "humiliation",
    "impressive": "impressive", "lostlead": "you have lost the lead", "perfect": "perfect",
    "prepare": "prepare to fight", "redleads": "red leads", "sudden_death": "sudden death",
    "takenlead": "you have taken the lead", "teamstied": "teams are tied", "three": "three",
    "tiedlead": "you are tied for the lead", "vote_failed": "vote failed", "vote_now": "vote now",
    "vote_passed": "vote passed", "youlose": "you have lost the match", "youwin": "you have won the match",
    "voc_base_attack": "your base is under attack", "voc_blue_returned": "blue flag returned",
    "voc_blue_scores": "blue scores", "voc_enemy_1flag": "the enemy has the flag",
    "voc_enemy_flag": "the enemy has your flag", "voc_red_returned": "red flag returned",
    "voc_red_scores": "red scores", "voc_team_1flag": "your team has the flag",
    "voc_team_flag": "your team has the enemy flag", "voc_you_flag": "you have the flag",
}


def openarena_announcer() -> list[Utterance]:
    """OpenArena's announcer lines (a processed, shouted voice; 40 lines, 1.1 min), with their transcripts."""
    import io
    import zipfile

    path = _fetched(OPENARENA_ARCHIVE, "OpenArena announcer", "openarena-081-misc")
    out = []
    with zipfile.ZipFile(path) as archive:
        present = set(archive.namelist())
        for folder in ("feedback", "teamplay"):
            for stem, text in OPENARENA_TRANSCRIPTS.items():
                name = f"sound/{folder}/{stem}.wav"
                if name in present:
                    out.append(Utterance(decode_16k(io.BytesIO(archive.read(name))), text, "openarena", "en",
                                         "openarena-081-misc"))
    return out


def czech_dialogue(max_clips: int = 60, seed: int = 1) -> list[Utterance]:
    """Czech actors (fillets-ng), clips of 1.5–12 s; speech/silence reference only."""
    return _dialogue_clips(_fillets_files("cs", seed), "cs", max_clips)


def klettres_syllables(languages: tuple[str, ...] = ("es", "it", "pt_BR", "ru", "uk", "lt", "hu", "de"),
                       per_language: int = 12, seed: int = 2) -> list[Utterance]:
    """Letters and syllables spoken in several languages, joined per language into clips with pauses between
    (each file alone is under a second); speech/silence reference only."""
    base = real_speech_root() / "usr/share/klettres"
    rng = np.random.default_rng(seed)
    out = []
    for lang in languages:
        files = sorted((base / lang).glob("*/*.ogg"))
        if not files:
            continue
        chosen = [files[i] for i in rng.permutation(len(files))[:per_language]]
        out.append(Utterance(_with_pauses([load_16k(f) for f in chosen], rng), None, lang, lang, "klettres-data"))
    return out


def _with_pauses(clips: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Short recordings joined into one, each followed by 0.3–0.9 s of digital silence."""
    parts = []
    for clip in clips:
        parts += [clip, np.zeros(int(rng.uniform(0.3, 0.9) * MODEL_SAMPLE_RATE_HZ), np.float32)]
    return np.concatenate(parts)


TUXPAINT_STAMPS = "usr/share/tuxpaint/stamps"     # under real_speech_root()
# Tux Paint's stamps come with spoken descriptions ("A wombat.", ~1 s each) recorded by volunteers, one voice per
# language: ~3 h in 11 languages, none of which any training hears. Four of them make a speech/silence development
# set for languages the model has never heard (as the untouched Czech set is).
TUXPAINT_DEV_LANGUAGES = ("bg", "el", "fr", "ru")


def tuxpaint_files(language: str) -> list[Path]:
    base = _fetched(TUXPAINT_STAMPS, "Tux Paint stamps", "tuxpaint-stamps-default")
    return sorted(base.rglob(f"*_desc_{language}.ogg"))


def tuxpaint_dialogue(languages: tuple[str, ...] = TUXPAINT_DEV_LANGUAGES, clips_per_language: int = 12,
                      clip_s: float = 15.0, seed: int = 3) -> list[Utterance]:
    """Descriptions joined per language into clips of about `clip_s` with pauses between (one file alone is mostly
    speech, which a speech/silence score cannot use); speech/silence reference only."""
    rng = np.random.default_rng(seed)
    out = []
    for lang in languages:
        files = tuxpaint_files(lang)
        chosen, heard, made = [], 0.0, 0
        for i in rng.permutation(len(files)):
            if made == clips_per_language:
                break
            chosen.append(load_16k(files[i]))
            heard += len(chosen[-1]) / MODEL_SAMPLE_RATE_HZ
            if heard >= clip_s:
                out.append(Utterance(_with_pauses(chosen, rng), None, f"tuxpaint-{lang}", lang,
                                     "tuxpaint-stamps-default"))
                chosen, heard, made = [], 0.0, made + 1
    return out
