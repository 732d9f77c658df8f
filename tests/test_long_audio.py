"""Audio of any length: read block by block, motion generated per block, AAC muxed from blocks, memory bounded by
the block and the motion frames rather than by the duration (issue #13)."""

from __future__ import annotations

import argparse
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vasa_bridge.audio import load_audio, resample
from vasa_bridge.audio.blocks import AudioFile, AudioSpool
from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.errors import AudioError
from vasa_bridge.motion import layout


def speechy(seconds: float, rate_hz: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """(samples, channels) float32: syllable-rate bursts of harmonics and noise with pauses, loud enough for the
    motion model to move the mouth."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) * (np.sin(2 * np.pi * 0.3 * t) > -0.3)
    voice = sum(np.sin(2 * np.pi * f0 * t) / k for k, f0 in enumerate((140, 280, 420, 700, 1100), start=1))
    mono = (0.25 * envelope * (voice + 0.3 * rng.standard_normal(len(t)))).astype(np.float32)
    return np.stack([mono * (1.0 - 0.2 * c) for c in range(channels)], axis=1)


def write_wav(path: Path, seconds: float, rate_hz: int = 48_000, block_s: float = 10.0) -> Path:
    """A 48 kHz stereo PCM WAV written block by block (the test itself must not hold a long file in RAM)."""
    with sf.SoundFile(str(path), "w", rate_hz, 2, "PCM_16") as f:
        done = 0.0
        while done < seconds:
            n = min(block_s, seconds - done)
            f.write(speechy(n, rate_hz, seed=int(done)))
            done += n
    return path


def _animate(argv: list[str]) -> int:
    from vasa_bridge.commands import animate
    parser = argparse.ArgumentParser()
    animate.add_arguments(parser)
    return animate.run(parser.parse_args(argv))


# ---- blocks equal the whole-file path --------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["wav", "flac", "m4a", "mka"])
def test_blocks_equal_decoding_and_resampling_the_whole_file(tmp_path: Path, ext: str) -> None:
    """wav/flac go through libsndfile, m4a (AAC) and mka (interleaved s16) through PyAV; in every case the
    concatenated blocks are exactly the whole file downmixed and resampled in one piece."""
    import av
    wav = tmp_path / "x.wav"
    sf.write(wav, speechy(3.3, 48_000), 48_000, subtype="PCM_16")
    path = wav
    if ext != "wav":
        path = tmp_path / f"x.{ext}"
        codec = ["-c:a", "pcm_s16le"] if ext == "mka" else []
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), *codec, str(path)], check=True)
    audio = AudioFile(path, block_s=0.37)
    assert audio.backend == ("soundfile" if ext in ("wav", "flac") else "av")
    blocks = list(audio.blocks())
    assert len(blocks) > 5
    if audio.backend == "soundfile":
        whole, rate = sf.read(str(path), dtype="float32", always_2d=True)     # (samples, channels)
    else:
        with av.open(str(path)) as c:
            frames = [f.to_ndarray() for f in c.decode(audio=0)]
            rate = c.streams.audio[0].rate
        if ext == "mka":    # interleaved int16: (1, samples * 2)
            whole = (np.concatenate(frames, axis=1).reshape(-1, 2) / 32767.0).astype(np.float32)
        else:               # planar float: (2, samples)
            whole = np.concatenate(frames, axis=1).T
    expected = resample(whole.mean(axis=1).astype(np.float32), rate, MODEL_SAMPLE_RATE_HZ)
    np.testing.assert_array_equal(np.concatenate(blocks), expected)
    np.testing.assert_array_equal(load_audio(path), expected)


def test_blockwise_motion_equals_motion_from_the_whole_signal(tmp_path: Path) -> None:
    """The diffusion model fed block by block gives the frames `generate_clip` gives for the whole signal."""
    from vasa_bridge.motion_source import model_performance
    from vasa_bridge.runtime.diffusion import DiffusionBackend, generate_clip

    wav = write_wav(tmp_path / "x.wav", 7.3)
    whole = load_audio(wav)
    expected = generate_clip(DiffusionBackend(), whole).frames
    for block_s in (0.013, 0.5, 2.9):
        got = model_performance(AudioFile(wav, block_s=block_s).blocks()).clip.frames
        assert got.shape == expected.shape == (int(np.ceil(len(whole) / 640)), layout.N_CHANNELS)
        np.testing.assert_allclose(got, expected, atol=1e-4)      # features differ in the last float bits
    assert np.ptp(expected[:, layout.channel("jawOpen")]) > 0.1   # the audio did drive the mouth


def test_mp4_audio_muxed_from_spooled_blocks_equals_muxing_the_array(tmp_path: Path) -> None:
    import av

    from vasa_bridge.render.video import write_mp4

    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(int(2.7 * MODEL_SAMPLE_RATE_HZ))).astype(np.float32)
    video = rng.integers(0, 255, (68, 32, 32, 3), dtype=np.uint8)

    def batches():
        for i in range(0, len(video), 16):
            yield video[i:i + 16]

    write_mp4(tmp_path / "array.mp4", batches(), layout.FPS, audio, MODEL_SAMPLE_RATE_HZ)
    with AudioSpool(tmp_path) as spool:
        for _ in spool.tee(np.array_split(audio, 13)):
            pass
        write_mp4(tmp_path / "blocks.mp4", batches(), layout.FPS, spool.blocks(1234), MODEL_SAMPLE_RATE_HZ)

    def packets(path: Path) -> list[tuple[str, int, bytes]]:
        with av.open(str(path)) as c:
            return [(p.stream.type, p.pts, bytes(p)) for p in c.demux() if p.size]

    a, b = packets(tmp_path / "array.mp4"), packets(tmp_path / "blocks.mp4")
    assert len(a) == len(b) and a == b       # same packets, same interleaving


# ---- memory -----------------------------------------------------------------------------------------------------
def _peak_numpy_bytes_of_animate(wav: Path, out: Path) -> tuple[int, int]:
    """Peak traced allocations (numpy registers its buffers with tracemalloc) during `vasa-bridge animate` with
    the motion model, and the frame count."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        assert _animate(["--audio", str(wav), "-o", str(out), "--size", "256", "--guidance-scale", "1"]) == 0
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    from vasa_bridge.render.video import probe_mp4
    return peak, int(probe_mp4(out)["video_frames"])


def test_animate_memory_does_not_grow_with_the_audio_duration(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """20 s and 4 min of 48 kHz stereo through the whole command (blocks → motion model → spool → mux). The four
    minutes are 92 MB as 48 kHz float32 and 15 MB at 16 kHz: holding either, even once, breaks the bound, which
    allows only the motion frames (and a few copies of them) to grow with the duration.

    Rendering is swapped for flat 16x16 frames: the renderer works batch by batch (its memory cannot depend on the
    duration) and at 256 px five minutes would take most of a minute on a small CPU."""
    from vasa_bridge.render.renderer import Renderer

    monkeypatch.setattr(Renderer, "render", lambda self, frames: np.full((len(frames), 16, 16, 3), 128, np.uint8))
    # Warm up: one-time allocations (model session, filter and portrait caches) must not count against the first.
    _peak_numpy_bytes_of_animate(write_wav(tmp_path / "warm.wav", 1.0), tmp_path / "warm.mp4")
    short_peak, short_frames = _peak_numpy_bytes_of_animate(write_wav(tmp_path / "short.wav", 20.0),
                                                            tmp_path / "short.mp4")
    long_peak, long_frames = _peak_numpy_bytes_of_animate(write_wav(tmp_path / "long.wav", 240.0),
                                                          tmp_path / "long.mp4")
    assert (short_frames, long_frames) == (500, 6000)
    motion_bytes = (long_frames - short_frames) * layout.N_CHANNELS * 4
    audio_16k_bytes = 240 * MODEL_SAMPLE_RATE_HZ * 4
    growth = long_peak - short_peak
    print(f"peak numpy memory: 20 s {short_peak / 1e6:.1f} MB, 4 min {long_peak / 1e6:.1f} MB "
          f"(motion frames {motion_bytes / 1e6:.1f} MB, audio at 16 kHz {audio_16k_bytes / 1e6:.1f} MB)")
    assert growth < 4 * motion_bytes + 2_000_000, (short_peak, long_peak)
    assert 4 * motion_bytes + 2_000_000 < audio_16k_bytes       # the bound is tight enough to catch whole-file audio


# ---- bad input -------------------------------------------------------------------------------------------------
def test_bad_audio_files_are_named_in_the_error(tmp_path: Path) -> None:
    out = str(tmp_path / "x.mp4")
    with pytest.raises(AudioError, match="not found: .*missing.wav"):
        _animate(["--audio", str(tmp_path / "missing.wav"), "-o", out, "--size", "256"])
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty.*empty.wav"):
        _animate(["--audio", str(tmp_path / "empty.wav"), "-o", out, "--size", "256"])
    (tmp_path / "junk.m4a").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(AudioError, match="cannot decode .*junk.m4a"):
        _animate(["--audio", str(tmp_path / "junk.m4a"), "-o", out, "--size", "256"])
    sf.write(tmp_path / "silent.wav", np.zeros((0, 2)), 48_000)
    with pytest.raises(AudioError, match="silent.wav contains no audio"):
        _animate(["--audio", str(tmp_path / "silent.wav"), "-o", out, "--size", "256"])
    # A FLAC cut off halfway: the header promises 3 s, the decoder loses sync at 1.5 s.
    sf.write(tmp_path / "whole.flac", speechy(3.0, 48_000), 48_000)
    data = (tmp_path / "whole.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[:len(data) // 2])
    with pytest.raises(AudioError, match="cannot decode .*cut.flac after"):
        list(AudioFile(tmp_path / "cut.flac").blocks())
    with pytest.raises(AudioError, match="cut.flac"):
        _animate(["--audio", str(tmp_path / "cut.flac"), "-o", out, "--size", "256"])
