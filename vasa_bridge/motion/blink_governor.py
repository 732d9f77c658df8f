"""A refractory period for blinks, applied to a stream's frames as they are made (offline the same way).

Why: the diffusion model sees only its 16-frame window (0.64 s), so nothing stops it from closing the lids again
right after a blink; streamed, with a new window every 3 frames, lids re-closed 0.12–0.16 s after a blink (a
flutter) and real syllables (klettres, dev set) got 55 blinks/min against 25 baked. People (and the teacher, whose
blinks the model learnt) leave at least ~0.6 s between blinks. So until MIN_GAP_FRAMES after a blink's onset, lids
that have begun to reopen may only open further: a re-closure is held, the lids opening on at the teacher's
speed until the model's own closure has passed. The teacher's rare double blinks (8 %, 0.35–0.5 s apart) are cut
too.
"""

from __future__ import annotations

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.motion.measures import BLINK_CLOSED_AT, EYELIDS

MIN_GAP_FRAMES = 15        # 0.6 s: the teacher's minimum interval between blinks
REOPEN_PER_FRAME = 0.25    # a held re-closure: the lids keep opening at the teacher's speed (160 ms)
_LIDS = [layout.channel(n) for n in EYELIDS]


class BlinkGovernor:
    """Per stream: `__call__` takes each chunk of frames in order and returns them with re-closures held."""

    def __init__(self, min_gap_frames: int = MIN_GAP_FRAMES) -> None:
        self.min_gap_frames = min_gap_frames
        self._since_onset = 10 ** 9
        self._reopened = True            # the last blink's lids are back under BLINK_CLOSED_AT
        self._previous = 0.0             # eye closure of the last frame shown
        self._cap: float | None = None   # while holding a re-closure: the most the lids may close

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        frames = np.array(frames, np.float32, copy=True)
        for row in frames:
            closure = float(row[_LIDS].mean())
            if self._cap is not None:                                          # holding a re-closure
                self._cap = max(0.0, self._cap - REOPEN_PER_FRAME)
                if closure <= self._cap:
                    self._cap = None                                           # it has passed
            elif self._since_onset < self.min_gap_frames:
                if self._reopened and closure > self._previous:
                    self._cap = max(0.0, self._previous - REOPEN_PER_FRAME)    # too soon: hold it
                elif not self._reopened and closure < BLINK_CLOSED_AT:
                    self._reopened = True
            elif closure >= BLINK_CLOSED_AT > self._previous:                        # a blink starts
                self._since_onset, self._reopened = 0, False
            if self._cap is not None and closure > self._cap:
                row[_LIDS] *= self._cap / closure
            self._since_onset += 1
            self._previous = float(row[_LIDS].mean())
        return frames


__all__ = ["BlinkGovernor", "MIN_GAP_FRAMES"]
