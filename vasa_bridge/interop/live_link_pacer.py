"""Paces motion that arrives in batches (25 fps, as a session streams it) out to Live Link at 60 fps in real time.

Frames are resampled across batch boundaries (the last frame of a batch is kept to interpolate to the next) and
sent from a thread at `start + buffer + t`, where `start` is when the first batch arrived; a frame whose
motion comes later than its time is sent as soon as it is there. Unreal then sees an even 60-fps stream.
"""

from __future__ import annotations

import math
import queue
import threading
import time

import numpy as np

from vasa_bridge.interop.live_link_udp import RATE_FPS, LiveLinkSender


class LiveLinkPacer:
    def __init__(self, sender: LiveLinkSender, motion_fps: float, buffer_ms: float = 100.0) -> None:
        self.sender = sender
        self.motion_fps = motion_fps
        self.buffer_s = buffer_ms / 1000.0
        self._last: np.ndarray | None = None      # last motion frame received, (60,)
        self._received = 0                        # motion frames received
        self._next_out = 0                        # next 60-fps frame to schedule
        self._start: float | None = None
        self._queue: "queue.Queue[tuple[float, np.ndarray, float] | None]" = queue.Queue()
        self.send_errors = 0
        self.last_error = ""
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livelink-pacer", daemon=True)
        self._thread.start()

    def push(self, frames: np.ndarray) -> None:
        """The next motion frames of the line, (n, 60) at `motion_fps`, in order."""
        frames = np.asarray(frames, np.float64)
        if len(frames) == 0:
            return
        if self._start is None:
            self._start = time.perf_counter() + self.buffer_s
        known = frames if self._last is None else np.concatenate([self._last[None], frames])
        first_known = self._received - (0 if self._last is None else 1)   # index of known[0]
        self._received += len(frames)
        self._last = frames[-1]
        last_t = (self._received - 1) / self.motion_fps
        times = first_known / self.motion_fps + np.arange(len(known)) / self.motion_fps
        while self._next_out / RATE_FPS <= last_t + 1e-9:
            t = self._next_out / RATE_FPS
            frame = np.array([np.interp(t, times, known[:, j]) for j in range(known.shape[1])])
            self._queue.put((self._start + t, frame, t))
            self._next_out += 1

    def close(self, drain: bool = True) -> int:
        """Holds the last frame to the end of its duration (as the CSV writer does), sends what is queued (in
        real time), stops the thread; returns the packets sent. `drain=False` drops what is still queued."""
        if not drain:
            self._abandon.set()
        end = math.ceil(self._received * RATE_FPS / self.motion_fps - 1e-9)
        while self._last is not None and self._start is not None and self._next_out < end:
            t = self._next_out / RATE_FPS
            self._queue.put((self._start + t, self._last, t))
            self._next_out += 1
        self._queue.put(None)
        self._thread.join()
        return self.sender.packets_sent

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._abandon.is_set():
                return
            due, frame, t = item
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                self.sender.send(frame, t)
            except OSError as e:  # e.g. network unreachable: keep pacing, report at the end
                self.send_errors += 1
                self.last_error = self.last_error or str(e)

