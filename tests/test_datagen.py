"""Corpus generation: voices of every family, phone timings through augmentation, resumable sharded builds,
held-out split, manifest bookkeeping. A few short items only."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from vasa_bridge.audio import resample
from vasa_bridge.datagen import augment
from vasa_bridge.datagen.build import BuildConfig, build_corpus
from vasa_bridge.datagen.corpus import Corpus
from vasa_bridge.datagen.plan import HELD_OUT_VOICES, plan_corpus
from vasa_bridge.datagen.voices import FAMILIES, voice_by_name
from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.phones.types import VISEMES

LINE = "Maybe Bob bought a map of the bumpy path."
SR = 16_000


def _speech_onset_s(audio: np.ndarray) -> float:
    """First 10 ms frame louder than 1/30 of the loudest frame."""
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    return float(np.argmax(rms > rms.max() / 30) * 0.01)


@pytest.fixture(scope="module")
def espeak_item() -> tuple[np.ndarray, tuple]:
    synthesis = voice_by_name("espeak/en-us+m3").synthesize(LINE, seed=1)
    return resample(synthesis.audio, synthesis.sample_rate_hz, SR).astype(np.float32), synthesis.phones


@pytest.mark.parametrize("name", ["espeak/en-us+f2", "espeak/de", "espeak-sung/en-us+f2", "flite/rms",
                                  "piper/joe", "kokoro/jf_alpha+jm_kumo"])
def test_every_family_synthesizes_audible_speech(name: str) -> None:
    voice = voice_by_name(name)
    text = "la la laa" if voice.kind == "sung" else ("Guten Morgen, wie geht es dir?" if voice.language == "de"
                                                      else "Maybe Bob bought a map.")
    synthesis = voice.synthesize(text, seed=0)
    duration_s = len(synthesis.audio) / synthesis.sample_rate_hz
    assert synthesis.audio.dtype == np.float32
    assert 0.5 < duration_s < 8.0
    assert np.sqrt(np.mean(synthesis.audio ** 2)) > 0.01          # not silence
    if voice.family == "espeak":                                   # espeak reports its own timings
        assert synthesis.phones and synthesis.phones[-1].end_s <= duration_s + 1e-3
        assert any(p.viseme != "sil" for p in synthesis.phones)
    else:
        assert synthesis.phones is None                            # aligned by the builder


def test_prosody_seed_picks_rate_and_pitch_repeatably() -> None:
    # espeak-ng's output length varies by a few ms from call to call with identical settings (seen with
    # libespeak-ng 1.51), so "the same" means within 1 %; another seed changes the rate by more than that.
    voice = voice_by_name("espeak/en-us")
    lengths = [len(voice.synthesize(LINE, seed=s).audio) for s in (1, 1, 2)]
    assert abs(lengths[0] - lengths[1]) < 0.01 * lengths[0]
    assert abs(lengths[0] - lengths[2]) > 0.02 * lengths[0]


def test_sung_lines_are_stretched_and_keep_phones_inside(espeak_item) -> None:
    from vasa_bridge.phones import espeak

    plain = espeak.synthesize("la la laa", voice="en-us+f2", rate_wpm=95, pitch=60)
    sung = voice_by_name("espeak-sung/en-us+f2").synthesize("la la laa", seed=4)
    duration_s = len(sung.audio) / sung.sample_rate_hz
    assert duration_s > 1.3 * plain.duration_s                     # tempo < 0.7 holds vowels longer
    assert all(0 <= p.start_s < p.end_s <= duration_s + 1e-6 for p in sung.phones)
    assert abs(sung.phones[-1].end_s - duration_s) < 0.05


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_speed_augmentation_moves_phones_with_the_audio(espeak_item, speed: float) -> None:
    audio, phones = espeak_item
    fast, moved = augment.change_speed(audio, phones, speed)
    assert abs(len(fast) - len(audio) / speed) < 20
    duration_s = len(fast) / SR
    assert all(0 <= p.start_s < p.end_s <= duration_s + 1e-6 for p in moved)
    assert abs(moved[-1].end_s - duration_s) < 0.01
    # The first spoken phone still starts where the sound starts.
    first = next(p for p in moved if p.viseme != "sil")
    assert abs(first.start_s - _speech_onset_s(fast)) < 0.04
    assert abs(first.start_s - next(p for p in phones if p.viseme != "sil").start_s / speed) < 1e-3


def _lag_samples(reference: np.ndarray, other: np.ndarray) -> int:
    from scipy.signal import correlate

    corr = correlate(other, reference, mode="full", method="fft")
    return int(np.argmax(corr)) - (len(reference) - 1)


@pytest.mark.parametrize("codec,bitrate", [("mp3", 32_000), ("opus", 12_000), ("mulaw", 64_000)])
def test_codec_round_trip_keeps_length_and_timing(espeak_item, codec: str, bitrate: int) -> None:
    audio = espeak_item[0]
    out = augment.codec_round_trip(audio, codec, bitrate)
    assert len(out) == len(audio)
    assert abs(_lag_samples(audio, out)) <= 2
    assert np.corrcoef(audio, out)[0, 1] > 0.8                     # still the same speech


@pytest.mark.parametrize("rir", augment.rir_names())
def test_reverb_with_real_rooms_keeps_length_and_timing(espeak_item, rir: str) -> None:
    audio = espeak_item[0]
    out = augment.reverberate(audio, augment.load_rir(rir), wet=0.8)
    assert len(out) == len(audio)
    # A room smears speech later (its reflections can be as strong as the direct sound) but never earlier.
    assert abs(_speech_onset_s(out) - _speech_onset_s(audio)) <= 0.02
    assert not np.allclose(out, audio, atol=1e-3)                  # it did something


def test_shipped_impulse_responses_are_real_rooms_with_a_licence() -> None:
    from importlib import resources

    names = augment.rir_names()
    assert len(names) >= 6
    assert (resources.files("vasa_bridge") / "data" / "rir" / "LICENSE.md").is_file()
    for name in names:
        ir = augment.load_rir(name)
        assert abs(ir[0]) >= 0.5 * np.max(np.abs(ir))               # direct sound first: no pre-delay
        assert len(ir) > 0.1 * SR                                  # a decaying room tail, not a click


def test_band_limit_removes_energy_outside_the_telephone_band() -> None:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(SR).astype(np.float32)
    out = augment.band_limit(noise)
    spectrum_in, spectrum_out = (np.abs(np.fft.rfft(x)) ** 2 for x in (noise, out))
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    low, mid, high = freqs < 150, (freqs > 800) & (freqs < 2500), freqs > 6000
    assert spectrum_out[low].sum() < 0.05 * spectrum_in[low].sum()
    assert spectrum_out[high].sum() < 0.01 * spectrum_in[high].sum()
    assert spectrum_out[mid].sum() > 0.8 * spectrum_in[mid].sum()


def test_microphone_colour_follows_its_curve_without_moving_the_speech(espeak_item) -> None:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(4 * SR).astype(np.float32)
    gains = (-30.0, -24.0, -12.0, -4.0, 0.0, 5.0, 5.0, 0.0)            # a high-passed, bright mic
    out = augment.colour(noise, gains)
    spectrum_in, spectrum_out = (np.abs(np.fft.rfft(x)) ** 2 for x in (noise, out))
    freqs = np.fft.rfftfreq(len(noise), 1 / SR)

    def band_db(lo: float, hi: float) -> float:
        band = (freqs > lo) & (freqs < hi)
        return 10 * np.log10(spectrum_out[band].sum() / spectrum_in[band].sum())

    assert band_db(100, 150) - band_db(1800, 2200) < -25           # lows cut against the presence band
    assert abs(band_db(3000, 4500) - band_db(1800, 2200)) < 2
    audio = espeak_item[0]
    coloured = augment.colour(audio, gains)
    assert len(coloured) == len(audio) and _lag_samples(audio, coloured) == 0     # zero-phase
    assert np.isclose(np.abs(coloured).max(), np.abs(audio).max(), rtol=1e-4)    # same peak level
    assert augment.colour(audio, ()) is audio                                    # flat: untouched


def test_sampled_augmentations_colour_about_half_the_items_and_survive_json() -> None:
    from vasa_bridge.datagen.augment import Augmentation

    rng = np.random.default_rng(4)
    augs = [augment.sample_augmentation(rng) for _ in range(400)]
    coloured = [a for a in augs if a.colour_db]
    assert 0.4 < len(coloured) / len(augs) < 0.6
    assert all(len(a.colour_db) == len(augment.COLOUR_ANCHORS_HZ) for a in coloured)
    import json

    assert Augmentation(**json.loads(json.dumps(coloured[0].to_json()))) == coloured[0]


def test_noise_is_added_at_the_requested_snr(espeak_item) -> None:
    audio = espeak_item[0]
    rng = np.random.default_rng(0)
    noisy = augment.add_noise(audio, "white", 10.0, rng)
    noise = noisy - audio
    frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)
    energies = np.sort(np.mean(frames ** 2, axis=1))
    active = np.mean(energies[len(energies) // 2:])
    assert abs(10 * np.log10(active / np.mean(noise ** 2)) - 10.0) < 0.5


def test_compressor_narrows_the_level_range_over_its_threshold_only(espeak_item) -> None:
    """A tone 20 dB under a loud one: 4:1 over -10 dB leaves 10 / 4 dB of the loud part's 10 dB excess, so the gap
    shrinks to 12.5 dB; the peak, the length and the timing stay; ratio 1 is the identity; silence stays silent."""
    t = np.arange(16000) / 16000
    tone = (np.sin(2 * np.pi * 200 * t) * np.where(t < 0.5, 1.0, 0.1)).astype(np.float32)
    level = lambda a: 20 * np.log10(np.abs(a).max())
    squeezed = augment.compress(tone, -10.0, 4.0)
    assert len(squeezed) == len(tone) and abs(np.abs(squeezed).max() - 1.0) < 1e-5
    assert abs((level(squeezed[:8000]) - level(squeezed[12000:])) - 12.5) < 0.1
    assert np.array_equal(augment.compress(tone, -10.0, 1.0), tone)
    assert not np.any(augment.compress(np.zeros(100, np.float32), -20.0, 8.0))
    speech = espeak_item[0]
    out = augment.compress(speech, -30.0, 8.0)
    assert np.corrcoef(out, speech)[0, 1] > 0.5       # same sounds at the same times, only the levels changed
    quiet = np.abs(speech) < 0.05 * np.abs(speech).max()
    assert np.mean(np.abs(out[quiet])) > 2 * np.mean(np.abs(speech[quiet]))


def test_split_holds_out_a_voice_of_every_family() -> None:
    plan = plan_corpus(3.0, seed=0)
    by_split: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for item in plan:
        by_split[item.split].add(item.voice)
    assert by_split["test"] == set(HELD_OUT_VOICES)
    assert not by_split["test"] & (by_split["train"] | by_split["val"])
    assert {v.split("/")[0].split("-")[0] for v in by_split["test"]} == set(FAMILIES)
    assert by_split["val"] and by_split["val"] <= by_split["train"]   # validation: training voices, new lines
    assert len({v.split("/")[0] for v in by_split["train"]}) >= 4
    assert plan == plan_corpus(3.0, seed=0)                            # deterministic


def test_plan_gives_neural_voices_over_a_third_of_the_hours() -> None:
    from vasa_bridge.datagen.plan import estimated_duration_s

    plan = plan_corpus(3.0, seed=0)
    seconds = {f: 0.0 for f in FAMILIES}
    for item in plan:
        seconds[item.family] += estimated_duration_s(item.text, item.family, item.kind)
    assert (seconds["piper"] + seconds["kokoro"]) / sum(seconds.values()) > 1 / 3
    assert 2.9 * 3600 < sum(seconds.values()) < 3.3 * 3600
    assert {i.language for i in plan} >= {"en", "de", "fr", "es", "it", "pt-br", "hi"}
    assert sum(i.kind == "sung" for i in plan) > 0


def _config(out, **kw) -> BuildConfig:
    return BuildConfig(out_dir=out, hours=kw.pop("hours", 0.006), seed=3, workers=1, items_per_shard=3,
                       families=("espeak",), progress=False, **kw)


def test_interrupted_build_resumes_without_redoing_shards(tmp_path) -> None:
    first = build_corpus(_config(tmp_path / "a"), max_new_shards=1)     # "killed" after one shard
    assert not first["complete"] and first["shards_written"] == ["shard-00000.npz"]
    assert not (tmp_path / "a" / "manifest.json").exists()
    shard0 = tmp_path / "a" / "shard-00000.npz"
    stamp = shard0.stat().st_mtime_ns
    (tmp_path / "a" / "shard-00001.npz.tmp123").write_bytes(b"half a shard")   # an interrupted write

    resumed = build_corpus(_config(tmp_path / "a"))
    assert resumed["complete"]
    assert "shard-00000.npz" not in resumed["shards_written"]
    assert first["items_built"] == 3
    assert resumed["items_built"] == len(plan_corpus(0.006, seed=3, families=("espeak",))) - 3
    assert shard0.stat().st_mtime_ns == stamp

    fresh = build_corpus(_config(tmp_path / "b"))
    assert fresh["complete"]
    manifest_a = json.loads((tmp_path / "a" / "manifest.json").read_text())
    manifest_b = json.loads((tmp_path / "b" / "manifest.json").read_text())
    # Same items, voices, splits and shards; hours agree to espeak-ng's few-ms run-to-run jitter.
    hours = [k for k in manifest_a if k.startswith("hours_by") or k == "hours_total"]
    assert {k: v for k, v in manifest_a.items() if k not in hours} == \
        {k: v for k, v in manifest_b.items() if k not in hours}
    for key in hours:
        if key == "hours_total":
            assert manifest_a[key] == pytest.approx(manifest_b[key], rel=0.01)
        else:
            assert manifest_a[key].keys() == manifest_b[key].keys()
            assert all(manifest_a[key][k] == pytest.approx(manifest_b[key][k], rel=0.02) for k in manifest_a[key])

    again = build_corpus(_config(tmp_path / "a"))                     # nothing left to do
    assert again["items_built"] == 0 and again["complete"]


def test_manifest_hours_add_up_and_match_the_items(tmp_path) -> None:
    build_corpus(_config(tmp_path))
    corpus = Corpus(tmp_path)
    m = corpus.manifest
    total = m["hours_total"]
    assert total > 0
    for table in ("hours_by_family", "hours_by_voice", "hours_by_language", "hours_by_split"):
        assert abs(sum(m[table].values()) - total) < 1e-4
    items = list(corpus.iter_items())
    assert len(items) == m["items"] == len(corpus)
    assert abs(sum(len(i.audio_16k) for i in items) / SR / 3600 - total) < 1e-4
    for item in items:
        duration_s = len(item.audio_16k) / SR
        assert item.motion.shape[1] == 60 and abs(item.motion.shape[0] - duration_s * 25) <= 1.5
        assert all(0 <= p.start_s < p.end_s <= duration_s + 1e-4 and p.viseme in VISEMES for p in item.phones)
        assert np.isfinite(item.motion).all()
    test_items = list(corpus.iter_items("test"))
    assert all(i.metadata["voice"] in HELD_OUT_VOICES for i in test_items)
    assert len(test_items) + len(list(corpus.iter_items("train"))) + len(list(corpus.iter_items("val"))) == len(items)


def test_bad_inputs_get_clear_errors(tmp_path) -> None:
    with pytest.raises(VasaBridgeError, match="no corpus"):
        Corpus(tmp_path / "missing")
    build_corpus(_config(tmp_path, hours=0.002))
    with pytest.raises(VasaBridgeError, match="other settings"):
        build_corpus(BuildConfig(out_dir=tmp_path, hours=0.002, seed=4, workers=1, families=("espeak",),
                                 progress=False))


@pytest.mark.parametrize("voice", ["flite/awb", "piper/joe", "kokoro/jm_kumo"])
def test_aligned_voices_get_phone_timings_that_match_their_audio(voice: str) -> None:
    from vasa_bridge.datagen.augment import Augmentation
    from vasa_bridge.datagen.build import make_item
    from vasa_bridge.datagen.plan import PlannedItem
    from vasa_bridge.motion.controls import Controls

    item = PlannedItem(index=0, voice=voice, family=voice.split("/")[0], language="en", kind="speech",
                       text="Maybe Bob bought a map of the bumpy path.", seed=5, controls=Controls(),
                       augmentation=Augmentation(speed=1.1), split="train")
    made = make_item(item)
    audio, phones = made["audio"], made["phones"]
    duration_s = len(audio) / SR
    assert all(0 <= p.start_s < p.end_s <= duration_s + 1e-6 for p in phones)
    spoken = [p for p in phones if p.viseme != "sil"]
    assert len(spoken) >= 25                                        # about one per phoneme of the line
    assert abs(spoken[0].start_s - _speech_onset_s(audio)) < 0.08
    assert made["motion"].shape == (made["meta"]["n_frames"], 60)
    bilabials = [p for p in spoken if p.viseme == "PP"]             # m, b, b, m, b, m, p, p: the mouth closes
    assert len(bilabials) >= 6


def test_datagen_command_small_build_and_bad_family(tmp_path, capsys) -> None:
    import argparse

    from vasa_bridge.commands import datagen

    parser = argparse.ArgumentParser()
    datagen.add_arguments(parser)
    with pytest.raises(VasaBridgeError, match="unknown voice families"):
        datagen.run(parser.parse_args(["--out", str(tmp_path / "x"), "--families", "festival"]))
    assert datagen.run(parser.parse_args(["--out", str(tmp_path / "c"), "--small", "--families", "espeak",
                                          "--workers", "1", "--quiet"])) == 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert 0.5 / 60 < manifest["hours_total"] < 2 / 60
    assert "held out" in capsys.readouterr().out


def test_corpus_throughput_reports_wall_and_cpu_rates() -> None:
    from vasa_bridge.bench.corpus import measure_corpus_throughput

    figures = measure_corpus_throughput(items_per_family=2, families=("espeak",))
    espeak = figures["espeak"]
    assert espeak["items"] == 2 and espeak["audio_s"] > 1.0
    assert espeak["realtime_factor"] > 1.0                      # espeak-ng + teacher beat real time by far
    # CPU time counts every thread: with n cores busy it can reach n × wall time, never more.
    assert espeak["realtime_factor_cpu"] >= 0.8 * espeak["realtime_factor"] / (os.cpu_count() or 1)
    assert figures["all"]["realtime_factor"] == pytest.approx(espeak["realtime_factor"])
