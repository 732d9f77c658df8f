import subprocess

import numpy as np
import pytest
import soundfile as sf

from vasa_bridge.audio import FeatureStream, StreamingResampler, audio_features, load_audio, resample
from vasa_bridge.audio.constants import HOP_LENGTH_SAMPLES, MODEL_SAMPLE_RATE_HZ, N_FEATURES
from vasa_bridge.errors import AudioError


def tone(rate_hz: int, seconds: float = 1.0, freq_hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def chunked(x: np.ndarray, rng: np.random.Generator, lo: int = 1, hi: int = 4000):
    i = 0
    while i < len(x):
        n = int(rng.integers(lo, hi))
        yield x[i:i + n]
        i += n


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_resampled_tone_keeps_its_pitch_and_level(rate):
    y = resample(tone(rate), rate, MODEL_SAMPLE_RATE_HZ)
    assert len(y) == MODEL_SAMPLE_RATE_HZ
    expected = tone(MODEL_SAMPLE_RATE_HZ)
    assert np.max(np.abs(y[400:-400] - expected[400:-400])) < 1e-3  # no delay, no gain change


@pytest.mark.parametrize("rate", [44100, 48000, 8000])
def test_streaming_resampler_equals_offline_for_any_chunking(rate):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal(rate).astype(np.float32) * 0.2
    r = StreamingResampler(rate, MODEL_SAMPLE_RATE_HZ)
    streamed = np.concatenate([r.push(c) for c in chunked(x, rng)] + [r.flush()])
    assert np.array_equal(streamed, resample(x, rate, MODEL_SAMPLE_RATE_HZ))


def test_streaming_features_equal_offline_features():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(MODEL_SAMPLE_RATE_HZ * 3) * 0.1).astype(np.float32)
    x[8000:12000] = 0.0  # digital silence inside
    offline = audio_features(x)
    for lo, hi in ((1, 50), (100, 3200), (3000, 20000)):
        stream = FeatureStream()
        online = np.concatenate([stream.push(c) for c in chunked(x, rng, lo, hi)] + [stream.flush()])
        assert online.shape == offline.shape == (len(x) // HOP_LENGTH_SAMPLES, N_FEATURES)
        np.testing.assert_allclose(online, offline, atol=1e-4)
    assert np.isfinite(offline).all()


def test_features_respond_to_loudness_and_silence():
    quiet, loud = audio_features(tone(16000) * 0.01), audio_features(tone(16000))
    assert loud[10:, -1].mean() - quiet[10:, -1].mean() == pytest.approx(40.0, abs=0.5)  # energy in dBFS
    silent = audio_features(np.zeros(16000, np.float32))
    assert np.isfinite(silent).all() and silent[:, -1].max() <= -99


@pytest.mark.parametrize("subtype,rate,channels", [("PCM_U8", 8000, 1), ("PCM_24", 96000, 6), ("FLOAT", 44100, 2),
                                                   ("PCM_16", 16000, 1)])
def test_loads_any_rate_depth_and_channel_count(tmp_path, subtype, rate, channels):
    x = np.tile(tone(rate)[:, None], (1, channels))
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, x, rate, subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == MODEL_SAMPLE_RATE_HZ
    assert abs(np.sqrt(np.mean(y[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.02


@pytest.mark.parametrize("ext", ["flac", "ogg", "mp3"])
def test_loads_compressed_formats(tmp_path, ext):
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(22050), 22050)
    target = tmp_path / f"x.{ext}"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(target)], check=True)
    y = load_audio(target)
    assert abs(len(y) - MODEL_SAMPLE_RATE_HZ) < 0.06 * MODEL_SAMPLE_RATE_HZ  # mp3 adds encoder padding
    assert np.max(np.abs(y)) > 0.3


def test_bad_audio_files_give_clear_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + bytes(range(256)) * 10)
    with pytest.raises(AudioError, match="cannot decode"):
        load_audio(tmp_path / "junk.wav")
    sf.write(tmp_path / "zero.wav", np.zeros((0, 1)), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(tmp_path / "zero.wav")
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)


def test_resampler_filter_is_scipy_firwin_without_importing_scipy():
    """The resampler designs its Kaiser low-pass in numpy (no scipy import on a session's first non-16 kHz use)."""
    from scipy.signal import firwin

    from vasa_bridge.audio.resample import KAISER_BETA, ROLLOFF, ZERO_CROSSINGS, _kaiser_lowpass

    for up, down in [(320, 441), (160, 147), (1, 3), (2, 1)]:
        band = max(up, down)
        n_taps = 2 * ZERO_CROSSINGS * band + 1
        want = firwin(n_taps, ROLLOFF / band, window=("kaiser", KAISER_BETA))
        np.testing.assert_allclose(_kaiser_lowpass(n_taps, ROLLOFF / band), want, rtol=0, atol=1e-15)
