"""What users' audio really is, through the shipped model: music, noise, whispering, clipped, very quiet or 8 kHz
telephone speech. Sound that is not speech leaves a calm face; speech keeps moving the lips at any level; nothing
gives NaNs. Also the real-voice evaluation's own pieces (speech mask, pause measure)."""

from __future__ import annotations

import numpy as np
import pytest

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.model.weights import DEFAULT_WEIGHTS
from vasa_bridge.motion.controls import Controls
from vasa_bridge.motion.measures import lip_aperture

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.exists(), reason="no shipped weights in this checkout")


@pytest.fixture(scope="module")
def backend():
    from vasa_bridge.runtime.diffusion import DiffusionBackend

    return DiffusionBackend("onnxruntime")


@pytest.fixture(scope="module")
def speech():
    from vasa_bridge.train.data import synth_pairs

    return synth_pairs(1, seed=21, voices="heldout-voice", corrupt=False, controls=Controls())[0].audio_16k


def bake(backend, audio: np.ndarray, seed: int = 0) -> np.ndarray:
    from vasa_bridge.runtime.diffusion import generate_clip

    frames = generate_clip(backend, audio.astype(np.float32), seed=seed).frames
    assert np.all(np.isfinite(frames))
    return frames


def at_peak_dbfs(audio: np.ndarray, dbfs: float) -> np.ndarray:
    return (audio * 10 ** (dbfs / 20) / np.abs(audio).max()).astype(np.float32)


@pytest.mark.parametrize("kind", ["music", "noise"])
def test_sound_that_is_not_speech_leaves_the_mouth_calm(backend, speech, kind):
    from vasa_bridge.audio.synthetic import music_like, noise_like

    rng = np.random.default_rng(5)
    sound = at_peak_dbfs((music_like if kind == "music" else noise_like)(4.0, rng), -6.0)
    calm = lip_aperture(bake(backend, sound))
    talking = lip_aperture(bake(backend, at_peak_dbfs(speech, -6.0)))
    # Speech opens the lips far more, and more often, than the same level of music or noise.
    assert np.mean(calm) < 0.5 * np.mean(talking), (np.mean(calm), np.mean(talking))
    assert np.mean(calm > 0.15) < 0.1


@pytest.mark.parametrize("variant", ["quiet -40 dBFS", "clipped", "telephone 8 kHz", "whispered"])
def test_speech_moves_the_lips_however_it_was_recorded(backend, speech, variant):
    from vasa_bridge.datagen.augment import band_limit, resample_offline
    from vasa_bridge.phones.espeak import synthesize
    from vasa_bridge.train.evaluate import pearson

    reference = lip_aperture(bake(backend, at_peak_dbfs(speech, -6.0)))
    audio = speech
    if variant == "quiet -40 dBFS":
        audio = at_peak_dbfs(speech, -40.0)
    elif variant == "clipped":
        audio = np.clip(at_peak_dbfs(speech, 6.0), -0.5, 0.5)
    elif variant == "telephone 8 kHz":
        audio = resample_offline(resample_offline(band_limit(speech), MODEL_SAMPLE_RATE_HZ, 8000), 8000,
                                 MODEL_SAMPLE_RATE_HZ)
    elif variant == "whispered":
        line = synthesize("Maybe Bob bought a map of the bumpy path before the movie began.", voice="en-us+whisper")
        whisper = resample_offline(line.audio, line.sample_rate_hz, MODEL_SAMPLE_RATE_HZ)
        voiced = synthesize(line.text, voice="en-us")
        reference = lip_aperture(bake(backend, resample_offline(voiced.audio, voiced.sample_rate_hz,
                                                                MODEL_SAMPLE_RATE_HZ)))
        audio = whisper
    moved = lip_aperture(bake(backend, audio))
    n = min(len(moved), len(reference))
    assert np.std(moved) > 0.03                              # the lips move
    if variant != "whispered":                               # same words, same timing: the same mouth
        assert pearson(moved[:n], reference[:n]) > 0.6


def test_digital_silence_and_tiny_input_give_a_resting_face(backend):
    frames = bake(backend, np.zeros(MODEL_SAMPLE_RATE_HZ * 2, np.float32))
    assert np.mean(lip_aperture(frames)) < 0.05
    assert len(bake(backend, np.zeros(10, np.float32))) == 1


def test_long_digital_silence_never_parts_the_lips(backend):
    """Training silences last at most 0.6 s; the denoiser alone drifted to 0.11 apart after 2 s of digital
    silence. The articulation head hears the silence and keeps the lips together."""
    for seed in (0, 1):
        frames = bake(backend, np.zeros(MODEL_SAMPLE_RATE_HZ * 6, np.float32), seed=seed)
        assert lip_aperture(frames).max() < 0.08


def test_speech_mask_marks_speech_not_room_noise_and_pauses_lie_away_from_it():
    """The speech/silence reference hears a voice, not the steady noise after it (an energy mask called that
    speech), and pause frames keep their distance from speech."""
    from vasa_bridge.audio import resample
    from vasa_bridge.audio.synthetic import noise_like
    from vasa_bridge.phones.espeak import synthesize
    from vasa_bridge.train.real_eval import pause_frames, speech_mask

    speech = synthesize("Bring the lantern down to the harbour before the tide comes in.")
    voice = resample(speech.audio, speech.sample_rate_hz, MODEL_SAMPLE_RATE_HZ).astype(np.float32)
    noise = noise_like(2.0, np.random.default_rng(0))
    noise *= 0.3 * np.abs(voice).max() / np.abs(noise).max()          # 10 dB under the voice's peak
    audio = np.concatenate([np.zeros(16000, np.float32), voice, noise.astype(np.float32)])
    mask = speech_mask(audio)
    spoken = [q for q in speech.phones if q.viseme != "sil"]
    first, last = 25 + int(spoken[0].start_s * 25), 25 + int(spoken[-1].end_s * 25)   # the voice's frames
    assert len(mask) == -(-len(audio) // 640)
    assert not mask[:20].any() and mask[first:last].mean() > 0.8 and mask[last + 8:].mean() < 0.1
    pauses = pause_frames(mask)
    assert pauses[:20].all() and not pauses[first:last].any()
