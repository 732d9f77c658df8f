"""Read an audio file block by block as mono float32 at the model rate, so memory is bounded by the block size and
not by the file's duration (an hour of 48 kHz stereo is over 1 GB as float32; a block is a fraction of a second).

One decode path for every caller: `load_audio` is these blocks concatenated, and the offline tools (bake,
animate) consume the blocks as they come. Downmixing is the mean of the channels and resampling is
`StreamingResampler`, which gives exactly the samples offline resampling of the whole signal would.

`AudioSpool` keeps the resampled 16 kHz audio in a temporary file on disk while it streams past, so a second pass
(muxing AAC into the mp4) can read it back in blocks instead of holding it in RAM.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.audio.resample import StreamingResampler
from vasa_bridge.errors import AudioError

# Input audio per block. StreamingResampler gathers taps × output samples at once (~2 kB per 16 kHz output
# sample with 97 taps), so a 0.5 s block costs ~16 MB transiently; larger blocks only cost more memory.
BLOCK_S = 0.5


def check_audio_path(path: str | Path) -> Path:
    """The file exists, is a file, and is not empty (each named in the error)."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"{path} is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file is empty (0 bytes): {path}")
    return path


def downmix(block: np.ndarray) -> np.ndarray:
    """(samples, channels) → (samples,) float32: the channel mean; NaN → 0 and ±inf → ±1 so one bad sample
    cannot poison the filters downstream."""
    mono = np.asarray(block).mean(axis=1).astype(np.float32)
    return np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)


class AudioFile:
    """An audio file opened for block reading. Opening probes the file (so a bad file fails here, with its name);
    `blocks()` decodes it from the start each time it is called.

    WAV/FLAC/OGG go through libsndfile; anything it refuses (mp3 on old libsndfile, m4a/aac, video files) through
    PyAV."""

    def __init__(self, path: str | Path, block_s: float = BLOCK_S) -> None:
        self.path = check_audio_path(path)
        self.block_s = block_s
        self.duration_s: float | None = None    # from the header when the container states it
        try:
            import soundfile as sf

            info = sf.info(str(self.path))
            self.backend, self.rate_hz = "soundfile", int(info.samplerate)
            if 0 <= info.frames < 2 ** 62:     # libsndfile says SF_COUNT_MAX when a stream's length is unknown
                self.duration_s = info.frames / info.samplerate
        except Exception:  # libsndfile refuses many containers; PyAV gets a second look before we give up
            self._probe_with_av()

    def _probe_with_av(self) -> None:
        import av

        try:
            with av.open(str(self.path)) as container:
                if not container.streams.audio:
                    raise AudioError(f"{self.path} has no audio stream")
                stream = container.streams.audio[0]
                self.rate_hz = int(stream.rate or 0)
                if stream.duration is not None and stream.time_base is not None:
                    self.duration_s = float(stream.duration * stream.time_base)
        except AudioError:
            raise
        except Exception as e:  # PyAV raises a dozen FFmpegError kinds for junk; all mean "not audio we can read"
            raise AudioError(f"cannot decode {self.path}: not a readable audio file ({type(e).__name__})") from None
        if self.rate_hz <= 0:
            raise AudioError(f"cannot decode {self.path}: its audio stream has no sample rate")
        self.backend = "av"

    def _raw_blocks(self) -> Iterator[np.ndarray]:
        """(samples, channels) float32 blocks at the file's rate."""
        block_frames = max(1, int(round(self.rate_hz * self.block_s)))
        return self._soundfile_blocks(block_frames) if self.backend == "soundfile" else self._av_blocks(block_frames)

    def _soundfile_blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        import soundfile as sf

        with sf.SoundFile(str(self.path)) as f:
            while True:
                try:
                    block = f.read(block_frames, dtype="float32", always_2d=True)   # (samples, channels)
                except (RuntimeError, ValueError) as e:  # libsndfile's errors for a file corrupt past its header
                    raise AudioError(f"cannot decode {self.path} after {f.tell() / self.rate_hz:.1f} s: {e}") from None
                if len(block) == 0:
                    return
                yield block

    def _av_blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        import av

        with av.open(str(self.path)) as container:
            stream = container.streams.audio[0]
            pending: list[np.ndarray] = []
            n_pending = 0
            frames = container.decode(stream)
            while True:
                try:
                    frame = next(frames, None)
                except Exception as e:  # FFmpegError kinds, as in _probe_with_av
                    raise AudioError(f"cannot decode {self.path}: {type(e).__name__}: {e}") from None
                if frame is not None:
                    pending.append(_frame_samples(frame))
                    n_pending += len(pending[-1])
                # Decoded frames are ~1000 samples; group them so the resampler works on whole blocks.
                if pending and (frame is None or n_pending >= block_frames):
                    yield np.concatenate(pending)
                    pending, n_pending = [], 0
                if frame is None:
                    return

    def blocks(self, sample_rate_hz: int = MODEL_SAMPLE_RATE_HZ) -> Iterator[np.ndarray]:
        """Mono float32 blocks at `sample_rate_hz`; concatenated they equal `load_audio(path, sample_rate_hz)`.
        Raises AudioError (at the end) if the file held no samples."""
        resampler = StreamingResampler(self.rate_hz, sample_rate_hz)
        n_in = 0
        for block in self._raw_blocks():
            n_in += len(block)
            out = resampler.push(downmix(block))
            if len(out):
                yield out
        if n_in == 0:
            raise AudioError(f"{self.path} contains no audio samples")
        tail = resampler.flush()
        if len(tail):
            yield tail


def _frame_samples(frame: "object") -> np.ndarray:
    """A PyAV AudioFrame → (samples, channels) float32 in [-1, 1], whatever its sample format."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        data = data.T                                   # (channels, samples) → (samples, channels)
    else:
        data = data.reshape(-1, channels)               # interleaved (1, samples * channels)
    if data.dtype.kind == "i":
        return (data / np.iinfo(data.dtype).max).astype(np.float32)
    if data.dtype.kind == "u":                          # u8: 128 is silence
        return ((data.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    return data.astype(np.float32)


class AudioSpool:
    """Mono float32 audio parked in an anonymous temporary file while it streams past (`tee`), read back later in
    blocks (`blocks`). 16 kHz costs 230 MB of disk per hour and a block of RAM."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(prefix="vasa_bridge_audio_", dir=directory)
        self.n_samples = 0

    def tee(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass `blocks` through, appending each to the spool."""
        for block in blocks:
            block = np.asarray(block, np.float32).reshape(-1)
            self._file.write(block.astype("<f4").tobytes())
            self.n_samples += len(block)
            yield block

    def blocks(self, block_samples: int = MODEL_SAMPLE_RATE_HZ) -> Iterator[np.ndarray]:
        """Everything spooled so far, from the start, in blocks of `block_samples`."""
        self._file.seek(0)
        remaining = self.n_samples
        while remaining > 0:
            n = min(block_samples, remaining)
            data = self._file.read(4 * n)
            yield np.frombuffer(data, "<f4").astype(np.float32)
            remaining -= n
        self._file.seek(0, 2)   # back to the end, in case more is teed

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "AudioSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
