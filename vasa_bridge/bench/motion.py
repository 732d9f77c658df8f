"""Speed of the diffusion motion backend (onnxruntime, CPU) next to the amplitude baseline, same run, same audio.

- motion_rtf_single: offline generation of one stream, audio seconds per compute second (median of 3 runs);
- motion_streams_realtime: the most streams (from STREAM_COUNTS) whose 40 ms of audio each is turned into
  frames, all batched in one step, in under 40 ms on average — sustained real time;
- chunk_latency_ms_p95: one stream fed 20 ms chunks on the audio clock: time from the arrival of the audio
  that ends a frame to that frame's emission, which includes the lookahead wait, chunking and compute;
- cold_start_s: a fresh Python process importing the runtime, loading the model and emitting its first frame;
- ear_rtf_single: offline generation of one stream with the Whisper ear (`bake --ear whisper`), Whisper's encoder
  included; only where the `whisper` extra is installed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from typing import Callable

import numpy as np

from vasa_bridge.bench.timing import Rows, median_time_s
from vasa_bridge.runtime.diffusion import DEFAULT_MIN_NEW_FRAMES as STREAM_MIN_NEW_FRAMES  # the sidecar's setting

STREAM_COUNTS = (1, 2, 4, 8, 12, 16, 20, 24, 32, 48, 64)
CHUNK_MS = 20


def _speech(seconds: float) -> np.ndarray:
    from vasa_bridge.audio import resample
    from vasa_bridge.commands.demo import DEMO_LINE
    from vasa_bridge.phones.espeak import synthesize

    speech = synthesize(DEMO_LINE)
    audio = resample(speech.audio, speech.sample_rate_hz, 16000).astype(np.float32)
    return np.tile(audio, int(np.ceil(seconds * 16000 / len(audio))))[: int(seconds * 16000)]


def _latency_p95_ms(new_stream, push: "Callable[[object, np.ndarray], int]", audio: np.ndarray) -> float:
    """Virtual audio clock: chunk j arrives at (j + 1) × CHUNK_MS; compute is measured; a frame's latency is its
    emission time minus the arrival time of its last audio sample."""
    hop = 16 * CHUNK_MS
    stream = new_stream()
    clock_s, latencies, emitted = 0.0, [], 0
    for j, start in enumerate(range(0, len(audio) - hop + 1, hop)):
        clock_s = max(clock_s, (j + 1) * CHUNK_MS / 1000)
        t0 = time.perf_counter()
        n = push(stream, audio[start: start + hop])
        clock_s += time.perf_counter() - t0
        for k in range(emitted, emitted + n):
            latencies.append(1000 * (clock_s - (k + 1) * 0.040))
        emitted += n
    return float(np.percentile(latencies, 95))


def _realtime_streams(backend, audio: np.ndarray, guidance: float, rounds: int) -> int:
    """Largest stream count whose 40 ms of audio each is turned into frames in < 40 ms per step, on average."""
    from vasa_bridge.runtime.backend import SessionControls

    best = 0
    for n in STREAM_COUNTS:
        streams = [backend.new_stream(SessionControls(guidance_scale=guidance), i) for i in range(n)]
        times = []
        for r in range(rounds + 3):
            chunk = audio[r * 640: (r + 1) * 640]
            t0 = time.perf_counter()
            for s in streams:
                s.push(chunk)
            backend.step(streams)
            times.append(time.perf_counter() - t0)
        if np.mean(times[3:]) >= 0.040:
            break
        best = n
    return best


def _ear_time_s(backend, audio: np.ndarray, weights) -> float | None:
    """Median seconds of an offline clip with the Whisper ear, or None without the `whisper` extra or an ear."""
    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.model.whisper_ear import ear_beside
    from vasa_bridge.runtime.diffusion import generate_clip

    try:
        ear = ear_beside(weights)
    except VasaBridgeError:
        return None
    generate_clip(backend, audio[:16000], ear=ear)                        # loads Whisper
    return median_time_s(lambda: generate_clip(backend, audio, seed=1, ear=ear), runs=3)


def _cold_start_s(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_motion(quick: bool = False) -> tuple[dict[str, float], Rows]:
    from vasa_bridge.baselines import AmplitudeStream, amplitude_baseline
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS
    from vasa_bridge.runtime.backend import SessionControls
    from vasa_bridge.runtime.diffusion import (DEFAULT_GUIDANCE_SCALE, DiffusionBackend, default_onnx_path,
                                               generate_clip)

    tmp = None
    weights = DEFAULT_WEIGHTS
    note = "shipped weights"
    if not default_onnx_path(weights).exists():
        from vasa_bridge.export.untrained import write_untrained
        from vasa_bridge.train.data import synth_pairs

        tmp = tempfile.TemporaryDirectory()
        weights = write_untrained(tmp.name, synth_pairs(2, seed=0)[0].frames)
        note = "UNTRAINED weights (none shipped): speed only"
    backend = DiffusionBackend("onnxruntime", weights=weights)
    guidance = DEFAULT_GUIDANCE_SCALE
    streaming = DiffusionBackend("onnxruntime", weights=weights, min_new_frames=STREAM_MIN_NEW_FRAMES)
    audio = _speech(8.0 if quick else 20.0)
    seconds = len(audio) / 16000
    generate_clip(backend, audio[:16000])                                   # warm up
    motion_s = median_time_s(lambda: generate_clip(backend, audio, seed=1), runs=3)
    t0 = time.perf_counter()
    amplitude_baseline(audio)
    amplitude_s = time.perf_counter() - t0
    frontend_s = median_time_s(lambda: backend.frontend.features(audio), runs=3)   # inside motion_s too
    ear_s = _ear_time_s(backend, audio, weights)

    rounds = 10 if quick else 25
    realtime_streams = _realtime_streams(streaming, audio, guidance, rounds)
    realtime_streams_unguided = _realtime_streams(streaming, audio, 1.0, rounds)

    def motion_push(stream, chunk: np.ndarray) -> int:
        stream.push(chunk)
        return len(streaming.step([stream])[stream].frames)

    latency_ms = _latency_p95_ms(lambda: streaming.new_stream(SessionControls(guidance_scale=guidance), 0),
                                 motion_push, audio[: 16000 * 6])
    amp_latency_ms = _latency_p95_ms(AmplitudeStream, lambda stream, chunk: len(stream.push(chunk)),
                                     audio[: 16000 * 6])
    onnx_path = default_onnx_path(weights)
    cold_s = _cold_start_s(
        "import numpy as np\nfrom vasa_bridge.runtime.diffusion import DiffusionBackend\n"
        f"b = DiffusionBackend('onnxruntime', onnx_path={str(onnx_path)!r})\ns = b.new_stream()\n"
        "s.push(np.zeros(4000, np.float32))\nassert len(b.step([s])[s].frames) >= 1\n")   # 250 ms > lookahead
    amp_cold_s = _cold_start_s("import numpy as np\nfrom vasa_bridge.baselines import AmplitudeStream\n"
                               "assert len(AmplitudeStream().push(np.zeros(1600, np.float32))) >= 1\n")
    if tmp is not None:
        tmp.cleanup()
    figures = {"motion_rtf_single": seconds / motion_s, "motion_streams_realtime": float(realtime_streams),
               "motion_streams_realtime_no_guidance": float(realtime_streams_unguided),
               "chunk_latency_ms_p95": latency_ms, "cold_start_s": cold_s,
               "amplitude_rtf_single": seconds / amplitude_s, "amplitude_chunk_latency_ms_p95": amp_latency_ms,
               "amplitude_cold_start_s": amp_cold_s, "frontend_rtf_single": seconds / frontend_s}
    rows = [("motion model, one stream (onnxruntime)", f"{figures['motion_rtf_single']:.0f}× real time",
             f"{seconds:.0f} s line; {note}; {len(backend.sigmas) - 1} steps, guidance {guidance:g}"),
            ("  of which the speech front end", f"{figures['frontend_rtf_single']:.0f}× real time",
             "distilled Whisper student, numpy; counted in every motion figure")]
    if ear_s is not None:
        figures["ear_rtf_single"] = seconds / ear_s
        rows.append(("motion model + Whisper ear, one stream", f"{figures['ear_rtf_single']:.0f}× real time",
                     "bake --ear whisper: Whisper tiny.en's encoder on the whole line (CTranslate2 int8) included"))
    rows += [("motion model, streams in real time", f"{realtime_streams}",
               f"batched, 40 ms of audio per step, ≥ {STREAM_MIN_NEW_FRAMES} new frames per window, guidance "
               f"{guidance:g} ({realtime_streams_unguided} without guidance)"),
              ("motion model, chunk→frame latency p95", f"{latency_ms:.0f} ms",
               f"{CHUNK_MS} ms chunks; includes {streaming.lookahead_ms:.0f} ms lookahead past the frame end"),
              ("motion model, cold start to first frame", f"{cold_s:.2f} s", "fresh process"),
              ("amplitude baseline, one stream", f"{figures['amplitude_rtf_single']:.0f}× real time", "same line"),
              ("amplitude baseline, latency p95", f"{amp_latency_ms:.0f} ms", "same chunks"),
              ("amplitude baseline, cold start", f"{amp_cold_s:.2f} s", "fresh process")]
    return figures, rows

