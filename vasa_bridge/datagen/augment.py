"""Audio augmentation that keeps phone timings valid: speed, real-room reverb, microphone colouring, noise,
band-limit, codec, gain; and a compressor the evaluation uses.

Only `speed` changes the time axis; it rescales the phones by the exact length ratio. Every other step returns
exactly as many samples as it was given, aligned to the input: reverb uses impulse responses that start at the
direct sound, the band-pass filter and the microphone EQ are zero-phase, and codec round trips are re-aligned by cross-correlation.
All audio here is mono float32 at the model rate (16 kHz).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.errors import AudioError
from vasa_bridge.phones.types import Phone

# Speeds as input-rate / output-rate ratios with small integer factors, so the polyphase resampler stays cheap.
SPEED_CHOICES: tuple[float, ...] = (0.9, 0.95, 1.0, 1.05, 1.1)
NOISE_KINDS: tuple[str, ...] = ("white", "pink", "babble")
CODECS: tuple[str, ...] = ("mp3", "opus", "mulaw")
SNR_DB_RANGE = (5.0, 30.0)
GAIN_DB_RANGE = (-18.0, 3.0)
TELEPHONE_BAND_HZ = (300.0, 3400.0)
MAX_CODEC_DELAY_S = 0.1
PEAK_LIMIT = 0.99

# How often each step is applied to an item.
P_SPEED = 0.5
P_REVERB = 0.35
P_NOISE = 0.45
P_BAND_LIMIT = 0.12
P_CODEC = 0.2
P_COLOUR = 0.5

# Dynamic-range compression, as game dialogue, announcers and streamers' voice chains get: over a threshold (dB under
# the clip's peak) the level rises only 1/ratio as fast, so stop closures and pauses sit much nearer the vowels. Not
# in the training chain: 30 % of the lines compressed 2–10:1 over -35 to -15 dB cost clean speech more than it
# bought on compressed speech (docs/model.md); the evaluation uses it to show the dependence.
COMPRESS_RELEASE_DB_PER_S = 100.0     # instant attack; the envelope falls this fast after a peak (~90 ms for 9 dB)

# Microphone colouring: a smooth EQ curve, gains (dB) at these frequencies, interpolated in log frequency. Real
# voices arrive through mics, preamps and game-audio mastering that tilt the spectrum: the hedgewars exclamation
# packs used in development have 15–20 dB less energy under 300 Hz than read speech and 5 dB more at 1–2 kHz, and
# the model read them as closed lips. A tilt of ±4 dB/octave around 1 kHz, ±3 dB wiggles and (half the time) a
# 12 dB/octave high-pass at 80–400 Hz cover close-talking mics, lavaliers, laptop mics and shouting into one.
COLOUR_ANCHORS_HZ: tuple[float, ...] = (63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
COLOUR_TILT_DB_PER_OCTAVE = 4.0
COLOUR_WIGGLE_DB = 3.0
COLOUR_HIGH_PASS_HZ = (80.0, 400.0)
COLOUR_RANGE_DB = (-36.0, 12.0)


@dataclass(frozen=True)
class Augmentation:
    speed: float = 1.0              # > 1 is faster (shorter); pitch moves with it, like a tape
    rir: str | None = None          # impulse response file name in vasa_bridge/data/rir
    reverb_wet: float = 0.0         # 0 = dry, 1 = fully reverberant
    noise: str | None = None        # one of NOISE_KINDS
    snr_db: float = 0.0
    band_limit: bool = False        # telephone band, 300–3400 Hz
    codec: str | None = None        # one of CODECS
    codec_bitrate_bps: int = 0
    gain_db: float = 0.0
    colour_db: tuple[float, ...] = ()  # microphone EQ: gains at COLOUR_ANCHORS_HZ; () = flat

    def __post_init__(self) -> None:
        object.__setattr__(self, "colour_db", tuple(float(g) for g in self.colour_db))   # JSON gives lists

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def is_identity(self) -> bool:
        return self == Augmentation()


def resample_offline(audio: np.ndarray, in_rate_hz: int, out_rate_hz: int) -> np.ndarray:
    """Whole-clip resampling with scipy's C polyphase filter: ~20× faster than the streaming-exact
    `vasa_bridge.audio.resample`, which matters when it runs on every corpus item; the two filters differ only
    near Nyquist, above the model's mel bands."""
    from math import gcd

    from scipy.signal import resample_poly

    if in_rate_hz == out_rate_hz:
        return np.asarray(audio, np.float32)
    g = gcd(int(in_rate_hz), int(out_rate_hz))
    return resample_poly(audio, out_rate_hz // g, in_rate_hz // g, window=("kaiser", 8.0)).astype(np.float32)


def rir_names() -> tuple[str, ...]:
    directory = resources.files("vasa_bridge") / "data" / "rir"
    return tuple(sorted(p.name for p in directory.iterdir() if p.name.endswith(".wav")))


@lru_cache(maxsize=16)
def load_rir(name: str) -> np.ndarray:
    import soundfile as sf

    path = resources.files("vasa_bridge") / "data" / "rir" / name
    with path.open("rb") as f:
        ir, rate = sf.read(f, dtype="float32")
    if rate != MODEL_SAMPLE_RATE_HZ:
        raise AudioError(f"impulse response {name} is at {rate} Hz, expected {MODEL_SAMPLE_RATE_HZ}")
    return ir


def sample_augmentation(rng: np.random.Generator) -> Augmentation:
    """A random mix of steps; about a quarter of items stay clean."""
    speed = float(rng.choice(SPEED_CHOICES)) if rng.random() < P_SPEED else 1.0
    rir, wet = None, 0.0
    if rng.random() < P_REVERB:
        names = rir_names()
        rir, wet = names[int(rng.integers(len(names)))], float(rng.uniform(0.2, 0.9))
    noise, snr = None, 0.0
    if rng.random() < P_NOISE:
        noise, snr = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))], float(rng.uniform(*SNR_DB_RANGE))
    band_limit = bool(rng.random() < P_BAND_LIMIT)
    codec, bitrate = None, 0
    if rng.random() < P_CODEC:
        codec = CODECS[int(rng.integers(len(CODECS)))]
        bitrate = {"mp3": int(rng.choice([24_000, 32_000, 48_000])), "opus": int(rng.choice([8_000, 12_000, 16_000])),
                   "mulaw": 64_000}[codec]
    gain = float(rng.uniform(*GAIN_DB_RANGE))
    colour = sample_colour(rng) if rng.random() < P_COLOUR else ()
    return Augmentation(speed, rir, wet, noise, snr, band_limit, codec, bitrate, gain, colour)


def sample_colour(rng: np.random.Generator) -> tuple[float, ...]:
    """A random microphone EQ curve (gains in dB at COLOUR_ANCHORS_HZ)."""
    octaves = np.log2(np.array(COLOUR_ANCHORS_HZ) / 1000.0)
    gains = rng.uniform(-1, 1) * COLOUR_TILT_DB_PER_OCTAVE * octaves + rng.normal(0, COLOUR_WIGGLE_DB, len(octaves))
    if rng.random() < 0.5:
        cutoff = rng.uniform(*COLOUR_HIGH_PASS_HZ)
        gains -= 12.0 * np.maximum(0.0, np.log2(cutoff / np.array(COLOUR_ANCHORS_HZ)))
    return tuple(float(g) for g in np.clip(gains, *COLOUR_RANGE_DB))


# --- the steps -------------------------------------------------------------------------------------------------

def change_speed(audio: np.ndarray, phones: tuple[Phone, ...], speed: float
                 ) -> tuple[np.ndarray, tuple[Phone, ...]]:
    """Play `speed` times faster by resampling, and move the phones with the audio."""
    if speed == 1.0:
        return audio, phones
    in_rate_hz = int(round(MODEL_SAMPLE_RATE_HZ * speed))
    out = resample_offline(audio, in_rate_hz, MODEL_SAMPLE_RATE_HZ)
    scale = len(out) / max(1, len(audio))
    end_s = len(out) / MODEL_SAMPLE_RATE_HZ
    scaled = tuple(Phone(p.symbol, min(p.start_s * scale, end_s), min(p.end_s * scale, end_s), p.viseme, p.stressed)
                   for p in phones)
    return out, scaled


def reverberate(audio: np.ndarray, rir: np.ndarray, wet: float) -> np.ndarray:
    """Convolve with a room impulse response (direct sound at index 0); same length, same peak level."""
    from scipy.signal import fftconvolve

    if len(audio) == 0:
        return audio
    room = fftconvolve(audio, rir)[: len(audio)]                # the tail past the end is cut, like a recording
    mixed = (1.0 - wet) * audio + wet * room
    peak_in, peak_out = np.max(np.abs(audio)), np.max(np.abs(mixed))
    return (mixed * (peak_in / peak_out if peak_out > 0 else 1.0)).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(freqs), n).astype(np.float32)   # power ∝ 1/f


def babble_noise(n: int, rng: np.random.Generator, sources: list[np.ndarray]) -> np.ndarray:
    """Three to five talkers from `sources`, each looped and started at a random point."""
    if not sources:
        raise AudioError("babble noise needs source clips")
    out = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(3, 6))):
        clip = sources[int(rng.integers(len(sources)))]
        looped = np.tile(clip, n // max(1, len(clip)) + 2)
        start = int(rng.integers(len(clip)))
        talker = looped[start: start + n]
        out += talker / (np.sqrt(np.mean(talker ** 2)) + 1e-9)
    return out


def add_noise(audio: np.ndarray, kind: str, snr_db: float, rng: np.random.Generator,
              babble_sources: list[np.ndarray] | None = None) -> np.ndarray:
    n = len(audio)
    if kind == "white":
        noise = rng.standard_normal(n).astype(np.float32)
    elif kind == "pink":
        noise = pink_noise(n, rng)
    elif kind == "babble":
        noise = babble_noise(n, rng, babble_sources or [])
    else:
        raise AudioError(f"unknown noise kind {kind!r}; choose one of {NOISE_KINDS}")
    # SNR against the speech's active level (loudest half of 20 ms frames), so pauses do not lower the bar.
    frames = audio[: n // 320 * 320].reshape(-1, 320) if n >= 320 else audio.reshape(1, -1)
    energies = np.sort(np.mean(frames ** 2, axis=1))
    speech_power = float(np.mean(energies[len(energies) // 2:])) if len(energies) else 0.0
    noise_power = float(np.mean(noise ** 2)) + 1e-12
    return (audio + noise * np.sqrt(speech_power / noise_power / 10 ** (snr_db / 10))).astype(np.float32)


def colour(audio: np.ndarray, gains_db: tuple[float, ...]) -> np.ndarray:
    """Zero-phase EQ (magnitude only, applied in the frequency domain): same length, same peak level."""
    if len(audio) < 64 or not gains_db:
        return audio
    spectrum = np.fft.rfft(audio.astype(np.float64))
    freqs = np.fft.rfftfreq(len(audio), 1.0 / MODEL_SAMPLE_RATE_HZ)
    curve = np.interp(np.log2(np.maximum(freqs, 1.0)), np.log2(COLOUR_ANCHORS_HZ), gains_db)
    out = np.fft.irfft(spectrum * 10.0 ** (curve / 20.0), len(audio))
    peak_in, peak_out = np.max(np.abs(audio)), np.max(np.abs(out))
    return (out * (peak_in / peak_out if peak_out > 0 else 1.0)).astype(np.float32)


def band_limit(audio: np.ndarray, band_hz: tuple[float, float] = TELEPHONE_BAND_HZ) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    if len(audio) < 64:
        return audio
    sos = butter(4, band_hz, btype="bandpass", fs=MODEL_SAMPLE_RATE_HZ, output="sos")
    return sosfiltfilt(sos, audio).astype(np.float32)              # zero-phase: no shift against the phones


def _align_to(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Shift `decoded` so it lines up with `reference` (codec priming delay), and cut/pad it to its length."""
    from scipy.signal import correlate

    n = len(reference)
    max_lag = int(MAX_CODEC_DELAY_S * MODEL_SAMPLE_RATE_HZ)
    window = decoded[: n + max_lag]
    corr = correlate(window, reference, mode="full", method="fft")   # index n-1 is lag 0
    lags = np.arange(-n + 1, len(window))
    allowed = (lags >= -max_lag) & (lags <= max_lag)
    lag = int(lags[allowed][np.argmax(corr[allowed])])
    shifted = decoded[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), decoded])
    out = np.zeros(n, np.float32)
    out[: min(n, len(shifted))] = shifted[:n]
    return out


def _av_round_trip(audio: np.ndarray, codec: str, container: str, bitrate_bps: int) -> np.ndarray:
    import av

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)[None, :]   # (1, N) packed mono
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=MODEL_SAMPLE_RATE_HZ, layout="mono")
        stream.bit_rate = bitrate_bps
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = MODEL_SAMPLE_RATE_HZ
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    chunks, rate = [], MODEL_SAMPLE_RATE_HZ
    with av.open(buffer, "r") as inp:
        for decoded in inp.decode(audio=0):
            samples = decoded.to_ndarray().astype(np.float32)
            if decoded.format.name.startswith("s16"):
                samples /= 32768.0
            chunks.append(samples.reshape(-1))          # mono in, mono out: (1, n) either layout
            rate = decoded.sample_rate
    out_audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if rate != MODEL_SAMPLE_RATE_HZ:      # the Opus decoder always gives 48 kHz
        out_audio = resample_offline(out_audio, rate, MODEL_SAMPLE_RATE_HZ)
    return out_audio.astype(np.float32)


def mulaw_round_trip(audio: np.ndarray) -> np.ndarray:
    """G.711-style telephone audio: 8 kHz, 8-bit μ-law, back to 16 kHz."""
    mu = 255.0
    narrow = np.clip(resample_offline(audio, MODEL_SAMPLE_RATE_HZ, 8000), -1.0, 1.0)
    code = np.round(np.sign(narrow) * np.log1p(mu * np.abs(narrow)) / np.log1p(mu) * 127)    # 8-bit
    expanded = np.sign(code) * ((1 + mu) ** (np.abs(code) / 127) - 1) / mu
    return resample_offline(expanded.astype(np.float32), 8000, MODEL_SAMPLE_RATE_HZ)


def codec_round_trip(audio: np.ndarray, codec: str, bitrate_bps: int) -> np.ndarray:
    """Encode and decode; the result has the input's length and timing."""
    if len(audio) == 0:
        return audio
    if codec == "mp3":
        decoded = _av_round_trip(audio, "libmp3lame", "mp3", bitrate_bps)
    elif codec == "opus":
        decoded = _av_round_trip(audio, "libopus", "ogg", bitrate_bps)
    elif codec == "mulaw":
        decoded = mulaw_round_trip(audio)
    else:
        raise AudioError(f"unknown codec {codec!r}; choose one of {CODECS}")
    return _align_to(audio, decoded)


def compress(audio: np.ndarray, threshold_db: float, ratio: float) -> np.ndarray:
    """A feed-forward compressor: a peak envelope (instant attack, COMPRESS_RELEASE_DB_PER_S release) sets the gain
    over `threshold_db` (under the clip's peak); the result is brought back to the input's peak, as make-up gain
    would, so the quiet parts come up by the peak's reduction."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak == 0.0 or ratio <= 1.0:
        return audio
    level_db = 20.0 * np.log10(np.abs(audio) / peak + 1e-6)
    fall = COMPRESS_RELEASE_DB_PER_S / MODEL_SAMPLE_RATE_HZ * np.arange(len(audio))
    envelope_db = np.maximum.accumulate(level_db + fall) - fall        # max over j ≤ k of level_j − release·(k − j)
    gain_db = np.minimum(0.0, (threshold_db - envelope_db) * (1.0 - 1.0 / ratio))
    out = audio * (10.0 ** (gain_db / 20.0))
    return (out * (peak / float(np.max(np.abs(out))))).astype(np.float32)


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    out = audio * np.float32(10 ** (gain_db / 20))
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > PEAK_LIMIT:             # a clipped int16 shard would add distortion nobody asked for
        out *= PEAK_LIMIT / peak
    return out.astype(np.float32)


def apply_after_speed(audio: np.ndarray, aug: Augmentation, rng: np.random.Generator,
                      babble_sources: list[np.ndarray] | None = None) -> np.ndarray:
    """Every step but speed, in the order a recording chain would add them: room, microphone, noise, line, codec,
    level."""
    if aug.rir is not None:
        audio = reverberate(audio, load_rir(aug.rir), aug.reverb_wet)
    audio = colour(audio, aug.colour_db)
    if aug.noise is not None:
        audio = add_noise(audio, aug.noise, aug.snr_db, rng, babble_sources)
    if aug.band_limit:
        audio = band_limit(audio)
    if aug.codec is not None:
        audio = codec_round_trip(audio, aug.codec, aug.codec_bitrate_bps)
    return apply_gain(audio, aug.gain_db)


def augment(audio: np.ndarray, phones: tuple[Phone, ...], aug: Augmentation, rng: np.random.Generator,
            babble_sources: list[np.ndarray] | None = None) -> tuple[np.ndarray, tuple[Phone, ...]]:
    audio, phones = change_speed(np.asarray(audio, np.float32), phones, aug.speed)
    return apply_after_speed(audio, aug, rng, babble_sources), phones
