"""Blinks as people make them, applied to a stream's frames as they are made (offline the same way): every blink
shuts the lids fully, reopens them at the teacher's speed, and is followed by a refractory period; between blinks
the lids rest.

Why:
- **Full closure.** The teacher's blinks all shut the lids (peak 0.99–1.00), but the denoiser's x0 estimate blurs
  brief events: on held-out synthetic voices its blink peaks spread from 0.5 to 1.0 (median 0.83) — lids that
  droop rather than blink. A blink is ballistic in people too, so once the model's lids cross ONSET_AT the
  governor shuts them for as long as the model keeps them over it, then lets them reopen no faster than
  REOPEN_PER_FRAME. The model still decides when and how long to blink.
- **Refractory period.** The model sees only its 16-frame window (0.64 s), so nothing stops it from closing the
  lids again right after a blink; streamed, with a new window every 3 frames, lids re-closed 0.12–0.16 s after a
  blink (a flutter) and real syllables (klettres, dev set) got 55 blinks/min against 25 baked. People (and the
  teacher) leave at least ~0.6 s between blinks. So until MIN_GAP_FRAMES after a blink's onset, lids that have
  reopened may only open further: a re-closure is held where the lids are. The teacher's rare double blinks (8 %,
  0.35–0.5 s apart) are cut too.
- **No half blinks.** The teacher's lids are either blinking or open (0); the denoiser's also droop part-way: with
  the onset at 0.4, 20–36 % of its eye-closure peaks over 0.3 stayed under 0.9 (all dev sets; those peaks sat at
  0.31–0.39 and lasted up to 6 frames) and 30–60 % of those over 0.15 — a half-shut stare in the demo. Outside a
  blink the lids may close at most REST_MAX; anything past ONSET_AT is a blink. (So a held re-closure rests at
  most at REST_MAX, too.)
"""

from __future__ import annotations

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.motion.measures import EYELIDS

# Lids closing past this start a blink. Lower than the measure's BLINK_CLOSED_AT (0.5): the teacher's lids sit in
# 0.3–0.5 only on a blink's edges (1.6 % of its frames), but the 5 Dec weights left half their blink peaks between
# 0.3 and 0.5 (read-English dev set; median peak 0.74). Dev sets, onset 0.5 / 0.4 / 0.35: median peak 0.74 / 1.00 /
# 1.00 (exclamation packs 0.42 / 1.00 / 1.00), blinks 10 / 16 / 18 per minute. Shipped weights, all dev sets (read
# English, klettres, Dutch, hedgewars dev packs, Warzone), bake / streamed blinks per minute: onset 0.4 9–11 /
# 13–16, 0.3 12–15 / 16–19, 0.25 15–17 / 18–21; the teacher blinks 17 times a minute.
ONSET_AT = 0.3
# The most the lids close outside a blink. The model's lids are at 0 in 90 % of frames and over 0.15 in 6 %, most
# of those on a blink's edges.
REST_MAX = 0.15
MIN_GAP_FRAMES = 15        # 0.6 s: the teacher's minimum interval between blinks
REOPEN_PER_FRAME = 0.25    # the teacher's lids reopen from shut in ~160 ms
_LIDS = [layout.channel(n) for n in EYELIDS]


class BlinkGovernor:
    """Per stream: `__call__` takes each chunk of frames in order and returns them with blinks completed, re-closures
    held and droops rested. The result does not depend on how the frames were chunked."""

    def __init__(self, min_gap_frames: int = MIN_GAP_FRAMES) -> None:
        self.min_gap_frames = min_gap_frames
        self._since_onset = 10 ** 9
        self._shut = False               # the model's lids are still over ONSET_AT since the onset
        self._reopened = True            # the last blink's lids are reopened
        self._previous = 0.0             # eye closure of the last frame shown

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
        resting = min(closure, REST_MAX)
        if self._shut:
            if closure >= ONSET_AT:
                return 1.0
            self._shut = False
        if not self._reopened:                                    # reopening: no faster than the teacher's lids
            floor = self._previous - REOPEN_PER_FRAME
            self._reopened = resting >= floor
            return min(self._previous, max(resting, floor))
        if self._since_onset < self.min_gap_frames:               # refractory: the lids may only open further
            return min(resting, self._previous)
        if closure >= ONSET_AT > self._previous:                  # a blink starts: shut the lids
            self._since_onset, self._shut, self._reopened = 0, True, False
            return 1.0
        return resting


__all__ = ["BlinkGovernor", "MIN_GAP_FRAMES", "ONSET_AT", "REOPEN_PER_FRAME", "REST_MAX"]
