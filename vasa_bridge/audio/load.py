"""Load any speech file as mono float32 at the model sample rate, with clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vasa_bridge.audio.constants import MAX_AUDIO_S, MODEL_SAMPLE_RATE_HZ
from vasa_bridge.audio.resample import resample
from vasa_bridge.errors import AudioError


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    return data, rate


def _read_with_av(path: Path) -> tuple[np.ndarray, int]:
    """Fallback for containers libsndfile does not read (m4a/aac, some mp3s, video files)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().astype(np.float32) for frame in container.decode(stream)]
        rate = stream.rate
    if not chunks:
        return np.zeros((0, 1), np.float32), rate
    data = np.concatenate(chunks, axis=1)  # planar: (channels, samples), or (1, samples*channels) if packed
    if data.dtype.kind == "i":
        data = data / np.iinfo(data.dtype).max
    return data.T, rate


def load_audio(path: str | Path, sample_rate_hz: int = MODEL_SAMPLE_RATE_HZ) -> np.ndarray:
    """Mono float32 in [-1, 1] at `sample_rate_hz`. Any rate, channel count, bit depth; wav/flac/ogg/mp3/m4a."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"{path} is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file is empty (0 bytes): {path}")
    try:
        data, rate = _read_with_soundfile(path)
    except Exception:  # libsndfile refuses many containers; PyAV gets a second look before we give up
        try:
            data, rate = _read_with_av(path)
        except AudioError:
            raise
        except Exception as e:
            raise AudioError(f"cannot decode {path}: not a readable audio file ({type(e).__name__})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path} contains no audio samples")
    if data.shape[0] > MAX_AUDIO_S * rate:
        raise AudioError(f"{path} is longer than {MAX_AUDIO_S // 3600} h; stream it in chunks instead")
    mono = data.mean(axis=1).astype(np.float32)  # downmix: (samples,)
    mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
    return resample(mono, rate, sample_rate_hz)
