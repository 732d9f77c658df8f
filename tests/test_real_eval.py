"""The real-voice evaluation's machinery, on speech we can make here: forced alignment → reference, every method
scored, a table and a plot. (The real recordings themselves come from scripts/fetch_real_speech.sh.)"""

from __future__ import annotations

import numpy as np
import pytest

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.motion.controls import Controls


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    from vasa_bridge.export.untrained import write_untrained
    from vasa_bridge.runtime.diffusion import DiffusionBackend
    from vasa_bridge.train.data import synth_pairs

    frames = synth_pairs(1, seed=3, voices="heldout-voice", corrupt=False, controls=Controls())[0].frames
    return DiffusionBackend("onnxruntime", weights=write_untrained(tmp_path_factory.mktemp("m"), frames,
                                                                    d_model=64, n_layers=2), steps=2)


@pytest.fixture(scope="module")
def utterances():
    from vasa_bridge.datagen.augment import resample_offline
    from vasa_bridge.datagen.real_speech import Utterance
    from vasa_bridge.phones.espeak import synthesize

    out = []
    for text in ("maybe bob bought a map", "the movie began at nine"):
        s = synthesize(text, voice="en-us+m3")
        audio = np.concatenate([np.zeros(4000, np.float32), resample_offline(s.audio, s.sample_rate_hz,
                                                                              MODEL_SAMPLE_RATE_HZ)])
        out.append(Utterance(audio, text, "m3", "en", "espeak"))
    return out


def test_aligned_set_scores_every_method_and_prints_a_table(backend, utterances, tmp_path):
    from vasa_bridge.train.real_eval import (aligned_clips, evaluate_real_set, format_real_table, plot_real,
                                             speech_clips, summary)

    clips, failed = aligned_clips(utterances)
    assert failed == 0 and all(any(p.viseme == "PP" for p in c.phones) for c in clips)
    result = evaluate_real_set(backend, clips)
    assert set(result) >= {"bake", "streamed", "loudness", "teacher"}
    assert result["seeds"] == 4                                   # a short set is scored over several seeds
    assert result["teacher"].bilabial_closed > 0.9 and result["teacher"].aperture_r > 0.8
    assert result["loudness"].bilabial_closed < 0.5
    for method in ("bake", "streamed", "loudness"):
        assert -1.0 <= result[method].aperture_r <= 1.0
    other = evaluate_real_set(backend, speech_clips(utterances))
    assert other["bake"].aperture_r is None and "teacher" not in other
    table = format_real_table("tiny", result)
    assert "aperture r" in table and "p/b/m closed" in table and "moving when speaking" in table
    assert "95 % interval" in table
    assert result["bake"].bilabials == result["seeds"] * sum(p.viseme == "PP" for c in clips for p in c.phones)
    plot_real({"tiny en": result, "tiny other": other}, tmp_path / "real.png")
    assert (tmp_path / "real.png").stat().st_size > 10_000
    assert summary({"tiny": result})["tiny"]["bake"]["aperture_r"] == result["bake"].aperture_r


def test_wrong_transcripts_are_left_out_not_scored(utterances):
    from dataclasses import replace

    from vasa_bridge.train.real_eval import aligned_clips

    clips, failed = aligned_clips([replace(utterances[0], transcript="completely different words spoken here "
                                                                      "about elephants and umbrellas today")])
    assert clips == [] and failed == 1


def test_no_hedgewars_pack_is_both_distilled_and_scored():
    """The front end hears some hedgewars packs in distillation; the scored English packs are not among them."""
    from vasa_bridge.datagen.real_speech import HEDGEWARS_DEV_PACKS, HEDGEWARS_DISTILL_PACKS, HEDGEWARS_ENGLISH_PACKS

    assert HEDGEWARS_DISTILL_PACKS and not set(HEDGEWARS_DISTILL_PACKS) & set(HEDGEWARS_ENGLISH_PACKS)
    assert not set(HEDGEWARS_DISTILL_PACKS) & set(HEDGEWARS_DEV_PACKS)   # the packs looked at while tuning
    assert not set(HEDGEWARS_DEV_PACKS) & set(HEDGEWARS_ENGLISH_PACKS)


def test_megaglest_distillation_takes_unit_voices_only(tmp_path, monkeypatch):
    """Of a unit's sounds, only the voiced lines go to distillation (not footsteps or animals), resampled to 16 kHz."""
    import soundfile as sf

    from vasa_bridge.datagen.real_speech import MEGAGLEST_FACTIONS, megaglest_unlabelled

    sounds = tmp_path / MEGAGLEST_FACTIONS / "norsemen/units/swordman/sounds"
    sounds.mkdir(parents=True)
    tone = 0.1 * np.sin(np.arange(22050) * 0.05).astype(np.float32)            # 1 s at 22.05 kHz
    for name in ("swordman_ack1", "swordman_die12", "swordman_walk1", "sheep1", "swordman_select3"):
        sf.write(sounds / f"{name}.wav", tone, 22050)
    monkeypatch.setenv("VASA_REAL_SPEECH", str(tmp_path))
    clips = megaglest_unlabelled()
    assert len(clips) == 3 and all(abs(len(c) - MODEL_SAMPLE_RATE_HZ) <= 1 for c in clips)


def test_warzone_dev_set_reads_the_voices_out_of_the_game_archive(tmp_path, monkeypatch):
    """Warzone 2100 keeps its audio in a zip (base.wz): the voice folders come out at 16 kHz, effects do not."""
    import io
    import zipfile

    import soundfile as sf

    from vasa_bridge.datagen.real_speech import WARZONE_ARCHIVE, warzone_voices
    from vasa_bridge.errors import VasaBridgeError

    tone = 0.1 * np.sin(np.arange(22050) * 0.05).astype(np.float32)            # 1 s at 22.05 kHz
    ogg = io.BytesIO()
    sf.write(ogg, tone, 22050, format="OGG")
    archive = tmp_path / WARZONE_ARCHIVE
    (tmp_path / "usr/share").mkdir(parents=True)
    monkeypatch.setenv("VASA_REAL_SPEECH", str(tmp_path))
    with pytest.raises(VasaBridgeError, match="fetch_real_speech"):          # fetched before Warzone joined
        warzone_voices()
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("audio/memressp/pcv001.ogg", "audio/taunts/t1.ogg", "audio/sfx/boom.ogg",
                     "audio/radclick/click.ogg", "audio/audio.cfg", "images/a.ogg"):
            z.writestr(name, ogg.getvalue())
    clips = warzone_voices()
    assert [n for n, _ in clips] == ["warzone2100/audio/memressp/pcv001.ogg", "warzone2100/audio/taunts/t1.ogg"]
    assert all(abs(len(a) - MODEL_SAMPLE_RATE_HZ) <= 1 for _, a in clips)


def test_dutch_dev_set_is_what_the_distillation_left(tmp_path, monkeypatch):
    import soundfile as sf

    from vasa_bridge.datagen.real_speech import dutch_dialogue, dutch_dialogue_unheard

    folder = tmp_path / "usr/share/games/fillets-ng/sound/level1/nl"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, seconds in enumerate(rng.uniform(0.3, 14.0, 40)):
        sf.write(folder / f"clip{i:02d}.ogg", rng.normal(0, 0.05, int(seconds * 16000)).astype(np.float32), 16000)
    monkeypatch.setenv("VASA_REAL_SPEECH", str(tmp_path))
    heard = dutch_dialogue(1.0)
    unheard = dutch_dialogue_unheard(1.0)
    assert heard and unheard
    assert all(1.5 <= len(u.audio_16k) / 16000 <= 12 for u in unheard)
    assert not any(np.array_equal(h, u.audio_16k) for h in heard for u in unheard)


def test_openarena_dev_set_reads_the_announcer_out_of_the_game_archive(tmp_path, monkeypatch):
    """OpenArena's announcer lives in a zip (pak6-misc.pk3): the listed lines come out at 16 kHz with their words,
    other sounds and unlisted copies do not."""
    import io
    import zipfile

    import soundfile as sf

    from vasa_bridge.datagen.real_speech import OPENARENA_ARCHIVE, openarena_announcer
    from vasa_bridge.errors import VasaBridgeError

    wav = io.BytesIO()
    sf.write(wav, 0.1 * np.sin(np.arange(22050) * 0.05).astype(np.float32), 22050, format="WAV")
    (tmp_path / "usr/share").mkdir(parents=True)
    monkeypatch.setenv("VASA_REAL_SPEECH", str(tmp_path))
    with pytest.raises(VasaBridgeError, match="fetch_real_speech"):
        openarena_announcer()
    archive = tmp_path / OPENARENA_ARCHIVE
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("sound/feedback/perfect.wav", "sound/feedback/excellent_a.wav", "sound/teamplay/voc_you_flag.wav",
                     "sound/weapons/rocket.wav"):
            z.writestr(name, wav.getvalue())
    lines = openarena_announcer()
    assert [u.transcript for u in lines] == ["perfect", "you have the flag"]
    assert all(abs(len(u.audio_16k) - MODEL_SAMPLE_RATE_HZ) <= 1 for u in lines)


def test_tuxpaint_dev_set_joins_descriptions_with_pauses(tmp_path, monkeypatch):
    """Each description is ~1 s of speech, too little silence for a speech/silence score: the dev set joins them
    per language into clips with silent pauses; other languages and the stamps' sound effects stay out."""
    import soundfile as sf

    from vasa_bridge.datagen.real_speech import TUXPAINT_STAMPS, tuxpaint_dialogue
    from vasa_bridge.errors import VasaBridgeError

    (tmp_path / "usr/share").mkdir(parents=True)
    monkeypatch.setenv("VASA_REAL_SPEECH", str(tmp_path))
    with pytest.raises(VasaBridgeError, match="fetch_real_speech"):
        tuxpaint_dialogue()
    folder = tmp_path / TUXPAINT_STAMPS / "animals"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        for lang in ("ru", "es"):
            sf.write(folder / f"stamp{i:02d}_desc_{lang}.ogg", rng.normal(0, 0.1, 44100).astype(np.float32), 44100)
    sf.write(folder / "stamp00.ogg", rng.normal(0, 0.1, 44100).astype(np.float32), 44100)   # a sound effect
    clips = tuxpaint_dialogue(("ru",), clips_per_language=2, clip_s=4.0)
    assert [u.language for u in clips] == ["ru", "ru"]
    for u in clips:
        seconds = len(u.audio_16k) / MODEL_SAMPLE_RATE_HZ
        silent = np.mean(u.audio_16k == 0.0)
        assert 4.0 + 4 * 0.3 <= seconds <= 4.0 + 4 * 0.9 + 1e-6 and 0.2 < silent < 0.5


def test_compressed_dev_clips_keep_their_words_and_change_only_the_levels(utterances):
    from vasa_bridge.train.real_eval import DEV_COMPRESSION, aligned_clips, compressed

    clips, _ = aligned_clips(utterances)
    squeezed = compressed(clips, *DEV_COMPRESSION)
    for before, after in zip(clips, squeezed):
        assert after.phones == before.phones and np.array_equal(after.speech, before.speech)
        assert len(after.audio_16k) == len(before.audio_16k) and not np.array_equal(after.audio_16k, before.audio_16k)
        quiet = np.abs(before.audio_16k) < 0.05 * np.abs(before.audio_16k).max()
        assert np.mean(np.abs(after.audio_16k[quiet])) > np.mean(np.abs(before.audio_16k[quiet]))


def test_share_interval_is_wilsons_and_narrows_with_more_bilabials():
    from vasa_bridge.train.real_eval import share_interval

    low, high = share_interval(20 / 26, 26)                       # OpenArena's announcer: 20 of 26 closed
    assert abs(low - 0.5795) < 1e-3 and abs(high - 0.8897) < 1e-3   # scipy's binomtest(20, 26), method="wilson"
    wide, narrow = share_interval(0.9, 30), share_interval(0.9, 600)
    assert wide[0] < narrow[0] < 0.9 < narrow[1] < wide[1]
    assert share_interval(1.0, 135)[1] == 1.0 and share_interval(1.0, 135)[0] > 0.97
    assert share_interval(0.5, 0) == (0.0, 1.0)                  # nothing scored: nothing known
