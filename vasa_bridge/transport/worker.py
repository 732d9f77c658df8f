"""The motion worker: one thread that runs every session's new audio through the backend in one batched call per
round, and the measurements (step times, busy fraction) that status and admission control read.

Backend objects are touched only from the worker thread. The event loop side (`MotionWorker.run`) collects the
audio the request handlers queued on each session, hands it to the thread, and publishes the chunks that come
back through `publish(session, chunk, images)` / `fail(session, error)` / `ended(session)` of its owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vasa_bridge.runtime.backend import MotionBackend, MotionChunk, SessionControls
from vasa_bridge.transport.logs import log
from vasa_bridge.transport.state import SessionState

RESAMPLE_SLICE_SAMPLES = 16384
ENGINE_COALESCE_S = 0.004
LOAD_WINDOW_S = 10.0        # status.load: busy fraction over this window
ADMISSION_WINDOW_S = 10.0   # admission control: worker cost per second of audio, measured over this window
ADMISSION_MIN_AUDIO_S = 1.0  # audio that must have gone through the worker before its cost is trusted


@dataclass
class _Work:
    session: SessionState
    samples: np.ndarray | None
    flush: bool
    controls: list[tuple[SessionControls, asyncio.Future]]


@dataclass(frozen=True)
class StepResult:
    chunks: dict                         # MotionStream -> MotionChunk
    images: dict                         # SessionState -> list[bytes]
    failures: dict                       # SessionState -> error text
    busy_s: float


class MotionWorker:
    def __init__(self, backend: MotionBackend, sessions: Callable[[], list[SessionState]]) -> None:
        self.backend = backend
        self._sessions = sessions
        self.wake = asyncio.Event()
        self.draining = False
        self.started = time.monotonic()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vasa-motion")
        self.step_ms: deque[float] = deque(maxlen=512)
        self._busy: deque[tuple[float, float, float]] = deque()  # (end time, busy s, audio s processed) per step
        self.step_running = False

    # ---- measurements ------------------------------------------------------------------------------------------
    def load(self, window_s: float = LOAD_WINDOW_S) -> float:
        """Fraction of the last `window_s` the worker thread was busy (1.0 = saturated)."""
        now = time.monotonic()
        while self._busy and self._busy[0][0] < now - max(LOAD_WINDOW_S, ADMISSION_WINDOW_S):
            self._busy.popleft()
        span = min(window_s, max(now - self.started, 1e-3))
        return float(sum(b for t, b, _ in self._busy if t >= now - window_s) / span)

    def cost_per_audio_s(self) -> float | None:
        """Worker seconds per second of session audio, measured over the recent steps (batching included);
        None until enough audio has gone through to trust it."""
        self.load()  # drops steps older than the window
        now = time.monotonic()
        steps = [(b, a) for t, b, a in self._busy if t >= now - ADMISSION_WINDOW_S]
        audio_s = sum(a for _, a in steps)
        if audio_s < ADMISSION_MIN_AUDIO_S:
            return None
        return sum(b for b, _ in steps) / audio_s

    def predicted_load(self, sessions_now: int) -> float:
        """Busy fraction the worker would need to serve sessions_now + 1 sessions in real time. It is measured
        per second of audio, not per second of wall time, so clients pushing files faster than real time do not
        make a server look full; it is 0 with no session open (nobody to make late); and it assumes cost grows
        linearly with sessions (batching makes it grow slower), so it errs on the side of refusing."""
        cost = self.cost_per_audio_s()
        return 0.0 if cost is None or sessions_now == 0 else cost * (sessions_now + 1)

    # ---- the loop ----------------------------------------------------------------------------------------------
    def _collect(self) -> list[_Work]:
        work = []
        for session in self._sessions():
            # Draining flushes every stream, so frames a backend holds back for lookahead still go out.
            flush = (session.end_requested or self.draining) and not session.flush_sent
            if not (session.pending or flush or session.pending_controls):
                continue
            samples = np.concatenate(session.pending) if session.pending else None
            session.pending.clear()
            session.pending_samples = 0
            if flush:
                session.flush_sent = True
            work.append(_Work(session, samples, flush, list(session.pending_controls)))
            session.pending_controls.clear()
        return work

    def _step(self, work: list[_Work]) -> StepResult:
        """Worker thread: feed every stream, one batched backend step, then the rendering sessions' images and
        the Live Link sessions' packets (queued for their pacers). Per-session failures are isolated."""
        t0 = time.perf_counter()
        failures: dict[SessionState, str] = {}
        ready = []
        for item in work:
            try:
                for controls, _ in item.controls:
                    item.session.stream.set_controls(controls)
                parts = []
                if item.samples is not None:
                    # Bounded slices: the polyphase gather is memory-bound and 3x slower on multi-second arrays.
                    for start in range(0, len(item.samples), RESAMPLE_SLICE_SAMPLES):
                        parts.append(item.session.resampler.push(item.samples[start:start + RESAMPLE_SLICE_SAMPLES]))
                if item.flush:
                    parts.append(item.session.resampler.flush())
                samples_16k = np.concatenate(parts) if parts else np.zeros(0, np.float32)
                if len(samples_16k):
                    item.session.stream.push(samples_16k)
                if item.flush:
                    item.session.stream.flush()
                ready.append(item.session)
            except Exception as e:
                failures[item.session] = f"{type(e).__name__}: {e}"
        out: dict = {}
        try:
            out = self.backend.step([s.stream for s in ready])
        except Exception:
            log.exception("batched_step_failed")  # find the culprit: retry one by one
            for s in ready:
                try:
                    out.update(self.backend.step([s.stream]))
                except Exception as e:
                    failures[s] = f"{type(e).__name__}: {e}"
        images: dict[SessionState, list[bytes]] = {}
        for s in ready:
            chunk = out.get(s.stream)
            if s.render is not None and chunk is not None and len(chunk.frames) and s not in failures:
                try:
                    images[s] = s.render.render(chunk.frames)
                except Exception as e:
                    failures[s] = f"renderer: {type(e).__name__}: {e}"
            if s.livelink is not None and chunk is not None and len(chunk.frames) and s not in failures:
                try:
                    s.livelink.push(chunk.frames)
                except Exception as e:
                    failures[s] = f"livelink: {type(e).__name__}: {e}"
        return StepResult(out, images, failures, time.perf_counter() - t0)

    async def run(self, publish: Callable[[SessionState, MotionChunk, list[bytes] | None], None],
                  fail: Callable[[SessionState, str], None], ended: Callable[[SessionState], None]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            # Let audio from other sessions arriving in the next moment join this step: one batched call for
            # many sessions instead of a thread hand-off per request (costs at most ENGINE_COALESCE_S latency).
            await asyncio.sleep(ENGINE_COALESCE_S)
            self.wake.clear()
            work = self._collect()
            if not work:
                continue
            self.step_running = True
            try:
                result = await loop.run_in_executor(self.executor, self._step, work)
            finally:
                self.step_running = False
            self.step_ms.append(result.busy_s * 1000.0)
            audio_s = sum(len(w.samples) / w.session.sample_rate_hz for w in work if w.samples is not None)
            self._busy.append((time.monotonic(), result.busy_s, audio_s))
            for item in work:
                session = item.session
                for controls, future in item.controls:
                    session.controls = controls
                    if not future.done():
                        future.set_result(session.next_seq)
                if session in result.failures:
                    if not session.closed:
                        fail(session, result.failures[session])
                    continue
                chunk = result.chunks.get(session.stream)
                if chunk is not None:
                    publish(session, chunk, result.images.get(session))
                if item.flush and session.end_requested and not session.closed:
                    ended(session)

    def busy(self) -> bool:
        """Audio or controls not yet through the backend (drain waits for this)."""
        return self.step_running or any(s.pending or s.pending_controls or not s.flush_sent
                                        for s in self._sessions())

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)
