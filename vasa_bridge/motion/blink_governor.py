"""Blinks as people make them, applied to a stream's frames as they are made (offline the same way): every blink
shuts the lids fully, reopens them at the teacher's speed, and is followed by a refractory period.

Why:
- **Full closure.** The teacher's blinks all shut the lids (peak 0.99–1.00), but the denoiser's x0 estimate blurs
  brief events: on held-out synthetic voices its blink peaks spread from 0.5 to 1.0 (median 0.83) — lids that
  droop rather than blink. A blink is ballistic in people too, so once the model's lids cross ONSET_AT the
  governor shuts them for as long as the model keeps them over it, then lets them reopen no faster than
  REOPEN_PER_FRAME. The model still decides when and how long to blink; dips that never reach the threshold are
  left alone.
- **Refractory period.** The model sees only its 16-frame window (0.64 s), so nothing stops it from closing the
  lids again right after a blink; streamed, with a new window every 3 frames, lids re-closed 0.12–0.16 s after a
  blink (a flutter) and real syllables (klettres, dev set) got 55 blinks/min against 25 baked. People (and the
  teacher) leave at least ~0.6 s between blinks. So until MIN_GAP_FRAMES after a blink's onset, lids that have
  begun to reopen may only open further: a re-closure is held, the lids opening on at the teacher's speed until
  the model's own closure has passed. The teacher's rare double blinks (8 %, 0.35–0.5 s apart) are cut too.
"""

from __future__ import annotations

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.motion.measures import EYELIDS

# Lids closing past this start a blink. Lower than the measure's BLINK_CLOSED_AT (0.5): the teacher's lids sit in
# 0.3–0.5 only on a blink's edges (1.6 % of its frames), but the 5 Dec weights left half their blink peaks between
# 0.3 and 0.5 (read-English dev set; median peak 0.74). Dev sets, onset 0.5 / 0.4 / 0.35: median peak 0.74 / 1.00 /
# 1.00 (exclamation packs 0.42 / 1.00 / 1.00), blinks 10 / 16 / 18 per minute.
ONSET_AT = 0.4
MIN_GAP_FRAMES = 15        # 0.6 s: the teacher's minimum interval between blinks
REOPEN_PER_FRAME = 0.25    # the teacher's lids reopen from shut in ~160 ms
_LIDS = [layout.channel(n) for n in EYELIDS]


class BlinkGovernor:
    """Per stream: `__call__` takes each chunk of frames in order and returns them with blinks completed and
    re-closures held. The result does not depend on how the frames were chunked."""

    def __init__(self, min_gap_frames: int = MIN_GAP_FRAMES) -> None:
        self.min_gap_frames = min_gap_frames
        self._since_onset = 10 ** 9
        self._shut = False               # the model's lids are still over ONSET_AT since the onset
        self._reopened = True            # the last blink's lids are reopened
        self._previous = 0.0             # eye closure of the last frame shown
        self._cap: float | None = None   # while holding a re-closure: the most the lids may close

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        frames = np.array(frames, np.float32, copy=True)
        for row in frames:
            closure = float(row[_LIDS].mean())
            shown = self._govern(closure)
            if shown == closure:
                pass
            elif shown >= 1.0:                                    # shut: both lids, whatever their balance
                row[_LIDS] = 1.0
            else:                                                 # held or slowed: keep the lids' balance
                row[_LIDS] = shown if closure <= 0.0 else np.clip(row[_LIDS] * (shown / closure), 0.0, 1.0)
            self._since_onset += 1
            self._previous = float(row[_LIDS].mean())
        return frames

    def _govern(self, closure: float) -> float:
        """The eye closure to show for a frame whose model closure is `closure`."""
        if self._shut:
            if closure >= ONSET_AT:
                return 1.0
            self._shut = False
        if not self._reopened:                                    # reopening: no faster than the teacher's lids
            floor = self._previous - REOPEN_PER_FRAME
            self._reopened = closure >= floor
            return min(self._previous, max(closure, floor))
        if self._since_onset < self.min_gap_frames:
            if self._cap is not None:                             # holding a re-closure
                self._cap = max(0.0, self._cap - REOPEN_PER_FRAME)
                if closure <= self._cap:
                    self._cap = None                              # it has passed
                    return closure
                return self._cap
            if closure > self._previous:                          # too soon: hold it
                self._cap = max(0.0, self._previous - REOPEN_PER_FRAME)
                return min(closure, self._cap)
            return closure
        self._cap = None
        if closure >= ONSET_AT > self._previous:                  # a blink starts: shut the lids
            self._since_onset, self._shut, self._reopened = 0, True, False
            return 1.0
        return closure


__all__ = ["BlinkGovernor", "MIN_GAP_FRAMES", "ONSET_AT", "REOPEN_PER_FRAME"]
