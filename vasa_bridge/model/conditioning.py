"""Model inputs from audio features and controls, computed the same way in training, offline bake and streaming.

Motion frame i shows the face at t_i = i / FPS. Its audio span is the speech front end's rows (audio/frontend.py,
one per 10 ms) from SPAN_BACK_FEATURES before t_i to LOOKAHEAD_FEATURES after. Row j describes the audio ending at
(j + 1) × 10 ms but is computed from audio up to FRONTEND_DELAY_ROWS rows later, so frame i needs audio up to
t_i + LOOKAHEAD_MS: that is the model's lookahead. Rows before the start of the audio read the front end's
silence row.
"""

from __future__ import annotations

import numpy as np

from vasa_bridge.audio.constants import FEATURE_RATE_HZ, FEATURES_PER_MOTION_FRAME
from vasa_bridge.motion.controls import EMOTIONS, GAZE_LIMIT_RAD, HEAD_DISTANCE_RANGE_M, Controls

SPAN_BACK_FEATURES = 12                  # 120 ms of audio before the frame's time
LOOKAHEAD_FEATURES = 6                   # 60 ms after it
SPAN_FEATURES = SPAN_BACK_FEATURES + LOOKAHEAD_FEATURES   # 18 feature frames per motion frame
# The front end's student hears this many rows past the row it describes (audio/frontend.py).
FRONTEND_DELAY_ROWS = 4
LOOKAHEAD_MS = 1000.0 * (LOOKAHEAD_FEATURES + FRONTEND_DELAY_ROWS) / FEATURE_RATE_HZ

# emotion one-hot × intensity, gaze yaw, gaze pitch (scaled to ±1), gaze-is-free flag, head distance (centred)
N_CONTROLS = len(EMOTIONS) + 3 + 1


def features_needed(frame_index: int) -> int:
    """How many front-end rows must exist before motion frame `frame_index` can be generated."""
    return FEATURES_PER_MOTION_FRAME * frame_index + LOOKAHEAD_FEATURES


def samples_needed(frame_index: int, hop_samples: int) -> int:
    """How much audio must have arrived before motion frame `frame_index` can be generated."""
    return hop_samples * (features_needed(frame_index) + FRONTEND_DELAY_ROWS)


def frame_spans(features: np.ndarray, first_frame: int, n_frames: int, silence_row: np.ndarray,
                feature_offset: int = 0) -> np.ndarray:
    """(n_frames, SPAN_FEATURES, F) audio spans of motion frames first_frame .. first_frame+n_frames-1.

    `features` holds front-end rows feature_offset .. feature_offset+len-1 of the stream; indices outside (before
    the audio began, or past its end) read `silence_row` (F,)."""
    starts = FEATURES_PER_MOTION_FRAME * (first_frame + np.arange(n_frames)) - SPAN_BACK_FEATURES - feature_offset
    index = starts[:, None] + np.arange(SPAN_FEATURES)[None, :]              # (n_frames, SPAN)
    valid = (index >= 0) & (index < len(features))
    padded = np.concatenate([features.astype(np.float32), silence_row[None, :].astype(np.float32)])
    return padded[np.where(valid, index, len(features))]                       # (n_frames, SPAN, F)


def controls_vector(controls: Controls) -> np.ndarray:
    """(N_CONTROLS,) float32 encoding of the performance controls."""
    v = np.zeros(N_CONTROLS, np.float32)
    v[controls.emotion_index] = controls.emotion_intensity
    free = controls.gaze_yaw_rad is None or controls.gaze_pitch_rad is None
    if not free:
        v[len(EMOTIONS)] = controls.gaze_yaw_rad / GAZE_LIMIT_RAD
        v[len(EMOTIONS) + 1] = controls.gaze_pitch_rad / GAZE_LIMIT_RAD
    v[len(EMOTIONS) + 2] = 1.0 if free else 0.0
    lo, hi = HEAD_DISTANCE_RANGE_M
    v[len(EMOTIONS) + 3] = (controls.head_distance_m - (lo + hi) / 2) / ((hi - lo) / 2)
    return v
