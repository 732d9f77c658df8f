"""The speech front end: streamed rows equal offline rows, level does not change them, the numpy student equals its
torch twin, and the shipped file loads with a clear error when it is damaged."""

from __future__ import annotations

import numpy as np
import pytest

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ, N_MELS
from vasa_bridge.audio.features import audio_features
from vasa_bridge.audio.frontend import (DEFAULT_FRONTEND, FrontEndConfig, LevelNormaliser, SpeechFrontEnd,
                                        StudentNet, load_frontend, save_frontend, untrained_params)
from vasa_bridge.audio.synthetic import syllable_bursts
from vasa_bridge.errors import ModelVersionError
from vasa_bridge.model.conditioning import FRONTEND_DELAY_ROWS

SMALL = FrontEndConfig(channels=24, dilations=(1, 2, 4), speech_dims=8)


@pytest.fixture(scope="module")
def small_frontend() -> SpeechFrontEnd:
    return SpeechFrontEnd(SMALL, StudentNet(SMALL, untrained_params(SMALL)))


def test_streamed_rows_equal_offline_rows_for_any_chunking(small_frontend):
    audio = syllable_bursts(2.3, seed=4)
    offline = small_frontend.features(audio)
    assert offline.shape == (len(audio_features(audio)), SMALL.n_features)
    rng = np.random.default_rng(1)
    for _ in range(3):
        stream, parts, at = small_frontend.stream(), [], 0
        while at < len(audio):
            n = int(rng.integers(1, 1200))
            parts.append(stream.push(audio[at: at + n]))
            at += n
        parts.append(stream.flush())
        np.testing.assert_allclose(np.concatenate(parts), offline, atol=1e-4)


def test_streams_pushed_together_equal_streams_pushed_alone(small_frontend):
    from vasa_bridge.audio.frontend import push_many

    audios = [syllable_bursts(1.0 + 0.3 * k, seed=k) for k in range(3)]
    streams = [small_frontend.stream() for _ in audios]
    got = [[] for _ in audios]
    chunk = 320
    longest = max(len(a) for a in audios)
    for at in range(0, longest + chunk, chunk):
        parts = [[a[at: at + chunk]] if at < len(a) else [] for a in audios]
        flushes = [at < len(a) <= at + chunk for a in audios]
        for k, rows in enumerate(push_many(streams, parts, flushes)):
            got[k].append(rows)
    for k, audio in enumerate(audios):
        np.testing.assert_allclose(np.concatenate(got[k]), small_frontend.features(audio), atol=1e-4)


def test_a_row_is_emitted_only_once_the_audio_it_may_hear_has_arrived(small_frontend):
    audio = syllable_bursts(1.0, seed=2)
    hop = MODEL_SAMPLE_RATE_HZ // 100
    stream = small_frontend.stream()
    rows = stream.push(audio[: 50 * hop])
    assert len(rows) == 50 - SMALL.delay_rows          # rows lag the audio by the student's own lookahead
    assert SMALL.delay_rows == FRONTEND_DELAY_ROWS     # the model's lookahead accounts for exactly this


def test_level_does_not_change_the_rows_within_the_speech(small_frontend):
    audio = syllable_bursts(2.0, seed=3, noise=0.02)
    loud = small_frontend.features(audio * 0.7)               # about −3 dBFS
    quiet = small_frontend.features(audio * 0.7 * 10 ** (-37 / 20))   # −40 dBFS
    speaking = LevelNormaliser()(audio_features(audio))[:, N_MELS] > -25   # rows well above the floor
    speaking[:50] = False              # the first 0.5 s: the level reference is still finding the speech
    assert speaking.sum() > 60
    np.testing.assert_allclose(quiet[speaking], loud[speaking], atol=0.05)


def test_digital_silence_settles_to_the_silence_row(small_frontend):
    rows = small_frontend.features(np.zeros(MODEL_SAMPLE_RATE_HZ, np.float32))
    np.testing.assert_allclose(rows[-20:], np.repeat(small_frontend.silence_row[None], 20, 0), atol=1e-5)


def test_speech_from_the_first_sample_reads_as_if_silence_came_before(small_frontend):
    """Streams start from the histories a silence leaves (training lines all begin with a pause): a clip that
    speaks from sample 0 gets the rows it would get after half a second of digital silence."""
    speech = syllable_bursts(1.0, seed=5)
    pad = 50 * 160                                                   # 50 rows, past the receptive field
    alone = small_frontend.features(speech)
    after_silence = small_frontend.features(np.concatenate([np.zeros(pad, np.float32), speech]))
    np.testing.assert_allclose(alone, after_silence[50:], atol=1e-4)


def test_numpy_student_equals_its_torch_twin():
    torch = pytest.importorskip("torch")
    from vasa_bridge.train.frontend import _torch_student

    twin = _torch_student(SMALL)
    for param in twin.parameters():
        torch.nn.init.normal_(param, std=0.2)
    net = StudentNet(SMALL, twin.numpy_params())
    x = np.random.default_rng(0).normal(size=(2, 90, SMALL.n_in)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    for b in range(2):
        np.testing.assert_allclose(net.run(x[b])[0], expected[b], atol=1e-4)


def test_saved_front_end_round_trips_and_damage_is_a_clear_error(tmp_path, small_frontend):
    path = tmp_path / "fe.npz"
    sha = save_frontend(path, SMALL, small_frontend.net.p, {"note": "test"})
    loaded = load_frontend(path)
    assert loaded.sha256 == sha and loaded.config == SMALL
    audio = syllable_bursts(0.5, seed=1)
    np.testing.assert_allclose(loaded.features(audio), small_frontend.features(audio), atol=1e-6)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a front end")
    with pytest.raises(ModelVersionError, match="not a vasa_bridge speech front end"):
        load_frontend(bad)


def test_the_shipped_front_end_is_there_and_matches_the_model_contract():
    frontend = load_frontend(DEFAULT_FRONTEND)
    assert frontend.config.delay_rows == FRONTEND_DELAY_ROWS
    rows = frontend.features(syllable_bursts(1.0, seed=0))
    assert np.all(np.isfinite(rows)) and rows.shape[1] == frontend.n_features


def test_distillation_learns_the_targets_and_resumes(tmp_path):
    """A student trained on a toy set (targets: a fixed projection of the level-relative input) gets closer to
    them, resumes from its checkpoint, and writes a loadable front end."""
    import dataclasses
    import json

    pytest.importorskip("torch")
    from vasa_bridge.train.frontend import DistillSet, FrontEndTrainConfig, train_frontend

    rng = np.random.default_rng(0)
    rows = [LevelNormaliser()(audio_features(syllable_bursts(3.0, seed=k))) for k in range(6)]
    mix = rng.normal(size=(N_MELS + 1, 48)).astype(np.float32)
    targets = [np.tanh(r @ mix / 40.0) for r in rows]
    data = DistillSet(np.concatenate(rows).astype(np.float16), np.concatenate(targets).astype(np.float16),
                      np.cumsum([0] + [len(r) for r in rows[:-1]]), np.array([len(r) for r in rows]))
    from vasa_bridge.errors import VasaBridgeError

    cfg = FrontEndTrainConfig(steps=50, batch=4, crop_rows=96, warmup_steps=5, checkpoint_every=25)
    train_frontend(data, tmp_path, SMALL, cfg, progress=False)
    first = json.loads((tmp_path / "frontend_history.json").read_text())
    with pytest.raises(VasaBridgeError, match="another config"):
        train_frontend(data, tmp_path, SMALL, dataclasses.replace(cfg, steps=80), progress=False)
    path = train_frontend(data, tmp_path, SMALL, cfg, progress=False)        # resumes at 50: nothing to redo
    assert json.loads((tmp_path / "frontend_history.json").read_text()) == first
    assert first[-1][1] < first[0][1]
    frontend = load_frontend(path)
    assert frontend.config == SMALL and frontend.features(syllable_bursts(0.5)).shape[1] == SMALL.n_features
