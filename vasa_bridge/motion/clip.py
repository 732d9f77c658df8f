"""A motion clip: frames of the motion layout at a fixed frame rate, with metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vasa_bridge.motion import layout


@dataclass
class MotionClip:
    frames: np.ndarray  # (T, N_CHANNELS) float32, see motion.layout
    fps: float = layout.FPS
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=np.float32)
        if self.frames.ndim != 2 or self.frames.shape[1] != layout.N_CHANNELS:
            raise ValueError(f"motion frames must be (T, {layout.N_CHANNELS}), got {self.frames.shape}")

    @classmethod
    def neutral(cls, n_frames: int, fps: float = layout.FPS, head_distance_m: float = layout.DEFAULT_HEAD_DISTANCE_M
                ) -> "MotionClip":
        frames = np.zeros((n_frames, layout.N_CHANNELS), np.float32)
        frames[:, layout.channel("headZ")] = head_distance_m
        return cls(frames, fps)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps

    @property
    def times_s(self) -> np.ndarray:
        return np.arange(len(self.frames)) / self.fps

    def __getitem__(self, name: str) -> np.ndarray:
        """One channel's curve by name (case-insensitive), e.g. clip["jawOpen"]."""
        return self.frames[:, layout.channel(name)]

    @property
    def blendshapes(self) -> np.ndarray:
        return self.frames[:, layout.BLENDSHAPE_SLICE]

    @property
    def head_pose(self) -> np.ndarray:
        return self.frames[:, layout.HEAD_POSE_SLICE]

    @property
    def gaze(self) -> np.ndarray:
        return self.frames[:, layout.GAZE_SLICE]
